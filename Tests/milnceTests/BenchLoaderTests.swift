import Foundation
import MILNCE
import MILNCEBenchmarks
import TestSupport
import Testing
import Video
@testable import milnce

@Suite struct BenchLoaderTests {
    @Test func parsingGivesTheDocumentedDefaults() throws {
        let command = try BenchLoader.parse([])
        #expect(command.requests == 48)
        #expect(command.clips == 10_000)
        #expect(command.numFrames == 16 && command.fps == 5 && command.videoSize == 224)
        #expect(command.parts == BenchLoader.Part.standard)
        #expect(command.videoPath == nil && command.threads == nil && command.numThreadReader == nil)
        let chosen = try BenchLoader.parse(["--parts", "decode", "memory", "--clips", "50", "--threads", "3"])
        #expect(chosen.parts == [.decode, .memory])
        #expect(chosen.clips == 50 && chosen.threads == 3)
    }

    @Test(arguments: [
        ["--requests", "0"], ["--threads", "0"], ["--num_thread_reader", "0"], ["--batch_size", "0"],
        ["--clips", "0"], ["--fps", "0"], ["--fps", "nan"], ["--video_size", "300"], ["--num_frames", "0"],
        ["--video_path", "/no/such/folder"], ["--parts", "everything"], ["--caption_samples", "0"],
    ])
    func badOptionsAreRejected(arguments: [String]) {
        #expect(throws: (any Error).self) { try BenchLoader.parse(arguments) }
    }

    @Test func bothMethodsDecodeTheSameRequestsAndSmallVideosAreSkipped() throws {
        let video = try ClipTestVideo.url()
        let ffmpeg = try ClipTestVideo.ffmpeg()
        let folder = try TestEnvironment.temporaryDirectory("bench")
        defer { try? FileManager.default.removeItem(at: folder) }
        let small = folder.appendingPathComponent("small.mkv")
        let writer = try VideoWriter(url: small, width: 64, height: 48, framesPerSecond: 10, codec: .mpeg4)
        for _ in 0..<20 { try writer.append(rgb: [UInt8](repeating: 90, count: 64 * 48 * 3)) }
        try writer.finish()
        let broken = folder.appendingPathComponent("broken.mp4")
        try Data("no video here".utf8).write(to: broken)

        let (jobs, skipped) = LoaderBenchmark.clipJobs(videos: [small, video, broken], count: 5, frameCount: 4,
                                                       framesPerSecond: 5, size: 96, seed: 1)
        #expect(jobs.count == 5)
        #expect(jobs.allSatisfy { $0.video == video })
        #expect(skipped.map(\.url) == [small, broken])
        #expect(skipped[0].description.contains("64×48"))
        for job in jobs {
            // The 4 s video: clips of 0.8 s + 0.1 start at whole seconds from 0 to 3.
            #expect((0...3).contains(job.request.startSeconds) && job.request.startSeconds == job.request.startSeconds.rounded())
            #expect(job.request.size == 96 && job.request.frameCount == 4)
        }
        #expect(Set(jobs.map(\.request.cropOffset)).count == 5)

        let agreement = try LoaderBenchmark.agreement(of: jobs, ffmpeg: ffmpeg)
        #expect(agreement.identical == 5 && agreement.compared == 5)
        let ours = try LoaderBenchmark.measureDecoding(jobs, method: .inProcess, threads: 2)
        let theirs = try LoaderBenchmark.measureDecoding(jobs, method: .ffmpegProcess, threads: 2, ffmpeg: ffmpeg)
        for result in [ours, theirs] {
            #expect(result.clips == 5 && result.threads == 2)
            #expect(result.wallSeconds > 0 && result.clipsPerSecond > 0)
        }
        #expect(ours.decodedFrames == theirs.decodedFrames)
        #expect(ours.decodedFrames > 0)
        // The ffmpeg processes' time is counted as the children's.
        #expect(theirs.processorTime.childrenSeconds > 0)

        // A failing clip stops the run with its error.
        var bad = jobs
        bad[2].video = broken
        #expect(throws: VideoError.self) { try LoaderBenchmark.measureDecoding(bad, method: .inProcess, threads: 2) }
        #expect(LoaderBenchmark.clipJobs(videos: [small], count: 3, size: 96).jobs.isEmpty)
    }

    @Test func theLoaderFiguresCoverTheClipsAskedFor() throws {
        let folder = try TestEnvironment.temporaryDirectory("bench")
        defer { try? FileManager.default.removeItem(at: folder) }
        let set = try GeneratedTrainingSet(in: folder, videoCount: 2, sampleCount: 10, seconds: 8, width: 64, height: 48)
        #expect(set.trainList.count == 10)
        #expect(set.index.videoCountsByStatus == [.ok: 10])
        var options = LoaderOptions()
        options.batchSize = 4
        options.threads = 2
        options.size = 32
        options.sampling = ClipSamplingOptions(numFrames: 4, framesPerSecond: 5)
        let loader = try set.loader(options: options)
        #expect(loader.batchesPerEpoch == 2)
        let throughput = try LoaderBenchmark.measureLoader(loader, clips: 18)
        #expect(throughput.batches == 5) // two epochs of two batches, then one more
        #expect(throughput.failures == 0)
        #expect(throughput.clipsPerSecond > 0 && throughput.batchesPerSecond > 0)
        let readings = try LoaderBenchmark.measureMemory(loader, clips: 12, checkpoints: [4, 9, 12, 40])
        #expect(readings.map(\.clips) == [0, 4, 12, 12])
        #expect(readings.allSatisfy { $0.residentBytes > 0 })
    }
}
