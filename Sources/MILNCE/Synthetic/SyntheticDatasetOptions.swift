// The settings of a synthetic dataset, the files it consists of, and the errors of making one.

import FoundationEssentials
import Video

// MARK: - Options

/// What to generate: how many videos, how long, how large, from which seed.
public struct SyntheticDatasetOptions: Sendable, Equatable {
    /// Training videos.
    public var trainingVideoCount: Int
    /// Held-out videos; each of their events is one row of the YouCook2-style evaluation CSV.
    public var evaluationVideoCount: Int
    /// Each video's duration, in whole seconds.
    public var videoSeconds: Int
    /// Events per video (each with its caption).
    public var eventsPerVideo: Int
    /// The side of the square frames, in pixels (even).
    public var frameSize: Int
    /// The frame rate.
    public var framesPerSecond: Double
    /// The seed: the same seed gives the same files.
    public var seed: UInt64
    /// The codec of the videos (all of them in `.mp4` files).
    public var codec: VideoCodec
    /// Still shapes on screen for a whole video besides the event shapes (in other colours).
    public var bystandersPerVideo: Int
    /// The chance that a gap of two seconds or more between events (or at an end of the video)
    /// holds a narration caption unrelated to the screen.
    public var narrationProbability: Double

    /// The demo's dataset: 300 training videos and 32 held-out ones of 32 seconds with 4 events,
    /// 64×64 pixels at 10 frames per second, seed 0, H.264, no bystanders, narration in half the
    /// gaps.
    public init(trainingVideoCount: Int = 300, evaluationVideoCount: Int = 32, videoSeconds: Int = 32,
                eventsPerVideo: Int = 4, frameSize: Int = 64, framesPerSecond: Double = 10, seed: UInt64 = 0,
                codec: VideoCodec = .h264, bystandersPerVideo: Int = 0, narrationProbability: Double = 0.5) {
        self.trainingVideoCount = trainingVideoCount
        self.evaluationVideoCount = evaluationVideoCount
        self.videoSeconds = videoSeconds
        self.eventsPerVideo = eventsPerVideo
        self.frameSize = frameSize
        self.framesPerSecond = framesPerSecond
        self.seed = seed
        self.codec = codec
        self.bystandersPerVideo = bystandersPerVideo
        self.narrationProbability = narrationProbability
    }

    /// The largest frame side accepted.
    public static let largestFrameSize = 1024
    /// The largest frame rate accepted.
    public static let largestFramesPerSecond = 60.0
    /// The most videos of one split.
    public static let largestVideoCount = 100_000

    /// The number of held-out clips (rows of the evaluation CSV).
    public var evaluationClipCount: Int { evaluationVideoCount * eventsPerVideo }

    /// The number of frames of each video.
    public var framesPerVideo: Int { Int((Double(videoSeconds) * framesPerSecond).rounded()) }

    /// Throws a `SyntheticDatasetError.invalidOptions` naming the first unusable setting.
    public func validate() throws {
        func fail(_ reason: String) -> SyntheticDatasetError { .invalidOptions(reason) }
        let largest = SyntheticDatasetOptions.largestVideoCount
        guard (1...largest).contains(trainingVideoCount) else {
            throw fail("the number of training videos must be in 1...\(largest), not \(trainingVideoCount)")
        }
        guard (0...largest).contains(evaluationVideoCount) else {
            throw fail("the number of held-out videos must be in 0...\(largest), not \(evaluationVideoCount)")
        }
        guard (1...64).contains(eventsPerVideo) else {
            throw fail("the number of events per video must be in 1...64, not \(eventsPerVideo)")
        }
        let shortest = SyntheticVideoPlan.shortestDurationSeconds(events: eventsPerVideo)
        guard videoSeconds >= shortest, videoSeconds <= 3600 else {
            throw fail("\(eventsPerVideo) events of \(SyntheticVideoPlan.eventSecondsRange.lowerBound) seconds or more, "
                + "a second apart, need videos of \(shortest)...3600 seconds, not \(videoSeconds)")
        }
        guard frameSize >= 16, frameSize <= SyntheticDatasetOptions.largestFrameSize, frameSize % 2 == 0 else {
            throw fail("the frame size must be an even number of pixels in 16...\(SyntheticDatasetOptions.largestFrameSize), "
                + "not \(frameSize)")
        }
        guard framesPerSecond.isFinite, framesPerSecond >= 1,
              framesPerSecond <= SyntheticDatasetOptions.largestFramesPerSecond else {
            throw fail("the frame rate must be in 1...\(Int(SyntheticDatasetOptions.largestFramesPerSecond)), not \(framesPerSecond)")
        }
        let frames = Double(videoSeconds) * framesPerSecond
        guard abs(frames - frames.rounded()) < 1e-6 else {
            throw fail("\(videoSeconds) seconds at \(framesPerSecond) frames per second is not a whole number of frames")
        }
        let kinds = SyntheticEventKind.all.count
        guard evaluationClipCount <= kinds else {
            throw fail("\(evaluationVideoCount) held-out videos of \(eventsPerVideo) events make \(evaluationClipCount) "
                + "held-out clips, but only \(kinds) distinct events exist (each held-out clip shows a different one)")
        }
        guard (0..<ShapeColor.allCases.count).contains(bystandersPerVideo) else {
            throw fail("the number of bystanders must be in 0...\(ShapeColor.allCases.count - 1), not \(bystandersPerVideo)")
        }
        guard narrationProbability >= 0, narrationProbability <= 1 else {
            throw fail("the narration probability must be in 0...1, not \(narrationProbability)")
        }
    }
}

