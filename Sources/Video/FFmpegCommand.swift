import FoundationEssentials
import POSIX

/// The reference system's way of decoding a clip: one `ffmpeg` process per clip, with the command
/// line that the `ffmpeg-python` package builds for the reference's filter chain
/// (`ffmpeg -ss S -t D -i V -filter_complex "[0]fps=fps=F[s0];[s0]crop=...[s1]..." -map "[sN]"
/// -f rawvideo -pix_fmt rgb24 pipe:`). It is the oracle the in-process reader is tested against,
/// and the baseline it is measured against. It returns the same layout as `VideoReader`.
public struct FFmpegCommand: Sendable {
    /// The `ffmpeg` program.
    public var executable: URL

    /// A command running `executable`, or the first `ffmpeg` on `PATH`.
    public init(executable: URL? = nil) throws {
        if let executable {
            self.executable = executable
            return
        }
        let paths = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        for folder in paths + ["/usr/bin", "/usr/local/bin"] {
            let candidate = URL(fileURLWithPath: String(folder)).appendingPathComponent("ffmpeg")
            if FileManager.default.isExecutableFile(atPath: candidate.path) {
                self.executable = candidate
                return
            }
        }
        throw VideoError.commandFailed(path: "ffmpeg", status: -1, message: "no ffmpeg program on PATH")
    }

    // MARK: Command lines

    /// The filter graph and output label for a clip's crop, scale and flip, after `first` filters.
    private static func filterGraph(first: [String], size: Int, cropping: ClipCropping, offset: CropOffset,
                                    flipped: Bool) -> (graph: String, output: String) {
        var filters = first
        switch cropping {
        case .window:
            filters.append("crop=\(size):\(size):(iw - \(size))*\(offset.horizontal):(ih - \(size))*\(offset.vertical)")
        case .scaledSquare:
            filters.append("crop=min(iw\\,ih):min(iw\\,ih):(iw - min(iw\\,ih))*\(offset.horizontal)"
                           + ":(ih - min(iw\\,ih))*\(offset.vertical)")
            filters.append("scale=\(size):\(size)")
        }
        if flipped { filters.append("hflip") }
        var parts: [String] = []
        var input = "[0]"
        for (index, filter) in filters.enumerated() {
            parts.append("\(input)\(filter)[s\(index)]")
            input = "[s\(index)]"
        }
        return (parts.joined(separator: ";"), input)
    }

    /// The arguments (after the program name) for one clip of `url`.
    public func arguments(for request: ClipRequest, of url: URL) -> [String] {
        let (graph, output) = Self.filterGraph(first: ["fps=fps=\(request.framesPerSecond)"], size: request.size,
                                               cropping: request.cropping, offset: request.cropOffset,
                                               flipped: request.flipped)
        return ["-nostdin", "-v", "error",
                "-ss", commandLineText(request.startSeconds), "-t", commandLineText(request.durationSeconds),
                "-i", url.path, "-filter_complex", graph, "-map", output,
                "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:"]
    }

    /// The arguments for decoding all of `url` at its native frame rate.
    public func allFramesArguments(of url: URL, size: Int, cropping: ClipCropping = .scaledSquare,
                                   cropOffset: CropOffset = .centered, flipped: Bool = false) -> [String] {
        let (graph, output) = Self.filterGraph(first: [], size: size, cropping: cropping, offset: cropOffset,
                                               flipped: flipped)
        return ["-nostdin", "-v", "error", "-i", url.path, "-filter_complex", graph, "-map", output,
                "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:"]
    }

    // MARK: Decoding

    /// One clip, decoded by an `ffmpeg` process: padded with black frames or cut to `frameCount`.
    public func clip(_ request: ClipRequest, of url: URL) throws -> Clip {
        let frames = try run(arguments(for: request, of: url), url: url, size: request.size)
        return Clip(packedFrames: frames, frameCount: request.frameCount, size: request.size)
    }

    /// The whole video at its native frame rate, decoded by an `ffmpeg` process.
    public func allFrames(of url: URL, size: Int, cropping: ClipCropping = .scaledSquare,
                          cropOffset: CropOffset = .centered, flipped: Bool = false) throws -> Clip {
        let frames = try run(allFramesArguments(of: url, size: size, cropping: cropping, cropOffset: cropOffset,
                                                flipped: flipped), url: url, size: size)
        return Clip(packedFrames: frames, frameCount: frames.count, size: size)
    }

    /// Runs `ffmpeg` and splits its output into `size x size x 3` frames.
    private func run(_ arguments: [String], url: URL, size: Int) throws -> [[UInt8]] {
        let child: ChildProcess
        do {
            child = try ChildProcess(executable: executable.path, arguments: arguments, capturing: true)
        } catch {
            throw VideoError.commandFailed(path: url.path, status: -1,
                                           message: "cannot start \(executable.path): \(describeSystemError(error))")
        }
        let captured = try? child.readCapturedOutput()
        let status: Int32
        do { status = try child.wait() } catch {
            throw VideoError.commandFailed(path: url.path, status: -1, message: "\(error)")
        }
        guard status == 0, let (data, _) = captured else {
            let message = String(decoding: (captured?.errors ?? []).suffix(2000), as: UTF8.self)
            throw VideoError.commandFailed(path: url.path, status: status,
                                           message: message.trimmingWhitespace())
        }
        let frameBytes = size * size * 3
        guard data.count % frameBytes == 0 else {
            throw VideoError.commandFailed(path: url.path, status: 0,
                                           message: "\(data.count) bytes of output are not whole \(size)×\(size) frames")
        }
        let bytes = data
        return stride(from: 0, to: bytes.count, by: frameBytes).map { Array(bytes[$0..<($0 + frameBytes)]) }
    }
}
