import ArgumentParser
import FoundationEssentials
import MILNCE
import POSIX
import Torch

// MARK: - milnce eval

/// `milnce eval youcook|msrvtt|hmdb`: the reference's three evaluations.
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate a model: zero-shot YouCook2 or MSR-VTT retrieval, or HMDB-51 linear classification.",
        discussion: """
        The flags are the reference's (eval_youcook.py, eval_msrvtt.py, eval_hmdb.py). Its README runs \
        --batch_size=16 --num_thread_reader=20 --num_windows_test=10. Videos that are missing or cannot be \
        decoded are reported and left out; the JSON report (--output) lists them and counts what was evaluated.
        """,
        subcommands: [EvalYouCook.self, EvalMSRVTT.self, EvalHMDB.self]
    )
}

// MARK: - Shared options

/// The windows decoded per item and the batching: the reference's flags.
struct WindowOptions: ParsableArguments {
    @Option(name: .customLong("batch_size"), help: "Items (clips or videos, each with all its windows) per network batch.")
    var batchSize = 16

    @Option(name: .customLong("num_thread_reader"), help: "Threads decoding videos ahead of the network (default: one per core).")
    var readerThreads: Int?

    @Option(name: .customLong("num_windows_test"), help: "Windows per clip or video (the reference's README uses 10).")
    var windows = 4

    @Option(name: .customLong("num_frames"),
            help: "Frames per window (default: the training run's, when the checkpoint records it, else 16).")
    var frames: Int?

    @Option(name: .customLong("fps"),
            help: "Frames per second windows are resampled to (default: the training run's, when the checkpoint records it, else 5; not used by HMDB-51).")
    var framesPerSecond: Double?

    @Option(name: .customLong("video_size"),
            help: "Height and width of the frames, in pixels (default: the training run's, when the checkpoint records it, else 224).")
    var size: Int?

    func validate() throws {
        do {
            try runOptions(maxWords: 1, clips: clips(recorded: nil).settings).validate()
        } catch let error as EvaluationError {
            throw ValidationError("\(error)")
        }
    }

    /// The clip settings: each flag given, else the checkpoint's recorded training setting, else
    /// the reference's default.
    func clips(recorded: RecordedClipSettings?) -> ResolvedClipSettings {
        ResolvedClipSettings(windowCount: windows, frameCount: frames, size: size, framesPerSecond: framesPerSecond,
                             recorded: recorded)
    }

    /// The library's options.
    func runOptions(maxWords: Int, clips: EvaluationClipSettings) -> EvaluationRunOptions {
        EvaluationRunOptions(
            clips: clips, batchSize: batchSize,
            readerThreads: readerThreads ?? ProcessInfo.processInfo.activeProcessorCount, maxWords: maxWords)
    }
}

/// How captions become tokens: the word files and the reference's text settings.
struct TextOptions: ParsableArguments {
    @Option(name: .customLong("word2vec_path"),
            help: "The word2vec matrix (word2vec.pth or .npy); needed only when the checkpoint has no text network (default: data/word2vec.pth if present).")
    var wordVectors: String?

    @Option(name: .customLong("token_to_word_path"),
            help: "The word dictionary (dict.npy); default: dict.npy or s3d_dict.npy beside the checkpoint, dict.npy beside the word2vec matrix, data/dict.npy.")
    var dictionary: String?

    @Flag(help: "Lowercase captions before tokenizing (the released s3d_howto100m.pth model's tokenizer does).")
    var lowercase = false

    @Option(name: .customLong("max_words"), help: "Words per caption.")
    var maxWords = 30

    func validate() throws {
        guard maxWords >= 1 else { throw ValidationError("--max_words must be at least 1") }
    }

    var wordVectorsURL: URL? { wordVectors.map { URL(fileURLWithPath: $0) } }
    var dictionaryURL: URL? { dictionary.map { URL(fileURLWithPath: $0) } }
}

/// The dataset, model and report of an evaluation.
struct EvaluationInputOptions: ParsableArguments {
    @Option(name: .customLong("eval_video_root"), help: "The root folder of the evaluation videos.")
    var videoRoot: String

    @Option(name: .customLong("pretrain_cnn_path"),
            help: "The model: the released s3d_howto100m.pth, a reference epochNNNN.pth.tar, ours, or a .safetensors state_dict.")
    var checkpoint: String

    @Option(help: "The dataset CSV file (default: the reference's csv/<name>.csv in the working folder).")
    var csv: String?

    @Option(help: "Write the JSON report (metrics, counts, failures, settings, the reference's numbers) here.")
    var output: String?

