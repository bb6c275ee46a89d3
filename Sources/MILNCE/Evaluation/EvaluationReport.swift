// What an evaluation writes to its JSON file: the metrics, how many items were evaluated out of
// how many, each failure, the settings, and the reference's published numbers beside them.

import FoundationEssentials

// MARK: - Published numbers

/// One row of the reference's published result tables (its README): who trained the model, how,
/// and what it scored. Recalls and accuracies are percentages, as published.
public struct PublishedResult: Sendable, Codable, Equatable {
    /// "TPU Tensorflow [1]" (the paper's implementation) or "This implementation" (the PyTorch one).
    public var implementation: String
    /// Training epochs.
    public var epochs: Int
    /// Total batch size.
    public var totalBatchSize: Int
    /// The accelerators used.
    public var accelerator: String
    /// The training clips' frames and size.
    public var trainingInput: String
    /// R@1 in percent (retrieval).
    public var r1Percent: Double?
    /// R@5 in percent (retrieval).
    public var r5Percent: Double?
    /// R@10 in percent (retrieval).
    public var r10Percent: Double?
    /// Median rank (retrieval).
    public var medianRank: Double?
    /// Top-1 accuracy in percent (HMDB-51).
    public var top1Percent: Double?

    /// Who obtained the numbers, for people: "the paper's TensorFlow implementation" or "the
    /// reference's PyTorch implementation" (what the reference's README calls "This implementation").
    public var source: String {
        implementation.hasPrefix("TPU") ? "the paper's TensorFlow implementation" : "the reference's PyTorch implementation"
    }

    private enum CodingKeys: String, CodingKey {
        case implementation, epochs, totalBatchSize = "total_batch_size", accelerator
        case trainingInput = "training_input", r1Percent = "R1_percent", r5Percent = "R5_percent"
        case r10Percent = "R10_percent", medianRank = "MR", top1Percent = "top1_percent"
    }
}

/// The reference's published numbers (`README` of the MIL-NCE HowTo100M PyTorch release).
public enum PublishedResults {
    private static let setups: [(String, Int, Int, String, String)] = [
        ("TPU Tensorflow [1]", 2645, 8192, "64 x Cloud TPU v3 128Gb", "32 frames at 200x200"),
        ("TPU Tensorflow [1]", 206, 512, "4 x Cloud TPU v3 128Gb", "16 frames at 200x200"),
        ("This implementation", 150, 512, "2 x 4 Tesla V100 32Gb", "16 frames at 224x224"),
        ("This implementation", 300, 1024, "4 x 4 Tesla V100 32Gb", "16 frames at 224x224"),
    ]

    private static func retrieval(_ values: [(Double, Double, Double, Double)]) -> [PublishedResult] {
        zip(setups, values).map { setup, value in
            PublishedResult(implementation: setup.0, epochs: setup.1, totalBatchSize: setup.2, accelerator: setup.3,
                            trainingInput: setup.4, r1Percent: value.0, r5Percent: value.1, r10Percent: value.2,
                            medianRank: value.3, top1Percent: nil)
        }
    }

    /// Zero-shot YouCook2 retrieval. (The reference notes that its YouCook2 videos are not
    /// exactly the paper's: some could not be downloaded.)
    public static let youcook2 = retrieval([(15.1, 38.0, 51.2, 10), (8.2, 24.6, 36.2, 23), (7.4, 21.5, 32.2, 29),
                                            (8.8, 24.3, 34.6, 23)])
    /// Zero-shot MSR-VTT retrieval.
    public static let msrvtt = retrieval([(9.9, 24.0, 32.4, 29.5), (8.6, 21.5, 28.6, 36), (7.7, 19.0, 27.3, 37),
                                          (8.2, 21.5, 29.5, 40)])
    /// HMDB-51 linear evaluation (top-1 accuracy, mean over the three splits).
    public static let hmdb51: [PublishedResult] = zip(setups, [53.1, 54.2, 53.5, 54.3]).map { setup, top1 in
        PublishedResult(implementation: setup.0, epochs: setup.1, totalBatchSize: setup.2, accelerator: setup.3,
                        trainingInput: setup.4, r1Percent: nil, r5Percent: nil, r10Percent: nil, medianRank: nil,
                        top1Percent: top1)
    }

    /// The published numbers of a retrieval benchmark.
    public static func retrieval(_ benchmark: RetrievalBenchmark) -> [PublishedResult] {
        switch benchmark {
        case .youcook2: return youcook2
        case .msrvtt: return msrvtt
        }
    }
}

// MARK: - Settings

/// The settings of an evaluation run, as written in its report.
public struct EvaluationReportSettings: Sendable, Codable, Equatable {
    /// The windows decoded per item.
    public var clips: EvaluationClipSettings
    /// Where `num_frames`, `video_size` and `fps` came from: a flag, the checkpoint, or the
    /// reference's default.
    public var clipSources: [String: ClipSettingSource]?
    /// Items per network batch.
    public var batchSize: Int
    /// Decoding threads.
    public var readerThreads: Int
    /// Words per caption (retrieval).
    public var maxWords: Int?
    /// Whether captions were lowercased (retrieval).
    public var lowercase: Bool?
    /// The dictionary file (retrieval).
    public var dictionary: String?
    /// The device the network ran on.
    public var device: String

    /// Settings from run options.
    public init(options: EvaluationRunOptions, device: String, maxWords: Int? = nil, lowercase: Bool? = nil,
                dictionary: String? = nil, clipSources: [String: ClipSettingSource]? = nil) {
        clips = options.clips
        self.clipSources = clipSources
        batchSize = options.batchSize
        readerThreads = options.readerThreads
        self.maxWords = maxWords
        self.lowercase = lowercase
        self.dictionary = dictionary
        self.device = device
    }

