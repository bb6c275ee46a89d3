import FoundationEssentials
import POSIX

// MARK: - The public error

/// A failure to read or write a PyTorch checkpoint, safetensors or NumPy file.
///
/// Every failure of this module, whatever its cause (a missing file, a truncated or corrupt
/// one, a file that asks for Python code to run, an unsupported element type, a tensor view that
/// reaches outside its storage), is one of these. The description says what was being done, to
/// which file, where in it and why, for example:
///
///     reading the PyTorch checkpoint /data/model.pth, at byte 1234: the pickle refers to
///     Python object os.system, which is not checkpoint data; nothing is executed
public struct TorchFileError: Error, CustomStringConvertible, Sendable {
    /// What was being done, e.g. `"reading the PyTorch checkpoint"`.
    public let action: String
    /// The file concerned, when there is one.
    public let path: String?
    /// The byte offset in the file where the problem was found, when known.
    public let byteOffset: Int?
    /// Why it failed.
    public let message: String

    /// Creates an error for `action` on the file at `path`.
    public init(action: String, path: String?, byteOffset: Int? = nil, message: String) {
        self.action = action
        self.path = path
        self.byteOffset = byteOffset
        self.message = message
    }

    /// The action, the file, the byte offset when known, and the reason, in one sentence.
    public var description: String {
        var text = action
        if let path { text += " \(path)" }
        if let byteOffset { text += ", at byte \(byteOffset)" }
        return text + ": " + message
    }
}

// MARK: - Internal failures

/// A failure found while parsing bytes, before the file it belongs to is known; the public entry
/// points turn it into a `TorchFileError` naming the action and the path.
struct FormatFailure: Error {
    /// Why parsing failed.
    var message: String
    /// The byte offset in the file, when known.
    var byteOffset: Int?

    init(_ message: String, at byteOffset: Int? = nil) {
        self.message = message
        self.byteOffset = byteOffset
    }
}

/// Runs `body`, turning every error it throws into a `TorchFileError` for `action` on `path`.
///
/// `TorchFileError`s pass through unchanged except that a missing path is filled in; Foundation's
/// own errors (a missing file, a full disk) keep their message.
func withFileErrors<Result>(_ action: String, path: String?, _ body: () throws -> Result) throws -> Result {
    do {
        return try body()
    } catch let failure as FormatFailure {
        throw TorchFileError(action: action, path: path, byteOffset: failure.byteOffset, message: failure.message)
    } catch let error as TorchFileError {
        if error.path == nil, let path {
            throw TorchFileError(action: error.action, path: path, byteOffset: error.byteOffset, message: error.message)
        }
        throw error
    } catch {
        throw TorchFileError(action: action, path: path, message: describeSystemError(error))
    }
}


