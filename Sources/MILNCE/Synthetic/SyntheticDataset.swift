// Generating a synthetic instructional-video dataset: plans for every video from the seed, the
// videos rendered and encoded in parallel, then the caption files, the train list, the held-out
// CSV, the vocabulary, the word vectors and the descriptions.

import Dispatch
import FoundationEssentials
import POSIX
import TorchFiles
import Video
import Synchronization

// MARK: - Chance

/// The retrieval metrics a model that ranks candidates at random scores on average.
public struct RetrievalChance: Sendable, Equatable, Codable {
    /// The number of queries, each with one true match among as many candidates.
    public var queries: Int
    /// Recall at 1: `1 / queries`.
    public var r1: Double
    /// Recall at 5: `min(5, queries) / queries`.
    public var r5: Double
    /// Recall at 10: `min(10, queries) / queries`.
    public var r10: Double
    /// The median rank (1 is best): `(queries + 1) / 2`.
    public var medianRank: Double

    /// The chance levels for `queries` queries with distinct true matches among `queries`
    /// candidates.
    public init(queries: Int) {
        self.queries = queries
        let count = Double(max(1, queries))
        r1 = queries > 0 ? 1 / count : 0
        r5 = queries > 0 ? Double(min(5, queries)) / count : 0
        r10 = queries > 0 ? Double(min(10, queries)) / count : 0
        medianRank = queries > 0 ? (count + 1) / 2 : 0
    }
}

// MARK: - Plan

/// The plans of every video of a dataset: a pure function of the options.
public struct SyntheticDatasetPlan: Sendable {
    /// The options the plan was made from.
    public let options: SyntheticDatasetOptions
    /// The training videos, in train-list order.
    public let trainingVideos: [SyntheticVideoPlan]
    /// The held-out videos.
    public let evaluationVideos: [SyntheticVideoPlan]

    /// Plans every video. Training videos show events of distinct (colour, shape) pairs with
    /// random actions; held-out videos show distinct event kinds, each kind at most once in the
    /// whole held-out set, so that every held-out caption describes a different event.
    public init(options: SyntheticDatasetOptions) throws {
        try options.validate()
        self.options = options
        let events = options.eventsPerVideo
        let pairs = ShapeColor.allCases.flatMap { color in ShapeKind.allCases.map { (color, $0) } }
        let trainingWidth = SyntheticDatasetPlan.idWidth(count: options.trainingVideoCount)
        trainingVideos = (0..<options.trainingVideoCount).map { index in
            var random = SplitMix64(seed: options.seed, stream: .trainingVideo, index: index)
            // Distinct pairs while there are enough of them, so that a caption names one shape.
            let chosenPairs = random.shuffled(pairs)
            let kinds = (0..<events).map { event -> SyntheticEventKind in
                let (color, shape) = chosenPairs[event % chosenPairs.count]
                let action = ShapeAction.allCases[random.index(below: ShapeAction.allCases.count)]
                return SyntheticEventKind(color: color, shape: shape, action: action)
            }
            return SyntheticVideoPlan.make(
                id: "train_" + SyntheticDatasetPlan.paddedNumber(index, width: trainingWidth), split: .training,
                kinds: kinds, bystanders: options.bystandersPerVideo,
                narrationProbability: options.narrationProbability, durationSeconds: options.videoSeconds,
                framesPerSecond: options.framesPerSecond, frameSize: options.frameSize, using: &random)
        }
        var order = SplitMix64(seed: options.seed, stream: .evaluationEvents, index: 0)
        let heldOutKinds = order.shuffled(SyntheticEventKind.all)
        let evaluationWidth = SyntheticDatasetPlan.idWidth(count: options.evaluationVideoCount)
        evaluationVideos = (0..<options.evaluationVideoCount).map { index in
            var random = SplitMix64(seed: options.seed, stream: .evaluationVideo, index: index)
            let kinds = Array(heldOutKinds[(index * events)..<((index + 1) * events)])
            return SyntheticVideoPlan.make(
                id: "eval_" + SyntheticDatasetPlan.paddedNumber(index, width: evaluationWidth), split: .evaluation,
                kinds: kinds, bystanders: options.bystandersPerVideo,
                narrationProbability: options.narrationProbability, durationSeconds: options.videoSeconds,
                framesPerSecond: options.framesPerSecond, frameSize: options.frameSize, using: &random)
        }
    }

