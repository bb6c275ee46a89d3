import Foundation
@testable import milnce
import MILNCE
import Testing
import TestSupport
import Torch
import TorchFiles

/// The reference's `eval_hmdb.py` protocol on exported features: `LinearSVC(C=100)` on every
/// training window of a split, decision values summed over a test video's windows, argmax, top-1.
private let scikitLearnHMDBScript = """
import csv, json, sys
import numpy as np
from sklearn import preprocessing
from sklearn.svm import LinearSVC
features = np.load(sys.argv[1])
rows = list(csv.DictReader(open(sys.argv[2], newline='')))
windows = features.shape[1]
labels = preprocessing.LabelEncoder().fit_transform(np.array([r['class'] for r in rows]))
results = []
for split in range(3):
    s = np.array([int(r['split%d' % (split + 1)]) for r in rows])
    x_train = features[np.where(s == 1)[0]].reshape((-1, 1024))
    x_test = features[np.where(s == 2)[0]].reshape((-1, 1024))
    label_train, label_test = labels[np.where(s == 1)[0]].repeat(windows), labels[np.where(s == 2)[0]]
    c = LinearSVC(C=100.0).fit(x_train, label_train)
    pred = np.reshape(c.decision_function(x_test), (len(label_test), windows, -1)).sum(axis=1)
    pred = np.argmax(pred, axis=1)
    results.append({'correct': int(np.sum(pred == label_test)), 'total': int(len(pred)),
                    'accuracy': repr(float(np.sum(pred == label_test) / float(len(pred))))})
print(json.dumps(results))
"""

@Suite("milnce eval, embed and retrieval", .serialized)
struct EvalCommandTests {
    /// Small windows so the network runs fast on two cores.
    private let windowArguments = ["--num_windows_test", "3", "--num_frames", "8", "--fps", "5", "--video_size", "32",
                                   "--batch_size", "2", "--num_thread_reader", "2", "--device", "cpu"]

    // MARK: YouCook2

