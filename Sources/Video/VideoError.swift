import CFFmpeg
import FoundationEssentials

/// Everything that can go wrong reading, writing or converting a video. Each case names the
/// file it concerns, and its description says what was being done, to which path, and why.
public enum VideoError: Error, Equatable, CustomStringConvertible {
    /// There is no file at the path.
    case fileNotFound(path: String)
    /// The file exists but holds no bytes.
    case emptyFile(path: String)
    /// FFmpeg recognises no container format in the file (not a video, or an unknown one).
    case unknownFormat(path: String, reason: String)
    /// The container holds no video stream (for example an audio-only file).
    case noVideoStream(path: String)
    /// The video stream's codec has no decoder (or encoder) in this FFmpeg.
    case unsupportedCodec(path: String, codec: String)
    /// The video stream yielded no frame at all (zero duration, or nothing decodable).
    case noDecodableFrame(path: String)
    /// The decoder rejected the data and produced no frame.
    case corruptData(path: String, reason: String)
    /// The video decodes, but a clip's window holds none of its frames (`ffmpeg` gives none either):
    /// an error where an empty clip cannot be used, as in training.
    case emptyClip(path: String, reason: EmptyClipReason)
    /// Reading or writing the file failed at the operating-system level.
    case ioError(path: String, operation: String, reason: String)
    /// The request cannot be satisfied for this video (for example a crop larger than the frame).
    case invalidRequest(path: String, reason: String)
    /// Encoding or muxing a video (or an image) failed.
    case encodingFailed(path: String, reason: String)
    /// The `ffmpeg` command could not run or failed.
    case commandFailed(path: String, status: Int32, message: String)

    /// The file the error concerns.
    public var path: String {
        switch self {
        case .fileNotFound(let path), .emptyFile(let path), .unknownFormat(let path, _),
             .noVideoStream(let path), .unsupportedCodec(let path, _), .noDecodableFrame(let path),
             .corruptData(let path, _), .emptyClip(let path, _), .ioError(let path, _, _), .invalidRequest(let path, _),
             .encodingFailed(let path, _), .commandFailed(let path, _, _):
            return path
        }
    }

    /// What was being done, to which file, and why it failed.
    public var description: String {
        switch self {
        case .fileNotFound(let path):
            return "cannot read video '\(path)': no such file"
        case .emptyFile(let path):
            return "cannot read video '\(path)': the file is empty"
        case .unknownFormat(let path, let reason):
            return "cannot read video '\(path)': not a video in a format FFmpeg knows (\(reason))"
        case .noVideoStream(let path):
            return "cannot read video '\(path)': the file has no video stream"
        case .unsupportedCodec(let path, let codec):
            return "cannot process video '\(path)': FFmpeg has no codec '\(codec)'"
        case .noDecodableFrame(let path):
            return "cannot read video '\(path)': no frame could be decoded (zero duration or no picture data)"
        case .corruptData(let path, let reason):
            return "cannot read video '\(path)': the data is corrupt (\(reason))"
        case .emptyClip(let path, let reason):
            return "cannot decode a clip of '\(path)': no frame of the video is in its window: \(reason)"
        case .ioError(let path, let operation, let reason):
            return "cannot \(operation) '\(path)': \(reason)"
        case .invalidRequest(let path, let reason):
            return "cannot decode a clip of '\(path)': \(reason)"
        case .encodingFailed(let path, let reason):
            return "cannot write '\(path)': \(reason)"
        case .commandFailed(let path, let status, let message):
            return "ffmpeg failed on '\(path)' (exit status \(status)): \(message)"
        }
    }
}

// MARK: - FFmpeg error codes

/// FFmpeg's message for an error code (`av_strerror`).
func ffmpegErrorMessage(_ code: Int32) -> String {
    var buffer = [CChar](repeating: 0, count: 256)
    if av_strerror(code, &buffer, buffer.count) < 0 {
        return "FFmpeg error \(code)"
    }
    return String(cString: buffer)
}
