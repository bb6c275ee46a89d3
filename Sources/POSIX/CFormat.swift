#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension String {
    /// Text formatted by the C library's `printf` rules, always with `.` as the decimal point.
    ///
    /// Use it instead of Foundation's `String(format:)`, which links the whole of ICU (about
    /// 40 MB) into a statically linked binary. The arguments must match the C conversions:
    /// `%ld` for `Int`, `%d` for `Int32`, `%f`/`%g`/`%e` for `Double`, `%s` is not supported
    /// (interpolate strings instead).
    ///
    ///     String(cFormat: "epoch%04ld", 7)         // "epoch0007"
    ///     String(cFormat: "%.2f clips/s", 12.345)  // "12.35 clips/s"
    public init(cFormat format: String, _ arguments: CVarArg...) {
        var buffer = [CChar](repeating: 0, count: 128)
        let needed = withVaList(arguments) { vsnprintf(&buffer, buffer.count, format, $0) }
        if needed >= Int32(buffer.count) {
            buffer = [CChar](repeating: 0, count: Int(needed) + 1)
            _ = withVaList(arguments) { vsnprintf(&buffer, buffer.count, format, $0) }
        }
        self = needed < 0 ? format : buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }
}
