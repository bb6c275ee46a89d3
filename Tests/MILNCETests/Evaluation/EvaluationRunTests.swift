import Foundation
@testable import MILNCE
import Synchronization
import Testing
import TestSupport
import Torch
import Video

/// A YouCook2-shaped folder of generated videos: rows taken from the shared CSV, their tasks and
/// ids rewritten to the generated files.
private struct YouCookFolder {
    var root: URL
    var items: [RetrievalItem]
    /// The row whose video does not exist.
    var missingRow: Int
    /// The row whose video is a `.mkv` file.
    var mkvRow: Int

    static func make(in scratch: URL, rowCount: Int = 7) throws -> YouCookFolder {
        let shared = try EvaluationFixtures.sharedCSV("validation_youcook.csv")
        let table = try CSVTable.read(contentsOf: shared.path)
        let texts = try table.pythonStrings(ofColumn: "text")
        let root = scratch.appendingPathComponent("youcook")
        var lines = ["end,start,task,text,video_id"]
        let missingRow = rowCount - 2
        let mkvRow = 1
        for row in 0..<rowCount {
            // Clips of 2 to 6 seconds in videos of 9 to 12 seconds.
            let start = row % 3
            let end = start + 2 + row % 5
            let task = 100 + row % 2
            let id = "video-\(row)"
            lines.append("\(end),\(start),\(task),\"\(texts[row].replacingOccurrences(of: "\"", with: "\"\""))\",\(id)")
            guard row != missingRow else { continue }
            let url = root.appendingPathComponent("validation/\(task)/\(id).\(row == mkvRow ? "mkv" : "mp4")")
            try TestVideos.write(to: url, seconds: Double(9 + row % 4), seed: row)
        }
        let csv = scratch.appendingPathComponent("validation_youcook.csv")
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: csv)
        return YouCookFolder(root: root, items: try YouCook2Dataset.items(csv: csv, videoRoot: root),
                             missingRow: missingRow, mkvRow: mkvRow)
    }
}

@Suite("Evaluation runs", .serialized)
struct EvaluationRunTests {
    // MARK: Decoding

    @Test("retrieval windows are the reference's ffmpeg clips at the reference's starts")
    func retrievalWindowsMatchFFmpeg() throws {
        let ffmpeg = try EvaluationFixtures.ffmpeg()
        let scratch = try TestEnvironment.temporaryDirectory("windows")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let video = scratch.appendingPathComponent("clip.mp4")
        try TestVideos.write(to: video, seconds: 7.3, seed: 3)
        let settings = EvaluationFixtures.smallClips

        for range in [EvaluationTimeRange.seconds(start: 1, end: 6), .wholeVideo, .seconds(start: 6, end: 9)] {
            let item = RetrievalItem(row: 0, videoID: "clip", text: "", candidatePaths: [video], timeRange: range)
            let windows = try EvaluationDecoding.windows(of: item, settings: settings)
            let (start, end): (Double, Double)
            switch range {
            case .seconds(let first, let last): (start, end) = (first, last)
            case .wholeVideo: (start, end) = (0, try VideoReader(url: video).durationSeconds)
            }
            let expectedStarts = EvaluationWindows.linspace(from: start, to: max(start, end - 1.6 - 0.4),
                                                            count: settings.windowCount)
            #expect(windows.starts == expectedStarts)
            #expect(windows.pixels.count == settings.windowCount * settings.windowByteCount)
            for (index, windowStart) in expectedStarts.enumerated() where index != 1 {
                let request = ClipRequest(startSeconds: windowStart, frameCount: 8, framesPerSecond: 5, size: 32,
                                          cropping: .scaledSquare)
                let reference = try ffmpeg.clip(request, of: video)
                let ours = windows.pixels[(index * settings.windowByteCount)..<((index + 1) * settings.windowByteCount)]
                #expect(Array(ours) == reference.pixels, "window \(index) of \(range)")
                #expect(windows.decodedFrameCounts[index] == reference.decodedFrameCount)
            }
        }
    }