    @Test("eval youcook: a reference training checkpoint, a missing video reported, metrics equal NumPy's")
    func youcook() throws {
        let scratch = try TestEnvironment.temporaryDirectory("eval-youcook")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let shared = try CommandFixtures.rows(of: try CommandFixtures.sharedCSV("validation_youcook.csv"))
        let root = scratch.appendingPathComponent("videos")
        var lines = ["end,start,task,text,video_id"]
        let rowCount = 6
        let missingRow = 3
        for row in 0..<rowCount {
            let source = try #require(shared[row]["text"])
            let (start, end, task, id) = (row % 2, row % 2 + 3 + row % 4, shared[row]["task"] ?? "1", "clip\(row)")
            lines.append("\(end),\(start),\(task),\"\(source.replacingOccurrences(of: "\"", with: "\"\""))\",\(id)")
            if row == missingRow { continue }
            let url = root.appendingPathComponent("validation/\(task)/\(id).\(row == 0 ? "webm" : "mp4")")
            if row == 0 {
                // A .webm name holding an MPEG-4 stream in Matroska: found by its extension, decoded by content.
                let mkv = scratch.appendingPathComponent("clip0.mkv")
                try TestVideos.write(to: mkv, seconds: 8, seed: row)
                try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                try FileManager.default.moveItem(at: mkv, to: url)
            } else {
                try TestVideos.write(to: url, seconds: Double(8 + row), seed: row)
            }
        }
        let csv = scratch.appendingPathComponent("validation_youcook.csv")
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: csv)
        let captions = try CommandFixtures.rows(of: csv).map { $0["text"] ?? "" }
        let checkpoint = scratch.appendingPathComponent("model/epoch0003.pth.tar")
        try CommandFixtures.writeCheckpoint(words: try CommandFixtures.dictionary(of: captions), to: checkpoint,
                                            layout: .referenceTraining)
        let report = scratch.appendingPathComponent("youcook.json")
        let embeddings = scratch.appendingPathComponent("embeddings")

        let command = try EvalYouCook.parse(["--eval_video_root", root.path, "--pretrain_cnn_path", checkpoint.path,
                                             "--csv", csv.path, "--output", report.path,
                                             "--save_embeddings", embeddings.path] + windowArguments)
        try command.run()

        let written = try CommandFixtures.report(RetrievalReport.self, at: report)
        #expect(written.benchmark == "YouCook2")
        #expect(written.items == rowCount)
        #expect(written.evaluated == rowCount - 1)
        #expect(written.failed == 1)
        #expect(written.failures.map(\.item) == [missingRow])
        #expect(written.failures.first?.path.hasSuffix("validation/\(shared[missingRow]["task"] ?? "")/clip\(missingRow).mp4") == true)
        #expect(written.failures.first?.reason.contains("clip\(missingRow).webm") == true)
        #expect(written.settings.clips == EvaluationClipSettings(windowCount: 3, frameCount: 8, framesPerSecond: 5, size: 32))
        #expect(written.settings.clipSources == ["num_frames": .flag, "video_size": .flag, "fps": .flag])
        #expect(written.settings.batchSize == 2 && written.settings.readerThreads == 2 && written.settings.maxWords == 30)
        #expect(written.settings.dictionary == checkpoint.deletingLastPathComponent().appendingPathComponent("dict.npy").path)
        #expect(written.reference.count == 4)
        #expect(written.reference.first?.r1Percent == 15.1 && written.reference.last?.medianRank == 23)

        let items = try String(contentsOf: embeddings.appendingPathComponent("items.txt"), encoding: .utf8)
        #expect(items == (0..<rowCount).filter { $0 != missingRow }.map { "\($0)\tclip\($0)\n" }.joined())
        let numpy = try CommandFixtures.numpyMetrics(text: embeddings.appendingPathComponent("text.npy"),
                                                     video: embeddings.appendingPathComponent("video.npy"))
        let m = written.metrics
        #expect([m.r1, m.r5, m.r10, m.medianRank] == numpy)
        #expect(m.count == rowCount - 1)
    }

    // MARK: MSR-VTT

    @Test("eval msrvtt: whole videos, an unreadable video reported; embed reproduces its embeddings; retrieval its metrics")
    func msrvttAndEmbed() throws {
        let scratch = try TestEnvironment.temporaryDirectory("eval-msrvtt")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let shared = try CommandFixtures.rows(of: try CommandFixtures.sharedCSV("msrvtt_test.csv"))
        let root = scratch.appendingPathComponent("videos")
        let rowCount = 6
        let brokenRow = 2
        var lines = ["key,vid_key,video_id,sentence"]
        var videoPaths: [URL] = []
        for row in 0..<rowCount {
            let source = shared[row]
            let id = try #require(source["video_id"])
            let sentence = (source["sentence"] ?? "").replacingOccurrences(of: "\"", with: "\"\"")
            lines.append("\(source["key"] ?? ""),\(source["vid_key"] ?? ""),\(id),\"\(sentence)\"")
            let url = root.appendingPathComponent(id + ".mp4")
            videoPaths.append(url)
            if row == brokenRow {
                try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
                try Data((0..<4000).map { UInt8(truncatingIfNeeded: $0 &* 7919) }).write(to: url)
            } else {
                try TestVideos.write(to: url, seconds: Double(4 + row), seed: 20 + row)
            }
        }
        let csv = scratch.appendingPathComponent("msrvtt_test.csv")
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: csv)
        let sentences = try CommandFixtures.rows(of: csv).map { $0["sentence"] ?? "" }
        let checkpoint = scratch.appendingPathComponent("model/model.pth")
        try CommandFixtures.writeCheckpoint(words: try CommandFixtures.dictionary(of: sentences), to: checkpoint)
        let report = scratch.appendingPathComponent("msrvtt.json")
        let embeddings = scratch.appendingPathComponent("embeddings")

        try EvalMSRVTT.parse(["--eval_video_root", root.path, "--pretrain_cnn_path", checkpoint.path, "--csv", csv.path,
                              "--output", report.path, "--save_embeddings", embeddings.path] + windowArguments).run()
        let written = try CommandFixtures.report(RetrievalReport.self, at: report)
        #expect(written.benchmark == "MSR-VTT")
        #expect((written.items, written.evaluated, written.failed) == (rowCount, rowCount - 1, 1))
        #expect(written.failures.first?.path == videoPaths[brokenRow].path)
        #expect(written.failures.first?.item == brokenRow)
        #expect(written.reference.map(\.r1Percent) == [9.9, 8.6, 7.7, 8.2])
        let evalText = embeddings.appendingPathComponent("text.npy")
        let evalVideo = embeddings.appendingPathComponent("video.npy")
        let m = written.metrics
        #expect([m.r1, m.r5, m.r10, m.medianRank] == (try CommandFixtures.numpyMetrics(text: evalText, video: evalVideo)))

        // embed videos (a list with the broken video) and sentences give the same rows.
        let list = scratch.appendingPathComponent("videos.txt")
        try Data(videoPaths.map { $0.lastPathComponent + "\n" }.joined().utf8).write(to: list)
        let videoMatrix = scratch.appendingPathComponent("V.npy")
        try EmbedVideos.parse([list.path, "--output", videoMatrix.path, "--pretrain_cnn_path", checkpoint.path,
                               "--video_root", root.path] + windowArguments).run()
        let sentenceFile = scratch.appendingPathComponent("sentences.txt")
        let evaluatedSentences = sentences.enumerated().filter { $0.offset != brokenRow }.map(\.element)
        try Data(evaluatedSentences.map { $0 + "\n" }.joined().utf8).write(to: sentenceFile)
        let textMatrix = scratch.appendingPathComponent("T.npy")
        try EmbedSentences.parse([sentenceFile.path, "--output", textMatrix.path, "--pretrain_cnn_path", checkpoint.path,
                                  "--device", "cpu"]).run()

        let listed = try String(contentsOf: scratch.appendingPathComponent("V.txt"), encoding: .utf8)
        #expect(listed == videoPaths.enumerated().filter { $0.offset != brokenRow }.map { $0.element.path + "\n" }.joined())
        #expect(try String(contentsOf: scratch.appendingPathComponent("T.txt"), encoding: .utf8)
                == evaluatedSentences.map { $0 + "\n" }.joined())
        let (embeddedVideo, evaluatedVideo) = (try CommandFixtures.numpyMatrix(videoMatrix), try CommandFixtures.numpyMatrix(evalVideo))
        let (embeddedText, evaluatedText) = (try CommandFixtures.numpyMatrix(textMatrix), try CommandFixtures.numpyMatrix(evalText))
        #expect(embeddedVideo.shape == [rowCount - 1, 512] && embeddedVideo.shape == evaluatedVideo.shape)
        #expect(embeddedVideo.values == evaluatedVideo.values)
        #expect(embeddedText.shape == evaluatedText.shape && embeddedText.values == evaluatedText.values)

        // retrieval on the embedded matrices: the evaluation's metrics.
        let metricsFile = scratch.appendingPathComponent("metrics.json")
        try RetrievalCommand.parse(["--text", textMatrix.path, "--video", videoMatrix.path, "--output", metricsFile.path]).run()
        let retrieval = try CommandFixtures.report(RetrievalCommand.Report.self, at: metricsFile)
        #expect(retrieval.metrics == written.metrics)
        #expect((retrieval.queries, retrieval.videos) == (rowCount - 1, rowCount - 1))

        // mixed_5c features of the same videos.
        let featureMatrix = scratch.appendingPathComponent("F.npy")
        try EmbedVideos.parse([root.path, "--output", featureMatrix.path, "--pretrain_cnn_path", checkpoint.path,
                               "--features", "mixed5c"] + windowArguments).run()
        #expect(try CommandFixtures.numpyMatrix(featureMatrix).shape == [rowCount - 1, 1024])
    }

    // MARK: HMDB-51

    @Test("eval hmdb: features exported, scikit-learn's LinearSVC on them gives the same accuracies")
    func hmdb() throws {
        let scratch = try TestEnvironment.temporaryDirectory("eval-hmdb")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let shared = try CommandFixtures.rows(of: try CommandFixtures.sharedCSV("hmdb51.csv"))
        // Three classes of the real file, five videos each; splits rewritten so that every class
        // trains and tests in every split.
        var labels: [String] = []
        for row in shared where !labels.contains(row["label"] ?? "") {
            labels.append(row["label"] ?? "")
            if labels.count == 3 { break }
        }
        let patterns = [[1, 1, 2], [1, 2, 1], [2, 1, 1], [1, 1, 1], [2, 2, 2]]
        let root = scratch.appendingPathComponent("videos")
        var lines = ["video_id,label,split1,split2,split3"]
        var missing = ""
        for (classIndex, label) in labels.enumerated() {
            let sources = shared.filter { $0["label"] == label }.prefix(patterns.count)
            for (videoIndex, source) in sources.enumerated() {
                let id = try #require(source["video_id"])
                lines.append("\(id),\(label)," + patterns[videoIndex].map(String.init).joined(separator: ","))
                let url = root.appendingPathComponent(String(label.dropLast(5))).appendingPathComponent(id)
                if classIndex == 1 && videoIndex == 4 {
                    missing = url.path
                    continue
                }
                // Short videos, one shorter than a window; each class with its own colours, but one
                // test video of the third class looks like the first class (a sure mistake).
                let seconds = classIndex == 2 && videoIndex == 0 ? 0.5 : 1.5 + Double(videoIndex) * 0.4
                let looksLike = classIndex == 2 && videoIndex == 4 ? 0 : classIndex
                try TestVideos.write(to: url, seconds: seconds, seed: looksLike * 7)
            }
        }
        let csv = scratch.appendingPathComponent("hmdb51.csv")
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: csv)
        let checkpoint = scratch.appendingPathComponent("model/model.pth")
        try CommandFixtures.writeCheckpoint(words: ["unused"], to: checkpoint)
        let report = scratch.appendingPathComponent("hmdb.json")
        let features = scratch.appendingPathComponent("features")

        try EvalHMDB.parse(["--eval_video_root", root.path, "--pretrain_cnn_path", checkpoint.path, "--csv", csv.path,
                            "--output", report.path, "--save_features", features.path] + windowArguments).run()
        let written = try CommandFixtures.report(HMDBReport.self, at: report)
        #expect((written.videos, written.evaluated, written.failed) == (15, 14, 1))
        #expect(written.failures.map(\.path) == [missing])
        #expect(written.splitCounts.map(\.testVideos) == [6, 6, 6])
        #expect(written.splitCounts.map(\.testVideosEvaluated) == [5, 5, 5])
        #expect(written.reference.map(\.top1Percent) == [53.1, 54.2, 53.5, 54.3])

        let exported = try CommandFixtures.numpyMatrix(features.appendingPathComponent("features.npy"))
        #expect(exported.shape == [14, 3, 1024])
        let output = try CommandFixtures.python(scikitLearnHMDBScript, [features.appendingPathComponent("features.npy").path,
                                                                        features.appendingPathComponent("videos.csv").path])
        let expected = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [[String: Any]])
        try #require(expected.count == 3 && written.result.splits.count == 3)
        for (ours, theirs) in zip(written.result.splits, expected) {
            #expect(ours.correctCount == theirs["correct"] as? Int, "split \(ours.split)")
            #expect(ours.testVideoCount == theirs["total"] as? Int, "split \(ours.split)")
            #expect(ours.accuracy == (theirs["accuracy"] as? String).flatMap(Double.init), "split \(ours.split)")
            #expect(ours.trainWindowCount == 3 * written.splitCounts[ours.split - 1].trainVideosEvaluated)
        }
        let mean = written.result.splits.map(\.accuracy).reduce(0, +) / 3
        #expect(written.result.meanAccuracy == mean)
    }

    // MARK: Retrieval

    @Test("retrieval refuses embeddings with NaN or infinite rows and names them")
    func retrievalWithNonFiniteRows() throws {
        let scratch = try TestEnvironment.temporaryDirectory("retrieval-nan")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let text = scratch.appendingPathComponent("t.npy")
        let video = scratch.appendingPathComponent("v.npy")
        // Five queries; rows 1 and 3 of the text hold a NaN and an infinity.
        var textValues: [Float] = (0..<10).map { Float($0 % 3) + 0.5 }
        textValues[2] = .nan
        textValues[7] = .infinity
        try EmbeddingFiles.writeMatrix(textValues, rows: 5, columns: 2, to: text)
        try EmbeddingFiles.writeMatrix((0..<12).map { Float($0) }, rows: 6, columns: 2, to: video)
        #expect {
            try RetrievalCommand.parse(["--text", text.path, "--video", video.path]).run()
        } throws: { error in
            let message = "\(error)"
            return message.contains(text.path) && message.contains("2 of the 5 rows") && message.contains("rows 1, 3")
        }
        // A NaN video row is named too.
        var videoValues: [Float] = (0..<12).map { Float($0) }
        videoValues[9] = .nan
        try EmbeddingFiles.writeMatrix((0..<10).map { Float($0) }, rows: 5, columns: 2, to: text)
        try EmbeddingFiles.writeMatrix(videoValues, rows: 6, columns: 2, to: video)
        #expect {
            try RetrievalCommand.parse(["--text", text.path, "--video", video.path]).run()
        } throws: { error in
            "\(error)".contains(video.path) && "\(error)".contains("row 4,")
        }
    }

    // MARK: Clip settings

    @Test("embed uses the clip settings a training checkpoint records, says where each came from, and flags win")
    func clipSettingsComeFromTheCheckpoint() throws {
        let scratch = try TestEnvironment.temporaryDirectory("eval-clip-settings")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let video = scratch.appendingPathComponent("videos/a.mp4")
        try TestVideos.write(to: video, seconds: 5, seed: 3)
        let checkpoint = scratch.appendingPathComponent("model/epoch0003.pth.tar")
        try CommandFixtures.writeCheckpoint(words: ["cut"], to: checkpoint,
                                            layout: .milnceTraining(frames: 8, size: 32, framesPerSecond: 4))
        let loaded = try ModelCheckpoint.load(from: checkpoint)
        #expect(loaded.recordedClipSettings == RecordedClipSettings(frameCount: 8, size: 32, framesPerSecond: 4))
        func embed(_ name: String, _ flags: [String]) throws -> [Float] {
            let output = scratch.appendingPathComponent(name + ".npy")
            try EmbedVideos.parse([video.deletingLastPathComponent().path, "--output", output.path,
                                   "--pretrain_cnn_path", checkpoint.path, "--num_windows_test", "1",
                                   "--num_thread_reader", "1", "--device", "cpu"] + flags).run()
            return try EmbeddingFiles.readMatrix(from: output).toArray(of: Float.self)
        }
        let recorded = try embed("recorded", [])
        let explicit = try embed("explicit", ["--num_frames", "8", "--video_size", "32", "--fps", "4"])
        #expect(recorded == explicit)
        let otherSize = try embed("other-size", ["--video_size", "40"])
        #expect(otherSize != recorded)

        // Where each setting came from, as printed and reported.
        let options = try EmbedVideos.parse([video.path, "--output", "x.npy", "--pretrain_cnn_path", checkpoint.path,
                                             "--fps", "5"]).windows
        let clips = options.clips(recorded: loaded.recordedClipSettings)
        #expect(clips.settings == EvaluationClipSettings(windowCount: 4, frameCount: 8, framesPerSecond: 5, size: 32))
        #expect(clips.sourcesByFlag == ["num_frames": .checkpoint, "video_size": .checkpoint, "fps": .flag])
        #expect(clips.description(checkpoint: "m.pth") == "clip settings: 8 frames (recorded in m.pth), 5 fps (--fps), "
                + "32x32 pixels (recorded in m.pth); 4 windows per item")
        let plain = options.clips(recorded: nil)
        #expect(plain.description(checkpoint: "m.pth") == "clip settings: 16 frames (the reference's default), "
                + "5 fps (--fps), 224x224 pixels (the reference's default); 4 windows per item")
    }

    // MARK: Word files

    @Test("embed sentences and eval refuse a dictionary that does not fit the model's word embedding")
    func dictionaryMustFitTheEmbedding() throws {
        let scratch = try TestEnvironment.temporaryDirectory("eval-dictionary")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let words = ["cut", "the", "onion", "fry", "it"]
        let checkpoint = scratch.appendingPathComponent("model/model.pth")
        try CommandFixtures.writeCheckpoint(words: words, to: checkpoint)  // 6 x 16 word embedding
        let sentences = scratch.appendingPathComponent("sentences.txt")
        try Data("fry it\ncut the onion\n".utf8).write(to: sentences)
        let dictionary = checkpoint.deletingLastPathComponent().appendingPathComponent("dict.npy")
        let output = scratch.appendingPathComponent("t.npy")
        let arguments = [sentences.path, "--output", output.path, "--pretrain_cnn_path", checkpoint.path, "--device", "cpu"]
        // The right dictionary embeds.
        try EmbedSentences.parse(arguments).run()
        #expect(FileManager.default.fileExists(atPath: output.path))
        try FileManager.default.removeItem(at: output)

        for (count, problem) in [(7, WordFilesError.Problem.tooFewRows), (3, .tooManyRows)] {
            try NumPyFile.save(.strings((0..<count).map { "w\($0)" }, shape: [count]), to: dictionary)
            #expect {
                try EmbedSentences.parse(arguments).run()
            } throws: { error in
                (error as? WordFilesError)?.problem == problem && "\(error)".contains(checkpoint.path)
                    && "\(error)".contains(dictionary.path) && "\(error)".contains("6 x 16")
            }
            #expect(!FileManager.default.fileExists(atPath: output.path))
        }
    }

    // MARK: Errors

    @Test("missing inputs are refused with the path and what to pass")
    func missingInputs() throws {
        let scratch = try TestEnvironment.temporaryDirectory("eval-errors")
        defer { try? FileManager.default.removeItem(at: scratch) }
        // No --csv and no csv/ folder in the working folder.
        #expect(throws: Error.self) {
            try EvalMSRVTT.parse(["--eval_video_root", scratch.path, "--pretrain_cnn_path", "/nonexistent/model.pth"]).run()
        }
        // A checkpoint without a dictionary anywhere.
        let checkpoint = scratch.appendingPathComponent("model.pth")
        try CommandFixtures.writeCheckpoint(words: ["cut"], to: checkpoint)
        try FileManager.default.removeItem(at: scratch.appendingPathComponent("dict.npy"))
        let csv = scratch.appendingPathComponent("msrvtt_test.csv")
        try Data("key,vid_key,video_id,sentence\nret0,msr1,video1,cut it\n".utf8).write(to: csv)
        #expect {
            try EvalMSRVTT.parse(["--eval_video_root", scratch.path, "--pretrain_cnn_path", checkpoint.path,
                                  "--csv", csv.path, "--device", "cpu"]).run()
        } throws: { error in
            "\(error)".contains("--token_to_word_path") && "\(error)".contains(scratch.appendingPathComponent("dict.npy").path)
        }
        // A video root that is not a folder.
        #expect {
            try EvalMSRVTT.parse(["--eval_video_root", scratch.appendingPathComponent("absent").path,
                                  "--pretrain_cnn_path", checkpoint.path, "--csv", csv.path, "--device", "cpu"]).run()
        } throws: { error in
            "\(error)".contains("--eval_video_root") && "\(error)".contains("absent")
        }
        // Bad window settings are a usage error.
        #expect(throws: Error.self) {
            try EvalHMDB.parse(["--eval_video_root", scratch.path, "--pretrain_cnn_path", checkpoint.path,
                                "--num_windows_test", "0"])
        }
        // Mismatched embedding files.
        let text = scratch.appendingPathComponent("t.npy")
        let video = scratch.appendingPathComponent("v.npy")
        try EmbeddingFiles.writeMatrix([1, 2, 3, 4, 5, 6], rows: 3, columns: 2, to: text)
        try EmbeddingFiles.writeMatrix([1, 2, 3, 4], rows: 2, columns: 2, to: video)
        #expect(throws: EvaluationError.self) {
            try RetrievalCommand.parse(["--text", text.path, "--video", video.path]).run()
        }
    }
}