    private enum CodingKeys: String, CodingKey {
        case clips = "windows", clipSources = "window_sources", batchSize = "batch_size", readerThreads = "num_thread_reader"
        case maxWords = "max_words", lowercase, dictionary, device
    }
}

// MARK: - Reports

/// The JSON report of a retrieval evaluation (`milnce eval youcook|msrvtt --output`).
public struct RetrievalReport: Codable {
    /// "YouCook2" or "MSR-VTT".
    public var benchmark: String
    /// The model file.
    public var checkpoint: String
    /// The dataset CSV file.
    public var csv: String
    /// The video root folder.
    public var videoRoot: String
    /// The metrics over the evaluated items (recalls as fractions; `MR` the median rank).
    public var metrics: RetrievalMetrics
    /// Items in the dataset.
    public var items: Int
    /// Items in the similarity matrix (caption and video both).
    public var evaluated: Int
    /// Items left out because their video could not be found or decoded.
    public var failed: Int
    /// Windows of evaluated items that held no frame of their video (decoded as black frames,
    /// as the reference does).
    public var emptyWindows: Int
    /// Every item left out, with its path and the reason.
    public var failures: [EvaluationFailure]
    /// The settings.
    public var settings: EvaluationReportSettings
    /// The reference's published numbers for this benchmark (percentages).
    public var reference: [PublishedResult]
    /// Wall-clock seconds of the run.
    public var seconds: Double

    /// A report of an evaluation.
    public init(benchmark: RetrievalBenchmark, checkpoint: String, csv: String, videoRoot: String,
                evaluation: RetrievalEvaluation, settings: EvaluationReportSettings, seconds: Double) {
        self.benchmark = benchmark.displayName
        self.checkpoint = checkpoint
        self.csv = csv
        self.videoRoot = videoRoot
        metrics = evaluation.metrics
        items = evaluation.itemCount
        evaluated = evaluation.evaluatedCount
        failed = evaluation.embeddings.failures.count
        emptyWindows = evaluation.embeddings.emptyWindowCount
        failures = evaluation.embeddings.failures
        self.settings = settings
        reference = PublishedResults.retrieval(benchmark)
        self.seconds = seconds
    }

    private enum CodingKeys: String, CodingKey {
        case benchmark, checkpoint, csv, videoRoot = "video_root", metrics, items, evaluated, failed
        case emptyWindows = "empty_windows", failures, settings, reference, seconds
    }
}

/// The JSON report of the HMDB-51 linear evaluation (`milnce eval hmdb --output`).
public struct HMDBReport: Codable {
    /// "HMDB-51".
    public var benchmark: String
    /// The model file.
    public var checkpoint: String
    /// The dataset CSV file.
    public var csv: String
    /// The video root folder.
    public var videoRoot: String
    /// Top-1 accuracy per split and their mean (fractions).
    public var result: LinearEvaluationResult
    /// Per split, the training and test videos of the CSV and how many of them had features.
    public var splitCounts: [HMDBSplitCounts]
    /// Videos in the dataset.
    public var videos: Int
    /// Videos with features.
    public var evaluated: Int
    /// Videos left out of every split because they could not be found or decoded.
    public var failed: Int
    /// Windows that held no frame of their video.
    public var emptyWindows: Int
    /// Every video left out, with its path and the reason.
    public var failures: [EvaluationFailure]
    /// The CSV rows left out because their label lacks the `_test` suffix.
    public var skippedRows: [HMDBSkippedRow]
    /// The settings (`fps` is not used: HMDB-51 is read at its native frame rate).
    public var settings: EvaluationReportSettings
    /// The reference's published numbers (percentages).
    public var reference: [PublishedResult]
    /// Wall-clock seconds of the run.
    public var seconds: Double

    /// A report of an evaluation.
    public init(checkpoint: String, csv: String, videoRoot: String, result: LinearEvaluationResult,
                all: [HMDBVideo], skippedRows: [HMDBSkippedRow] = [], features: HMDBFeatures,
                settings: EvaluationReportSettings, seconds: Double) {
        benchmark = "HMDB-51"
        self.checkpoint = checkpoint
        self.csv = csv
        self.videoRoot = videoRoot
        self.result = result
        splitCounts = HMDBSplitCounts.counts(all: all, evaluated: features.videos)
        videos = all.count
        evaluated = features.videos.count
        failed = features.failures.count
        emptyWindows = features.emptyWindowCount
        failures = features.failures
        self.skippedRows = skippedRows
        self.settings = settings
        reference = PublishedResults.hmdb51
        self.seconds = seconds
    }

    private enum CodingKeys: String, CodingKey {
        case benchmark, checkpoint, csv, videoRoot = "video_root", result, splitCounts = "split_counts", videos
        case evaluated, failed, emptyWindows = "empty_windows", failures, skippedRows = "skipped_rows", settings
        case reference, seconds
    }
}

// MARK: - Writing

/// Writes reports as indented JSON with sorted keys.
public enum EvaluationReportWriter {
    /// Writes `report` to `url`.
    ///
    /// - Throws: `EvaluationError.writeFailed`.
    public static func write<Report: Encodable>(_ report: Report, to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf",
                                                                      nan: "nan")
        do {
            try encoder.encode(report).write(to: url, options: .atomic)
        } catch {
            throw EvaluationError.writeFailed(path: url.path, reason: "\(error)")
        }
    }
}
