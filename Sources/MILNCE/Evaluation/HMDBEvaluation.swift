// HMDB-51 linear evaluation as the reference runs it: the 1024-d mixed_5c feature of every
// window of every video (native frame rate, centred square crop scaled to size), then per split
// a LinearSVC (C = 100) on all training windows, decision values summed over a test video's
// windows, top-1 accuracy. Videos that cannot be decoded are left out of every split, and counted.

import FoundationEssentials
import Torch

// MARK: - Features

/// The mixed_5c features of the HMDB-51 videos that could be decoded.
public struct HMDBFeatures: Sendable {
    /// The videos with features, in dataset order.
    public var videos: [HMDBVideo]
    /// Windows per video.
    public var windowCount: Int
    /// The features: `videos.count x windowCount x 1024` values, row-major.
    public var features: [Float]
    /// The videos left out, with why (`item` is the CSV data row).
    public var failures: [EvaluationFailure]
    /// Windows that held no frame (cannot happen at a video's native rate unless it is empty).
    public var emptyWindowCount: Int

    /// The feature dimension (S3D-G's mixed_5c).
    public static let dimension = S3DG.featureDimension

    /// Creates features from their parts.
    public init(videos: [HMDBVideo], windowCount: Int, features: [Float], failures: [EvaluationFailure],
                emptyWindowCount: Int) {
        self.videos = videos
        self.windowCount = windowCount
        self.features = features
        self.failures = failures
        self.emptyWindowCount = emptyWindowCount
    }

    /// The linear evaluation of the features over the three splits: labels are positions in the
    /// sorted class names of `classNames` (scikit-learn's `LabelEncoder`).
    ///
    /// - Throws: `LinearEvaluationError` (for example a split without test videos).
    public func linearEvaluation(classNames: [String],
                                 options: LinearSVMOptions = HMDBLinearEvaluation.referenceOptions) throws
        -> LinearEvaluationResult {
        let labels = Dictionary(classNames.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        let entries = videos.map { video in
            LinearEvaluationVideo(label: labels[video.className] ?? -1, splits: video.splits)
        }
        var windowVideos: [Int] = []
        windowVideos.reserveCapacity(videos.count * windowCount)
        for video in videos.indices {
            windowVideos += Array(repeating: video, count: windowCount)
        }
        return try HMDBLinearEvaluation.evaluate(windowFeatures: features, featureCount: Self.dimension,
                                                 windowVideos: windowVideos, videos: entries, options: options)
    }
}

/// Extracts HMDB-51 features with a video network on a device.
public struct HMDBFeatureExtractor {
    /// The video network; switched to evaluation mode while it runs, then back.
    public var network: S3DG
    /// Where the network runs.
    public var device: Device
    /// Windows and batching (`maxWords` is unused).
    public var options: EvaluationRunOptions

    /// An extractor for `network` (already on `device`).
    public init(network: S3DG, device: Device, options: EvaluationRunOptions) {
        self.network = network
        self.device = device
        self.options = options
    }

    /// The features of every video that can be decoded.
    ///
    /// - Throws: `EvaluationError.invalidSettings` or a `TorchError`; a video that cannot be
    ///   decoded is in `failures`.
    public func extract(_ videos: [HMDBVideo], progress: ProgressDisplay? = nil) throws -> HMDBFeatures {
        try options.validate()
        let clips = options.clips
        let run = WindowedVideoRun(network: network, device: device, options: options, output: .mixed5c,
                                   averagesWindows: false)
        let result = try run.run(count: videos.count, progress: progress, decode: { index in
            try EvaluationDecoding.nativeRateWindows(of: videos[index].path, settings: clips)
        }, describe: { index in
            EvaluationFailure(item: videos[index].row, name: videos[index].videoID, path: videos[index].path.path,
                              reason: "")
        })
        let values = try result.outputs.to(.cpu).contiguous().toArray(of: Float.self)
        return HMDBFeatures(videos: result.items.map { videos[$0] }, windowCount: clips.windowCount, features: values,
                            failures: result.failures, emptyWindowCount: result.emptyWindowCount)
    }
}

// MARK: - Split counts

/// How many videos a split has in the dataset and how many of them were evaluated.
public struct HMDBSplitCounts: Sendable, Codable, Equatable {
    /// The split's number, from 1.
    public var split: Int
    /// Training videos in the CSV file.
    public var trainVideos: Int
    /// Training videos with features.
    public var trainVideosEvaluated: Int
    /// Test videos in the CSV file.
    public var testVideos: Int
    /// Test videos with features.
    public var testVideosEvaluated: Int

    /// The counts of every split.
    public static func counts(all: [HMDBVideo], evaluated: [HMDBVideo]) -> [HMDBSplitCounts] {
        let splitCount = all.first?.splits.count ?? 0
        return (0..<splitCount).map { split in
            func count(_ videos: [HMDBVideo], _ role: SplitRole) -> Int {
                videos.reduce(0) { $0 + (split < $1.splits.count && $1.splits[split] == role ? 1 : 0) }
            }
            return HMDBSplitCounts(split: split + 1, trainVideos: count(all, .train),
                                   trainVideosEvaluated: count(evaluated, .train), testVideos: count(all, .test),
                                   testVideosEvaluated: count(evaluated, .test))
        }
    }

    private enum CodingKeys: String, CodingKey {
        case split, trainVideos = "train_videos", trainVideosEvaluated = "train_videos_evaluated"
        case testVideos = "test_videos", testVideosEvaluated = "test_videos_evaluated"
    }
}
