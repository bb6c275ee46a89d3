import CTorch

/// An error raised by libtorch (or by the shim's own checks) in a call from Swift.
///
/// Every failure that crosses the C boundary becomes one of these: the C++ exception is caught
/// in the shim, its message kept, and the Swift caller receives it as a thrown error.
public struct TorchError: Error, CustomStringConvertible, Sendable {
    /// What Swift was doing, e.g. `"aten::conv3d"` or `"reading tensor data"`.
    public let operation: String
    /// libtorch's message, without its C++ backtrace.
    public let message: String

    public init(operation: String, message: String) {
        self.operation = operation
        self.message = message
    }

    public var description: String { "\(operation): \(message)" }
}

/// Throws a `TorchError` carrying the shim's message when `status` is not success.
@inline(__always)
func check(_ status: CTStatus, _ operation: @autoclosure () -> String) throws {
    if status != 0 {
        throw TorchError(operation: operation(), message: String(cString: ct_last_error()))
    }
}
