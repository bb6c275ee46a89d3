// The data loading figures: clips per second (and per core) of the in-process decoder against
// the reference's one `ffmpeg` process per clip, the training loader's throughput, and its
// resident memory over many clips.

import FoundationEssentials
import Glibc
import MILNCE
import POSIX
import Torch
import Video

// MARK: - Clip decoding

/// One clip to decode: a video and a request.
public struct ClipJob: Sendable, Equatable {
    /// The video file.
    public var video: URL
    /// The clip.
    public var request: ClipRequest

    /// A job for `request` of `video`.
    public init(video: URL, request: ClipRequest) {
        self.video = video
        self.request = request
    }
}

/// How clips are decoded.
public enum ClipDecodingMethod: String, Sendable, CaseIterable {
    /// `VideoReader` in this process, one reader per clip with one decoder thread (as the
    /// training loader does).
    case inProcess = "in-process"
    /// One `ffmpeg` process per clip with the reference's filter chain (`FFmpegCommand`).
    case ffmpegProcess = "ffmpeg per clip"
}

/// What decoding a list of clips cost.
public struct DecodingThroughput: Sendable {
    /// How the clips were decoded.
    public var method: ClipDecodingMethod
    /// Threads decoding at once.
    public var threads: Int
    /// Clips decoded.
    public var clips: Int
    /// Frames that came from the videos (the rest were padding).
    public var decodedFrames: Int
    /// Elapsed seconds.
    public var wallSeconds: Double
    /// Processor seconds of this process and of its `ffmpeg` children.
    public var processorTime: ProcessorTime

    /// Clips per elapsed second.
    public var clipsPerSecond: Double { Double(clips) / max(wallSeconds, 1e-9) }
    /// Clips per processor second: the throughput of one fully used core.
    public var clipsPerCoreSecond: Double { Double(clips) / max(processorTime.totalSeconds, 1e-9) }
    /// Processor milliseconds per clip.
    public var processorMillisecondsPerClip: Double { processorTime.totalSeconds * 1000 / Double(max(clips, 1)) }
}

/// A video too small for the benchmark's crop, or that cannot be opened.
public struct SkippedVideo: Sendable, CustomStringConvertible {
    /// The file.
    public var url: URL
    /// Why it is not used.
    public var reason: String

    /// The file's name and the reason.
    public var description: String { "\(url.lastPathComponent) (\(reason))" }
}

/// Errors of the loader benchmark.
public struct LoaderBenchmarkError: Error, CustomStringConvertible, Sendable {
    /// What went wrong.
    public var message: String

    /// A failure described by `message`.
    public init(_ message: String) { self.message = message }

    /// What went wrong, in words.
    public var description: String { "loader benchmark: \(message)" }
}

/// The figures of `milnce bench loader`.
public enum LoaderBenchmark {
    /// Clip requests over `videos`, as the training loader draws them: videos in turn, a whole
    /// second of seek inside the video, random crop offsets, a random flip; all from `seed`.
    /// Videos whose frames are smaller than `size` (with a window crop) or that do not open are
    /// left out and returned with the reason.
    public static func clipJobs(videos: [URL], count: Int, frameCount: Int = 16, framesPerSecond: Double = 5,
                                size: Int = 224, cropping: ClipCropping = .window,
                                seed: UInt64 = 0) -> (jobs: [ClipJob], skipped: [SkippedVideo]) {
        var usable: [(url: URL, seconds: Double)] = []
        var skipped: [SkippedVideo] = []
        for url in videos {
            do {
                let reader = try VideoReader(url: url)
                let quarterTurn = reader.rotationDegrees % 180 == 90
                let width = quarterTurn ? reader.height : reader.width
                let height = quarterTurn ? reader.width : reader.height
                if cropping == .window && (width < size || height < size) {
                    skipped.append(SkippedVideo(url: url, reason: "\(width)×\(height) frames, smaller than the \(size) crop"))
                } else {
                    usable.append((url, reader.durationSeconds))
                }
            } catch {
                skipped.append(SkippedVideo(url: url, reason: "\(error)"))
            }
        }
        guard !usable.isEmpty else { return ([], skipped) }
        var random = SplitMix64(seed: seed)
        let clipSeconds = Double(frameCount) / framesPerSecond
        let jobs = (0..<max(0, count)).map { number -> ClipJob in
            let video = usable[number % usable.count]
            let latestStart = max(0, Int((video.seconds - clipSeconds - 0.1).rounded(.down)))
            let start = random.uniformInt(in: 0...latestStart)
            let offset = CropOffset(horizontal: random.uniformDouble(), vertical: random.uniformDouble())
            let request = ClipRequest(startSeconds: Double(start), frameCount: frameCount,
                                      framesPerSecond: framesPerSecond, size: size, cropping: cropping,
                                      cropOffset: offset, flipped: random.uniformDouble() > 0.5)
            return ClipJob(video: video.url, request: request)
        }
        return (jobs, skipped)
    }

