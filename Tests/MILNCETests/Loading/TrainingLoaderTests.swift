import Foundation
import Synchronization
import Testing
import TestSupport
import Torch
import Video
@testable import MILNCE

// MARK: - A tiny generated dataset

/// Videos of known content with their caption files, a train list and a caption index.
///
/// Video `n` is 12 s at 10 fps, 96×64: its red value is `30 + 25 n` everywhere, its green value
/// is `20 × (whole second)`, its blue value a left-to-right gradient. So a decoded frame says
/// which video and which second it came from. Each good video has three captions (0–3 s, 4–6 s,
/// 7–9 s), whose clips (widened to 5 s) and seeks stay inside the video.
final class LoaderDataset: Sendable {
    static let width = 96
    static let height = 64
    static let framesPerSecond = 10.0
    static let seconds = 12
    static let goodVideoCount = 8
    static let words = ["cut", "the", "onion", "fry", "egg", "pan", "salt", "stir", "add", "water"]

    /// What is wrong with each bad video of the full list (the good ones are `v0` ... `v7`).
    enum Defect: String, CaseIterable {
        case missingVideo = "missing.mp4"
        case emptyVideo = "empty.mp4"
        case truncatedVideo = "truncated.mp4"
        case corruptVideo = "corrupt.mp4"
        case missingCaptions = "nocaptions.mp4"
        case malformedCaptions = "badcaptions.mkv"

        /// Whether the failure is reported with the caption file's path (else the video's).
        var isCaptionDefect: Bool { self == .missingCaptions || self == .malformedCaptions }
    }

    let folder: URL
    let videoRoot: URL
    let captionRoot: String
    let tokenizer = Tokenizer(words: LoaderDataset.words)
    /// Only the good videos.
    let goodList: TrainList
    let goodIndex: CaptionIndex
    /// The good videos, then one of each defect.
    let fullList: TrainList
    let fullIndex: CaptionIndex
    /// Only the defective videos.
    let badList: TrainList
    let badIndex: CaptionIndex

    static let shared = Result { try LoaderDataset() }

    static func get() throws -> LoaderDataset { try shared.get() }

    private init() throws {
        folder = try TestEnvironment.sharedTemporaryDirectory("loader")
        videoRoot = folder.appendingPathComponent("videos")
        captionRoot = folder.appendingPathComponent("captions").path
        try FileManager.default.createDirectory(at: videoRoot, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: captionRoot, withIntermediateDirectories: true)

        var goodPaths: [String] = []
        for video in 0..<LoaderDataset.goodVideoCount {
            let name = "v\(video)." + (video % 2 == 0 ? "mp4" : "mkv")
            try LoaderDataset.writeVideo(number: video, to: videoRoot.appendingPathComponent(name))
            try LoaderDataset.captionText(seed: video).write(toFile: captionRoot + "/v\(video).csv", atomically: false,
                                                              encoding: .utf8)
            goodPaths.append(name)
        }
        // The defects: each keeps its captions unless they are the defect.
        let good = try Data(contentsOf: videoRoot.appendingPathComponent("v0.mp4"))
        for defect in Defect.allCases {
            let url = videoRoot.appendingPathComponent(defect.rawValue)
            let id = TrainList.videoID(ofPath: defect.rawValue)
            switch defect {
            case .missingVideo: break
            case .emptyVideo: try Data().write(to: url)
            case .truncatedVideo: try good.prefix(good.count * 2 / 5).write(to: url)
            case .corruptVideo:
                var random = SplitMix64(seed: 99)
                try Data((0..<20_000).map { _ in UInt8(truncatingIfNeeded: random.next()) }).write(to: url)
            case .missingCaptions, .malformedCaptions:
                try LoaderDataset.writeVideo(number: 0, to: url)
            }
            switch defect {
            case .missingCaptions: break
            case .malformedCaptions:
                try "start,end,text\n0,3,\"never closed\n".write(toFile: captionRoot + "/\(id).csv", atomically: false,
                                                                 encoding: .utf8)
            default:
                try LoaderDataset.captionText(seed: 5).write(toFile: captionRoot + "/\(id).csv", atomically: false,
                                                             encoding: .utf8)
            }
        }
        goodList = TrainList(videoPaths: goodPaths)
        fullList = TrainList(videoPaths: goodPaths + Defect.allCases.map(\.rawValue))
        badList = TrainList(videoPaths: Defect.allCases.map(\.rawValue))
        let folder = self.folder
        let captionRoot = self.captionRoot
        func index(_ list: TrainList, _ name: String) throws -> CaptionIndex {
            let path = folder.appendingPathComponent(name).path
            try CaptionIndex.build(trainList: list, captionRoot: captionRoot, to: path, workers: 2)
            return try CaptionIndex(contentsOf: path, verification: .full, expecting: list)
        }
        goodIndex = try index(goodList, "good.index")
        fullIndex = try index(fullList, "full.index")
        badIndex = try index(badList, "bad.index")
    }

