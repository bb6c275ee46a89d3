import FoundationEssentials
import Glibc

/// A readable message for an error from Foundation or the C library: the C library's text for
/// the underlying POSIX error ("No such file or directory") where there is one.
public func describeSystemError(_ error: Error) -> String {
    if let failure = error as? SystemCallError { return failure.reason }
    if let posix = error as? POSIXError { return String(cString: strerror(posix.code.rawValue)) }
    if let cocoa = error as? CocoaError {
        switch cocoa.code {
        case .fileReadNoSuchFile, .fileNoSuchFile: return "no such file"
        case .fileReadNoPermission, .fileWriteNoPermission: return "permission denied"
        default: break
        }
        if let posix = cocoa.underlying as? POSIXError { return String(cString: strerror(posix.code.rawValue)) }
    }
    return "\(error)"
}
