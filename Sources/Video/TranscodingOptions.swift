import FoundationEssentials

/// How `VideoTranscoder` re-encodes a video for training: the frame rate clips are sampled at, a
/// short side no smaller than the training crop, a short keyframe interval so that a clip
/// decodes few frames before its start, and H.264 tuned for fast decoding. No audio.
public struct TranscodingOptions: Sendable, Hashable, Codable {
    /// The output frame rate: the source's frames are selected as the `fps` filter does (and as
    /// the training clips select them), so frame `k` shows the source at `k / framesPerSecond` s.
    public var framesPerSecond: Int
    /// The short side of the output frames, in pixels. Larger sources are scaled down (keeping
    /// the aspect ratio, both sides even); smaller ones keep their size (never scaled up).
    public var shortSide: Int
    /// Frames from one keyframe to the next (the GOP length); every keyframe is at a multiple.
    public var keyframeInterval: Int
    /// x264's constant rate factor (quality: lower is better and larger; 18 is visually lossless).
    public var constantRateFactor: Double
    /// x264's preset (`ultrafast` ... `veryslow`): encoding speed against size.
    public var preset: String
    /// x264's tune (`fastdecode`: no CABAC, no deblocking, no weighted prediction); empty for none.
    public var tune: String
    /// B-frames between reference frames (0: every frame is a reference, in presentation order).
    public var bFrames: Int

    /// The store's defaults: 5 fps, a 256-pixel short side, a keyframe every second (training
    /// clips start at whole seconds, so none decodes a frame before its start), CRF 26 with the
    /// `veryfast` preset, `fastdecode`, no B-frames. `keyframeInterval` nil means `framesPerSecond`.
    public init(framesPerSecond: Int = 5, shortSide: Int = 256, keyframeInterval: Int? = nil,
                constantRateFactor: Double = 26, preset: String = "veryfast", tune: String = "fastdecode",
                bFrames: Int = 0) {
        self.framesPerSecond = framesPerSecond
        self.shortSide = shortSide
        self.keyframeInterval = keyframeInterval ?? framesPerSecond
        self.constantRateFactor = constantRateFactor
        self.preset = preset
        self.tune = tune
        self.bFrames = bFrames
    }

    /// x264's presets.
    public static let presets = ["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower",
                                 "veryslow", "placebo"]
    /// x264's tunes (and none).
    public static let tunes = ["", "film", "animation", "grain", "stillimage", "fastdecode", "zerolatency"]

    /// What is wrong with the options, in words (empty when they are usable).
    public var problems: [String] {
        var problems: [String] = []
        if !(1...120).contains(framesPerSecond) { problems.append("the frame rate \(framesPerSecond) is not in 1...120") }
        if !(16...4096).contains(shortSide) || shortSide % 2 != 0 {
            problems.append("the short side \(shortSide) is not an even number in 16...4096")
        }
        if !(1...1000).contains(keyframeInterval) {
            problems.append("the keyframe interval \(keyframeInterval) is not in 1...1000 frames")
        }
        if !(constantRateFactor >= 0 && constantRateFactor <= 51) {
            problems.append("the constant rate factor \(constantRateFactor) is not in 0...51")
        }
        if !Self.presets.contains(preset) {
            problems.append("the preset '\(preset)' is not one of x264's (\(Self.presets.joined(separator: ", ")))")
        }
        if !Self.tunes.contains(tune) {
            problems.append("the tune '\(tune)' is not one of x264's (\(Self.tunes.dropFirst().joined(separator: ", ")))")
        }
        if !(0...16).contains(bFrames) { problems.append("the B-frame count \(bFrames) is not in 0...16") }
        return problems
    }

    /// The output size for upright source frames of `width`×`height`: the short side brought to
    /// `shortSide` when larger (the long side rounded to the nearest even number, as
    /// `scale=-2:256` does), both sides rounded down to even numbers when not scaled.
    public func outputSize(width: Int, height: Int) -> (width: Int, height: Int) {
        let short = min(width, height)
        guard short > shortSide, short > 0 else { return (width & ~1, height & ~1) }
        let long = max(width, height)
        let scaledLong = max(2, Int((Double(long) * Double(shortSide) / Double(short) / 2).rounded()) * 2)
        return width <= height ? (shortSide, scaledLong) : (scaledLong, shortSide)
    }
}
