import ArgumentParser
import FoundationEssentials
import MILNCE
import Video

/// `milnce clip VIDEO`: one clip decoded exactly as the training or evaluation loader decodes it,
/// written as raw RGB frames or as a contact sheet, so a user sees what the network sees.
struct ClipCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clip",
        abstract: "Decode one clip as the network sees it; write raw RGB frames (.rgb) or a contact sheet (.png).",
        discussion: """
        The clip is decoded in-process with the reference's method: from --start, --duration seconds are \
        resampled to --fps frames per second, then each frame is cut to a --size square (a window without \
        scaling with --crop_only 1, else the largest square scaled to --size), perhaps mirrored, and the clip \
        is padded with black frames or cut to --num_frames. A .rgb file holds the frames back to back \
        (num_frames x size x size x 3 bytes; `ffplay -f rawvideo -pixel_format rgb24 -video_size SxS` plays \
        it); a .png file shows the frames side by side, eight to a row.
        """
    )

    @Argument(help: "The video file.")
    var video: String

    @Option(help: "Where decoding starts, in seconds.")
    var start: Double = 0

    @Option(help: "Seconds decoded from the start (default: num_frames / fps + 0.1, as the reference).")
    var duration: Double?

    @Option(help: "Frames per second of the clip.")
    var fps: Double = 5

    @Option(name: .customLong("num_frames"), help: "Frames in the clip (fewer decoded frames are padded with black).")
    var numFrames = 16

    @Option(help: "Side of the square frames, in pixels.")
    var size = 224

    @Option(name: .customLong("crop_only"),
            help: "1: crop a size×size window without scaling (training); 0: crop the largest square and scale it to size.")
    var cropOnly = 1

    @Option(help: "1: centre the crop; 0: place it at random offsets drawn from --seed.")
    var centercrop = 0

    @Flag(help: "Mirror the frames left to right.")
    var flip = false

    @Option(help: "Seed of the random crop offsets (when not centred).")
    var seed: UInt64 = 0

    @Option(help: "Output file: .rgb for raw rgb24 frames, .png for a contact sheet; none to only decode.")
    var output: String?

    /// The largest clip the command decodes, in bytes.
    static let largestClipBytes = 1 << 31

    func validate() throws {
        guard start.isFinite, start >= 0 else { throw ValidationError("--start must be a time of 0 seconds or more, got \(start)") }
        if let duration {
            guard duration.isFinite, duration > 0 else {
                throw ValidationError("--duration must be a positive number of seconds, got \(duration)")
            }
        }
        guard fps.isFinite, fps > 0 else { throw ValidationError("--fps must be a positive number, got \(fps)") }
        guard numFrames >= 1 else { throw ValidationError("--num_frames must be at least 1, got \(numFrames)") }
        guard size >= 1, size <= 16384 else { throw ValidationError("--size must be in 1...16384, got \(size)") }
        let bytes = numFrames.multipliedReportingOverflow(by: 3 * size * size)
        guard !bytes.overflow, bytes.partialValue <= ClipCommand.largestClipBytes else {
            throw ValidationError("a clip of \(numFrames) frames of \(size)×\(size) is larger than "
                                  + formatBytes(ClipCommand.largestClipBytes))
        }
        guard (Double(numFrames) / fps).isFinite, Double(numFrames) / fps < 1e9 else {
            throw ValidationError("--num_frames / --fps is not a usable number of seconds")
        }
        guard cropOnly == 0 || cropOnly == 1 else { throw ValidationError("--crop_only must be 0 or 1, got \(cropOnly)") }
        guard centercrop == 0 || centercrop == 1 else {
            throw ValidationError("--centercrop must be 0 or 1, got \(centercrop)")
        }
        if let output { _ = try ClipOutputKind(path: output) }
    }

    /// The crop offset: centred, or two uniform draws from `seed`.
    var cropOffset: CropOffset {
        if centercrop == 1 { return .centered }
        var random = SplitMix64(seed: seed)
        let horizontal = random.uniformDouble()
        return CropOffset(horizontal: horizontal, vertical: random.uniformDouble())
    }

    /// The request the options describe.
    var request: ClipRequest {
        ClipRequest(startSeconds: start, frameCount: numFrames, framesPerSecond: fps, size: size,
                    cropping: cropOnly == 1 ? .window : .scaledSquare, cropOffset: cropOffset, flipped: flip,
                    durationSeconds: duration)
    }

    func run() throws {
        for line in try decodeAndWrite() { print(line) }
    }

    /// Decodes the clip, writes the output file, and returns the lines that describe what was done.
    func decodeAndWrite() throws -> [String] {
        let url = URL(fileURLWithPath: video)
        if let output {
            let folder = URL(fileURLWithPath: output).deletingLastPathComponent().path
            var isFolder = false
            guard FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder), isFolder else {
                throw ClipCommandError.noOutputFolder(path: output, folder: folder)
            }
        }
        let reader = try VideoReader(url: url, threadCount: 0)
        let request = self.request
        // Frames are turned upright before cropping, so a quarter turn swaps the sides.
        let quarterTurn = reader.rotationDegrees % 180 == 90
        let uprightWidth = quarterTurn ? reader.height : reader.width
        let uprightHeight = quarterTurn ? reader.width : reader.height
        if request.cropping == .window && (uprightWidth < size || uprightHeight < size) {
            throw ClipCommandError.cropDoesNotFit(path: url.path, size: size, width: uprightWidth, height: uprightHeight)
        }

        var lines: [String] = []
        var properties = "\(reader.codecName) \(uprightWidth)×\(uprightHeight), "
            + String(cFormat: "%.3g fps, %.2f s", reader.framesPerSecond, reader.durationSeconds)
        if reader.rotationDegrees != 0 { properties += ", rotated \(reader.rotationDegrees)°" }
        lines.append("video: \(url.path) (\(properties))")
        lines.append("clip: \(numFrames) frames at \(formatNumber(fps)) fps from \(formatNumber(start)) s, "
                     + "decoding \(formatNumber(request.durationSeconds)) s")
        lines.append("crop: " + describeCrop(request, width: uprightWidth, height: uprightHeight))
        lines.append("flip: " + (flip ? "mirrored left to right" : "not mirrored"))

        var pixels = [UInt8](repeating: 0, count: request.byteCount)
        let fill = try pixels.withUnsafeMutableBytes { try reader.decode(request, into: $0) }
        guard let clip = Clip(frameCount: fill.frameCount, size: size, decodedFrameCount: fill.decodedFrameCount,
                              pixels: pixels) else {
            throw ClipCommandError.emptyClip(path: url.path)
        }
        var decoded = "decoded \(fill.decodedFrameCount) of \(fill.frameCount) frames, padded \(fill.paddingFrameCount) black"
        if let reason = fill.emptyReason {
            decoded += " (no frame of the video: \(reason))"
        }
        lines.append(decoded)

        if let output {
            let outputURL = URL(fileURLWithPath: output)
            switch try ClipOutputKind(path: output) {
            case .rawRGB:
                try clip.writeRawRGB(to: outputURL)
                lines.append("wrote \(output): \(clip.frameCount) × \(size) × \(size) × 3 bytes of rgb24")
            case .contactSheet:
                guard let sheet = RGBImage.contactSheet(of: clip) else {
                    throw ClipCommandError.emptyClip(path: outputURL.path)
                }
                try sheet.writePNG(to: outputURL)
                lines.append("wrote \(output): a \(sheet.width)×\(sheet.height) contact sheet of \(clip.frameCount) frames")
            }
        }
        return lines
    }

    private func describeCrop(_ request: ClipRequest, width: Int, height: Int) -> String {
        let offset = request.cropOffset
        let placement = centercrop == 1 ? "centred" : "random (seed \(seed))"
        let fractions = String(cFormat: "(%.4f, %.4f)", offset.horizontal, offset.vertical)
        switch request.cropping {
        case .window:
            let x = Int((Double(width - size) * offset.horizontal).rounded())
            let y = Int((Double(height - size) * offset.vertical).rounded())
            return "\(size)×\(size) window, \(placement), offsets \(fractions) of the free space, "
                + "at about (\(x), \(y)) in the \(width)×\(height) frame"
        case .scaledSquare:
            let side = min(width, height)
            let x = Int((Double(width - side) * offset.horizontal).rounded())
            let y = Int((Double(height - side) * offset.vertical).rounded())
            return "\(side)×\(side) square, \(placement), offsets \(fractions), at about (\(x), \(y)) "
                + "in the \(width)×\(height) frame, scaled to \(size)×\(size)"
        }
    }

    private func formatNumber(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(cFormat: "%g", value)
    }
}