    /// The held-out clips: one per event of every held-out video, in video and time order.
    public var evaluationClips: [SyntheticEvaluationClip] {
        evaluationVideos.flatMap { video in
            video.eventCaptions.map { caption in
                SyntheticEvaluationClip(videoID: video.id, task: video.background.style.taskNumber,
                                        startSeconds: caption.startTenths / 10, endSeconds: caption.endTenths / 10,
                                        text: caption.text)
            }
        }
    }

    /// The chance levels of text-to-video retrieval on the held-out clips.
    public var chance: RetrievalChance { RetrievalChance(queries: options.evaluationClipCount) }

    private static func idWidth(count: Int) -> Int { max(5, String(max(0, count - 1)).count) }

    private static func paddedNumber(_ number: Int, width: Int) -> String {
        let digits = String(number)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}

/// One row of the held-out CSV (YouCook2's columns).
public struct SyntheticEvaluationClip: Sendable, Equatable {
    /// The held-out video.
    public var videoID: String
    /// Its task number (the background style's), the folder it is in.
    public var task: Int
    /// The event's start, in whole seconds.
    public var startSeconds: Int
    /// The event's end, in whole seconds.
    public var endSeconds: Int
    /// The event's caption.
    public var text: String
}

// MARK: - Progress and summary

/// How far a generation has got.
public struct SyntheticDatasetProgress: Sendable, Equatable {
    /// Videos rendered and encoded.
    public var videosDone: Int
    /// Videos in all (training and held out).
    public var videoCount: Int
}

/// What a generation wrote.
public struct SyntheticDatasetSummary: Sendable, Equatable {
    /// Where the files are.
    public var layout: SyntheticDatasetLayout
    /// The description also written to `dataset.json`.
    public var metadata: SyntheticDatasetDescription
    /// The bytes of all videos together.
    public var videoBytes: Int64
}

// MARK: - Description

/// A dataset's description, as written to `dataset.json` (keys in snake case).
public struct SyntheticDatasetDescription: Sendable, Equatable, Codable {
    /// The format's name and version.
    public var format: String
    /// The seed.
    public var seed: UInt64
    /// The settings.
    public var settings: Settings
    /// The encoder the videos were made with (`libx264`, `mpeg4`, `libvpx-vp9`).
    public var encoder: String
    /// The files, relative to the dataset's folder.
    public var files: Files
    /// How much of everything there is.
    public var counts: Counts
    /// Chance levels of retrieval on the held-out clips.
    public var chance: RetrievalChance
    /// The world's words: colours, shapes, actions, background styles (with their task numbers).
    public var world: World

    /// The generator's settings.
    public struct Settings: Sendable, Equatable, Codable {
        /// Training videos.
        public var trainingVideos: Int
        /// Held-out videos.
        public var evaluationVideos: Int
        /// Seconds per video.
        public var videoSeconds: Int
        /// Events per video.
        public var eventsPerVideo: Int
        /// The frames' side, in pixels.
        public var frameSize: Int
        /// The frame rate.
        public var framesPerSecond: Double
        /// The codec asked for (`h264`, `mpeg4`, `vp9`).
        public var codec: String
        /// Still shapes per video besides the event shapes.
        public var bystandersPerVideo: Int
        /// The chance that a gap of two seconds or more holds a narration caption.
        public var narrationProbability: Double
    }

    /// The files, relative to the dataset's folder.
    public struct Files: Sendable, Equatable, Codable {
        /// The train CSV.
        public var trainList: String
        /// The training videos' folder (the train CSV's paths are relative to it).
        public var videoRoot: String
        /// The caption files' folder.
        public var captionRoot: String
        /// The held-out CSV (YouCook2's columns).
        public var evaluationList: String
        /// The held-out videos' root (`validation/<task>/<id>.mp4` under it).
        public var evaluationVideoRoot: String
        /// The word dictionary.
        public var dictionary: String
        /// The word-vector matrix.
        public var wordVectors: String
    }

