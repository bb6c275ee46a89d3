import Foundation
import MILNCE
import Testing
import TestSupport
import Torch
import TorchFiles
import Video

/// What the command tests build at test time: small generated videos, a random checkpoint file
/// with its dictionary, folders in the layouts of the three evaluation sets, and the Python oracles.
enum CommandFixtures {
    // MARK: Environment

    /// The shared evaluation CSV `name`, or a skip (a failure under CI).
    static func sharedCSV(_ name: String) throws -> URL {
        try TestEnvironment.requireFixture(TestEnvironment.sharedDirectory.appendingPathComponent("data/eval/\(name)"),
                                           what: "the evaluation CSV \(name)")
    }

    /// Runs a Python oracle; the test fails, naming how to install it, without the project's Python.
    static func python(_ script: String, _ arguments: [String]) throws -> String {
        try runPython(script, arguments: arguments)
    }

    /// The rows of a CSV file as pandas-free dictionaries (header → field), via the project's reader.
    static func rows(of csv: URL) throws -> [[String: String]] {
        let table = try CSVTable.read(contentsOf: csv.path)
        return (0..<table.rowCount).map { row in
            Dictionary(uniqueKeysWithValues: table.columnNames.enumerated().map { ($1, table.string(row: row, column: $0)) })
        }
    }

    // MARK: Model

    /// The checkpoint layouts the tests write.
    enum Layout {
        /// `torch.save(model.state_dict())`.
        case stateDict
        /// The reference's `epochNNNN.pth.tar`: `epoch` and a `state_dict` with `module.` keys.
        case referenceTraining
        /// Ours: the reference's entries plus `milnce`, whose `run` records the training clips'
        /// `num_frames`, `video_size` and `fps`.
        case milnceTraining(frames: Int, size: Int, framesPerSecond: Double)
    }

    /// Writes a seeded random model's checkpoint to `url` and its dictionary `words` as `dict.npy`
    /// beside it. An untrained S3D-G shrinks its input at every layer; BatchNorm scales of 2.45 and
    /// self-gating biases of 8 (gates open) keep the mixed_5c features near 0.1, so that a linear SVM
    /// on them converges to the same answer as scikit-learn's, and a zero last bias keeps the
    /// videos' embeddings apart.
    static func writeCheckpoint(words: [String], to url: URL, layout: Layout = .stateDict, seed: UInt64 = 5) throws {
        let generator = try Generator(seed: seed)
        let video = try S3DG(generator: generator)
        let text = try SentenceEmbedding(vocabularySize: words.count + 1, wordDimension: 16, generator: generator)
        let model = MILNCEModel(video: video, text: text)
        var records: [(name: String, tensor: TensorRecord)] = []
        try withoutGrad {
            for (name, tensor) in model.stateDict() {
                if name.contains(".bn") && name.hasSuffix(".weight") { _ = try tensor.fillInPlace(2.45) }
                if name == "fc.bias" { _ = try tensor.zeroInPlace() }
                if name.contains("gating") && name.hasSuffix(".fc.bias") { _ = try tensor.fillInPlace(8) }
                if case .stateDict = layout {
                    records.append((name, try tensor.record()))
                } else {
                    records.append(("module." + name, try tensor.record()))
                }
            }
        }
        let value: PickleValue
        switch layout {
        case .stateDict:
            value = .stateDict(records)
        case .referenceTraining:
            value = .dict([(key: .string("epoch"), value: .int(3)), (key: .string("state_dict"), value: .stateDict(records))])
        case let .milnceTraining(frames, size, framesPerSecond):
            let run: PickleValue = .dict([(key: .string("fps"), value: .float(framesPerSecond)),
                                          (key: .string("num_frames"), value: .int(frames)),
                                          (key: .string("video_size"), value: .int(size))])
            value = .dict([(key: .string("epoch"), value: .int(3)), (key: .string("state_dict"), value: .stateDict(records)),
                           (key: .string("milnce"), value: .dict([(key: .string("run"), value: run)]))])
        }
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try TorchFile.save(value, to: url)
        try NumPyFile.save(.strings(words, shape: [words.count]),
                           to: url.deletingLastPathComponent().appendingPathComponent("dict.npy"))
    }

    /// The distinct words of `sentences` (`[\w']+`), in first-seen order.
    static func dictionary(of sentences: [String]) throws -> [String] {
        let pattern = try NSRegularExpression(pattern: "[\\w']+")
        var seen = Set<String>()
        var words: [String] = []
        for sentence in sentences {
            let range = NSRange(sentence.startIndex..., in: sentence)
            for match in pattern.matches(in: sentence, range: range) {
                guard let wordRange = Range(match.range, in: sentence) else { continue }
                let word = String(sentence[wordRange])
                if seen.insert(word).inserted { words.append(word) }
            }
        }
        return words
    }

    // MARK: Oracles

    /// The reference's `compute_metrics(np.dot(t, v.T))` on two `.npy` files: `[R1, R5, R10, MR]`.
    static func numpyMetrics(text: URL, video: URL) throws -> [Double] {
        let script = """
        import json, sys
        \(PythonOracles.computeMetrics)
        m = compute_metrics(np.dot(np.load(sys.argv[1]), np.load(sys.argv[2]).T))
        print(json.dumps([repr(float(m[k])) for k in ['R1', 'R5', 'R10', 'MR']]))
        """
        let output = try python(script, [text.path, video.path])
        let values = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String])
        return values.compactMap(Double.init)
    }

    /// A `.npy` float32 matrix's shape and values, read by NumPy.
    static func numpyMatrix(_ url: URL) throws -> (shape: [Int], values: [Float]) {
        let output = try python("""
        import json, sys
        import numpy as np
        a = np.load(sys.argv[1])
        assert a.dtype == np.float32, a.dtype
        print(json.dumps({'shape': list(a.shape), 'values': [repr(float(x)) for x in a.ravel()]}))
        """, [url.path])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
        let shape = try #require(object["shape"] as? [Int])
        let values = try #require(object["values"] as? [String]).compactMap(Float.init)
        return (shape, values)
    }

    /// Decodes a JSON report.
    static func report<Report: Decodable>(_ type: Report.Type, at url: URL) throws -> Report {
        try JSONDecoder().decode(type, from: Data(contentsOf: url))
    }
}