// MARK: - Output files

/// What `milnce clip` writes, from the output file's extension.
enum ClipOutputKind {
    /// `.rgb`: the frames back to back, `T x S x S x 3` bytes.
    case rawRGB
    /// `.png`: the frames side by side.
    case contactSheet

    /// The kind of `path`, by its extension (`.rgb` or `.png`, any case).
    init(path: String) throws {
        switch URL(fileURLWithPath: path).pathExtension.lowercased() {
        case "rgb": self = .rawRGB
        case "png": self = .contactSheet
        default: throw ValidationError("--output must end in .rgb (raw frames) or .png (contact sheet), got '\(path)'")
        }
    }
}

// MARK: - Errors

/// Why `milnce clip` could not make its clip.
enum ClipCommandError: Error, CustomStringConvertible {
    /// The crop window is larger than the video's frames.
    case cropDoesNotFit(path: String, size: Int, width: Int, height: Int)
    /// The clip has no frame to show.
    case emptyClip(path: String)
    /// The output file's folder does not exist.
    case noOutputFolder(path: String, folder: String)

    /// What was being done, to which file, and why it failed.
    var description: String {
        switch self {
        case .cropDoesNotFit(let path, let size, let width, let height):
            return "cannot decode a clip of '\(path)': a \(size)×\(size) crop does not fit in its \(width)×\(height) "
                + "frames (use a --size of at most \(min(width, height)), or --crop_only 0 to scale the largest square)"
        case .emptyClip(let path):
            return "cannot write '\(path)': the clip has no frames"
        case .noOutputFolder(let path, let folder):
            return "cannot write '\(path)': the folder '\(folder)' does not exist"
        }
    }
}
