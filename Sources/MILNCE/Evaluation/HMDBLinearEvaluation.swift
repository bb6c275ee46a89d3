import FoundationEssentials

// MARK: - Inputs

/// The role of a video in one split of a split file (`hmdb51.csv`: 1 train, 2 test, 0 unused).
public enum SplitRole: Int, Sendable, Codable, CaseIterable {
    /// Not part of the split.
    case unused = 0
    /// In the split's training set.
    case train = 1
    /// In the split's test set.
    case test = 2
}

/// One video of a linear evaluation: its class label and its role in each split.
public struct LinearEvaluationVideo: Sendable, Equatable {
    /// The class label (an index into the sorted class names, for instance).
    public var label: Int
    /// The video's role in each split, split after split.
    public var splits: [SplitRole]

    /// Creates a video entry.
    public init(label: Int, splits: [SplitRole]) {
        self.label = label
        self.splits = splits
    }
}

// MARK: - Results

/// The outcome of one split of a linear evaluation.
public struct LinearEvaluationSplitResult: Sendable, Equatable, Codable {
    /// The split's number, from 1.
    public var split: Int
    /// The fraction of test videos whose predicted class is their label.
    public var accuracy: Double
    /// The number of correctly classified test videos.
    public var correctCount: Int
    /// The number of test videos.
    public var testVideoCount: Int
    /// The number of windows the classifier was trained on.
    public var trainWindowCount: Int

    /// Creates a split result.
    public init(split: Int, accuracy: Double, correctCount: Int, testVideoCount: Int, trainWindowCount: Int) {
        self.split = split
        self.accuracy = accuracy
        self.correctCount = correctCount
        self.testVideoCount = testVideoCount
        self.trainWindowCount = trainWindowCount
    }
}

/// The outcome of a linear evaluation over all splits.
public struct LinearEvaluationResult: Sendable, Equatable, Codable {
    /// One result per split, in order.
    public var splits: [LinearEvaluationSplitResult]
    /// The mean of the splits' accuracies.
    public var meanAccuracy: Double

    /// Creates a result.
    public init(splits: [LinearEvaluationSplitResult], meanAccuracy: Double) {
        self.splits = splits
        self.meanAccuracy = meanAccuracy
    }
}

// MARK: - Errors

/// Why a linear evaluation could not run.
public enum LinearEvaluationError: Error, CustomStringConvertible, Equatable {
    /// The features do not form `windowVideos.count` rows of `featureCount` values.
    case featureShapeMismatch(valueCount: Int, windowCount: Int, featureCount: Int)
    /// A window names a video that does not exist.
    case windowVideoOutOfRange(window: Int, video: Int, videoCount: Int)
    /// Videos list different numbers of splits.
    case inconsistentSplitCount(video: Int, splitCount: Int, expected: Int)
    /// There are no videos, or they have no splits.
    case noSplits
    /// A split has no training windows or no test videos.
    case emptySplit(split: Int, part: String)
    /// A test video has no windows to classify.
    case testVideoWithoutWindows(split: Int, video: Int)
    /// Training or applying the classifier failed.
    case classifier(split: Int, LinearSVMError)

    /// What failed, on what, and why.
    public var description: String {
        switch self {
        case let .featureShapeMismatch(valueCount, windowCount, featureCount):
            return "linear evaluation: \(valueCount) feature values are not \(windowCount) windows "
                + "of \(featureCount) features"
        case let .windowVideoOutOfRange(window, video, videoCount):
            return "linear evaluation: window \(window) belongs to video \(video), but there are \(videoCount) videos"
        case let .inconsistentSplitCount(video, splitCount, expected):
            return "linear evaluation: video \(video) has \(splitCount) split roles, expected \(expected)"
        case .noSplits:
            return "linear evaluation: there are no videos or no splits"
        case let .emptySplit(split, part):
            return "linear evaluation of split \(split): it has no \(part)"
        case let .testVideoWithoutWindows(split, video):
            return "linear evaluation of split \(split): test video \(video) has no windows"
        case let .classifier(split, error):
            return "linear evaluation of split \(split): \(error)"
        }
    }
}

// MARK: - Evaluation

/// The HMDB-51 linear evaluation protocol: for each split, a `LinearSVM` is trained on every
/// window of the split's training videos (each window labelled with its video's class); each
/// test video's decision values are summed over its windows and the largest sum gives its
/// predicted class; the split's score is top-1 accuracy over its test videos, and the result
/// also holds the mean over splits.
public enum HMDBLinearEvaluation {
    /// The classifier settings of the reference: `LinearSVC(C=100)`.
    public static let referenceOptions = LinearSVMOptions(cost: 100)

