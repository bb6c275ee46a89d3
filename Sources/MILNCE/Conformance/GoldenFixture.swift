import FoundationEssentials
import Torch
import TorchFiles

/// A golden fixture folder: the reference PyTorch implementation's outputs for one small input, by
/// which an install is checked (`milnce check`) and the tests compare the model with the reference.
///
/// The folder holds `meta.json` (sizes and options), `state_dict.pth` (the model),
/// `word2vec.pth` (the word-embedding matrix), `dict.npy` and `io.pth`: the input `video` and
/// `text`, the evaluation-mode outputs (`eval_mixed5c`, `eval_video_embd`, `eval_text_embd`), one
/// training-mode forward and backward (`train_video_embd`, `train_text_embd`, `train_loss`,
/// `grad.<parameter>`) and the BatchNorm buffers after it (`after_train_step.<buffer>`). Every size
/// is taken from `meta.json`, none from constants, so any fixture of this form runs unchanged.
public struct GoldenFixture {
    /// `meta.json`.
    public struct Meta: Decodable, Sendable {
        /// Whether the video network takes the space-to-depth input layout.
        public var spaceToDepth: Bool
        /// Frames per clip.
        public var frames: Int
        /// Height and width of a clip.
        public var size: Int
        /// Clips in the batch.
        public var batch: Int
        /// Captions per clip.
        public var numCandidates: Int
        /// Words per caption.
        public var maxWords: Int
        /// Rows of the word-embedding matrix.
        public var vocab: Int
        /// The training-mode MIL-NCE loss.
        public var loss: Double
        /// The PyTorch version that made the fixture.
        public var torch: String?

        enum CodingKeys: String, CodingKey {
            case spaceToDepth = "space_to_depth", frames, size, batch, numCandidates = "num_candidates"
            case maxWords = "max_words", vocab, loss, torch
        }
    }

    /// The fixture folder.
    public let folder: URL
    /// Its `meta.json`.
    public let meta: Meta
    /// The tensors of `io.pth`, by name.
    public let tensors: [String: Tensor]

    /// Reads `meta.json` and `io.pth` from `folder` and checks that the inputs have the sizes
    /// `meta.json` states.
    public init(contentsOf folder: URL) throws {
        self.folder = folder
        let metaFile = folder.appendingPathComponent("meta.json")
        guard FileManager.default.fileExists(atPath: metaFile.path) else {
            throw GoldenFixtureError(folder: folder, problem: "it has no meta.json",
                                     remedy: "pass the folder that holds meta.json, state_dict.pth, word2vec.pth and io.pth")
        }
        do {
            meta = try JSONDecoder().decode(Meta.self, from: Data(contentsOf: metaFile))
        } catch {
            throw GoldenFixtureError(folder: folder, problem: "its meta.json cannot be read (\(error))",
                                     remedy: "restore the fixture's meta.json")
        }
        let named = try loadNamedTensors(from: folder.appendingPathComponent("io.pth"))
        tensors = Dictionary(named.map { ($0.name, $0.tensor) }, uniquingKeysWith: { first, _ in first })
        let expectedVideo = [meta.batch, 3, meta.frames, meta.size, meta.size]
        let expectedText = [meta.batch * meta.numCandidates, meta.maxWords]
        for (key, expected) in [("video", expectedVideo), ("text", expectedText)] {
            let shape = try tensor(key).shape
            guard shape == expected else {
                throw GoldenFixtureError(folder: folder, problem: "io.pth's \(key) has shape \(shape), meta.json says \(expected)",
                                         remedy: "use a fixture whose io.pth and meta.json were written together")
            }
        }
    }

    /// The tensor `key` of `io.pth`.
    public func tensor(_ key: String) throws -> Tensor {
        guard let value = tensors[key] else {
            throw GoldenFixtureError(folder: folder, problem: "io.pth has no '\(key)'",
                                     remedy: "use a complete fixture (see the README's golden fixture format)")
        }
        return value
    }

    /// The parameters whose gradients the fixture records (`grad.<name>`), sorted.
    public var gradientNames: [String] {
        tensors.keys.filter { $0.hasPrefix("grad.") }.map { String($0.dropFirst(5)) }.sorted()
    }

    /// The buffers the fixture records after the training-mode forward (`after_train_step.<name>`), sorted.
    public var bufferNames: [String] {
        tensors.keys.filter { $0.hasPrefix("after_train_step.") }.map { String($0.dropFirst(17)) }.sorted()
    }

    /// The model of the fixture, built from its files alone: `state_dict.pth` (the space-to-depth
    /// layout as the checkpoint has it) and the `word2vec.pth` matrix, on the CPU in float32.
    public func makeModel() throws -> MILNCEModel {
        let checkpoint = try ModelCheckpoint.load(from: folder.appendingPathComponent("state_dict.pth"))
        let wordVectors = try WordFiles.loadMatrix(from: folder.appendingPathComponent("word2vec.pth"))
        guard wordVectors.shape == [meta.vocab, wordVectors.shape.last ?? 0] else {
            throw GoldenFixtureError(folder: folder,
                                     problem: "word2vec.pth has shape \(wordVectors.shape), meta.json says \(meta.vocab) rows",
                                     remedy: "use a fixture whose files were written together")
        }
        guard checkpoint.spaceToDepth == meta.spaceToDepth else {
            throw GoldenFixtureError(folder: folder,
                                     problem: "state_dict.pth's first convolution does not match meta.json's space_to_depth",
                                     remedy: "use a fixture whose files were written together")
        }
        let model = MILNCEModel(
            video: try S3DG(embeddingDimension: checkpoint.embeddingDimension ?? 512, spaceToDepth: checkpoint.spaceToDepth),
            text: try SentenceEmbedding(wordVectors: wordVectors, embeddingDimension: checkpoint.embeddingDimension ?? 512))
        try model.load(stateDict: checkpoint.tensorsByName)
        return model
    }

    /// ‖value − reference‖ / ‖reference‖ in float64 on the CPU (the absolute difference when the
    /// reference is zero); infinite when the shapes differ or `value` is not finite.
    public static func relativeError(_ value: Tensor, _ reference: Tensor) throws -> Double {
        guard value.shape == reference.shape else { return .infinity }
        let a = try value.detach().to(.cpu, .float64), b = try reference.detach().to(.cpu, .float64)
        let difference = try (a - b).norm().item()
        guard difference.isFinite else { return .infinity }
        let denominator = try b.norm().item()
        return denominator == 0 ? difference : difference / denominator
    }
}

/// A golden fixture folder that cannot be used, with what is wrong and what to do.
public struct GoldenFixtureError: Error, CustomStringConvertible {
    public var folder: URL
    public var problem: String
    public var remedy: String

    public init(folder: URL, problem: String, remedy: String) {
        self.folder = folder
        self.problem = problem
        self.remedy = remedy
    }

    public var description: String {
        "cannot use the golden fixture \(folder.path): \(problem); \(remedy)"
    }
}