    /// Decodes every job with `method` on `threads` threads, and measures the elapsed and the
    /// processor time. The first failure stops the run and is thrown.
    public static func measureDecoding(_ jobs: [ClipJob], method: ClipDecodingMethod, threads: Int,
                                       ffmpeg: FFmpegCommand? = nil) throws -> DecodingThroughput {
        let command: FFmpegCommand?
        switch method {
        case .inProcess: command = nil
        case .ffmpegProcess: command = try ffmpeg ?? FFmpegCommand()
        }
        let startTime = ProcessorTime.now
        let start = ContinuousClock.now
        // Each output is a clip's count of decoded frames; the first failure ends the run.
        let clips = OrderedPrefetcher(count: jobs.count, threads: threads, capacity: 2 * max(threads, 1),
                                      name: "milnce-bench") { number -> Int in
            let job = jobs[number]
            if let command { return try command.clip(job.request, of: job.video).decodedFrameCount }
            return try VideoReader(url: job.video, threadCount: 1).clip(job.request).decodedFrameCount
        }
        var frames = 0
        while let decoded = try clips.next() { frames += decoded }
        let wall = start.elapsedSeconds
        return DecodingThroughput(method: method, threads: threads, clips: jobs.count, decodedFrames: frames,
                                  wallSeconds: wall, processorTime: ProcessorTime.now.since(startTime))
    }

    /// Decodes each job both ways and counts the clips whose pixels agree exactly.
    public static func agreement(of jobs: [ClipJob], ffmpeg: FFmpegCommand) throws -> (identical: Int, compared: Int) {
        var identical = 0
        for job in jobs {
            let ours = try VideoReader(url: job.video, threadCount: 1).clip(job.request)
            let theirs = try ffmpeg.clip(job.request, of: job.video)
            if ours == theirs { identical += 1 }
        }
        return (identical, jobs.count)
    }
}

// MARK: - The training loader

/// A generated training set: videos with moving texture, caption files, a train list and its
/// caption index, in a folder of its own.
public final class GeneratedTrainingSet: Sendable {
    /// The folder holding everything.
    public let folder: URL
    /// The folder of the video files.
    public let videoRoot: URL
    /// The train list: `sampleCount` entries cycling over the video files.
    public let trainList: TrainList
    /// The caption index of the train list.
    public let index: CaptionIndex
    /// A tokenizer of the captions' words.
    public let tokenizer: Tokenizer
    /// The frame width and height of the videos.
    public let width: Int, height: Int
    /// The length of each video, in seconds.
    public let seconds: Int
    /// The number of distinct video files.
    public let videoCount: Int

    /// The words of the generated captions.
    static let words = ["add", "the", "onion", "and", "stir", "for", "two", "minutes", "then", "pour", "water",
                        "into", "pan", "cut", "garlic", "salt", "pepper", "heat", "oil", "mix"]