    /// Runs the protocol.
    ///
    /// - Parameters:
    ///   - windowFeatures: one row of `featureCount` values per window, row-major.
    ///   - featureCount: the feature dimension (1024 for S3D-G's mixed_5c).
    ///   - windowVideos: the index into `videos` of each window.
    ///   - videos: every video's label and split roles (all with the same number of splits).
    ///   - options: the classifier's settings.
    /// - Throws: `LinearEvaluationError`.
    public static func evaluate(windowFeatures: [Float], featureCount: Int, windowVideos: [Int],
                                videos: [LinearEvaluationVideo],
                                options: LinearSVMOptions = referenceOptions) throws -> LinearEvaluationResult {
        let (expected, overflow) = windowVideos.count.multipliedReportingOverflow(by: featureCount)
        guard featureCount > 0, !overflow, expected == windowFeatures.count else {
            throw LinearEvaluationError.featureShapeMismatch(valueCount: windowFeatures.count,
                                                             windowCount: windowVideos.count, featureCount: featureCount)
        }
        guard let splitCount = videos.first?.splits.count, splitCount > 0 else { throw LinearEvaluationError.noSplits }
        for (index, video) in videos.enumerated() where video.splits.count != splitCount {
            throw LinearEvaluationError.inconsistentSplitCount(video: index, splitCount: video.splits.count,
                                                               expected: splitCount)
        }
        var windowsOfVideo = [[Int]](repeating: [], count: videos.count)
        for (window, video) in windowVideos.enumerated() {
            guard video >= 0, video < videos.count else {
                throw LinearEvaluationError.windowVideoOutOfRange(window: window, video: video, videoCount: videos.count)
            }
            windowsOfVideo[video].append(window)
        }

        var results: [LinearEvaluationSplitResult] = []
        try windowFeatures.withUnsafeBufferPointer { features in
            for split in 0..<splitCount {
                results.append(try evaluateSplit(split, features: features, featureCount: featureCount,
                                                 windowsOfVideo: windowsOfVideo, videos: videos, options: options))
            }
        }
        let mean = results.map(\.accuracy).reduce(0, +) / Double(results.count)
        return LinearEvaluationResult(splits: results, meanAccuracy: mean)
    }

    /// Trains and scores one split (0-based `split`).
    private static func evaluateSplit(_ split: Int, features: UnsafeBufferPointer<Float>, featureCount: Int,
                                      windowsOfVideo: [[Int]], videos: [LinearEvaluationVideo],
                                      options: LinearSVMOptions) throws -> LinearEvaluationSplitResult {
        let number = split + 1
        var trainWindows: [Int] = []
        var trainLabels: [Int] = []
        var testVideos: [Int] = []
        for (index, video) in videos.enumerated() {
            switch video.splits[split] {
            case .train:
                trainWindows += windowsOfVideo[index]
                trainLabels += Array(repeating: video.label, count: windowsOfVideo[index].count)
            case .test:
                guard !windowsOfVideo[index].isEmpty else {
                    throw LinearEvaluationError.testVideoWithoutWindows(split: number, video: index)
                }
                testVideos.append(index)
            case .unused:
                break
            }
        }
        guard !trainWindows.isEmpty else { throw LinearEvaluationError.emptySplit(split: number, part: "training windows") }
        guard !testVideos.isEmpty else { throw LinearEvaluationError.emptySplit(split: number, part: "test videos") }

        do {
            let classifier = try LinearSVM(features: features, featureCount: featureCount, samples: trainWindows,
                                           labels: trainLabels, options: options)
            let columns = classifier.decisionColumnCount
            var correct = 0
            for video in testVideos {
                let windows = windowsOfVideo[video]
                let values = try classifier.decisionValues(features: features, samples: windows)
                var sums = [Double](repeating: 0, count: columns)
                for window in 0..<windows.count {
                    for column in 0..<columns { sums[column] += values[window * columns + column] }
                }
                let predicted = classifier.classes[LinearSVM.winningColumn(sums[...], classCount: classifier.classes.count)]
                if predicted == videos[video].label { correct += 1 }
            }
            return LinearEvaluationSplitResult(split: number, accuracy: Double(correct) / Double(testVideos.count),
                                               correctCount: correct, testVideoCount: testVideos.count,
                                               trainWindowCount: trainWindows.count)
        } catch let error as LinearSVMError {
            throw LinearEvaluationError.classifier(split: number, error)
        }
    }
}