    /// How much of everything there is.
    public struct Counts: Sendable, Equatable, Codable {
        /// Training videos.
        public var trainingVideos: Int
        /// Captions of the training videos.
        public var trainingCaptions: Int
        /// Of which describe events.
        public var eventCaptions: Int
        /// Of which are narration unrelated to the screen.
        public var narrationCaptions: Int
        /// Held-out videos.
        public var evaluationVideos: Int
        /// Held-out clips (rows of the held-out CSV).
        public var evaluationClips: Int
        /// Frames of every video.
        public var framesPerVideo: Int
        /// Words of the dictionary.
        public var vocabularyWords: Int
        /// The word vectors' dimension.
        public var wordVectorDimension: Int
        /// Distinct events the world has (colours × shapes × actions).
        public var distinctEventKinds: Int
    }

    /// The world's words.
    public struct World: Sendable, Equatable, Codable {
        /// The colours.
        public var colors: [String]
        /// The shapes.
        public var shapes: [String]
        /// The actions.
        public var actions: [String]
        /// The background styles and their task numbers.
        public var backgroundTasks: [String: Int]
    }

    /// The JSON encoder of `dataset.json`: sorted snake-case keys, indented.
    public static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return encoder
    }

    /// The JSON decoder of `dataset.json`.
    public static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return decoder
    }
}

// MARK: - Generating

/// Makes synthetic instructional-video datasets: short videos of coloured shapes that move, grow,
/// shrink, appear and disappear over muted backgrounds, with captions that say what happens and
/// when, interleaved with narration unrelated to the screen; the training part in HowTo100M's
/// layout, the held-out part in YouCook2's, with a vocabulary and word vectors of their own.
public enum SyntheticDataset {
    /// The format name written to `dataset.json`.
    public static let formatName = "milnce-synthetic-1"