    /// The CSV file: `--csv`, else the reference's `csv/<name>` when it exists.
    func csvURL(defaultName: String) throws -> URL {
        if let csv { return URL(fileURLWithPath: csv) }
        let reference = URL(fileURLWithPath: "csv").appendingPathComponent(defaultName)
        guard FileManager.default.fileExists(atPath: reference.path) else {
            throw EvaluationError.badDataset(
                path: "csv/\(defaultName)", line: nil,
                reason: "no such file in the working folder; pass the dataset file with --csv (the reference's \(defaultName))")
        }
        return reference
    }

    /// The video root folder; throws when it is not a folder.
    func videoRootURL() throws -> URL {
        var isDirectory = false
        guard FileManager.default.fileExists(atPath: videoRoot, isDirectory: &isDirectory), isDirectory else {
            throw EvaluationError.invalidSettings("the video root \(videoRoot) (--eval_video_root) is not a folder")
        }
        return URL(fileURLWithPath: videoRoot)
    }
    var checkpointURL: URL { URL(fileURLWithPath: checkpoint) }
}

// MARK: - Printing

/// Prints the failures to standard error, at most `limit` of them.
func printFailures(_ failures: [EvaluationFailure], limit: Int = 20, reportPath: String?) {
    guard !failures.isEmpty else { return }
    var lines = failures.prefix(limit).map { "  \($0)" }
    if failures.count > limit {
        lines.append("  ... and \(failures.count - limit) more" + (reportPath.map { " (all listed in \($0))" } ?? ""))
    }
    FileOutput.standardError.print("failed:\n" + lines.joined(separator: "\n") + "\n")
}

/// Prints the reference's published numbers, each row's metrics as `metrics` words them,
/// labelled as theirs, not this run's.
func printPublished(_ rows: [PublishedResult], metrics: (PublishedResult) -> String) {
    print("published with the reference, for comparison (models its authors trained on HowTo100M; not results of this run):")
    for published in rows {
        print("  \(published.source), \(published.epochs) epochs, batch \(published.totalBatchSize): \(metrics(published))")
    }
}

/// A fraction as a percentage with one decimal.
func percent(_ value: Double) -> String { value.isFinite ? String(cFormat: "%.1f", value * 100) : "nan" }

// MARK: - Retrieval

/// `milnce eval youcook` and `milnce eval msrvtt`.
protocol RetrievalEvaluationCommand: ParsableCommand {
    static var benchmark: RetrievalBenchmark { get }
    var inputs: EvaluationInputOptions { get }
    var windows: WindowOptions { get }
    var text: TextOptions { get }
    var device: DeviceOptions { get }
    var saveEmbeddings: String? { get }
}

extension RetrievalEvaluationCommand {
    func runRetrieval() throws {
        let started = ContinuousClock.now
        let benchmark = Self.benchmark
        let csv = try inputs.csvURL(defaultName: benchmark.csvFileName)
        let items = try benchmark.items(csv: csv, videoRoot: try inputs.videoRootURL())
        guard !items.isEmpty else { throw EvaluationError.emptyDataset(path: csv.path) }
        let device = try self.device.resolve()
        let checkpoint = try ModelCheckpoint.load(from: inputs.checkpointURL)
        let (tokenizer, dictionary) = try EvaluationModelFiles.tokenizer(
            explicit: text.dictionaryURL, checkpoint: inputs.checkpointURL, wordVectors: text.wordVectorsURL,
            lowercased: text.lowercase)
        let model = try EvaluationModelFiles.model(checkpoint, from: inputs.checkpointURL, wordVectors: text.wordVectorsURL,
                                                   dictionary: dictionary, wordCount: tokenizer.dictionarySize,
                                                   device: device)
        let clips = windows.clips(recorded: checkpoint.recordedClipSettings)
        let options = windows.runOptions(maxWords: text.maxWords, clips: clips.settings)
        try options.validate()
        print("\(benchmark.displayName): \(items.count) clips from \(csv.path), device \(device)")
        print(clips.description(checkpoint: inputs.checkpoint))

        let evaluation = ZeroShotRetrieval(model: model, tokenizer: tokenizer, device: device, options: options)
        let progress = ProgressDisplay(benchmark.displayName, total: items.count)
        let result = try evaluation.evaluate(items, name: benchmark.displayName, progress: progress)
        progress.finish("\(result.evaluatedCount) evaluated")

        if let directory = saveEmbeddings {
            try saveRetrievalEmbeddings(result, items: items, to: URL(fileURLWithPath: directory))
        }
        let report = RetrievalReport(
            benchmark: benchmark, checkpoint: inputs.checkpoint, csv: csv.path, videoRoot: inputs.videoRoot,
            evaluation: result,
            settings: EvaluationReportSettings(options: options, device: "\(device)", maxWords: text.maxWords,
                                               lowercase: text.lowercase, dictionary: dictionary.path,
                                               clipSources: clips.sourcesByFlag),
            seconds: started.elapsedSeconds)
        if let output = inputs.output { try EvaluationReportWriter.write(report, to: URL(fileURLWithPath: output)) }

        printFailures(result.embeddings.failures, reportPath: inputs.output)
        let m = result.metrics
        print("\(benchmark.displayName): \(result.evaluatedCount) of \(result.itemCount) clips evaluated"
              + (result.embeddings.failures.isEmpty ? "" : " (\(result.embeddings.failures.count) left out: video missing or unreadable)"))
        print("R@1 \(percent(m.r1)) - R@5 \(percent(m.r5)) - R@10 \(percent(m.r10)) - Median R \(m.medianRank)")
        printPublished(PublishedResults.retrieval(benchmark)) { published in
            String(cFormat: "R@1 %.1f - R@5 %.1f - R@10 %.1f - Median R %g", published.r1Percent ?? .nan,
                   published.r5Percent ?? .nan, published.r10Percent ?? .nan, published.medianRank ?? .nan)
        }
    }