    @Test("HMDB-51 windows are slices of ffmpeg's native-rate frames; short videos are padded")
    func nativeRateWindowsMatchFFmpeg() throws {
        let ffmpeg = try EvaluationFixtures.ffmpeg()
        let scratch = try TestEnvironment.temporaryDirectory("hmdb-windows")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let settings = EvaluationClipSettings(windowCount: 4, frameCount: 8, framesPerSecond: 5, size: 32)
        for (seconds, seed) in [(4.2, 1), (0.5, 2)] {
            let video = scratch.appendingPathComponent("v\(seed).avi")
            try TestVideos.write(to: video, seconds: seconds, framesPerSecond: 10, seed: seed)
            let windows = try EvaluationDecoding.nativeRateWindows(of: video, settings: settings)
            let all = try ffmpeg.allFrames(of: video, size: 32)
            let frames = all.frameCount
            let starts = EvaluationWindows.frameStarts(videoFrameCount: frames, windowFrames: 8, count: 4)
            #expect(windows.starts == starts.map(Double.init))
            if frames < 8 { #expect(starts == [0, 0, 0, 0]) }
            let plane = 32 * 32
            for (index, start) in starts.enumerated() {
                var expected = [UInt8](repeating: 0, count: settings.windowByteCount)
                for channel in 0..<3 {
                    for frame in 0..<8 where start + frame < frames {
                        let from = (channel * frames + start + frame) * plane
                        let to = (channel * 8 + frame) * plane
                        expected.replaceSubrange(to..<(to + plane), with: all.pixels[from..<(from + plane)])
                    }
                }
                let ours = windows.pixels[(index * settings.windowByteCount)..<((index + 1) * settings.windowByteCount)]
                #expect(Array(ours) == expected, "window \(index) of \(seconds) s")
                #expect(windows.decodedFrameCounts[index] == min(8, frames - start))
            }
        }
    }

    // MARK: Retrieval

    @Test("YouCook2 retrieval: embeddings from the reference's windows, a missing video left out, NumPy's metrics")
    func youcookRetrieval() throws {
        let ffmpeg = try EvaluationFixtures.ffmpeg()
        let scratch = try TestEnvironment.temporaryDirectory("youcook")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let folder = try YouCookFolder.make(in: scratch)
        let words = EvaluationFixtures.dictionary(of: folder.items.map(\.text))
        let model = try EvaluationFixtures.randomModel(words: words)
        // Training mode, but for one block held in evaluation mode: each keeps its mode.
        model.train()
        model.video.mixed5c.eval()
        let tokenizer = Tokenizer(words: words)
        let options = EvaluationRunOptions(clips: EvaluationFixtures.smallClips, batchSize: 2, readerThreads: 2)
        let retrieval = ZeroShotRetrieval(model: model, tokenizer: tokenizer, device: .cpu, options: options)
        let result = try retrieval.evaluate(folder.items, name: "YouCook2")
        #expect(model.video.children.allSatisfy { $0.module.isTraining == ($0.name != "mixed_5c") },
                "the video network's modules are back in their modes")
        #expect(model.video.mixed5c.children.allSatisfy { !$0.module.isTraining })

        // The missing video is reported with its candidates and left out.
        #expect(result.itemCount == folder.items.count)
        #expect(result.evaluatedCount == folder.items.count - 1)
        #expect(result.embeddings.items == folder.items.indices.filter { $0 != folder.missingRow })
        let failure = try #require(result.embeddings.failures.first)
        #expect(result.embeddings.failures.count == 1)
        #expect(failure.item == folder.missingRow)
        #expect(failure.name == "video-\(folder.missingRow)")
        #expect(failure.path.hasSuffix("video-\(folder.missingRow).mp4"))
        #expect(failure.reason.contains(".mkv") && failure.reason.contains(".webm"))

        // The video embedding of two items equals the model on the reference's ffmpeg windows.
        let text = try result.embeddings.text.toArray(of: Float.self)
        let video = try result.embeddings.video.toArray(of: Float.self)
        #expect(result.embeddings.text.shape == [result.evaluatedCount, 512])
        #expect(result.embeddings.video.shape == [result.evaluatedCount, 512])
        for row in [0, folder.mkvRow] {
            let item = folder.items[row]
            guard case .seconds(let start, let end) = item.timeRange else { continue }
            let url = try EvaluationDecoding.existingVideo(among: item.candidatePaths)
            #expect(url.pathExtension == (row == folder.mkvRow ? "mkv" : "mp4"))
            var pixels: [UInt8] = []
            for windowStart in EvaluationWindows.linspace(from: start, to: max(start, end - 1.6 - 0.4), count: 3) {
                let request = ClipRequest(startSeconds: windowStart, frameCount: 8, framesPerSecond: 5, size: 32,
                                          cropping: .scaledSquare)
                pixels += try ffmpeg.clip(request, of: url).pixels
            }
            let input = try Tensor(pixels, shape: [3, 3, 8, 32, 32]).to(.float32).divideInPlace(255)
            model.eval()
            let expected = try withoutGrad { try model.video(input).mean([0]).toArray(of: Float.self) }
            let position = try #require(result.embeddings.items.firstIndex(of: row))
            let ours = Array(video[(position * 512)..<((position + 1) * 512)])
            #expect(EvaluationFixtures.relativeDifference(ours, expected) < 1e-5, "video embedding of row \(row)")
            let tokens = try Tensor(tokenizer.tokens(of: item.text, maxWords: 30), shape: [1, 30])
            let expectedText = try withoutGrad { try model.text(tokens).toArray(of: Float.self) }
            #expect(EvaluationFixtures.relativeDifference(Array(text[(position * 512)..<((position + 1) * 512)]),
                                                          expectedText) < 1e-5, "text embedding of row \(row)")
        }

        // NumPy's compute_metrics on the same embeddings.
        let textFile = scratch.appendingPathComponent("text.npy")
        let videoFile = scratch.appendingPathComponent("video.npy")
        try EmbeddingFiles.write(result.embeddings.text, to: textFile)
        try EmbeddingFiles.write(result.embeddings.video, to: videoFile)
        let numpy = try EvaluationFixtures.numpyMetrics(text: textFile, video: videoFile)
        #expect(numpy.rows == result.evaluatedCount)
        #expect([result.metrics.r1, result.metrics.r5, result.metrics.r10, result.metrics.medianRank] == numpy.values)
        #expect(result.metrics.count == result.evaluatedCount)

        // Distributed shares, gathered, give the same metrics; the rows are split in blocks.
        for worldSize in [2, 4] {
            var texts: [Tensor] = [], videos: [Tensor] = [], masks: [Tensor] = []
            var covered: [Int] = []
            var failures: [EvaluationFailure] = []
            for rank in 0..<worldSize {
                let share = try retrieval.embedShare(of: folder.items, rank: rank, worldSize: worldSize)
                #expect(share.text.shape == [share.capacity, 512])
                #expect(share.capacity == (folder.items.count + worldSize - 1) / worldSize)
                covered += Array(share.rows)
                failures += share.failures
                texts.append(share.text)
                videos.append(share.video)
                masks.append(share.evaluated)
            }
            #expect(covered == Array(folder.items.indices))
            #expect(failures.map(\.item) == [folder.missingRow])
            let mask = try Tensor.cat(masks).toArray(of: Float.self)
            #expect(mask.enumerated().filter { $0.element == 1 }.map(\.offset) == result.embeddings.items)
            let metrics = try RetrievalShare.metrics(text: texts, video: videos, evaluated: masks)
            #expect(metrics == result.metrics, "world size \(worldSize)")
        }
    }

    @Test("the training loop's evaluation on two Gloo ranks gives the single-process metrics")
    func trainingEvaluationAcrossRanks() throws {
        _ = try EvaluationFixtures.ffmpeg()
        let scratch = try TestEnvironment.temporaryDirectory("youcook-ranks")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let folder = try YouCookFolder.make(in: scratch, rowCount: 5)
        let words = EvaluationFixtures.dictionary(of: folder.items.map(\.text))
        let options = EvaluationRunOptions(clips: EvaluationFixtures.smallClips, batchSize: 2, readerThreads: 1)
        let csv = scratch.appendingPathComponent("validation_youcook.csv")
        let single = try YouCook2TrainingEvaluation(csv: csv, videoRoot: folder.root, tokenizer: Tokenizer(words: words),
                                                    options: options)
        let alone = try #require(try single.evaluate(model: try EvaluationFixtures.randomModel(words: words), device: .cpu,
                                                     group: nil))
        #expect(alone["items"] == 5 && alone["evaluated"] == 4)
        #expect(single.lastFailures.map(\.item) == [folder.missingRow])

        struct Results {
            var metrics: [Int: [String: Double]?] = [:]
            var failures: [Int: [Int]] = [:]
            var errors: [String] = []
        }
        let shared = Mutex(Results())
        let store = scratch.appendingPathComponent("store").path
        let done = DispatchGroup()
        for rank in 0..<2 {
            done.enter()
            Thread.detachNewThread {
                defer { done.leave() }
                do {
                    let group = try ProcessGroup(store: try Store(file: store, worldSize: 2), rank: rank, size: 2,
                                                 backend: .gloo, timeoutSeconds: 120)
                    let evaluation = try YouCook2TrainingEvaluation(csv: csv, videoRoot: folder.root,
                                                                    tokenizer: Tokenizer(words: words), options: options)
                    let metrics = try evaluation.evaluate(model: try EvaluationFixtures.randomModel(words: words),
                                                          device: .cpu, group: group)
                    let failures = evaluation.lastFailures.map(\.item)
                    shared.withLock {
                        $0.metrics[rank] = metrics
                        $0.failures[rank] = failures
                    }
                } catch {
                    shared.withLock { $0.errors.append("rank \(rank): \(error)") }
                }
            }
        }
        done.wait()
        let results = shared.withLock { $0 }
        #expect(results.errors.isEmpty, "\(results.errors)")
        #expect(results.metrics[0] == .some(alone))
        #expect(results.metrics[1] == .some(nil))
        // Rows 0-2 are rank 0's, rows 3-4 rank 1's: the missing row 3 is rank 1's failure.
        #expect(results.failures[0] == [] && results.failures[1] == [folder.missingRow])
    }

    @Test("a run where no video exists says so")
    func nothingEvaluated() throws {
        let scratch = try TestEnvironment.temporaryDirectory("none")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let items = (0..<3).map { row in
            RetrievalItem(row: row, videoID: "v\(row)", text: "cut", candidatePaths: [scratch.appendingPathComponent("v\(row).mp4")],
                          timeRange: .wholeVideo)
        }
        let model = try EvaluationFixtures.randomModel(words: ["cut"])
        let retrieval = ZeroShotRetrieval(model: model, tokenizer: Tokenizer(words: ["cut"]), device: .cpu,
                                          options: EvaluationRunOptions(clips: EvaluationFixtures.smallClips, readerThreads: 2))
        #expect {
            try retrieval.evaluate(items, name: "MSR-VTT")
        } throws: { error in
            guard case .nothingEvaluated(let what, let count)? = error as? EvaluationError else { return false }
            return what == "MSR-VTT" && count == 3
        }
        let embeddings = try retrieval.embed(items)
        #expect(embeddings.failures.map(\.path) == items.map { $0.candidatePaths[0].path })
        #expect(embeddings.failures.allSatisfy { $0.reason.contains("no such file") })
        #expect(embeddings.text.shape == [0, 512] && embeddings.video.shape == [0, 512])
    }

    @Test("a dictionary larger than the model's vocabulary is refused before the network runs")
    func dictionaryTooLarge() throws {
        let model = try EvaluationFixtures.randomModel(words: ["a", "b"])
        let embedder = SentenceEmbedder(network: model.text, tokenizer: Tokenizer(words: ["a", "b", "c"]), device: .cpu)
        #expect(throws: EvaluationError.self) { try embedder.embed(["a b c"]) }
    }
}
