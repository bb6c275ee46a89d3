// Where the evaluation windows of a clip or a video start, computed with NumPy's arithmetic so
// that the same CSV rows give the same windows as the reference.

import FoundationEssentials

// MARK: - Clip settings

/// The shape of the windows an evaluation decodes: how many per clip or video, and the frames,
/// rate and size of each. The defaults are the reference's (`--num_windows_test 4`,
/// `--num_frames 16`, `--fps 5`, `--video_size 224`).
public struct EvaluationClipSettings: Sendable, Codable, Equatable {
    /// Windows per clip (`--num_windows_test`); the reference's README runs use 10.
    public var windowCount: Int
    /// Frames per window (`--num_frames`).
    public var frameCount: Int
    /// The rate windows are resampled to (`--fps`); HMDB-51 ignores it and reads every frame.
    public var framesPerSecond: Double
    /// The side of the square frames, in pixels (`--video_size`).
    public var size: Int

    /// Settings; the defaults are the reference's.
    public init(windowCount: Int = 4, frameCount: Int = 16, framesPerSecond: Double = 5, size: Int = 224) {
        self.windowCount = windowCount
        self.frameCount = frameCount
        self.framesPerSecond = framesPerSecond
        self.size = size
    }

    /// The length of a window in seconds (`num_sec = num_frames / fps`).
    public var windowSeconds: Double { Double(frameCount) / framesPerSecond }

    /// The bytes of one decoded window, `3 x frameCount x size x size`.
    public var windowByteCount: Int { 3 * frameCount * size * size }

    /// Checks that every value is usable.
    ///
    /// - Throws: `EvaluationError.invalidSettings` naming the first bad value.
    public func validate() throws {
        guard windowCount >= 1 else {
            throw EvaluationError.invalidSettings("the number of windows must be at least 1, got \(windowCount)")
        }
        guard frameCount >= 1 else {
            throw EvaluationError.invalidSettings("the number of frames must be at least 1, got \(frameCount)")
        }
        guard framesPerSecond.isFinite, framesPerSecond > 0 else {
            throw EvaluationError.invalidSettings("the frame rate must be positive, got \(framesPerSecond)")
        }
        guard size >= 1 else {
            throw EvaluationError.invalidSettings("the video size must be at least 1 pixel, got \(size)")
        }
        let (bytes, overflow) = windowCount.multipliedReportingOverflow(by: frameCount * 3)
        guard !overflow, !bytes.multipliedReportingOverflow(by: size * size).overflow,
              size <= 1 << 14, frameCount <= 1 << 16 else {
            throw EvaluationError.invalidSettings(
                "\(windowCount) windows of \(frameCount) frames at \(size)x\(size) pixels are too large")
        }
    }

    /// The JSON keys are the reference's flag names.
    private enum CodingKeys: String, CodingKey {
        case windowCount = "num_windows_test", frameCount = "num_frames", framesPerSecond = "fps", size = "video_size"
    }
}

// MARK: - Window starts

/// The window starts of the reference's evaluation loaders.
public enum EvaluationWindows {
    /// `numpy.linspace(start, stop, count)` with NumPy's own arithmetic: `i * step + start`
    /// with `step = (stop - start) / (count - 1)`, the last value set to `stop` exactly;
    /// `[start]` for one value; `start` everywhere when the step is zero.
    public static func linspace(from start: Double, to stop: Double, count: Int) -> [Double] {
        guard count > 0 else { return [] }
        guard count > 1 else { return [start] }
        let divisions = Double(count - 1)
        let delta = stop - start
        let step = delta / divisions
        var values = [Double](repeating: 0, count: count)
        for index in 0..<count {
            let position = Double(index)
            // NumPy divides first when the step underflows to zero (gh-5437).
            values[index] = (step == 0 ? (position / divisions) * delta : position * step) + start
        }
        values[count - 1] = stop
        return values
    }

    /// The start times, in seconds, of the windows of a clip from `startSeconds` to `endSeconds`
    /// (YouCook2 and MSR-VTT): `linspace(start, max(start, end - windowSeconds - 0.4), count)`.
    public static func clipStartSeconds(startSeconds: Double, endSeconds: Double, windowSeconds: Double,
                                        count: Int) -> [Double] {
        let last = endSeconds - windowSeconds - 0.4
        return linspace(from: startSeconds, to: Swift.max(startSeconds, last), count: count)
    }

    /// The first frames of the windows of a video of `videoFrameCount` frames (HMDB-51):
    /// `linspace(0, n - windowFrames, count, dtype=int)` where `n` is the frame count after
    /// padding a shorter video with black frames to `windowFrames`, so every start is at least 0.
    public static func frameStarts(videoFrameCount: Int, windowFrames: Int, count: Int) -> [Int] {
        let padded = Swift.max(videoFrameCount, windowFrames)
        return linspace(from: 0, to: Double(padded - windowFrames), count: count).map { value in
            // NumPy casts toward zero (and, since 2.0, floors first); the values are never negative.
            Int(value.rounded(.down))
        }
    }
}
