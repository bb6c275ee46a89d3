import Glibc
import Synchronization

/// A failed system call: what was done, on which path, and the C library's words for `errno`.
public struct SystemCallError: Error, CustomStringConvertible, Sendable {
    /// What was being done ("open", "write", ...).
    public var operation: String
    /// The file concerned, when there is one.
    public var path: String?
    /// The `errno` value.
    public var code: Int32

    /// The error of the last failed call, from `errno`.
    public init(_ operation: String, path: String? = nil, code: Int32 = errno) {
        self.operation = operation
        self.path = path
        self.code = code
    }

    /// The C library's message for `code` ("No such file or directory").
    public var reason: String { String(cString: strerror(code)) }

    public var description: String {
        "\(operation)\(path.map { " \($0)" } ?? ""): \(reason)"
    }
}

/// A file open for writing through its descriptor, closed in `deinit` when it owns it; what
/// Foundation's `FileHandle` does for writing, without the rest of Foundation.
public final class FileOutput: Sendable {
    /// The descriptor written to.
    public let descriptor: Int32
    private let ownsDescriptor: Bool
    private let isClosed = Atomic<Bool>(false)

    /// Standard output.
    public static let standardOutput = FileOutput(descriptor: STDOUT_FILENO, ownsDescriptor: false)
    /// Standard error.
    public static let standardError = FileOutput(descriptor: STDERR_FILENO, ownsDescriptor: false)

    /// Writes to `descriptor`, closing it in `deinit` when `ownsDescriptor`.
    public init(descriptor: Int32, ownsDescriptor: Bool) {
        self.descriptor = descriptor
        self.ownsDescriptor = ownsDescriptor
    }

    /// Opens the existing file at `path` for writing, at its start (or its end with `appending`).
    public convenience init(writingTo path: String, appending: Bool = false) throws {
        let descriptor = open(path, O_WRONLY | O_CLOEXEC | (appending ? O_APPEND : 0))
        guard descriptor >= 0 else { throw SystemCallError("open", path: path) }
        self.init(descriptor: descriptor, ownsDescriptor: true)
    }

    /// Creates `path` (it must not exist: `O_EXCL`) with permissions `mode`, for writing.
    public convenience init(creating path: String, mode: mode_t = 0o644) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard descriptor >= 0 else { throw SystemCallError("create", path: path) }
        self.init(descriptor: descriptor, ownsDescriptor: true)
    }

    deinit {
        if ownsDescriptor && !isClosed.load(ordering: .acquiring) { Glibc.close(descriptor) }
    }

    /// Writes every byte of `buffer`, retrying short and interrupted writes.
    public func write(_ buffer: UnsafeRawBufferPointer) throws {
        guard let base = buffer.baseAddress else { return }
        var offset = 0
        while offset < buffer.count {
            let written = Glibc.write(descriptor, base + offset, buffer.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw SystemCallError("write")
            }
            offset += written
        }
    }

    /// Writes every byte of `bytes`.
    public func write<Bytes: Sequence>(_ bytes: Bytes) throws where Bytes.Element == UInt8 {
        let array = bytes as? [UInt8] ?? Array(bytes)
        try array.withUnsafeBytes { try write($0) }
    }

    /// Writes `text` as UTF-8.
    public func write(_ text: String) throws {
        try write(Array(text.utf8))
    }

    /// Writes `text` as UTF-8, ignoring failures (for messages on standard error).
    public func print(_ text: String) {
        try? write(text)
    }

    /// Waits until what was written is on the disk (`fsync`).
    public func synchronize() throws {
        guard fsync(descriptor) == 0 else { throw SystemCallError("fsync") }
    }

    /// Closes the descriptor (once; later calls do nothing).
    public func close() throws {
        guard !isClosed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        guard Glibc.close(descriptor) == 0 else { throw SystemCallError("close") }
    }
}
