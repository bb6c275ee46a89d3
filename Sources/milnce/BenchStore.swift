import ArgumentParser
import FoundationEssentials
import MILNCE
import MILNCEBenchmarks
import POSIX
import Video

/// The GPU step's throughput the store is sized against: one H200 at batch 128 (clips/s).
private let gpuClipsPerSecond = 476.0

extension BenchLoader {
    /// The videos of the encodings and store parts: those of --video_path, or generated 640×360
    /// H.264 at 25 fps with a keyframe every 5 s (HowTo100M's usual shape), kept alive by `owner`.
    func storeBenchmarkVideos() throws -> (root: URL, videos: [(name: String, seconds: Double)], owner: AnyObject?) {
        if let videoPath {
            let root = URL(fileURLWithPath: videoPath)
            let (videos, skipped) = CaptionedVideoSet.videos(in: root)
            if !skipped.isEmpty { print("  skipped: " + skipped.map(\.description).joined(separator: "; ")) }
            guard !videos.isEmpty else { throw LoaderBenchmarkError("no video in \(videoPath) opens") }
            return (root, videos, nil)
        }
        let clock = ContinuousClock()
        let start = clock.now
        let set = try GeneratedTrainingSet(in: FileManager.default.temporaryDirectory, videoCount: 6, sampleCount: 6,
                                           seconds: 30, width: 640, height: 360, keyframeSeconds: 5)
        print(String(cFormat: "generated %ld videos (640×360 H.264, %ld s at 25 fps, a keyframe every 5 s) in %.1f s",
                     set.videoCount, set.seconds, start.duration(to: clock.now).inSeconds))
        let videos = (0..<set.videoCount).map { (name: "generated\($0).mp4", seconds: Double(set.seconds)) }
        return (set.videoRoot, videos, set)
    }

    // MARK: Encodings

    func benchmarkEncodings() throws {
        print("\nstore encodings:")
        let (root, videos, owner) = try storeBenchmarkVideos()
        defer { withExtendedLifetime(owner) {} }
        let urls = videos.map { root.appendingPathComponent($0.name) }
        let (jobs, _) = LoaderBenchmark.clipJobs(videos: urls, count: requests, frameCount: numFrames,
                                                 framesPerSecond: fps, size: videoSize, seed: seed)
        guard !jobs.isEmpty else { throw LoaderBenchmarkError("no video in \(root.path) can give \(videoSize)×\(videoSize) crops") }
        let hours = videos.reduce(0) { $0 + $1.seconds } / 3600
        print(String(cFormat: "  %ld videos (%.3f hours), %ld clip requests decoded on one thread; transcoding on %ld threads",
                     videos.count, hours, jobs.count, coreCount))
        let widths = [9, 10, 2, 4, 8, 7, 9, 11, 11]
        func row(_ cells: [String]) -> String {
            "  " + zip(cells, widths).enumerated().map { cell($1.0, $1.1, alignRight: $0 > 1) }.joined(separator: " ")
        }
        print(row(["keyframes", "tune", "B", "CRF", "MB/hour", "PSNR Y", "PSNR all", "h/core-h", "CPU ms/clip"]))
        let raw = try LoaderBenchmark.measureFileDecoding(jobs)
        let rawBytes = urls.reduce(0) { $0 + (fileSize(atPath: $1.path) ?? 0) }
        print(row(["raw", "(source)", "", "", String(cFormat: "%.1f", Double(rawBytes) / 1e6 / max(hours, 1e-9)), "", "", "",
                   String(cFormat: "%.1f", raw)]))
        for candidate in LoaderBenchmark.encodingCandidates() {
            let result = try LoaderBenchmark.measureEncoding(videos: urls, jobs: jobs, options: candidate, threads: coreCount)
            print(row(["\(candidate.keyframeInterval)", candidate.tune.isEmpty ? "none" : candidate.tune, "\(candidate.bFrames)",
                       String(cFormat: "%g", candidate.constantRateFactor),
                       String(cFormat: "%.1f", result.bytesPerHour / 1e6), String(cFormat: "%.2f", result.quality.lumaPSNR),
                       String(cFormat: "%.2f", result.quality.overallPSNR), String(cFormat: "%.1f", result.hoursPerCoreHour),
                       String(cFormat: "%.1f", result.decodeMillisecondsPerClip)]))
        }
    }