    /// `text.npy` and `video.npy` (row `i` for the `i`-th evaluated item) and `items.txt`
    /// (`row<TAB>video_id` per evaluated item).
    private func saveRetrievalEmbeddings(_ result: RetrievalEvaluation, items: [RetrievalItem], to directory: URL) throws {
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw EvaluationError.writeFailed(path: directory.path, reason: describeSystemError(error))
        }
        try EmbeddingFiles.write(result.embeddings.text, to: directory.appendingPathComponent("text.npy"))
        try EmbeddingFiles.write(result.embeddings.video, to: directory.appendingPathComponent("video.npy"))
        try EmbeddingFiles.writeLines(result.embeddings.items.map { "\(items[$0].row)\t\(items[$0].videoID)" },
                                      to: directory.appendingPathComponent("items.txt"))
    }
}

/// `milnce eval youcook`.
struct EvalYouCook: RetrievalEvaluationCommand {
    static let configuration = CommandConfiguration(
        commandName: "youcook",
        abstract: "Zero-shot text-to-video retrieval on the YouCook2 validation clips (validation_youcook.csv).",
        discussion: """
        Videos are <eval_video_root>/validation/<task>/<video_id>.mp4 (else .mkv, else .webm). Each clip \
        is embedded as the mean of --num_windows_test windows spread from its start to end - num_frames/fps - 0.4 s.
        """
    )
    static let benchmark = RetrievalBenchmark.youcook2

    @OptionGroup var inputs: EvaluationInputOptions
    @OptionGroup var windows: WindowOptions
    @OptionGroup var text: TextOptions
    @OptionGroup var device: DeviceOptions
    @Option(name: .customLong("save_embeddings"),
            help: "Write text.npy, video.npy and items.txt (the rows evaluated) to this folder.")
    var saveEmbeddings: String?

    func run() throws { try runRetrieval() }
}

/// `milnce eval msrvtt`.
struct EvalMSRVTT: RetrievalEvaluationCommand {
    static let configuration = CommandConfiguration(
        commandName: "msrvtt",
        abstract: "Zero-shot text-to-video retrieval on the 1,000 MSR-VTT test pairs (msrvtt_test.csv).",
        discussion: """
        Videos are <eval_video_root>/<video_id>.mp4. Each video is embedded as the mean of --num_windows_test \
        windows spread over its whole duration (as the container declares it).
        """
    )
    static let benchmark = RetrievalBenchmark.msrvtt

    @OptionGroup var inputs: EvaluationInputOptions
    @OptionGroup var windows: WindowOptions
    @OptionGroup var text: TextOptions
    @OptionGroup var device: DeviceOptions
    @Option(name: .customLong("save_embeddings"),
            help: "Write text.npy, video.npy and items.txt (the rows evaluated) to this folder.")
    var saveEmbeddings: String?

    func run() throws { try runRetrieval() }
}

// MARK: - HMDB-51

