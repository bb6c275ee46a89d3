import FoundationEssentials

// MARK: - Requests

/// How a clip's square frames are cut from the video's frames.
public enum ClipCropping: Sendable, Hashable {
    /// A `size`×`size` window at the crop offset, not scaled (training; the reference's
    /// `crop_only`). The frame must be at least `size` in both directions.
    case window
    /// The largest square, `min(width, height)` on a side, at the crop offset, scaled to
    /// `size`×`size` with bicubic interpolation (evaluation).
    case scaledSquare
}

/// Where a crop window sits inside the frame, as fractions of the free space: 0 puts it at the
/// left (top) edge, 1 at the right (bottom) edge, 0.5 in the middle.
public struct CropOffset: Sendable, Hashable {
    /// The fraction of the horizontal free space left of the window, in 0...1.
    public var horizontal: Double
    /// The fraction of the vertical free space above the window, in 0...1.
    public var vertical: Double

    /// An offset from its two fractions.
    public init(horizontal: Double, vertical: Double) {
        self.horizontal = horizontal
        self.vertical = vertical
    }

    /// The centred window.
    public static let centered = CropOffset(horizontal: 0.5, vertical: 0.5)
}

/// One clip to decode: a window of time, resampled to a frame rate, cropped (and perhaps scaled)
/// to squares, perhaps flipped. Random choices (offsets, flip) are made by the caller, so the same
/// request always gives the same pixels.
public struct ClipRequest: Sendable, Hashable {
    /// Where decoding starts, in seconds from the start of the video (`ffmpeg -ss`).
    public var startSeconds: Double
    /// How much video is decoded from the start, in seconds (`ffmpeg -t`).
    public var durationSeconds: Double
    /// The frame rate the frames are resampled to (the `fps` filter).
    public var framesPerSecond: Double
    /// The number of frames in the clip: fewer decoded frames are padded with black frames at
    /// the end, more are cut.
    public var frameCount: Int
    /// The side of the square frames, in pixels.
    public var size: Int
    /// How the square is cut from each frame.
    public var cropping: ClipCropping
    /// Where the square sits in the frame.
    public var cropOffset: CropOffset
    /// Whether the frames are mirrored left to right.
    public var flipped: Bool

    /// A request; `durationSeconds` defaults to the reference's `frameCount / framesPerSecond + 0.1`.
    public init(startSeconds: Double, frameCount: Int = 16, framesPerSecond: Double = 5, size: Int = 224,
                cropping: ClipCropping = .window, cropOffset: CropOffset = .centered, flipped: Bool = false,
                durationSeconds: Double? = nil) {
        self.startSeconds = startSeconds
        self.frameCount = frameCount
        self.framesPerSecond = framesPerSecond
        self.size = size
        self.cropping = cropping
        self.cropOffset = cropOffset
        self.flipped = flipped
        self.durationSeconds = durationSeconds ?? Double(frameCount) / framesPerSecond + 0.1
    }

    /// The bytes of the decoded clip, `3 x frameCount x size x size` (0 when either is negative or
    /// the product overflows).
    public var byteCount: Int {
        guard frameCount >= 0, size >= 0 else { return 0 }
        var bytes = 3
        for factor in [frameCount, size, size] {
            let (product, overflow) = bytes.multipliedReportingOverflow(by: factor)
            if overflow { return 0 }
            bytes = product
        }
        return bytes
    }
}

/// How much of a decoded clip came from the video: the rest of its frames are black padding.
public struct ClipFill: Sendable, Hashable {
    /// The frames in the clip (T).
    public let frameCount: Int
    /// The frames that came from the video, the first `decodedFrameCount` of the clip.
    public let decodedFrameCount: Int
    /// Why no frame came from the video, when none did (and frames were asked for).
    public let emptyReason: EmptyClipReason?

    /// The black frames at the end of the clip.
    public var paddingFrameCount: Int { frameCount - decodedFrameCount }

    /// Whether black frames pad the clip (the reference pads short clips this way).
    public var isPadded: Bool { decodedFrameCount < frameCount }
}

/// Why a clip holds no frame of its video although the video decodes: `ffmpeg` gives no frame
/// for such a window either, and the clip is all black.
public enum EmptyClipReason: Sendable, Hashable, CustomStringConvertible {
    /// Every frame decoded lies before the clip's start: the window starts after the video's last
    /// frame. When the container declares a longer video, the file is cut short.
    case framesEndBeforeStart(startSeconds: Double, lastFrameSeconds: Double, declaredSeconds: Double)
    /// Frames lie in the window, but they span less than one frame period at the clip's rate,
    /// which the `fps` selection needs to emit a frame (a one-frame video, for example).
    case tooShortForFrameRate(frameCount: Int, framesPerSecond: Double)