    /// Writes `videoCount` videos of `seconds` seconds at 25 fps (H.264, a keyframe every
    /// `keyframeSeconds` seconds), each with a caption every 4 seconds, and a train list of
    /// `sampleCount` entries over them, under a new folder in `parent`.
    public init(in parent: URL, videoCount: Int = 6, sampleCount: Int = 512, seconds: Int = 24, width: Int = 456,
                height: Int = 256, keyframeSeconds: Int = 5) throws {
        guard videoCount > 0, sampleCount > 0, seconds >= 5, width >= 16, height >= 16 else {
            throw LoaderBenchmarkError("a generated training set needs videos, samples, 5 s or more and 16 pixels or more")
        }
        folder = parent.appendingPathComponent("milnce-loader-bench-\(UUID().uuidString.prefix(8))")
        videoRoot = folder.appendingPathComponent("videos")
        let captionRoot = folder.appendingPathComponent("captions")
        do {
            try FileManager.default.createDirectory(at: videoRoot, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(at: captionRoot, withIntermediateDirectories: true)
        } catch {
            throw LoaderBenchmarkError("cannot create the folder \(folder.path): \(describeSystemError(error))")
        }
        self.width = width
        self.height = height
        self.seconds = seconds
        self.videoCount = videoCount
        let framesPerSecond = 25
        var names: [String] = []
        for video in 0..<videoCount {
            let name = "generated\(video).mp4"
            let writer = try VideoWriter(url: videoRoot.appendingPathComponent(name), width: width, height: height,
                                         framesPerSecond: Double(framesPerSecond), codec: .h264,
                                         keyframeInterval: keyframeSeconds * framesPerSecond)
            var pixels = [UInt8](repeating: 0, count: width * height * 3)
            for frame in 0..<(seconds * framesPerSecond) {
                let t = frame + video * 37
                for y in 0..<height {
                    for x in 0..<width {
                        let offset = (y * width + x) * 3
                        pixels[offset] = UInt8(truncatingIfNeeded: x + 3 * t)
                        pixels[offset + 1] = UInt8(truncatingIfNeeded: 2 * y + t)
                        pixels[offset + 2] = UInt8(truncatingIfNeeded: ((x + t) ^ (y - t)) & 0xF0)
                    }
                }
                try writer.append(rgb: pixels)
            }
            try writer.finish()
            var random = SplitMix64(seed: UInt64(video))
            var csv = "start,end,text\n"
            for caption in stride(from: 0, to: seconds - 4, by: 4) {
                let text = (0..<6).map { _ in GeneratedTrainingSet.words[random.uniformInt(in: 0...19)] }
                csv += "\(caption).5,\(caption + 3).2,\(text.joined(separator: " "))\n"
            }
            do {
                try csv.write(to: captionRoot.appendingPathComponent("generated\(video).csv"), atomically: false,
                              encoding: .utf8)
            } catch {
                throw LoaderBenchmarkError("cannot write a caption file in \(captionRoot.path): \(describeSystemError(error))")
            }
            names.append(name)
        }
        trainList = TrainList(videoPaths: (0..<sampleCount).map { names[$0 % names.count] })
        let indexPath = folder.appendingPathComponent("captions.index").path
        try CaptionIndex.build(trainList: trainList, captionRoot: captionRoot.path, to: indexPath)
        index = try CaptionIndex(contentsOf: indexPath, expecting: trainList)
        tokenizer = Tokenizer(words: GeneratedTrainingSet.words)
    }

    deinit {
        try? FileManager.default.removeItem(at: folder)
    }

    /// A training loader over the set for rank 0 of 1.
    public func loader(options: LoaderOptions) throws -> TrainingLoader {
        let sampler = try ClipSampler(index: index, tokenizer: tokenizer, options: options.sampling)
        let order = try DistributedOrder(datasetCount: trainList.count, seed: options.seed)
        return try TrainingLoader(trainList: trainList, sampler: sampler, videoRoot: videoRoot, order: order,
                                  options: options)
    }
}

/// Caption files only, HowTo100M-like (about a hundred captions per video), with their train list
/// and caption index: what caption sampling is measured on.
public final class GeneratedCaptionSet: Sendable {
    /// The folder holding everything.
    public let folder: URL
    /// The train list (the video files themselves do not exist).
    public let trainList: TrainList
    /// The caption index, whose caption root holds the CSV files.
    public let index: CaptionIndex
    /// A tokenizer of the captions' words.
    public let tokenizer: Tokenizer

    /// Writes `videoCount` caption files of `captionsPerVideo` captions each under a new folder in `parent`.
    public init(in parent: URL, videoCount: Int = 2000, captionsPerVideo: Int = 100, seed: UInt64 = 0) throws {
        guard videoCount > 0, captionsPerVideo > 0 else {
            throw LoaderBenchmarkError("a generated caption set needs videos and captions")
        }
        folder = parent.appendingPathComponent("milnce-caption-bench-\(UUID().uuidString.prefix(8))")
        let captionRoot = folder.appendingPathComponent("captions")
        do {
            try FileManager.default.createDirectory(at: captionRoot, withIntermediateDirectories: true)
        } catch {
            throw LoaderBenchmarkError("cannot create the folder \(captionRoot.path): \(describeSystemError(error))")
        }
        let words = GeneratedTrainingSet.words
        var random = SplitMix64(seed: seed)
        var paths: [String] = []
        for video in 0..<videoCount {
            let id = "video\(video)_\(random.uniformInt(in: 100_000...999_999))"
            var csv = "start,end,text\n"
            var time = Double(random.uniformInt(in: 0...20))
            for _ in 0..<captionsPerVideo {
                let length = 1.5 + Double(random.uniformInt(in: 0...40)) / 10
                let text = (0..<random.uniformInt(in: 3...12)).map { _ in words[random.uniformInt(in: 0...(words.count - 1))] }
                csv += String(cFormat: "%.2f,%.2f,", time, time + length) + text.joined(separator: " ") + "\n"
                time += length + Double(random.uniformInt(in: 0...20)) / 10
            }
            do {
                try csv.write(to: captionRoot.appendingPathComponent(id + ".csv"), atomically: false, encoding: .utf8)
            } catch {
                throw LoaderBenchmarkError("cannot write a caption file in \(captionRoot.path): \(describeSystemError(error))")
            }
            paths.append(id + ".mp4")
        }
        trainList = TrainList(videoPaths: paths)
        let indexPath = folder.appendingPathComponent("captions.index").path
        try CaptionIndex.build(trainList: trainList, captionRoot: captionRoot.path, to: indexPath)
        index = try CaptionIndex(contentsOf: indexPath, expecting: trainList)
        tokenizer = Tokenizer(words: words)
    }

