// The figures behind the store's encoding settings: for each candidate (keyframe interval, x264
// tune, B-frames), the store's size per hour of video, the pictures' PSNR, the CPU time to
// transcode, and the CPU time to decode a training clip from a member in memory.

import FoundationEssentials
import MILNCE
import POSIX
import Synchronization
import Video

/// A value shared by threads behind a lock.
final class Guarded<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>

    init(_ value: Value) { mutex = Mutex(value) }

    /// Runs `body` with the value, holding the lock.
    func withLock<Result: Sendable>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        try mutex.withLock { try body(&$0) }
    }
}

/// A video's bytes in memory, readable as a store member is (for measurements).
final class MemoryVideo {
    let bytes: UnsafeMutableRawBufferPointer
    let name: String

    init(_ array: [UInt8], name: String) {
        bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: max(array.count, 1), alignment: 64)
        bytes.copyBytes(from: array)
        self.name = name
    }

    deinit { bytes.deallocate() }

    var count: Int { bytes.count }

    /// A reader of the MP4 file, without decoding frames to open it (as the store reads members).
    func reader() throws -> VideoReader {
        try VideoReader(bytes: UnsafeRawBufferPointer(bytes), keepingAlive: self, name: name, format: "mp4",
                        probing: .containerHeaderOnly)
    }
}

/// One candidate's figures.
public struct EncodingMeasurement: Sendable {
    /// The settings measured.
    public var options: TranscodingOptions
    /// Bytes of the transcoded videos.
    public var storeBytes: Int
    /// Seconds of source video transcoded.
    public var sourceSeconds: Double
    /// Processor seconds spent transcoding (quality measurement excluded).
    public var transcodeProcessorSeconds: Double
    /// The pictures' quality against the scaled source pictures.
    public var quality: EncodingQuality
    /// Processor milliseconds per training clip decoded from the transcoded videos in memory.
    public var decodeMillisecondsPerClip: Double

    /// Store bytes per hour of video.
    public var bytesPerHour: Double { Double(storeBytes) / max(sourceSeconds / 3600, 1e-9) }
    /// Hours of video transcoded per core-hour.
    public var hoursPerCoreHour: Double { sourceSeconds / max(transcodeProcessorSeconds, 1e-9) }
}

extension LoaderBenchmark {
    /// The candidates `milnce bench loader --parts encodings` compares, around `base`: keyframe
    /// intervals of 1, 2, 3.2 and 4 seconds, then at 1 second x264's plain tune, B-frames, and
    /// two higher constant rate factors.
    public static func encodingCandidates(base: TranscodingOptions = TranscodingOptions()) -> [TranscodingOptions] {
        let rate = base.framesPerSecond
        var candidates: [TranscodingOptions] = []
        func candidate(interval: Int, tune: String = "fastdecode", bFrames: Int = 0,
                       constantRateFactor: Double = 23) {
            var options = base
            options.keyframeInterval = interval
            options.tune = tune
            options.bFrames = bFrames
            options.constantRateFactor = constantRateFactor
            candidates.append(options)
        }
        for interval in [rate, 2 * rate, rate * 16 / 5, 4 * rate] { candidate(interval: interval) }
        candidate(interval: rate, tune: "")
        candidate(interval: rate, bFrames: 2)
        candidate(interval: rate, constantRateFactor: 26)
        candidate(interval: rate, constantRateFactor: 28)
        return candidates
    }

    /// Transcodes `videos` with `options` (on `threads` threads), then decodes `jobs` (requests
    /// of those videos) from the transcoded files in memory on one thread, and measures both.
    public static func measureEncoding(videos: [URL], jobs: [ClipJob], options: TranscodingOptions,
                                       threads: Int) throws -> EncodingMeasurement {
        let outputs = Guarded<[URL: TranscodedVideo]>([:])
        let start = ProcessorTime.now
        try forEachInParallel(count: videos.count, threads: threads) { number in
            let video = try VideoTranscoder(options: options).transcode(videos[number])
            outputs.withLock { $0[videos[number]] = video }
        }
        let transcodeSeconds = ProcessorTime.now.since(start).ownSeconds
        let qualities = Guarded(EncodingQuality())
        try forEachInParallel(count: videos.count, threads: threads) { number in
            let video = try VideoTranscoder(options: options, measuresQuality: true).transcode(videos[number])
            if let quality = video.quality { qualities.withLock { $0.add(quality) } }
        }
        let transcoded = outputs.withLock { $0 }
        var members: [URL: MemoryVideo] = [:]
        for (url, video) in transcoded { members[url] = MemoryVideo(video.bytes, name: url.lastPathComponent) }
        let decodeStart = ProcessorTime.now
        for job in jobs {
            guard let member = members[job.video] else { continue }
            _ = try member.reader().clip(job.request)
        }
        let decodeSeconds = ProcessorTime.now.since(decodeStart).ownSeconds
        return EncodingMeasurement(options: options, storeBytes: transcoded.values.reduce(0) { $0 + $1.bytes.count },
                                   sourceSeconds: transcoded.values.reduce(0) { $0 + $1.source.durationSeconds },
                                   transcodeProcessorSeconds: transcodeSeconds, quality: qualities.withLock { $0 },
                                   decodeMillisecondsPerClip: decodeSeconds * 1000 / Double(max(jobs.count, 1)))
    }

    /// Processor milliseconds per clip decoding `jobs` from their files on one thread.
    public static func measureFileDecoding(_ jobs: [ClipJob]) throws -> Double {
        let start = ProcessorTime.now
        for job in jobs { _ = try VideoReader(url: job.video, threadCount: 1).clip(job.request) }
        return ProcessorTime.now.since(start).ownSeconds * 1000 / Double(max(jobs.count, 1))
    }

    /// Runs `body(0)`, ..., `body(count - 1)` on `threads` threads; the first error is thrown.
    private static func forEachInParallel(count: Int, threads: Int, _ body: @escaping @Sendable (Int) throws -> Void) throws {
        let run = OrderedPrefetcher(count: count, threads: threads, capacity: 2 * max(threads, 1), name: "milnce-bench") {
            try body($0)
        }
        while try run.next() != nil {}
    }
}