    /// Generates the dataset of `options` in `directory` (created if missing).
    ///
    /// A folder that holds anything is refused unless `replacingContents` is true; then the
    /// generator's own files there (`SyntheticDatasetLayout.entryNames`) are removed first and
    /// other files are left alone. `workers` videos are made at once; `progress` is called after
    /// each video from the thread that made it.
    @discardableResult
    public static func generate(options: SyntheticDatasetOptions, in directory: URL, replacingContents: Bool = false,
                                workers: Int = ProcessInfo.processInfo.activeProcessorCount,
                                progress: (@Sendable (SyntheticDatasetProgress) -> Void)? = nil) throws
        -> SyntheticDatasetSummary {
        let plan = try SyntheticDatasetPlan(options: options)
        let layout = SyntheticDatasetLayout(root: directory)
        try prepare(layout, replacingContents: replacingContents)
        try createFolders(layout, plan: plan)

        let videos = plan.trainingVideos + plan.evaluationVideos
        let encoder = try encodeVideos(videos, layout: layout, codec: options.codec, workers: workers,
                                       progress: progress)

        for video in plan.trainingVideos {
            try write(captionFile(video), to: layout.captions(id: video.id))
        }
        try write(trainList(plan), to: layout.trainList)
        try write(evaluationCSV(plan), to: layout.evaluationCSV)
        let vocabulary = SyntheticLanguage.vocabulary
        try wrapping("writing the dictionary", layout.dictionary) {
            try NumPyFile.save(.strings(vocabulary, shape: [vocabulary.count]), to: layout.dictionary)
        }
        try wrapping("writing the word vectors", layout.wordVectors) {
            let values = SyntheticLanguage.wordVectors(seed: options.seed)
            var bytes = [UInt8]()
            bytes.reserveCapacity(values.count * 4)
            for value in values { withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
            let record = try TensorRecord(contiguousBytes: bytes, elementType: .float32,
                                          shape: [vocabulary.count + 1, SyntheticLanguage.wordVectorDimension])
            try TorchFile.save(.tensor(record), to: layout.wordVectors)
        }

        let description = describe(plan, encoder: encoder)
        let json = try wrapping("encoding the description", layout.metadata) {
            try SyntheticDatasetDescription.encoder.encode(description)
        }
        try write(String(decoding: json, as: UTF8.self) + "\n", to: layout.metadata)
        try write(readme(description), to: layout.readme)

        var videoBytes: Int64 = 0
        for video in videos {
            videoBytes += Int64(fileSize(atPath: layout.file(of: video).path) ?? 0)
        }
        return SyntheticDatasetSummary(layout: layout, metadata: description, videoBytes: videoBytes)
    }

    // MARK: Folders

    private static func prepare(_ layout: SyntheticDatasetLayout, replacingContents: Bool) throws {
        let manager = FileManager.default
        let path = layout.root.path
        var isFolder = false
        if manager.fileExists(atPath: path, isDirectory: &isFolder) {
            guard isFolder else { throw SyntheticDatasetError.outputNotAFolder(path: path) }
            let entries = try wrapping("listing", layout.root) { try manager.contentsOfDirectory(atPath: path) }
            if !entries.isEmpty {
                guard replacingContents else { throw SyntheticDatasetError.outputNotEmpty(path: path) }
                for name in SyntheticDatasetLayout.entryNames where entries.contains(name) {
                    let entry = layout.root.appendingPathComponent(name)
                    try wrapping("removing", entry) { try manager.removeItem(at: entry) }
                }
            }
        }
        try wrapping("creating the folder", layout.root) {
            try manager.createDirectory(at: layout.root, withIntermediateDirectories: true)
        }
    }

    private static func createFolders(_ layout: SyntheticDatasetLayout, plan: SyntheticDatasetPlan) throws {
        var folders = [layout.videoRoot, layout.captionRoot, layout.evaluationRoot]
        let tasks = Set(plan.evaluationVideos.map(\.background.style.taskNumber)).sorted()
        folders += tasks.map { layout.evaluationRoot.appendingPathComponent("validation/\($0)", isDirectory: true) }
        for folder in folders {
            try wrapping("creating the folder", folder) {
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            }
        }
    }

    // MARK: Videos

    /// Renders and encodes every video, `workers` at a time; returns the encoder's name.
    private static func encodeVideos(_ videos: [SyntheticVideoPlan], layout: SyntheticDatasetLayout,
                                     codec: VideoCodec, workers: Int,
                                     progress: (@Sendable (SyntheticDatasetProgress) -> Void)?) throws -> String {
        let state = EncodingState()
        let count = videos.count
        DispatchQueue.concurrentPerform(iterations: max(1, min(workers, count))) { _ in
            while let index = state.nextVideo(below: count) {
                let video = videos[index]
                let url = layout.file(of: video)
                do {
                    let encoder = try encode(video, to: url, codec: codec)
                    let done = state.finished(encoder: encoder)
                    progress?(SyntheticDatasetProgress(videosDone: done, videoCount: count))
                } catch {
                    state.failed(with: SyntheticDatasetError.encoding(path: url.path, reason: "\(error)"))
                }
            }
        }
        if let error = state.error { throw error }
        return state.encoderName ?? codec.rawValue
    }

    /// Encodes one video; returns the encoder's name. Keyframes come every two seconds, so that
    /// a seek decodes little.
    static func encode(_ video: SyntheticVideoPlan, to url: URL, codec: VideoCodec) throws -> String {
        let renderer = SyntheticRenderer(plan: video)
        let writer = try VideoWriter(url: url, width: video.frameSize, height: video.frameSize,
                                     framesPerSecond: video.framesPerSecond, codec: codec,
                                     keyframeInterval: max(1, Int((2 * video.framesPerSecond).rounded())))
        for frame in 0..<video.frameCount {
            try writer.append(rgb: renderer.frame(frame))
        }
        try writer.finish()
        return writer.encoderName
    }

    /// The work queue and outcome shared by the encoding threads.
    private final class EncodingState: Sendable {
        private struct Progress {
            var next = 0
            var done = 0
            var error: SyntheticDatasetError?
            var encoderName: String?
        }
        private let progress = Mutex(Progress())

        /// The first failure, if any.
        var error: SyntheticDatasetError? { progress.withLock { $0.error } }
        /// The name of the encoder that made the first finished video.
        var encoderName: String? { progress.withLock { $0.encoderName } }

        /// The next video to make, or nil when none is left or one has failed.
        func nextVideo(below count: Int) -> Int? {
            progress.withLock { progress in
                guard progress.error == nil, progress.next < count else { return nil }
                progress.next += 1
                return progress.next - 1
            }
        }

        /// Records a finished video; returns the number finished.
        func finished(encoder: String) -> Int {
            progress.withLock { progress in
                progress.encoderName = progress.encoderName ?? encoder
                progress.done += 1
                return progress.done
            }
        }

        /// Records the first failure.
        func failed(with failure: SyntheticDatasetError) {
            progress.withLock { progress in
                if progress.error == nil { progress.error = failure }
            }
        }
    }

    // MARK: Text files

    /// A video's caption file: `start,end,text`, times in seconds with one decimal.
    static func captionFile(_ video: SyntheticVideoPlan) -> String {
        var text = "start,end,text\n"
        for caption in video.captions {
            text += "\(decimal(tenths: caption.startTenths)),\(decimal(tenths: caption.endTenths)),\(csvField(caption.text))\n"
        }
        return text
    }

    /// The train CSV: one `video_path` per training video.
    static func trainList(_ plan: SyntheticDatasetPlan) -> String {
        "video_path\n" + plan.trainingVideos.map { csvField($0.id + ".mp4") + "\n" }.joined()
    }

    /// The held-out CSV in YouCook2's columns.
    static func evaluationCSV(_ plan: SyntheticDatasetPlan) -> String {
        "end,start,task,text,video_id\n" + plan.evaluationClips.map { clip in
            "\(clip.endSeconds),\(clip.startSeconds),\(clip.task),\(csvField(clip.text)),\(csvField(clip.videoID))\n"
        }.joined()
    }

    /// `tenths / 10` written with one decimal, without locale or floating point.
    static func decimal(tenths: Int) -> String {
        let sign = tenths < 0 ? "-" : ""
        let magnitude = tenths.magnitude
        return "\(sign)\(magnitude / 10).\(magnitude % 10)"
    }

    // MARK: Descriptions

    static func describe(_ plan: SyntheticDatasetPlan, encoder: String) -> SyntheticDatasetDescription {
        let options = plan.options
        let captions = plan.trainingVideos.flatMap(\.captions)
        let events = captions.filter { $0.event != nil }.count
        return SyntheticDatasetDescription(
            format: formatName, seed: options.seed,
            settings: .init(trainingVideos: options.trainingVideoCount, evaluationVideos: options.evaluationVideoCount,
                            videoSeconds: options.videoSeconds, eventsPerVideo: options.eventsPerVideo,
                            frameSize: options.frameSize, framesPerSecond: options.framesPerSecond,
                            codec: options.codec.rawValue, bystandersPerVideo: options.bystandersPerVideo,
                            narrationProbability: options.narrationProbability),
            encoder: encoder,
            files: .init(trainList: "train.csv", videoRoot: "videos", captionRoot: "captions",
                         evaluationList: "eval/youcook.csv", evaluationVideoRoot: "eval", dictionary: "dict.npy",
                         wordVectors: "word2vec.pth"),
            counts: .init(trainingVideos: plan.trainingVideos.count, trainingCaptions: captions.count,
                          eventCaptions: events, narrationCaptions: captions.count - events,
                          evaluationVideos: plan.evaluationVideos.count, evaluationClips: plan.evaluationClips.count,
                          framesPerVideo: options.framesPerVideo, vocabularyWords: SyntheticLanguage.vocabulary.count,
                          wordVectorDimension: SyntheticLanguage.wordVectorDimension,
                          distinctEventKinds: SyntheticEventKind.all.count),
            chance: plan.chance,
            world: .init(colors: ShapeColor.allCases.map(\.rawValue), shapes: ShapeKind.allCases.map(\.rawValue),
                         actions: ShapeAction.allCases.map(\.rawValue),
                         backgroundTasks: Dictionary(uniqueKeysWithValues: BackgroundStyle.allCases.map {
                             ($0.rawValue, $0.taskNumber)
                         })))
    }

    static func readme(_ description: SyntheticDatasetDescription) -> String {
        wrapped(readmeText(description), width: 96)
    }

    /// `text` with every line longer than `width` broken at spaces; a broken line's
    /// continuations keep its indentation.
    static func wrapped(_ text: String, width: Int) -> String {
        var output: [String] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let indentation = String(line.prefix { $0 == " " })
            var current = ""
            for word in line.dropFirst(indentation.count).split(separator: " ", omittingEmptySubsequences: false) {
                if !current.isEmpty && indentation.count + current.count + 1 + word.count > width {
                    output.append(indentation + current)
                    current = String(word)
                } else {
                    current += current.isEmpty ? String(word) : " " + word
                }
            }
            output.append(indentation + current)
        }
        return output.joined(separator: "\n")
    }

