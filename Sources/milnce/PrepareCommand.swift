import ArgumentParser
import FoundationEssentials
import Glibc
import MILNCE
import POSIX
import Video

/// `milnce prepare`: the training videos transcoded once into a sharded store.
struct PrepareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prepare",
        abstract: "Transcode the training videos once into a store of large tar shards that `milnce train "
            + "--video_store` reads clips from several times faster per core.",
        discussion: """
        Every video of --train_csv (column video_path, under --video_path) is decoded in-process, its frames \
        selected at --fps exactly as training clips select them, turned upright, scaled so that the short side \
        is --short_side (never up), and encoded with libx264 (a keyframe every --keyframe_interval frames, tuned \
        for fast decoding, no audio) into an MP4 file. The files go into tar shards of about --shard_size bytes, \
        in the CSV's order; an index maps each video_path to its shard and bytes.

        Written in --output:
          manifest.json          the settings (every later run on the store must use the same)
          shard-NNNNNN.tar       the shards (`tar tvf` lists their videos)
          shard-NNNNNN.json      what each shard holds; a shard counts as done once this file exists
          videos.index           the index, memory-mapped by training (written when every part is done)
          bad_videos.csv         the videos that could not be prepared, with the reason (video_path,reason)

        Stop it at any moment (Ctrl-C, a killed job) and run the same command again: it keeps the finished \
        shards, removes the unfinished one and continues; the result is the same bytes as an uninterrupted run, \
        with any --threads. A bad video never stops the run: it is listed in bad_videos.csv.

        Several machines: give each `--part I/N` (I = 1..N) with the same other options and the same --output on \
        a shared file system; each part writes its own folder (part-00I-of-00N), and the run that completes the \
        last part writes the index. Running a part again resumes it.
        """
    )

    @Option(name: .customLong("train_csv"), help: "CSV of the training videos (column video_path).")
    var trainCSV: String

    @Option(name: .customLong("video_path"), help: "Folder the CSV's video paths are relative to.")
    var videoPath: String

    @Option(help: "The store's folder (created if missing; an existing store is continued).")
    var output: String

    @Option(help: "Frames per second of the store (the training --fps, or a multiple of it).")
    var fps = 5

    @Option(name: .customLong("short_side"),
            help: "Short side of the stored frames, in pixels (even; at least the training --video_size).")
    var shortSide = 256

    @Option(help: "Videos transcoded at once (default: one per core).")
    var threads: Int?

    @Option(name: .customLong("shard_size"), help: "Shard size: bytes, or with a unit (512M, 1G, 2GiB).")
    var shardSize = "1G"

    @Option(help: "This machine's part of the videos, I/N (I from 1 to N); the default 1/1 is all of them.")
    var part = "1/1"

    @Option(name: .customLong("keyframe_interval"),
            help: "Frames from one keyframe to the next (default: --fps, a keyframe every second).")
    var keyframeInterval: Int?

    @Option(help: "x264's constant rate factor: lower is better quality and larger (18 to 28 are usual).")
    var crf = TranscodingOptions().constantRateFactor

    @Option(help: "x264's preset (ultrafast ... veryslow): encoding time against size.")
    var preset = TranscodingOptions().preset

    @Option(help: "x264's tune (fastdecode, film, ...; 'none' for none).")
    var tune = TranscodingOptions().tune

    @Option(name: .customLong("b_frames"), help: "B-frames between reference frames.")
    var bFrames = TranscodingOptions().bFrames

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        guard parsedShardSize != nil else {
            throw ValidationError("--shard_size must be a number of bytes, or one with a unit (K, M, G, T), got '\(shardSize)'")
        }
        guard parsedPart != nil else { throw ValidationError("--part must be I/N with 1 <= I <= N <= 999, got '\(part)'") }
        if let problem = preparationOptions.problems.first { throw ValidationError(problem) }
        var isFolder = false
        guard FileManager.default.fileExists(atPath: trainCSV) else { throw ValidationError("--train_csv \(trainCSV): no such file") }
        guard FileManager.default.fileExists(atPath: videoPath, isDirectory: &isFolder), isFolder else {
            throw ValidationError("--video_path \(videoPath): no such folder")
        }
    }

    /// `--shard_size` in bytes.
    var parsedShardSize: Int? {
        let text = shardSize.filter { $0 != " " }.uppercased()
        let units: [(String, Int)] = [("TIB", 1 << 40), ("GIB", 1 << 30), ("MIB", 1 << 20), ("KIB", 1 << 10),
                                      ("TB", 1 << 40), ("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10),
                                      ("T", 1 << 40), ("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10), ("B", 1)]
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            guard let number = Double(text.dropLast(suffix.count)), number > 0 else { return nil }
            return Int(number * Double(factor))
        }
        return Int(text)
    }

    /// `--part I/N` as (0-based part, count).
    var parsedPart: (part: Int, count: Int)? {
        let pieces = part.split(separator: "/")
        guard pieces.count == 2, let index = Int(pieces[0]), let count = Int(pieces[1]),
              count >= 1, count <= 999, index >= 1, index <= count else { return nil }
        return (index - 1, count)
    }

    var preparationOptions: StorePreparationOptions {
        var options = StorePreparationOptions(trainCSV: trainCSV, videoRoot: videoPath, output: output)
        options.transcoding = TranscodingOptions(framesPerSecond: fps, shortSide: shortSide,
                                                 keyframeInterval: keyframeInterval, constantRateFactor: crf,
                                                 preset: preset, tune: tune == "none" ? "" : tune, bFrames: bFrames)
        options.shardSizeBytes = parsedShardSize ?? (1 << 30)
        options.threads = threads ?? ProcessInfo.processInfo.activeProcessorCount
        options.part = parsedPart?.part ?? 0
        options.partCount = parsedPart?.count ?? 1
        return options
    }

    func run() throws {
        FileOutput.lineBufferStandardOutput()
        let options = preparationOptions
        let preparation = try StorePreparation(options: options)
        let range = preparation.videoRange(ofPart: options.part)
        print("milnce prepare: \(preparation.videoPaths.count) videos in \(trainCSV)"
              + (options.partCount > 1 ? ", part \(options.part + 1) of \(options.partCount): \(range.count) videos" : "")
              + "; \(options.transcoding.framesPerSecond) fps, short side \(options.transcoding.shortSide), keyframe every "
              + "\(options.transcoding.keyframeInterval) frames; \(options.threads) threads; into \(output)")
        var display: ProgressDisplay?
        let summary = try preparation.prepare { progress in
            if display == nil { display = ProgressDisplay("prepare", total: progress.videosToDo) }
            display?.update(progress.videosDone, status: String(cFormat: "%ld bad, %.2f GB written",
                                                                 progress.failures, Double(progress.bytesWritten) / 1e9))
        }
        display?.finish()
        print(PrepareCommand.report(summary, store: output))
    }

    /// What a run did, in words.
    static func report(_ summary: StorePreparationSummary, store: String) -> String {
        var lines: [String] = []
        if summary.resumedVideos > 0 {
            lines.append("resumed: \(summary.resumedVideos) videos were done by an earlier run")
        }
        let cpuHours = summary.processorSeconds / 3600
        lines.append(String(cFormat: "this run: %ld videos prepared, %ld bad, %.2f hours of video in ",
                            summary.preparedVideos, summary.failedVideos, summary.preparedSourceSeconds / 3600)
                     + formatDuration(summary.wallSeconds) + String(cFormat: " (%.0f s of CPU)", summary.processorSeconds))
        if summary.preparedVideos > 0 && cpuHours > 0 {
            lines.append(String(cFormat: "throughput: %.0f videos and %.1f hours of video per core-hour",
                                Double(summary.preparedVideos) / cpuHours, summary.preparedSourceSeconds / 3600 / cpuHours))
        }
        let totals = summary.store ?? summary.part
        lines.append((summary.isComplete ? "store: " : "this part: ")
                     + String(cFormat: "%ld videos (%.2f hours) in %ld shards, ", totals.videos, totals.sourceSeconds / 3600,
                              totals.shards)
                     + "\(byteText(totals.storeBytes)) against \(byteText(totals.sourceBytes)) of raw videos"
                     + String(cFormat: " (%.1f%%); %.1f MB per hour of video; %ld bad videos",
                              100 * Double(totals.storeBytes) / Double(max(totals.sourceBytes, 1)),
                              Double(totals.storeBytes) / 1e6 / max(totals.sourceSeconds / 3600, 1e-9), totals.failures))
        if totals.failures > 0 { lines.append("bad videos and the reasons: \(store)/\(StorePreparation.reportFileName)") }
        if summary.isComplete {
            lines.append("complete: train with --video_store \(store)")
        } else {
            lines.append("parts still to prepare: \(summary.remainingParts.map(String.init).joined(separator: ", ")); "
                         + "the index is written when the last part is done")
        }
        return lines.joined(separator: "\n")
    }

    static func byteText(_ bytes: Int) -> String {
        let value = Double(bytes)
        if value >= 1e12 { return String(cFormat: "%.2f TB", value / 1e12) }
        if value >= 1e9 { return String(cFormat: "%.2f GB", value / 1e9) }
        return String(cFormat: "%.1f MB", value / 1e6)
    }
}
