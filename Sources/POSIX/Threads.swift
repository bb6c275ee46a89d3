import Glibc

/// Starts `body` on a new detached thread (`pthread_create`) named `name` (at most 15 bytes are
/// kept), with a stack of `stackSize` bytes: what Foundation's `Thread` does here.
public func startThread(named name: String, stackSize: Int = 4 << 20, _ body: @escaping @Sendable () -> Void) {
    final class Start: Sendable {
        let name: String
        let body: @Sendable () -> Void
        init(name: String, body: @escaping @Sendable () -> Void) { self.name = name; self.body = body }
    }
    var attributes = pthread_attr_t()
    pthread_attr_init(&attributes)
    defer { pthread_attr_destroy(&attributes) }
    pthread_attr_setstacksize(&attributes, stackSize)
    pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
    let start = Unmanaged.passRetained(Start(name: name, body: body)).toOpaque()
    var thread = pthread_t()
    let status = pthread_create(&thread, &attributes, { argument in
        let start = Unmanaged<AnyObject>.fromOpaque(argument!).takeRetainedValue() as! Start
        // pthread_setname_np is a GNU extension that Swift's Glibc module does not declare.
        typealias SetName = @convention(c) (pthread_t, UnsafePointer<CChar>) -> Int32
        if let symbol = dlsym(nil, "pthread_setname_np") {
            let name = Array(start.name.utf8.prefix(15)).map { CChar(bitPattern: $0) } + [0]
            _ = unsafeBitCast(symbol, to: SetName.self)(pthread_self(), name)
        }
        start.body()
        return nil
    }, start)
    if status != 0 {
        // No thread: run the work here rather than lose it.
        let start = Unmanaged<AnyObject>.fromOpaque(start).takeRetainedValue() as! Start
        start.body()
    }
}