    /// The reason, in words.
    public var description: String {
        switch self {
        case .framesEndBeforeStart(let start, let last, let declared):
            if declared > start {
                return "its frames end at \(seconds(last)), before the clip's start at \(seconds(start)), although the "
                    + "file declares \(seconds(declared)): the file is cut short"
            }
            return "the clip starts at \(seconds(start)), after the video's last frame at \(seconds(last))"
        case .tooShortForFrameRate(let count, let rate):
            let frames = count == 1 ? "the one frame from the clip's start on lasts" : "the \(count) frames from the clip's start on last"
            return "\(frames) less than one frame period at \(seconds(rate, unit: " fps")): the video is too short for a clip"
        }
    }

    private func seconds(_ value: Double, unit: String = " s") -> String {
        String(cFormat: "%g", value) + unit
    }
}

// MARK: - Results

/// Decoded frames as the network sees them: `UInt8` RGB laid out channel-major,
/// `3 x frameCount x size x size`.
public struct Clip: Sendable, Equatable {
    /// The number of frames (T).
    public let frameCount: Int
    /// The side of the square frames, in pixels.
    public let size: Int
    /// How many of the frames came from the video; the rest are black padding.
    public let decodedFrameCount: Int
    /// The pixels, `3 x frameCount x size x size`: all red values of frame 0 row by row, then
    /// those of frame 1, ..., then the green values, then the blue ones.
    public let pixels: [UInt8]

    /// A clip from its channel-major pixels; `nil` unless there are `3 * frameCount * size * size`
    /// of them and `decodedFrameCount` is within `0...frameCount`.
    public init?(frameCount: Int, size: Int, decodedFrameCount: Int, pixels: [UInt8]) {
        guard frameCount >= 0, size > 0, (0...frameCount).contains(decodedFrameCount),
              frameCount.multipliedReportingOverflow(by: 3 * size * size).partialValue == pixels.count else { return nil }
        self.init(checkedFrameCount: frameCount, size: size, decodedFrameCount: decodedFrameCount, pixels: pixels)
    }

    init(checkedFrameCount frameCount: Int, size: Int, decodedFrameCount: Int, pixels: [UInt8]) {
        self.frameCount = frameCount
        self.size = size
        self.decodedFrameCount = decodedFrameCount
        self.pixels = pixels
    }

    /// A clip from frames of packed RGB (`size x size x 3` each), padded with black or cut to
    /// `frameCount` frames.
    init(packedFrames: [[UInt8]], frameCount: Int, size: Int) {
        let plane = size * size
        var pixels = [UInt8](repeating: 0, count: 3 * frameCount * plane)
        let used = min(frameCount, packedFrames.count)
        pixels.withUnsafeMutableBufferPointer { out in
            for t in 0..<used {
                let frame = packedFrames[t]
                guard frame.count == plane * 3 else { continue }
                frame.withUnsafeBufferPointer { rgb in
                    for channel in 0..<3 {
                        let base = (channel * frameCount + t) * plane
                        var source = channel
                        for index in 0..<plane {
                            out[base + index] = rgb[source]
                            source += 3
                        }
                    }
                }
            }
        }
        self.init(checkedFrameCount: frameCount, size: size, decodedFrameCount: used, pixels: pixels)
    }

    /// Frame `index` as a packed RGB image (what `ffmpeg -pix_fmt rgb24` writes), or `nil` when
    /// `index` is out of range.
    public func frame(_ index: Int) -> RGBImage? {
        guard index >= 0, index < frameCount else { return nil }
        let plane = size * size
        var rgb = [UInt8](repeating: 0, count: plane * 3)
        pixels.withUnsafeBufferPointer { source in
            for channel in 0..<3 {
                let base = (channel * frameCount + index) * plane
                var target = channel
                for offset in 0..<plane {
                    rgb[target] = source[base + offset]
                    target += 3
                }
            }
        }
        return RGBImage(width: size, height: size, pixels: rgb)
    }

    /// The frames packed one after another, `frameCount x size x size x 3`: the bytes the
    /// `ffmpeg` pipe gives (a `.rgb` raw video file).
    public var packedPixels: [UInt8] {
        var data: [UInt8] = []
        data.reserveCapacity(pixels.count)
        for index in 0..<frameCount {
            if let frame = frame(index) { data += frame.pixels }
        }
        return data
    }
}