    deinit {
        try? FileManager.default.removeItem(at: folder)
    }
}

/// What running the training loader cost.
public struct LoaderThroughput: Sendable {
    /// Decoding threads.
    public var threads: Int
    /// Clips per batch.
    public var batchSize: Int
    /// Batches taken.
    public var batches: Int
    /// Samples that were substituted (should be none on a generated set).
    public var failures: Int
    /// Elapsed seconds.
    public var wallSeconds: Double
    /// Processor seconds of the whole process.
    public var processorTime: ProcessorTime
    /// Seconds the consumer waited for batches.
    public var waitingSeconds: Double

    /// Clips per elapsed second.
    public var clipsPerSecond: Double { Double(batches * batchSize) / max(wallSeconds, 1e-9) }
    /// Batches per elapsed second.
    public var batchesPerSecond: Double { Double(batches) / max(wallSeconds, 1e-9) }
    /// Clips per processor second.
    public var clipsPerCoreSecond: Double { Double(batches * batchSize) / max(processorTime.totalSeconds, 1e-9) }
}

/// The resident memory after some number of clips.
public struct MemoryReading: Sendable {
    /// Clips loaded before the reading.
    public var clips: Int
    /// Resident memory in bytes.
    public var residentBytes: Int
    /// Tensors alive in the process.
    public var liveTensors: Int
}

extension LoaderBenchmark {
    /// Takes batches from `loader`, epoch after epoch, until at least `clips` clips (and at
    /// least one batch) have been loaded, and measures the time.
    public static func measureLoader(_ loader: TrainingLoader, clips: Int) throws -> LoaderThroughput {
        var batches = 0
        var failures = 0
        var waiting = 0.0
        let startTime = ProcessorTime.now
        let start = ContinuousClock.now
        try forEachBatch(of: loader, until: max(clips, 1)) { batch in
            batches += 1
            failures += batch.failures.count
        } epochEnded: { waiting += $0.waitingSeconds }
        return LoaderThroughput(threads: loader.options.threads, batchSize: loader.options.batchSize, batches: batches,
                                failures: failures, wallSeconds: start.elapsedSeconds,
                                processorTime: ProcessorTime.now.since(startTime), waitingSeconds: waiting)
    }

    /// Loads `clips` clips from `loader` and reads the resident memory before the first and once
    /// the count of loaded clips first reaches each of `checkpoints`.
    public static func measureMemory(_ loader: TrainingLoader, clips: Int, checkpoints: [Int],
                                     progress: ((Int) -> Void)? = nil) throws -> [MemoryReading] {
        var readings = [MemoryReading(clips: 0, residentBytes: ResourceUsage.residentBytes, liveTensors: Tensor.liveCount)]
        var pending = checkpoints.filter { $0 > 0 && $0 <= clips }.sorted()
        var loaded = 0
        try forEachBatch(of: loader, until: clips) { batch in
            loaded += batch.videos.count
            progress?(loaded)
            while let next = pending.first, loaded >= next {
                pending.removeFirst()
                readings.append(MemoryReading(clips: loaded, residentBytes: ResourceUsage.residentBytes,
                                              liveTensors: Tensor.liveCount))
            }
        } epochEnded: { _ in }
        return readings
    }

    /// Calls `body` with each batch, epoch after epoch, until `clips` clips have been taken.
    private static func forEachBatch(of loader: TrainingLoader, until clips: Int,
                                     _ body: (TrainingBatch) throws -> Void,
                                     epochEnded: (EpochBatches) -> Void) throws {
        guard loader.batchesPerEpoch > 0 else {
            throw LoaderBenchmarkError("the training set makes no full batch of \(loader.options.batchSize)")
        }
        var taken = 0
        var epoch = 0
        while taken < clips {
            let batches = try loader.epoch(epoch)
            while taken < clips, let batch = batches.next() {
                taken += batch.videos.count
                try body(batch)
            }
            if let error = batches.error { throw error }
            epochEnded(batches)
            epoch += 1
        }
    }
}
