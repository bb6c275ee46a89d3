import FoundationEssentials
import Torch
import TorchFiles

/// The kinds of model files users have.
public enum CheckpointLayout: String, Sendable {
    /// A bare state_dict of the model (the released `s3d_howto100m.pth`, `torch.save(model.state_dict())`).
    case stateDict = "bare state_dict"
    /// The reference's training checkpoint `epochNNNN.pth.tar`: a dict with `epoch`, `state_dict`
    /// (keys usually prefixed `module.` by DistributedDataParallel), `optimizer`, `scheduler`.
    case referenceTraining = "reference training checkpoint"
    /// Our training checkpoint: the reference's layout plus a `milnce` entry for exact resumption.
    case milnceTraining = "milnce training checkpoint"
    /// A safetensors file of the model's state_dict.
    case safetensors = "safetensors state_dict"
}

/// A model file read into memory: its layout, the model's state_dict with the reference's key
/// names (any `module.` prefix removed), and for training checkpoints the rest of their contents.
public struct ModelCheckpoint {
    public var layout: CheckpointLayout
    /// The model's parameters and buffers, in file order, without the `module.` prefix.
    public var stateDict: NamedTensors
    /// The whole file's value (training checkpoints), for the optimiser and schedule state.
    public var contents: PickleValue?
    /// Whether the state_dict's keys carried DistributedDataParallel's `module.` prefix.
    public var hadModulePrefix: Bool

    /// The training epoch the checkpoint was written after, when it records one.
    public var epoch: Int? { contents?["epoch"]?.asInt }

    /// The state_dict as a dictionary.
    public var tensorsByName: [String: Tensor] {
        Dictionary(stateDict.map { ($0.name, $0.tensor) }, uniquingKeysWith: { first, _ in first })
    }

    /// Whether the video network takes the space-to-depth input layout (the released model's).
    public var spaceToDepth: Bool {
        stateDict.first { $0.name == "conv1.conv1.weight" }?.tensor.shape.dropFirst().first == 24
    }

    /// Rows of the word-embedding matrix, when the text network is present.
    public var vocabularySize: Int? {
        stateDict.first { $0.name == "text_module.word_embd.weight" }?.tensor.shape.first
    }

    /// The shape of the word-embedding matrix (rows x word dimension), when the text network is present.
    public var wordEmbeddingShape: [Int]? {
        stateDict.first { $0.name == "text_module.word_embd.weight" }?.tensor.shape
    }

    /// Size of the video embedding (`fc`'s outputs).
    public var embeddingDimension: Int? {
        stateDict.first { $0.name == "fc.weight" }?.tensor.shape.first
    }

    /// Reads any supported layout, told apart by content.
    public static func load(from url: URL) throws -> ModelCheckpoint {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw ModelError.badCheckpoint("checkpoint not found: \(url.path)")
        }
        if url.pathExtension == "safetensors" {
            return ModelCheckpoint(layout: .safetensors, stateDict: try loadNamedTensors(from: url), contents: nil,
                                   hadModulePrefix: false).strippingModulePrefix()
        }
        let value = try TorchFile.load(contentsOf: url)
        if let tensors = value.asTensorDictionary {
            let named = try tensors.map { ($0.name, try Tensor($0.tensor)) }
            return ModelCheckpoint(layout: .stateDict, stateDict: named, contents: nil, hadModulePrefix: false)
                .strippingModulePrefix()
        }
        guard let inner = value["state_dict"], let tensors = inner.asTensorDictionary else {
            throw ModelError.badCheckpoint(
                "\(url.path) is neither a state_dict nor a training checkpoint with a 'state_dict' entry: "
                    + describeContents(value))
        }
        let named = try tensors.map { ($0.name, try Tensor($0.tensor)) }
        let layout: CheckpointLayout = value["milnce"] != nil ? .milnceTraining : .referenceTraining
        return ModelCheckpoint(layout: layout, stateDict: named, contents: value, hadModulePrefix: false)
            .strippingModulePrefix()
    }

    /// What a file that is not a model holds, in a few words.
    private static func describeContents(_ value: PickleValue) -> String {
        switch value {
        case .tensor(let record):
            let shape = record.shape.map(String.init).joined(separator: " x ")
            return "it holds a single \(record.storage.elementType) tensor of \(shape)"
                + (record.shape.count == 2 ? " (a word-vector matrix is given with --word2vec_path)" : "")
        case .dict(let items, _):
            let keys = items.prefix(8).map { item -> String in
                if case .string(let key) = item.key { return "'\(key)'" }
                return "\(item.key)"
            }
            return "it holds a dictionary with the keys " + keys.joined(separator: ", ") + (items.count > 8 ? ", ..." : "")
        default:
            return String("it holds \(value)".prefix(200))
        }
    }

    private func strippingModulePrefix() -> ModelCheckpoint {
        guard !stateDict.isEmpty, stateDict.allSatisfy({ $0.name.hasPrefix("module.") }) else { return self }
        var copy = self
        copy.stateDict = stateDict.map { (String($0.name.dropFirst("module.".count)), $0.tensor) }
        copy.hadModulePrefix = true
        return copy
    }

    /// A model of the checkpoint's shape (space-to-depth or not, vocabulary size) holding its weights.
    /// `wordVectors` replaces the checkpoint's word embedding when the file has none.
    public func makeModel(wordVectors: Tensor? = nil) throws -> MILNCEModel {
        let video = try S3DG(embeddingDimension: embeddingDimension ?? 512, spaceToDepth: spaceToDepth)
        var state = tensorsByName
        let text: SentenceEmbedding
        if let vocabularySize {
            text = try SentenceEmbedding(vocabularySize: vocabularySize,
                                         wordDimension: state["text_module.word_embd.weight"]!.shape[1],
                                         embeddingDimension: embeddingDimension ?? 512)
        } else if let wordVectors {
            text = try SentenceEmbedding(wordVectors: wordVectors, embeddingDimension: embeddingDimension ?? 512)
            state["text_module.word_embd.weight"] = wordVectors
        } else {
            throw ModelError.badCheckpoint("the checkpoint has no text network word embedding; pass --word2vec_path")
        }
        let model = MILNCEModel(video: video, text: text)
        try model.load(stateDict: state)
        return model
    }

    /// One line per tensor (name, dtype, shape) and a summary: what `milnce inspect` prints.
    public func summary(path: String) -> String {
        var lines = ["\(path): \(layout.rawValue)"]
        if let epoch { lines.append("epoch: \(epoch)") }
        if hadModulePrefix { lines.append("keys carried the DistributedDataParallel prefix 'module.'") }
        if let contents, let entries = contents.asDict {
            let names = entries.compactMap { $0.key.asString }
            lines.append("entries: \(names.joined(separator: ", "))")
        }
        var parameters = 0
        for (name, tensor) in stateDict {
            let shape = tensor.shape.isEmpty ? "scalar" : tensor.shape.map(String.init).joined(separator: "x")
            lines.append("  \(name) \(tensor.dtype) \(shape)")
            if !name.hasSuffix("running_mean") && !name.hasSuffix("running_var") && !name.hasSuffix("num_batches_tracked") {
                parameters += tensor.count
            }
        }
        lines.append("\(stateDict.count) tensors, \(parameters) parameters"
                     + (wordEmbeddingShape.map { ", word embedding \($0.map(String.init).joined(separator: " x "))" } ?? "")
                     + (spaceToDepth ? ", video input layout: space-to-depth (the released model's)" : ", video input layout: plain"))
        return lines.joined(separator: "\n")
    }
}