    private static func readmeText(_ description: SyntheticDatasetDescription) -> String {
        let settings = description.settings
        let counts = description.counts
        let chance = description.chance
        func percent(_ value: Double) -> String { String(cFormat: "%.2f%%", value * 100) }
        let tasks = description.world.backgroundTasks.sorted { $0.value < $1.value }
            .map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        return """
        A synthetic instructional-video dataset made by `milnce synth` (seed \(description.seed)).

        WHAT IS IN THE VIDEOS
        Coloured shapes (\(description.world.colors.joined(separator: ", ")); \
        \(description.world.shapes.joined(separator: ", "))) over muted plain, striped, checked, \
        gradient or mottled backgrounds. Each video of \(settings.videoSeconds) s (\(settings.frameSize)x\
        \(settings.frameSize) pixels, \(settings.framesPerSecond) frames per second, \(description.encoder)) \
        has \(settings.eventsPerVideo) events of 5 or 6 whole seconds, at least a second apart: a shape \
        moves left, right, up or down (by 45% of the frame), grows, shrinks, appears (fades in) or \
        disappears (fades out), evenly over the whole event. Each event's shape is on screen from the \
        middle of the gap before its event to the middle of the gap after it. \
        \(settings.bystandersPerVideo) still bystander shape(s) per video, in colours no event uses.

        CAPTIONS
        Every event has a caption spanning exactly its seconds ("now the red square slides to the \
        left"); a gap of 2 s or more (between events, or at an end) holds narration unrelated to the \
        screen ("thanks for watching") with probability \(settings.narrationProbability), as in \
        HowTo100M. All words are lowercase.

        TRAINING PART (HowTo100M's layout)
          train.csv
              column video_path, relative to videos/ (\(counts.trainingVideos) videos)
          videos/<id>.mp4
              the videos
          captions/<id>.csv
              columns start,end,text in seconds (\(counts.trainingCaptions) captions: \
        \(counts.eventCaptions) events, \(counts.narrationCaptions) narration)

        HELD-OUT PART (YouCook2's layout)
          eval/youcook.csv
              columns end,start,task,text,video_id (integer seconds), one row per event of the \
        \(counts.evaluationVideos) held-out videos: \(counts.evaluationClips) clips
          eval/validation/<task>/<id>.mp4
              the videos; the task is the background style (\(tasks))
        Every held-out clip shows a different event (colour, shape and action), among \
        \(counts.distinctEventKinds) possible ones, so the true match of a caption is the only clip \
        it describes. Chance levels of text-to-video retrieval over the \(chance.queries) clips: \
        R@1 \(percent(chance.r1)), R@5 \(percent(chance.r5)), R@10 \(percent(chance.r10)), median rank \
        \(chance.medianRank).

        WORDS
          dict.npy
              \(counts.vocabularyWords) words (NumPy unicode array; word i is token i + 1)
          word2vec.pth
              float32 tensor (\(counts.vocabularyWords + 1) x \(counts.wordVectorDimension)) in torch.save's \
        format; row 0 (padding) is zero. Unit vectors built from seeded random directions: synonyms \
        ("moves", "slides") are close, words of one kind ("red", "blue") a little closer than \
        unrelated words.

        TRAINING ON IT
        Training crops clips without scaling (the reference's crop_only), so train at the videos' \
        size (\(settings.frameSize)) or a little below. "Left" and "right" are mirror images: with \
        random left-right flips in training, the two cannot be told apart. A caption's neighbours \
        describe other events, so several candidates per clip (num_candidates > 1) put unrelated \
        captions in the positive bag; one candidate learns fastest.

        dataset.json describes the same in a form programs read.

        """
    }

    // MARK: Files

    private static func write(_ text: String, to url: URL) throws {
        try wrapping("writing", url) { try Data(text.utf8).write(to: url) }
    }

    private static func wrapping<Result>(_ operation: String, _ url: URL, _ body: () throws -> Result) throws -> Result {
        do {
            return try body()
        } catch let error as SyntheticDatasetError {
            throw error
        } catch {
            throw SyntheticDatasetError.fileSystem(operation: operation, path: url.path, reason: describeSystemError(error))
        }
    }
}