/// `milnce eval hmdb`.
struct EvalHMDB: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hmdb",
        abstract: "Linear evaluation on HMDB-51: mixed_5c features, a linear SVM (C = 100) per split, top-1 accuracy.",
        discussion: """
        Videos are <eval_video_root>/<label without its _test suffix>/<video_id>, decoded whole at their \
        native frame rate; --num_windows_test windows of --num_frames frames start at \
        linspace(0, frames - num_frames, num_windows_test) (a video shorter than a window is padded with \
        black frames, so all its windows start at 0). The classifier is trained on every window of a split's \
        training videos; a test video's decision values are summed over its windows.
        """
    )

    @OptionGroup var inputs: EvaluationInputOptions
    @OptionGroup var windows: WindowOptions
    @OptionGroup var device: DeviceOptions
    @Option(name: .customLong("save_features"),
            help: "Write features.npy (videos x windows x 1024) and videos.csv (the videos, in order) to this folder.")
    var saveFeatures: String?

    func run() throws {
        let started = ContinuousClock.now
        let csv = try inputs.csvURL(defaultName: "hmdb51.csv")
        let dataset = try HMDBDataset.rows(csv: csv, videoRoot: try inputs.videoRootURL())
        if let skipped = dataset.skippedRowsDescription { FileOutput.standardError.print(skipped + "\n") }
        let videos = dataset.videos
        guard !videos.isEmpty else { throw EvaluationError.emptyDataset(path: csv.path) }
        let device = try self.device.resolve()
        let checkpoint = try ModelCheckpoint.load(from: inputs.checkpointURL)
        let clips = windows.clips(recorded: checkpoint.recordedClipSettings)
        let options = windows.runOptions(maxWords: 1, clips: clips.settings)
        try options.validate()
        let network = try EvaluationModelFiles.videoNetwork(checkpoint, device: device)
        print("HMDB-51: \(videos.count) videos from \(csv.path), device \(device)")
        print(clips.description(checkpoint: inputs.checkpoint, includingFramesPerSecond: false)
              + " (HMDB-51 reads every frame, at the video's own rate)")

        let progress = ProgressDisplay("HMDB-51", total: videos.count)
        let features = try HMDBFeatureExtractor(network: network, device: device, options: options)
            .extract(videos, progress: progress)
        progress.finish("\(features.videos.count) videos")
        guard !features.videos.isEmpty else {
            throw EvaluationError.nothingEvaluated(what: "HMDB-51", failureCount: features.failures.count)
        }
        if let directory = saveFeatures { try save(features, to: URL(fileURLWithPath: directory)) }

        let result = try features.linearEvaluation(classNames: HMDBDataset.classNames(of: videos))
        let report = HMDBReport(checkpoint: inputs.checkpoint, csv: csv.path, videoRoot: inputs.videoRoot,
                                result: result, all: videos, skippedRows: dataset.skippedRows, features: features,
                                settings: EvaluationReportSettings(options: options, device: "\(device)",
                                                                   clipSources: clips.sourcesByFlag),
                                seconds: started.elapsedSeconds)
        if let output = inputs.output { try EvaluationReportWriter.write(report, to: URL(fileURLWithPath: output)) }

        printFailures(features.failures, reportPath: inputs.output)
        print("HMDB-51: \(features.videos.count) of \(videos.count) videos evaluated"
              + (features.failures.isEmpty ? "" : " (\(features.failures.count) left out: video missing or unreadable)"))
        for (split, counts) in zip(result.splits, report.splitCounts) {
            print("split \(split.split): top-1 \(percent(split.accuracy)) (\(split.correctCount) of "
                  + "\(split.testVideoCount) test videos; trained on \(counts.trainVideosEvaluated) videos, "
                  + "\(split.trainWindowCount) windows)")
        }
        print("mean top-1 accuracy: \(percent(result.meanAccuracy))")
        printPublished(PublishedResults.hmdb51) { String(cFormat: "mean top-1 accuracy %.1f", $0.top1Percent ?? .nan) }
    }

    /// `features.npy` (`videos x windows x 1024`) and `videos.csv` (`row,video_id,class,split1,split2,split3`).
    private func save(_ features: HMDBFeatures, to directory: URL) throws {
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw EvaluationError.writeFailed(path: directory.path, reason: describeSystemError(error))
        }
        try EmbeddingFiles.write(features.features,
                                 shape: [features.videos.count, features.windowCount, HMDBFeatures.dimension],
                                 to: directory.appendingPathComponent("features.npy"))
        let lines = ["row,video_id,class,split1,split2,split3"] + features.videos.map { video in
            ([String(video.row), csvField(video.videoID), csvField(video.className)]
                + video.splits.map { String($0.rawValue) }).joined(separator: ",")
        }
        try EmbeddingFiles.writeLines(lines, to: directory.appendingPathComponent("videos.csv"))
    }
}

