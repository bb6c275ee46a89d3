import Foundation
@testable import MILNCE
import Testing
import TestSupport
import Torch
import Video

// MARK: - Fixtures

/// The helpers the evaluation tests share (their videos come from `TestVideos`).
enum EvaluationFixtures {
    /// The `ffmpeg` command (the reference's decoder, an oracle: a failure when it is missing).
    static func ffmpeg() throws -> FFmpegCommand {
        do {
            return try FFmpegCommand()
        } catch {
            throw TestEnvironment.missingOracle("the ffmpeg command")
        }
    }

    /// The shared evaluation CSV `name` (`<shared>/data/eval/<name>`), or a skip (a failure under CI).
    static func sharedCSV(_ name: String) throws -> URL {
        try TestEnvironment.requireFixture(TestEnvironment.sharedDirectory.appendingPathComponent("data/eval/\(name)"),
                                           what: "the evaluation CSV \(name)")
    }

    // MARK: Models

    /// Small window settings that keep the network fast on two cores.
    static let smallClips = EvaluationClipSettings(windowCount: 3, frameCount: 8, framesPerSecond: 5, size: 32)

    /// A randomly initialised model (seeded) whose dictionary is `words`. At PyTorch's default
    /// initialisation each convolution and ReLU shrinks the signal about 2.4 times, so every
    /// BatchNorm scale is set to 2.45 to keep the features' size, and the video network's last bias
    /// is zero: otherwise every video gets nearly the same embedding and the similarities tie.
    static func randomModel(words: [String], seed: UInt64 = 11) throws -> MILNCEModel {
        let generator = try Generator(seed: seed)
        let video = try S3DG(generator: generator)
        let text = try SentenceEmbedding(vocabularySize: words.count + 1, wordDimension: 16, generator: generator)
        try withoutGrad {
            for (name, tensor) in video.stateDict() where name.contains(".bn") && name.hasSuffix(".weight") {
                _ = try tensor.fillInPlace(2.45)
            }
            if let bias = video.fc.bias { _ = try bias.zeroInPlace() }
        }
        let model = MILNCEModel(video: video, text: text)
        model.eval()
        return model
    }

    /// The distinct words of `sentences` (as the reference splits them), in first-seen order.
    static func dictionary(of sentences: [String]) -> [String] {
        var seen = Set<String>()
        var words: [String] = []
        for sentence in sentences {
            for word in PythonUnicode.findWords(in: sentence) where seen.insert(word).inserted { words.append(word) }
        }
        return words
    }

    /// The reference's `compute_metrics` on `text @ video.T` of two float32 `.npy` files, as JSON
    /// with every digit (`repr`).
    static let numpyMetricsScript = """
    import json, sys
    \(PythonOracles.computeMetrics)
    t = np.load(sys.argv[1])
    v = np.load(sys.argv[2])
    m = compute_metrics(np.dot(t, v.T))
    print(json.dumps({k: repr(float(m[k])) for k in ['R1', 'R5', 'R10', 'MR']} | {'rows': t.shape[0]}))
    """

    /// The NumPy metrics of two `.npy` files, as `[R1, R5, R10, MR]`, and the row count.
    static func numpyMetrics(text: URL, video: URL) throws -> (values: [Double], rows: Int) {
        let output = try EvaluationOracle.run(numpyMetricsScript, arguments: [text.path, video.path])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
        let values = try ["R1", "R5", "R10", "MR"].map { key in
            try #require((object[key] as? String).flatMap(Double.init), "no \(key) in \(output)")
        }
        return (values, try #require(object["rows"] as? Int))
    }

    /// The largest difference between two float arrays, relative to the largest magnitude.
    static func relativeDifference(_ a: [Float], _ b: [Float]) -> Double {
        guard a.count == b.count, !a.isEmpty else { return .infinity }
        let scale = max(a.map { abs(Double($0)) }.max() ?? 0, 1e-12)
        return zip(a, b).map { abs(Double($0) - Double($1)) }.max().map { $0 / scale } ?? .infinity
    }
}