// MARK: - Layout

/// Where a synthetic dataset's files are, under its root folder.
///
/// ```
/// README.txt  dataset.json  dict.npy  word2vec.pth  train.csv
/// videos/<id>.mp4        captions/<id>.csv         (training, HowTo100M's layout)
/// eval/youcook.csv       eval/validation/<task>/<id>.mp4   (held out, YouCook2's layout)
/// ```
public struct SyntheticDatasetLayout: Sendable, Equatable {
    /// The dataset's folder.
    public let root: URL

    /// The layout under `root`.
    public init(root: URL) {
        self.root = root
    }

    /// The train CSV (`video_path` column, paths relative to `videoRoot`).
    public var trainList: URL { root.appendingPathComponent("train.csv") }
    /// The training videos' folder.
    public var videoRoot: URL { root.appendingPathComponent("videos", isDirectory: true) }
    /// The caption files' folder (`<id>.csv`, columns `start,end,text`).
    public var captionRoot: URL { root.appendingPathComponent("captions", isDirectory: true) }
    /// The held-out set's video root (videos at `validation/<task>/<id>.mp4` under it).
    public var evaluationRoot: URL { root.appendingPathComponent("eval", isDirectory: true) }
    /// The held-out set's CSV in YouCook2's columns (`end,start,task,text,video_id`).
    public var evaluationCSV: URL { evaluationRoot.appendingPathComponent("youcook.csv") }
    /// The word dictionary (NumPy array of strings; word i has token i + 1).
    public var dictionary: URL { root.appendingPathComponent("dict.npy") }
    /// The word-vector matrix (`torch.save` of a float32 tensor, row 0 the padding).
    public var wordVectors: URL { root.appendingPathComponent("word2vec.pth") }
    /// A description for people.
    public var readme: URL { root.appendingPathComponent("README.txt") }
    /// A description for programs (`SyntheticDatasetDescription` as JSON).
    public var metadata: URL { root.appendingPathComponent("dataset.json") }

    /// The file of training video `id`.
    public func trainingVideo(id: String) -> URL { videoRoot.appendingPathComponent(id + ".mp4") }
    /// The caption file of training video `id`.
    public func captions(id: String) -> URL { captionRoot.appendingPathComponent(id + ".csv") }
    /// The file of held-out video `id` of `task`.
    public func evaluationVideo(id: String, task: Int) -> URL {
        evaluationRoot.appendingPathComponent("validation/\(task)/\(id).mp4")
    }

    /// The file of a planned video, training or held out.
    public func file(of video: SyntheticVideoPlan) -> URL {
        switch video.split {
        case .training: trainingVideo(id: video.id)
        case .evaluation: evaluationVideo(id: video.id, task: video.background.style.taskNumber)
        }
    }

    /// The names of everything the generator writes directly under `root`.
    public static let entryNames = ["README.txt", "dataset.json", "dict.npy", "word2vec.pth", "train.csv", "videos",
                                     "captions", "eval"]
}

// MARK: - Errors

/// Why a synthetic dataset could not be made.
public enum SyntheticDatasetError: Error, CustomStringConvertible, Equatable {
    /// A setting is unusable.
    case invalidOptions(String)
    /// The output folder holds files and replacing them was not asked for.
    case outputNotEmpty(path: String)
    /// The output path exists and is not a folder.
    case outputNotAFolder(path: String)
    /// A file or folder could not be written or removed.
    case fileSystem(operation: String, path: String, reason: String)
    /// A video could not be encoded.
    case encoding(path: String, reason: String)

    /// What was being done, to which path, and why.
    public var description: String {
        switch self {
        case .invalidOptions(let reason):
            return "generating a synthetic dataset: \(reason)"
        case .outputNotEmpty(let path):
            return "generating a synthetic dataset in \(path): the folder is not empty; choose an empty or new "
                + "folder, or allow replacing the generator's files there (--force)"
        case .outputNotAFolder(let path):
            return "generating a synthetic dataset in \(path): this path exists and is not a folder"
        case .fileSystem(let operation, let path, let reason):
            return "generating a synthetic dataset: \(operation) \(path) failed: \(reason)"
        case .encoding(let path, let reason):
            return "generating a synthetic dataset: encoding \(path) failed: \(reason)"
        }
    }
}
