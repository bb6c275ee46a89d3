// The store against the raw videos: a folder of videos given captions, a train CSV and a caption
// index, so that the training loader can read it both ways with the same samples.

import FoundationEssentials
import MILNCE
import POSIX
import Video

/// Videos in a folder, with generated caption files (a caption every 4 seconds), a train CSV of
/// `sampleCount` rows cycling over them, and its caption index, in a new folder of its own.
public final class CaptionedVideoSet: Sendable {
    /// The folder holding the captions, the CSV and the index (deleted with the set).
    public let folder: URL
    /// The folder of the videos (not deleted).
    public let videoRoot: URL
    /// The train CSV.
    public let trainCSV: URL
    /// The train list the CSV holds.
    public let trainList: TrainList
    /// The caption index of the train list.
    public let index: CaptionIndex
    /// A tokenizer of the captions' words.
    public let tokenizer: Tokenizer
    /// The distinct videos, with their durations in seconds.
    public let videos: [(name: String, seconds: Double)]

    /// Captions `videos` (paths relative to `videoRoot`, with their durations) under a new folder in `parent`.
    public init(videoRoot: URL, videos: [(name: String, seconds: Double)], sampleCount: Int, in parent: URL) throws {
        guard !videos.isEmpty, sampleCount > 0 else { throw LoaderBenchmarkError("a captioned set needs videos and samples") }
        folder = parent.appendingPathComponent("milnce-store-bench-\(UUID().uuidString.prefix(8))")
        self.videoRoot = videoRoot
        self.videos = videos
        let captionRoot = folder.appendingPathComponent("captions")
        trainCSV = folder.appendingPathComponent("train.csv")
        var random = SplitMix64(seed: 7)
        do {
            try FileManager.default.createDirectory(at: captionRoot, withIntermediateDirectories: true)
            for video in videos {
                var csv = "start,end,text\n"
                for start in stride(from: 0, to: max(1, Int(video.seconds) - 4), by: 4) {
                    let words = (0..<6).map { _ in GeneratedTrainingSet.words[random.uniformInt(in: 0...19)] }
                    csv += "\(start).5,\(start + 3).2,\(words.joined(separator: " "))\n"
                }
                let path = TrainList.captionPath(forVideoID: TrainList.videoID(ofPath: video.name), captionRoot: captionRoot.path)
                try FileManager.default.createDirectory(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path,
                                                        withIntermediateDirectories: true)
                try csv.write(to: URL(fileURLWithPath: path), atomically: false, encoding: .utf8)
            }
            trainList = TrainList(videoPaths: (0..<sampleCount).map { videos[$0 % videos.count].name })
            try ("video_path\n" + trainList.videoPaths.map { csvField($0) + "\n" }.joined())
                .write(to: trainCSV, atomically: false, encoding: .utf8)
        } catch {
            throw LoaderBenchmarkError("cannot write the captions in \(folder.path): \(describeSystemError(error))")
        }
        let indexPath = folder.appendingPathComponent("captions.index").path
        try CaptionIndex.build(trainList: trainList, captionRoot: captionRoot.path, to: indexPath)
        index = try CaptionIndex(contentsOf: indexPath, expecting: trainList)
        tokenizer = Tokenizer(words: GeneratedTrainingSet.words)
    }

    /// The video files of `folder` (by extension), sorted, with their durations; videos that do
    /// not open are left out and returned with the reason.
    public static func videos(in folder: URL) -> (videos: [(name: String, seconds: Double)], skipped: [SkippedVideo]) {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).sorted()
        var videos: [(name: String, seconds: Double)] = []
        var skipped: [SkippedVideo] = []
        for name in names where ["mp4", "mkv", "webm", "avi", "mov", "m4v"].contains(URL(fileURLWithPath: name).pathExtension.lowercased()) {
            let url = folder.appendingPathComponent(name)
            do {
                videos.append((name, try VideoReader(url: url).durationSeconds))
            } catch {
                skipped.append(SkippedVideo(url: url, reason: "\(error)"))
            }
        }
        return (videos, skipped)
    }

    deinit {
        try? FileManager.default.removeItem(at: folder)
    }

    /// A training loader of the raw videos for rank 0 of 1.
    public func rawLoader(options: LoaderOptions) throws -> TrainingLoader {
        let sampler = try ClipSampler(index: index, tokenizer: tokenizer, options: options.sampling)
        let order = try DistributedOrder(datasetCount: trainList.count, seed: options.seed)
        return try TrainingLoader(trainList: trainList, sampler: sampler, videoRoot: videoRoot, order: order, options: options)
    }

    /// A training loader of the same samples from `store`.
    public func storeLoader(_ store: VideoStore, options: LoaderOptions) throws -> TrainingLoader {
        let sampler = try ClipSampler(index: index, tokenizer: tokenizer, options: options.sampling)
        let order = try DistributedOrder(datasetCount: trainList.count, seed: options.seed)
        return try TrainingLoader(trainList: trainList, sampler: sampler, videos: .store(store), order: order, options: options)
    }

    /// Prepares the videos into a store at `output` (with `transcoding` and `threads` threads).
    public func prepareStore(at output: URL, transcoding: TranscodingOptions, threads: Int) throws
        -> StorePreparationSummary {
        var options = StorePreparationOptions(trainCSV: trainCSV.path, videoRoot: videoRoot.path, output: output.path)
        options.transcoding = transcoding
        options.threads = threads
        return try StorePreparation(options: options).prepare()
    }
}
