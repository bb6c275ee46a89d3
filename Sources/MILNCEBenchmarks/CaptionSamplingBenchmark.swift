// Timing sampling from the index against what the reference does per sample: read and parse
// the video's caption CSV, then sample.

import FoundationEssentials
import Glibc
import MILNCE
import POSIX

// MARK: - Benchmark

/// Sampling times from a caption index and from the caption CSV files.
public struct CaptionSamplingBenchmark: Sendable, CustomStringConvertible {
    /// Samples drawn each way.
    public let samples: Int
    /// Mean time per sample from the index, in microseconds.
    public let indexMicrosecondsPerSample: Double
    /// Mean time per sample when reading and parsing the video's caption CSV, in microseconds.
    public let csvMicrosecondsPerSample: Double

    /// How many times faster the index is.
    public var speedup: Double { csvMicrosecondsPerSample / max(indexMicrosecondsPerSample, 1e-9) }

    public var description: String {
        func format(_ value: Double) -> String { String(cFormat: "%.2f", value) }
        return "caption sampling, \(samples) samples: index \(format(indexMicrosecondsPerSample)) µs/sample, "
            + "CSV \(format(csvMicrosecondsPerSample)) µs/sample (\(format(speedup))x)"
    }
}

extension CaptionIndex {
    /// Times `samples` clip samples of random indexed videos taken from the index, then the same
    /// samples taken by reading and parsing each video's caption file under the index's caption
    /// root (which must still be there). Both draw with the same generators, and the results
    /// are checked to agree.
    public func benchmarkSampling(tokenizer: Tokenizer, options: ClipSamplingOptions = ClipSamplingOptions(),
                                  samples: Int = 1000, seed: UInt64 = 0) throws -> CaptionSamplingBenchmark {
        let sampler = try ClipSampler(index: self, tokenizer: tokenizer, options: options)
        var chooser = SplitMix64(seed: seed)
        var videos: [Int] = []
        let indexed = (0..<videoCount).filter { (try? status(ofVideo: $0)) == .ok }
        guard !indexed.isEmpty else {
            throw CaptionIndexError(path: path, operation: "benchmarking",
                                    reason: .invalidInput("the index has no video with captions"))
        }
        for _ in 0..<max(1, samples) { videos.append(indexed[chooser.uniformInt(in: 0...(indexed.count - 1))]) }

        let clock = ContinuousClock()
        var fromIndex: [SampledClip] = []
        fromIndex.reserveCapacity(videos.count)
        let indexTime = try clock.measure {
            for (sample, video) in videos.enumerated() {
                var generator = SplitMix64(seed: seed, epoch: 0, rank: 0, sample: sample)
                fromIndex.append(try sampler.sample(video: video, using: &generator))
            }
        }
        var fromFiles: [SampledClip] = []
        fromFiles.reserveCapacity(videos.count)
        let csvTime = try clock.measure {
            for (sample, video) in videos.enumerated() {
                var generator = SplitMix64(seed: seed, epoch: 0, rank: 0, sample: sample)
                let captions = try CaptionFile.read(contentsOf: try captionPath(ofVideo: video))
                fromFiles.append(try sampler.sample(from: captions, using: &generator))
            }
        }
        guard fromIndex == fromFiles else {
            throw CaptionIndexError(path: path, operation: "benchmarking",
                                    reason: .inconsistent("samples from the index differ from samples of the CSV files"))
        }
        func microseconds(_ duration: Duration) -> Double { duration.inSeconds * 1e6 / Double(videos.count) }
        return CaptionSamplingBenchmark(samples: videos.count, indexMicrosecondsPerSample: microseconds(indexTime),
                                        csvMicrosecondsPerSample: microseconds(csvTime))
    }
}

// MARK: - Keeping the index current

/// How long it takes to tell whether a caption index is current, and to update it.
public struct CaptionIndexFreshnessBenchmark: Sendable, CustomStringConvertible {
    /// One timed check: every caption file stat'ed with `threads` threads and compared.
    public struct Check: Sendable {
        /// Threads stat'ing at once.
        public let threads: Int
        /// Wall-clock seconds.
        public let seconds: Double
    }

    /// Videos (caption files) in the train list.
    public let videos: Int
    /// Seconds to build the index from scratch.
    public let buildSeconds: Double
    /// The checks of an up-to-date index.
    public let checks: [Check]
    /// Caption files changed before the update.
    public let changedFiles: Int
    /// Seconds of `openOrBuild` after those changes (the check, then reading the changed files
    /// again and copying the rest).
    public let updateSeconds: Double

    public var description: String {
        func format(_ seconds: Double) -> String { String(cFormat: "%.3f", seconds) }
        var lines = ["caption index of \(videos) videos: built in \(format(buildSeconds)) s"]
        for check in checks {
            let perFile = check.seconds / Double(max(1, videos)) * 1e6
            lines.append("  up-to-date check, \(check.threads) threads: \(format(check.seconds)) s "
                         + "(\(String(cFormat: "%.2f", perFile)) µs per caption file)")
        }
        lines.append("  update after \(changedFiles) caption files changed: \(format(updateSeconds)) s")
        return lines.joined(separator: "\n")
    }
}

extension CaptionIndex {
    /// Builds the index of `trainList` at `path`, times the check of the up-to-date index with
    /// each of `threadCounts`, then rewrites `changedFiles` of the caption files (every
    /// `videos / changedFiles`-th, unchanged content, which changes their stamps) and times the
    /// update. The caption files must exist under `captionRoot` and may be rewritten.
    public static func benchmarkFreshness(trainList: TrainList, captionRoot: String, indexPath path: String,
                                          threadCounts: [Int], changedFiles: Int) throws -> CaptionIndexFreshnessBenchmark {
        let clock = ContinuousClock()
        let buildTime = try clock.measure { try build(trainList: trainList, captionRoot: captionRoot, to: path) }
        var checks: [CaptionIndexFreshnessBenchmark.Check] = []
        for threads in threadCounts {
            var messages: [String] = []
            let time = try clock.measure {
                _ = try openOrBuild(at: path, trainList: trainList, captionRoot: captionRoot, statThreads: threads) {
                    messages.append($0)
                }
            }
            guard messages.contains(where: { $0.contains("is up to date") }) else {
                throw CaptionIndexError(path: path, operation: "benchmarking",
                                        reason: .inconsistent("the index was not found up to date: \(messages)"))
            }
            checks.append(.init(threads: threads, seconds: time.inSeconds))
        }
        let changed = min(max(0, changedFiles), trainList.count)
        let step = changed == 0 ? 1 : max(1, trainList.count / changed)
        for video in stride(from: 0, to: trainList.count, by: step).prefix(changed) {
            let file = trainList.captionPath(at: video, captionRoot: captionRoot)
            if let bytes = try? Data(contentsOf: URL(fileURLWithPath: file)) {
                try bytes.write(to: URL(fileURLWithPath: file + ".rewritten"))
                guard rename(file + ".rewritten", file) == 0 else {
                    throw CaptionIndexError(path: path, operation: "benchmarking",
                                            reason: .system("cannot replace \(file): \(String(cString: strerror(errno)))"))
                }
            }
        }
        let updateTime = try clock.measure {
            _ = try openOrBuild(at: path, trainList: trainList, captionRoot: captionRoot, statThreads: threadCounts.last ?? 32) { _ in }
        }
        return CaptionIndexFreshnessBenchmark(videos: trainList.count, buildSeconds: buildTime.inSeconds, checks: checks,
                                              changedFiles: changed, updateSeconds: updateTime.inSeconds)
    }
}
