// Which clip settings an evaluation uses: a flag given on the command line wins; otherwise the
// setting the model was trained with, when its checkpoint records it (ours record num_frames,
// video_size and fps under `milnce` → `run`); otherwise the reference's default. A network
// evaluated at other settings than it was trained with scores far lower, without any error.

import FoundationEssentials

// MARK: - Recorded settings

/// The clip settings a training checkpoint records.
public struct RecordedClipSettings: Sendable, Equatable {
    /// Frames per training clip (`num_frames`).
    public var frameCount: Int?
    /// The side of the training clips' frames (`video_size`).
    public var size: Int?
    /// The rate training clips were resampled to (`fps`).
    public var framesPerSecond: Double?

    /// Settings as recorded (any of them may be absent).
    public init(frameCount: Int? = nil, size: Int? = nil, framesPerSecond: Double? = nil) {
        self.frameCount = frameCount
        self.size = size
        self.framesPerSecond = framesPerSecond
    }
}

extension ModelCheckpoint {
    /// The clip settings of the run that wrote this checkpoint (`milnce` → `run` → `num_frames`,
    /// `video_size`, `fps`), or nil when it records none (released weights, the reference's
    /// checkpoints, bare state_dicts).
    public var recordedClipSettings: RecordedClipSettings? {
        guard let run = contents?["milnce"]?["run"] else { return nil }
        let recorded = RecordedClipSettings(frameCount: run["num_frames"]?.asInt, size: run["video_size"]?.asInt,
                                            framesPerSecond: run["fps"]?.asDouble)
        return recorded == RecordedClipSettings() ? nil : recorded
    }
}

// MARK: - Resolution

/// Where a clip setting came from.
public enum ClipSettingSource: String, Sendable, Codable, Equatable {
    /// Given on the command line.
    case flag
    /// Recorded in the checkpoint by the training run.
    case checkpoint
    /// The reference's default.
    case referenceDefault = "default"
}

/// The clip settings an evaluation uses, and where each came from.
public struct ResolvedClipSettings: Sendable, Equatable {
    /// The settings.
    public var settings: EvaluationClipSettings
    /// Where `frameCount` came from.
    public var frameCountSource: ClipSettingSource
    /// Where `size` came from.
    public var sizeSource: ClipSettingSource
    /// Where `framesPerSecond` came from.
    public var framesPerSecondSource: ClipSettingSource

    /// Each setting from its flag when given, else from `recorded`, else the reference's default.
    public init(windowCount: Int, frameCount: Int?, size: Int?, framesPerSecond: Double?,
                recorded: RecordedClipSettings?) {
        let defaults = EvaluationClipSettings()
        func pick<Value>(_ flag: Value?, _ stored: Value?, _ fallback: Value) -> (Value, ClipSettingSource) {
            if let flag { return (flag, .flag) }
            if let stored { return (stored, .checkpoint) }
            return (fallback, .referenceDefault)
        }
        let frames = pick(frameCount, recorded?.frameCount, defaults.frameCount)
        let side = pick(size, recorded?.size, defaults.size)
        let rate = pick(framesPerSecond, recorded?.framesPerSecond, defaults.framesPerSecond)
        settings = EvaluationClipSettings(windowCount: windowCount, frameCount: frames.0, framesPerSecond: rate.0,
                                          size: side.0)
        frameCountSource = frames.1
        sizeSource = side.1
        framesPerSecondSource = rate.1
    }

    /// The sources under the flags' names, for reports.
    public var sourcesByFlag: [String: ClipSettingSource] {
        ["num_frames": frameCountSource, "video_size": sizeSource, "fps": framesPerSecondSource]
    }

    /// One line: "clip settings: 8 frames (--num_frames), 4 fps (recorded in model.pth), 32x32 pixels (the
    /// reference's default); 10 windows". Without `framesPerSecond` the rate is left out (HMDB-51
    /// reads every frame at the video's own rate).
    public func description(checkpoint: String, includingFramesPerSecond: Bool = true) -> String {
        func origin(_ source: ClipSettingSource, flag: String) -> String {
            switch source {
            case .flag: return "--\(flag)"
            case .checkpoint: return "recorded in \(checkpoint)"
            case .referenceDefault: return "the reference's default"
            }
        }
        var parts = ["\(settings.frameCount) frames (\(origin(frameCountSource, flag: "num_frames")))"]
        if includingFramesPerSecond {
            let rate = settings.framesPerSecond
            let shown = rate == rate.rounded() && abs(rate) < 1e15 ? String(Int(rate)) : String(describing: rate)
            parts.append("\(shown) fps (\(origin(framesPerSecondSource, flag: "fps")))")
        }
        parts.append("\(settings.size)x\(settings.size) pixels (\(origin(sizeSource, flag: "video_size")))")
        return "clip settings: " + parts.joined(separator: ", ") + "; \(settings.windowCount) windows per item"
    }
}