    deinit {
        try? FileManager.default.removeItem(at: folder)
    }

    /// The red value of video `number`.
    static func red(ofVideo number: Int) -> Int { 30 + 25 * number }

    /// The green value of second `second`.
    static func green(ofSecond second: Int) -> Int { 20 * second }

    static func writeVideo(number: Int, to url: URL) throws {
        let writer = try VideoWriter(url: url, width: width, height: height, framesPerSecond: framesPerSecond,
                                     codec: number % 3 == 2 ? .mpeg4 : .h264, keyframeInterval: 25)
        for frame in 0..<(seconds * Int(framesPerSecond)) {
            var pixels = [UInt8](repeating: 0, count: width * height * 3)
            let green = UInt8(LoaderDataset.green(ofSecond: frame / Int(framesPerSecond)))
            for y in 0..<height {
                for x in 0..<width {
                    let offset = (y * width + x) * 3
                    pixels[offset] = UInt8(red(ofVideo: number))
                    pixels[offset + 1] = green
                    pixels[offset + 2] = UInt8(40 + x)
                }
            }
            try writer.append(rgb: pixels)
        }
        try writer.finish()
    }

    /// Three captions of dictionary words (and one unknown word).
    static func captionText(seed: Int) -> String {
        var lines = ["start,end,text"]
        let spans = [(0.0, 3.0), (4.0, 6.0), (7.0, 9.0)]
        for (row, span) in spans.enumerated() {
            let text = (0..<3).map { words[(seed * 3 + row * 2 + $0) % words.count] }.joined(separator: " ") + " unknown"
            lines.append("\(span.0),\(span.1),\(text)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    // MARK: Loaders

    /// Small clips: 4 frames at 2 fps, 32-pixel squares, 2 captions of 4 words.
    static func options(batchSize: Int = 2, threads: Int = 2, seed: UInt64 = 7) -> LoaderOptions {
        var options = LoaderOptions()
        options.batchSize = batchSize
        options.threads = threads
        options.sampling = ClipSamplingOptions(numCandidates: 2, maxWords: 4, minTimeSeconds: 5, numFrames: 4,
                                               framesPerSecond: 2)
        options.size = 32
        options.seed = seed
        return options
    }

    func sampler(_ options: LoaderOptions, index: CaptionIndex) throws -> ClipSampler {
        try ClipSampler(index: index, tokenizer: tokenizer, options: options.sampling)
    }

    func loader(_ options: LoaderOptions, list: TrainList, index: CaptionIndex, worldSize: Int = 1,
                rank: Int = 0) throws -> TrainingLoader {
        let order = try DistributedOrder(datasetCount: list.count, worldSize: worldSize, rank: rank, seed: 3)
        return try TrainingLoader(trainList: list, sampler: try sampler(options, index: index), videoRoot: videoRoot,
                                  order: order, options: options)
    }
}

// MARK: - Batches as plain values

/// A batch's contents, read out of its tensors.
struct BatchContents: Equatable {
    var number: Int
    var videoShape: [Int]
    var textShape: [Int]
    var pixels: [UInt8]
    var tokens: [Int64]
    var videos: [Int]
    var failures: [String]

    init(_ batch: TrainingBatch) throws {
        number = batch.number
        videoShape = batch.video.shape
        textShape = batch.text.shape
        pixels = try batch.video.toArray(of: UInt8.self)
        tokens = try batch.text.toArray(of: Int64.self)
        videos = batch.videos
        failures = batch.failures.map { "\($0.video) \($0.description)" }
    }
}

/// All batches of an epoch (from `first` on).
func collect(_ loader: TrainingLoader, epoch: Int, startingAt first: Int = 0) throws -> [BatchContents] {
    let batches = try loader.epoch(epoch, startingAt: first)
    var contents: [BatchContents] = []
    for batch in batches { contents.append(try BatchContents(batch)) }
    #expect(batches.error == nil)
    return contents
}

/// One sample decoded directly, by the loader's documented rule: attempt `a` draws from
/// `SplitMix64(seed:epoch:rank: a, sample: video)`, attempts after the first first pick another
/// video uniformly, then the caption sample, the crop offsets and the flip, in that order; an
/// attempt fails when the video or captions fail, or when the clip holds no frame of the video.
struct DirectSample {
    var video: Int
    var pixels: [UInt8]
    var tokens: [Int64]
    var seekSeconds: Int?
    var failedVideos: [Int]

    init(options o: LoaderOptions, sampler: ClipSampler, list: TrainList, videoRoot: URL, epoch: Int,
         video original: Int) {
        var failed: [Int] = []
        var video = original
        for attempt in 0...o.maximumSubstitutions {
            var random = SplitMix64(seed: o.seed, epoch: epoch, rank: attempt, sample: original)
            if attempt > 0 { video = random.uniformInt(in: 0...(list.count - 1)) }
            do {
                let sample = try sampler.sample(video: video, using: &random)
                let horizontal = o.centerCrop ? 0.5 : random.uniformDouble()
                let vertical = o.centerCrop ? 0.5 : random.uniformDouble()
                let flipped = o.randomFlip && random.uniformDouble() > 0.5
                let request = ClipRequest(startSeconds: Double(sample.startSeekSeconds), frameCount: o.sampling.numFrames,
                                          framesPerSecond: o.sampling.framesPerSecond, size: o.size,
                                          cropping: o.cropOnly ? .window : .scaledSquare,
                                          cropOffset: CropOffset(horizontal: horizontal, vertical: vertical),
                                          flipped: flipped, durationSeconds: sample.decodeSeconds)
                let clip = try VideoReader(url: videoRoot.appendingPathComponent(list.videoPaths[video])).clip(request)
                // A clip with no frame of its video is a failure too.
                guard clip.decodedFrameCount > 0 else {
                    failed.append(video)
                    continue
                }
                self.video = video
                pixels = clip.pixels
                tokens = sample.tokens
                seekSeconds = sample.startSeekSeconds
                failedVideos = failed
                return
            } catch {
                failed.append(video)
            }
        }
        self.video = video
        pixels = [UInt8](repeating: 0, count: 3 * o.sampling.numFrames * o.size * o.size)
        tokens = [Int64](repeating: 0, count: o.sampling.numCandidates * o.sampling.maxWords)
        seekSeconds = nil
        failedVideos = failed
    }
}

/// The mean of frame `frame`'s channel `channel` in sample `position` of a batch's pixels.
func channelMean(_ pixels: [UInt8], options o: LoaderOptions, position: Int, channel: Int, frame: Int) -> Double {
    let plane = o.size * o.size
    let sampleBytes = 3 * o.sampling.numFrames * plane
    let start = position * sampleBytes + (channel * o.sampling.numFrames + frame) * plane
    return Double(pixels[start..<(start + plane)].reduce(0) { $0 + Int($1) }) / Double(plane)
}

// MARK: - Tests

@Suite(.serialized) struct TrainingLoaderTests {
    @Test func batchesHaveTheShapesAndTypesOfTheReference() throws {
        let dataset = try LoaderDataset.get()
        let options = LoaderDataset.options(batchSize: 3)
        let loader = try dataset.loader(options, list: dataset.goodList, index: dataset.goodIndex)
        let batches = try loader.epoch(0)
        var count = 0
        for batch in batches {
            #expect(batch.number == count)
            #expect(batch.video.dtype == .uint8)
            #expect(batch.video.shape == [3, 3, 4, 32, 32])
            #expect(batch.text.dtype == .int64)
            #expect(batch.text.shape == [3, 2, 4])
            #expect(batch.videos.count == 3)
            #expect(batch.failures.isEmpty)
            count += 1
        }
        #expect(count == 2) // 8 videos, batches of 3, the partial one dropped
        #expect(batches.count == 2)
        #expect(loader.batchesPerEpoch == 2)
    }

    @Test(arguments: [(1, 2), (2, 2), (3, 2), (2, 3), (4, 1), (3, 1), (8, 1), (5, 2)])
    func batchesPerEpochFollowTheShareOfEachRank(worldSize: Int, batchSize: Int) throws {
        let dataset = try LoaderDataset.get()
        let videoCount = dataset.goodList.count
        // DistributedSampler pads to a multiple of the world size; the loader drops the partial batch.
        let perRank = (videoCount + worldSize - 1) / worldSize
        let expected = perRank / batchSize
        var seen: [[Int]] = []
        for rank in 0..<worldSize {
            let options = LoaderDataset.options(batchSize: batchSize, threads: 2)
            let loader = try dataset.loader(options, list: dataset.goodList, index: dataset.goodIndex,
                                            worldSize: worldSize, rank: rank)
            let contents = try collect(loader, epoch: 1)
            #expect(contents.count == expected, "rank \(rank) of \(worldSize)")
            #expect(loader.batchesPerEpoch == expected)
            #expect(contents.map(\.number) == Array(0..<expected))
            let videos = contents.flatMap(\.videos)
            #expect(videos == Array(try loader.order.indices(epoch: 1).prefix(expected * batchSize)))
            seen.append(videos)
        }
        if videoCount % worldSize == 0 && perRank % batchSize == 0 {
            // No padding and no partial batch: the ranks share the dataset exactly.
            #expect(Set(seen.flatMap { $0 }) == Set(0..<videoCount))
            #expect(seen.flatMap { $0 }.count == videoCount)
        }
        for first in 0..<worldSize {
            for second in (first + 1)..<worldSize where videoCount % worldSize == 0 {
                #expect(Set(seen[first]).isDisjoint(with: seen[second]), "ranks \(first) and \(second)")
            }
        }
    }

    @Test(arguments: [false, true])
    func samplesEqualTheSameSampleDecodedDirectly(evaluationCrop: Bool) throws {
        let dataset = try LoaderDataset.get()
        var options = LoaderDataset.options(batchSize: 4, threads: 3)
        if evaluationCrop {
            options.cropOnly = false
            options.centerCrop = true
            options.randomFlip = false
        }
        let loader = try dataset.loader(options, list: dataset.goodList, index: dataset.goodIndex)
        let sampler = try dataset.sampler(options, index: dataset.goodIndex)
        let epoch = 2
        var flips = 0
        for batch in try collect(loader, epoch: epoch) {
            let samplePixels = 3 * 4 * 32 * 32
            for (position, video) in batch.videos.enumerated() {
                let direct = DirectSample(options: options, sampler: sampler, list: dataset.goodList,
                                          videoRoot: dataset.videoRoot, epoch: epoch, video: video)
                #expect(direct.failedVideos.isEmpty)
                #expect(direct.video == video)
                let samePixels = batch.pixels[(position * samplePixels)..<((position + 1) * samplePixels)]
                    .elementsEqual(direct.pixels)
                #expect(samePixels, "video \(video)")
                #expect(Array(batch.tokens[(position * 8)..<((position + 1) * 8)]) == direct.tokens)
                #expect(batch.tokens[(position * 8)..<((position + 1) * 8)].contains { $0 > 0 })

                // The known content: the video's red, the seek's seconds in green.
                let seek = try #require(direct.seekSeconds)
                for frame in 0..<4 {
                    let red = channelMean(batch.pixels, options: options, position: position, channel: 0, frame: frame)
                    let green = channelMean(batch.pixels, options: options, position: position, channel: 1, frame: frame)
                    #expect(abs(red - Double(LoaderDataset.red(ofVideo: video))) < 6, "video \(video) frame \(frame)")
                    let second = seek + frame / 2 // frames at 2 fps
                    #expect(abs(green - Double(LoaderDataset.green(ofSecond: second))) < 6,
                            "video \(video) frame \(frame) seek \(seek)")
                }
                // Flipped clips have their blue gradient falling from left to right.
                let rowStart = position * samplePixels + 2 * 4 * 32 * 32
                if batch.pixels[rowStart] > batch.pixels[rowStart + 31] { flips += 1 }
            }
        }
        #expect(evaluationCrop ? flips == 0 : flips > 0)
    }

    @Test func theSameSeedAndEpochGiveTheSameBatchesWithAnyThreadCount() throws {
        let dataset = try LoaderDataset.get()
        var reference: [BatchContents]?
        for threads in [1, 2, 5] {
            var options = LoaderDataset.options(batchSize: 2, threads: threads)
            options.prefetchBatches = threads == 5 ? 4 : 1
            let loader = try dataset.loader(options, list: dataset.fullList, index: dataset.fullIndex)
            let contents = try collect(loader, epoch: 3)
            #expect(contents.count == 7)
            if let reference {
                let same = contents == reference
                #expect(same, "\(threads) threads")
            } else {
                reference = contents
            }
        }
        // Another epoch, or another seed, gives other batches.
        let other = try dataset.loader(LoaderDataset.options(batchSize: 2), list: dataset.fullList, index: dataset.fullIndex)
        let otherEpochDiffers = try collect(other, epoch: 4) != reference
        #expect(otherEpochDiffers)
        let reseeded = try dataset.loader(LoaderDataset.options(batchSize: 2, seed: 8), list: dataset.fullList,
                                          index: dataset.fullIndex)
        let otherSeedDiffers = try collect(reseeded, epoch: 3).map(\.pixels) != reference?.map(\.pixels)
        #expect(otherSeedDiffers)
    }

    @Test func startingAtBatchKGivesTheTailOfTheFullEpoch() throws {
        let dataset = try LoaderDataset.get()
        let loader = try dataset.loader(LoaderDataset.options(batchSize: 2, threads: 3), list: dataset.fullList,
                                        index: dataset.fullIndex)
        let full = try collect(loader, epoch: 5)
        #expect(full.count == 7)
        for first in [1, 4, 6, 7] {
            let resumed = try collect(loader, epoch: 5, startingAt: first)
            let same = resumed == Array(full.dropFirst(first))
            #expect(same, "from batch \(first)")
            #expect(try loader.epoch(5, startingAt: first).count == 7 - first)
        }
        #expect(throws: LoaderError.self) { try loader.epoch(5, startingAt: -1) }
        #expect(throws: LoaderError.self) { try loader.epoch(5, startingAt: 8) }
        #expect(throws: (any Error).self) { try loader.epoch(-1) }
    }

    @Test func badVideosAndCaptionsAreSubstitutedCountedAndReported() throws {
        let dataset = try LoaderDataset.get()
        let options = LoaderDataset.options(batchSize: 2, threads: 3)
        let loader = try dataset.loader(options, list: dataset.fullList, index: dataset.fullIndex)
        let sampler = try dataset.sampler(options, index: dataset.fullIndex)
        let goodCount = LoaderDataset.goodVideoCount
        let epoch = 6
        let order = try loader.order.batches(epoch: epoch, batchSize: 2)
        let contents = try collect(loader, epoch: epoch)
        #expect(contents.count == 7) // the whole epoch, in spite of the bad samples
        var reported: [Int: Int] = [:]
        for (batch, originals) in zip(contents, order) {
            var expectedFailures: [String] = []
            for (position, original) in originals.enumerated() {
                let direct = DirectSample(options: options, sampler: sampler, list: dataset.fullList,
                                          videoRoot: dataset.videoRoot, epoch: epoch, video: original)
                // Only good videos end up in batches, and the sample is the substitute's own.
                #expect(batch.videos[position] == direct.video)
                #expect(batch.videos[position] < goodCount, "a defective video was used")
                let size = direct.pixels.count
                let samePixels = batch.pixels[(position * size)..<((position + 1) * size)].elementsEqual(direct.pixels)
                #expect(samePixels, "video \(original) at position \(position)")
                #expect(original >= goodCount ? !direct.failedVideos.isEmpty : direct.failedVideos.isEmpty)
                for failed in direct.failedVideos {
                    let defect = try #require(LoaderDataset.Defect(rawValue: dataset.fullList.videoPaths[failed]))
                    let path = defect.isCaptionDefect
                        ? dataset.captionRoot + "/" + TrainList.videoID(ofPath: defect.rawValue) + ".csv"
                        : dataset.videoRoot.appendingPathComponent(defect.rawValue).path
                    expectedFailures.append("\(failed) \(path)")
                    reported[failed, default: 0] += 1
                }
            }
            // Reported in sample order, each with the path of the file at fault and a reason.
            #expect(batch.failures.map { $0.components(separatedBy: ": ").first ?? "" } == expectedFailures)
            for failure in batch.failures { #expect(failure.count > failure.components(separatedBy: ": ")[0].count + 4) }
        }
        // Every defective video appears once in the epoch and fails at least that time.
        #expect(Set(reported.keys) == Set(goodCount..<dataset.fullList.count))
    }

    @Test func samplesWhoseEveryAttemptFailsAreBlackWithoutWords() throws {
        let dataset = try LoaderDataset.get()
        var options = LoaderDataset.options(batchSize: 3, threads: 2)
        options.maximumSubstitutions = 2
        let loader = try dataset.loader(options, list: dataset.badList, index: dataset.badIndex)
        let contents = try collect(loader, epoch: 0)
        #expect(contents.count == 2)
        for batch in contents {
            let black = batch.pixels.allSatisfy { $0 == 0 }
            #expect(black)
            #expect(batch.tokens.allSatisfy { $0 == 0 })
            #expect(batch.failures.count == 3 * 3) // three samples, three attempts each
        }
        let failedPaths = Set(contents.flatMap(\.failures).map { $0.components(separatedBy: ": ")[0] })
        #expect(failedPaths.contains { $0.hasSuffix("/missing.mp4") })
    }

    @Test func droppingTheBatchesEndsTheirThreads() throws {
        let dataset = try LoaderDataset.get()
        var options = LoaderDataset.options(batchSize: 1, threads: 4)
        options.prefetchBatches = 1
        let loader = try dataset.loader(options, list: dataset.goodList, index: dataset.goodIndex)
        weak var context: EpochContext?
        do {
            let batches = try loader.epoch(0)
            context = batches.context
            #expect(batches.next() != nil)
            // The workers now wait for room in the queue; the loop is left early.
        }
        let deadline = ContinuousClock.now + .seconds(20)
        while context != nil && ContinuousClock.now < deadline { usleep(10_000) }
        // Each thread holds the epoch's context (through the work it was given) until it has
        // returned, so this also says that the epoch's threads have ended.
        #expect(context == nil, "the workers still hold the epoch's state")

        // `stop()` ends the sequence at once.
        let batches = try loader.epoch(1)
        #expect(batches.next() != nil)
        batches.stop()
        #expect(batches.next() == nil)
        #expect(batches.error == nil)
    }

    @Test func clipsWithoutFramesAreSubstitutedWithTheirReasonAndPaddedClipsAreCounted() throws {
        let dataset = try LoaderDataset.get()
        let folder = try TestEnvironment.temporaryDirectory("loader-empty-clips")
        defer { try? FileManager.default.removeItem(at: folder) }
        let videoRoot = folder.appendingPathComponent("videos")
        let captionRoot = folder.appendingPathComponent("captions")
        try FileManager.default.createDirectory(at: videoRoot, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: captionRoot, withIntermediateDirectories: true)
        func captions(_ id: String, _ text: String) throws {
            try text.write(to: captionRoot.appendingPathComponent("\(id).csv"), atomically: false, encoding: .utf8)
        }
        for video in 0..<2 {
            try LoaderDataset.writeVideo(number: video, to: videoRoot.appendingPathComponent("v\(video).mp4"))
            try captions("v\(video)", LoaderDataset.captionText(seed: video))
        }
        // 2.5 s at 10 fps: a clip of 4 frames at 2 fps seeking to 1 s or later gets fewer than 4 of them
        // and black padding (the reference's seeks reach past a short video's end).
        // One frame: less than one frame period at 2 fps, no frame at all.
        for (name, frames) in [("short", 25), ("oneframe", 1)] {
            let writer = try VideoWriter(url: videoRoot.appendingPathComponent("\(name).mp4"), width: 96, height: 64,
                                         framesPerSecond: 10, codec: .h264)
            for _ in 0..<frames { try writer.append(rgb: [UInt8](repeating: 90, count: 96 * 64 * 3)) }
            try writer.finish()
            try captions(name, "start,end,text\n0,1,cut the onion\n")
        }
        // Its index at the front, cut to its first 40 %: the caption lies in the missing part.
        let whole = folder.appendingPathComponent("whole.mp4")
        guard let ffmpeg = try? FFmpegCommand() else {
            throw TestSupportError("this test makes a video with the ffmpeg command: install it (apt-get install ffmpeg, "
                                   + "or make setup)")
        }
        let encoded = try runProcess(ffmpeg.executable, ["-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
                                                         "testsrc2=size=96x64:rate=10", "-t", "12", "-c:v", "libx264",
                                                         "-g", "10", "-movflags", "+faststart", whole.path])
        #expect(encoded.status == 0, "\(encoded.standardError)")
        let bytes = try Data(contentsOf: whole)
        try bytes.prefix(bytes.count * 2 / 5).write(to: videoRoot.appendingPathComponent("cutshort.mp4"))
        try captions("cutshort", "start,end,text\n9,11,fry the egg\n")

        let list = TrainList(videoPaths: ["v0.mp4", "v1.mp4", "short.mp4", "oneframe.mp4", "cutshort.mp4"])
        let indexPath = folder.appendingPathComponent("captions.index").path
        try CaptionIndex.build(trainList: list, captionRoot: captionRoot.path, to: indexPath, workers: 1)
        let index = try CaptionIndex(contentsOf: indexPath, verification: .full, expecting: list)
        let options = LoaderDataset.options(batchSize: 5, threads: 2)
        let loader = try TrainingLoader(trainList: list, sampler: try dataset.sampler(options, index: index),
                                        videoRoot: videoRoot, order: try DistributedOrder(datasetCount: 5, seed: 3),
                                        options: options)
        var paddedInAll = 0
        var failures: [SampleFailure] = []
        for epoch in 0..<6 {
            let batches = try loader.epoch(epoch)
            let batch = try #require(batches.next())
            #expect(batches.error == nil)
            failures += batch.failures
            // The clips without frames were replaced by others.
            #expect(!batch.videos.contains(3) && !batch.videos.contains(4), "epoch \(epoch): \(batch.videos)")
            #expect(batch.blankSamples == 0)
            // Padded clips are kept and counted: their frames from the video are grey (90), the
            // padding after them black.
            let pixels = try batch.video.toArray(of: UInt8.self)
            let sampleBytes = 3 * 4 * 32 * 32, planeBytes = 32 * 32
            func isBlack(_ position: Int, frame: Int) -> Bool {
                (0..<3).allSatisfy { channel in
                    let start = position * sampleBytes + (channel * 4 + frame) * planeBytes
                    return pixels[start..<(start + planeBytes)].allSatisfy { $0 == 0 }
                }
            }
            var padded = 0
            for (position, video) in batch.videos.enumerated() {
                let blackFrames = (0..<4).filter { isBlack(position, frame: $0) }
                #expect(!isBlack(position, frame: 0), "video \(video): its first frame comes from the video")
                if !blackFrames.isEmpty {
                    padded += 1
                    #expect(video == 2, "only the short video's clips are padded")
                    #expect(blackFrames == Array(blackFrames.first!..<4), "the padding is at the end")
                }
            }
            #expect(batch.paddedSamples == padded, "epoch \(epoch)")
            paddedInAll += padded
        }
        #expect(paddedInAll > 0, "some seeks into the short video leave it padded")
        // Each failure says what is wrong with its file, in words.
        let oneFrame = failures.filter { $0.path.hasSuffix("/oneframe.mp4") }
        let cutShort = failures.filter { $0.path.hasSuffix("/cutshort.mp4") }
        #expect(!oneFrame.isEmpty && !cutShort.isEmpty, "\(failures)")
        for failure in oneFrame {
            #expect(failure.reason.contains("too short") || failure.reason.contains("after the video's last frame at 0 s"),
                    "\(failure)")
        }
        #expect(oneFrame.contains { $0.reason.contains("too short") }, "a seek to 0 s meets the one frame")
        #expect(cutShort.allSatisfy { $0.reason.contains("cut short") }, "\(cutShort)")
        #expect(!failures.contains { $0.reason.contains("window starts at or after") })
    }

    @Test func inconsistentInputsAreRejected() throws {
        let dataset = try LoaderDataset.get()
        let options = LoaderDataset.options()
        let sampler = try dataset.sampler(options, index: dataset.goodIndex)
        func make(list: TrainList, order count: Int, sampler: ClipSampler, options: LoaderOptions) throws {
            _ = try TrainingLoader(trainList: list, sampler: sampler, videoRoot: dataset.videoRoot,
                                   order: try DistributedOrder(datasetCount: count), options: options)
        }
        try make(list: dataset.goodList, order: 8, sampler: sampler, options: options)
        #expect(throws: LoaderError.self) { try make(list: dataset.goodList, order: 9, sampler: sampler, options: options) }
        #expect(throws: LoaderError.self) { try make(list: dataset.fullList, order: 14, sampler: sampler, options: options) }
        var other = options
        other.sampling.maxWords = 5
        #expect(throws: LoaderError.self) { try make(list: dataset.goodList, order: 8, sampler: sampler, options: other) }
        other = options
        other.threads = 0
        #expect(throws: LoaderError.self) { try make(list: dataset.goodList, order: 8, sampler: sampler, options: other) }
        let noIndex = try ClipSampler(tokenizer: dataset.tokenizer, options: options.sampling)
        #expect(throws: LoaderError.self) { try make(list: dataset.goodList, order: 8, sampler: noIndex, options: options) }
    }
}
