// Timing sampling from the index against what the reference does per sample: read and parse
// the video's caption CSV, then sample.

import FoundationEssentials

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
        func microseconds(_ duration: Duration) -> Double {
            let (seconds, attoseconds) = duration.components
            return (Double(seconds) * 1e6 + Double(attoseconds) * 1e-12) / Double(videos.count)
        }
        return CaptionSamplingBenchmark(samples: videos.count, indexMicrosecondsPerSample: microseconds(indexTime),
                                        csvMicrosecondsPerSample: microseconds(csvTime))
    }
}