    // MARK: Store against raw

    func benchmarkStore() throws {
        print("\nstore against raw videos:")
        let (root, videos, owner) = try storeBenchmarkVideos()
        defer { withExtendedLifetime(owner) {} }
        let temporary = FileManager.default.temporaryDirectory
        let set = try CaptionedVideoSet(videoRoot: root, videos: videos, sampleCount: max(512, videos.count), in: temporary)
        let storeFolder = set.folder.appendingPathComponent("store")
        let prepared = try set.prepareStore(at: storeFolder, transcoding: TranscodingOptions(), threads: coreCount)
        let totals = prepared.store ?? prepared.part
        let coreHours = prepared.processorSeconds / 3600
        print(String(cFormat: "  prepared %ld videos (%.3f hours) in %.1f s on %ld threads: %.0f videos and %.1f hours of "
                     + "video per core-hour; store %.1f MB against %.1f MB raw (%.1f MB per hour of video); %ld bad",
                     totals.videos, totals.sourceSeconds / 3600, prepared.wallSeconds, coreCount,
                     Double(totals.videos) / max(coreHours, 1e-12), totals.sourceSeconds / 3600 / max(coreHours, 1e-12),
                     Double(totals.storeBytes) / 1e6, Double(totals.sourceBytes) / 1e6,
                     Double(totals.storeBytes) / 1e6 / max(totals.sourceSeconds / 3600, 1e-9), totals.failures))
        let store = try VideoStore(at: storeFolder.path)
        let options = loaderOptions
        print("  training loader: batch \(options.batchSize), \(options.threads) threads, \(numFrames) frames at "
              + String(cFormat: "%g", fps) + " fps, \(videoSize)×\(videoSize) crops, \(set.trainList.count) samples "
              + "over \(videos.count) videos")
        let raw = try LoaderBenchmark.measureLoader(try set.rawLoader(options: options), clips: loaderClips)
        printLoader("raw videos", raw)
        let stored = try LoaderBenchmark.measureLoader(try set.storeLoader(store, options: options), clips: loaderClips)
        printLoader("store", stored)
        guard raw.failures == 0 && stored.failures == 0 else {
            throw LoaderBenchmarkError("samples were substituted (raw \(raw.failures), store \(stored.failures)): "
                                       + "the figures would not compare the same clips")
        }
        for cores in [16, 96] {
            let projected = stored.clipsPerCoreSecond * Double(cores)
            print(String(cFormat: "  projected on %ld cores: store %.0f clips/s (feeds %.1f GPUs at %.0f clips/s each), "
                         + "raw %.0f clips/s (%.1f GPUs)", cores, projected, projected / gpuClipsPerSecond, gpuClipsPerSecond,
                         raw.clipsPerCoreSecond * Double(cores), raw.clipsPerCoreSecond * Double(cores) / gpuClipsPerSecond))
        }
        print(String(cFormat: "store vs raw: %.2fx clips per core-second (raw %.1f, store %.1f)",
                     stored.clipsPerCoreSecond / raw.clipsPerCoreSecond, raw.clipsPerCoreSecond, stored.clipsPerCoreSecond))
    }

    private func printLoader(_ label: String, _ result: LoaderThroughput) {
        let clips = Double(result.batches * result.batchSize)
        print("  " + cell(label, 11, alignRight: false)
              + String(cFormat: " %ld clips in %.2f s: %.1f clips/s, %.2f clips per core-second, %.1f CPU ms/clip, "
                       + "waited %.2f s, %ld substituted", result.batches * result.batchSize, result.wallSeconds,
                       result.clipsPerSecond, result.clipsPerCoreSecond, result.processorTime.totalSeconds * 1000 / clips,
                       result.waitingSeconds, result.failures))
    }
}
