import Foundation
import MILNCE
import MILNCEBenchmarks
import Testing
import TestSupport

@Suite("Benchmarks of caption sampling")
struct CaptionSamplingBenchmarkTests {
    @Test("the index and the CSV files give the same samples, both timed")
    func samplingFromTheIndexAndFromFilesIsTimed() throws {
        let folder = try TestEnvironment.temporaryDirectory("caption-benchmark")
        defer { try? FileManager.default.removeItem(at: folder) }
        let set = try GeneratedCaptionSet(in: folder, videoCount: 40, captionsPerVideo: 25, seed: 3)
        #expect(set.trainList.count == 40)
        #expect(set.index.captionCount == 40 * 25)
        let benchmark = try set.index.benchmarkSampling(tokenizer: set.tokenizer, samples: 300)
        #expect(benchmark.samples == 300)
        #expect(benchmark.indexMicrosecondsPerSample > 0 && benchmark.csvMicrosecondsPerSample > 0)
        print(benchmark)
    }

    @Test("a caption file edited after indexing makes the benchmark fail, not report")
    func aDisagreementBetweenIndexAndFilesIsAnError() throws {
        let folder = try TestEnvironment.temporaryDirectory("caption-benchmark")
        defer { try? FileManager.default.removeItem(at: folder) }
        let set = try GeneratedCaptionSet(in: folder, videoCount: 2, captionsPerVideo: 5, seed: 4)
        for video in 0..<2 {
            let path = set.trainList.captionPath(at: video, captionRoot: set.index.captionRoot)
            try "start,end,text\n0.0,900.0,zzz yyy xxx\n".write(toFile: path, atomically: false, encoding: .utf8)
        }
        #expect(throws: CaptionIndexError.self) {
            _ = try set.index.benchmarkSampling(tokenizer: set.tokenizer, samples: 20)
        }
    }
}
