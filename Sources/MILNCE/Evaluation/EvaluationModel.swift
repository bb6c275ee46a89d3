// The model files an evaluation needs: a checkpoint of any layout, the word2vec matrix when the
// checkpoint has no text network, and the word dictionary of the text network's tokens.

import FoundationEssentials
import Torch

/// Finds and loads what an evaluation runs: the model, the video network alone, the tokenizer.
public enum EvaluationModelFiles {
    /// The dictionary file names looked for beside the checkpoint (the training data's and the
    /// released model's).
    public static let dictionaryNames = ["dict.npy", "s3d_dict.npy"]
    /// The reference's default dictionary path, relative to the working folder.
    public static let referenceDictionaryPath = "data/dict.npy"
    /// The reference's default word2vec matrix path, relative to the working folder.
    public static let referenceWordVectorsPath = "data/word2vec.pth"

    // MARK: Models

    /// The whole model (video and text networks) of a checkpoint of any layout, on `device`.
    /// When the checkpoint has no text network word embedding, the word2vec matrix comes from
    /// `wordVectors`, else from `data/word2vec.pth` when that exists.
    ///
    /// - Throws: `ModelError`, `TorchFileError` or `StateDictError` when a file cannot be read or
    ///   does not fit, `EvaluationError.badModelFiles` when the word vectors are needed and absent.
    public static func model(checkpoint: URL, wordVectors: URL?, device: Device) throws -> MILNCEModel {
        let loaded = try ModelCheckpoint.load(from: checkpoint)
        var vectors: Tensor?
        if loaded.vocabularySize == nil {
            vectors = try WordFiles.loadMatrix(from: try wordVectorsURL(explicit: wordVectors, checkpoint: checkpoint))
        }
        let model = try loaded.makeModel(wordVectors: vectors)
        try model.move(to: device)
        model.eval()
        return model
    }

    /// The whole model of a checkpoint already read from `checkpoint`, on `device`, after
    /// checking that the dictionary of `wordCount` words at `dictionary` fits its word embedding
    /// (or the word2vec matrix `wordVectors`, else `data/word2vec.pth`, when the checkpoint has
    /// none): one row per word plus the padding row, and the width the text network takes.
    ///
    /// - Throws: `WordFilesError` when the dictionary does not fit, before the model is built;
    ///   otherwise the errors of `model(checkpoint:wordVectors:device:)`.
    public static func model(_ loaded: ModelCheckpoint, from checkpoint: URL, wordVectors: URL?, dictionary: URL,
                             wordCount: Int, device: Device) throws -> MILNCEModel {
        var vectors: Tensor?
        if let shape = loaded.wordEmbeddingShape, shape.count == 2 {
            try WordFiles.check(rows: shape[0], columns: shape[1],
                                vectors: "the word embedding of \(checkpoint.path)", wordCount: wordCount,
                                dictionary: dictionary.path, expectedColumns: nil)
        } else {
            let url = try wordVectorsURL(explicit: wordVectors, checkpoint: checkpoint)
            let record = try WordFiles.loadMatrixRecord(from: url)
            let width = loaded.stateDict.first { $0.name == "text_module.fc1.weight" }?.tensor.shape.last
            try WordFiles.check(rows: record.shape[0], columns: record.shape[1], vectors: "the word vectors \(url.path)",
                                wordCount: wordCount, dictionary: dictionary.path,
                                expectedColumns: width ?? WordFiles.referenceDimension)
            vectors = try Tensor(record).to(.float32)
        }
        let model = try loaded.makeModel(wordVectors: vectors)
        try model.move(to: device)
        model.eval()
        return model
    }

    /// The word2vec matrix for a checkpoint without a word embedding: `explicit`, else the
    /// reference's `data/word2vec.pth` when it exists.
    private static func wordVectorsURL(explicit: URL?, checkpoint: URL) throws -> URL {
        let reference = URL(fileURLWithPath: referenceWordVectorsPath)
        guard let url = explicit ?? (FileManager.default.fileExists(atPath: reference.path) ? reference : nil) else {
            throw EvaluationError.badModelFiles(
                "\(checkpoint.path) holds no text network word embedding (text_module.word_embd.weight); "
                    + "pass the word2vec matrix with --word2vec_path")
        }
        return url
    }

    /// The video network of a checkpoint of any layout, on `device`: the text network is neither
    /// needed nor loaded (HMDB-51, video embeddings).
    ///
    /// - Throws: `ModelError`, `TorchFileError` or `StateDictError` when the file cannot be read
    ///   or does not fit S3D-G.
    public static func videoNetwork(checkpoint: URL, device: Device) throws -> S3DG {
        try videoNetwork(ModelCheckpoint.load(from: checkpoint), device: device)
    }

    /// The video network of a checkpoint already read, on `device`.
    ///
    /// - Throws: `ModelError` or `StateDictError` when the state_dict does not fit S3D-G.
    public static func videoNetwork(_ loaded: ModelCheckpoint, device: Device) throws -> S3DG {
        let network = try S3DG(embeddingDimension: loaded.embeddingDimension ?? 512, spaceToDepth: loaded.spaceToDepth)
        let state = Dictionary(loaded.stateDict.filter { !$0.name.hasPrefix("text_module.") }.map { ($0.name, $0.tensor) },
                               uniquingKeysWith: { first, _ in first })
        try network.load(stateDict: state)
        try network.move(to: device)
        network.eval()
        return network
    }

    // MARK: Dictionary

    /// The places a dictionary is looked for, in order: `explicit`; `dict.npy` and
    /// `s3d_dict.npy` beside the checkpoint; `dict.npy` beside the word2vec matrix; the
    /// reference's `data/dict.npy`.
    public static func dictionaryCandidates(explicit: URL?, checkpoint: URL, wordVectors: URL?) -> [URL] {
        if let explicit { return [explicit] }
        let folder = checkpoint.deletingLastPathComponent()
        var candidates = dictionaryNames.map { folder.appendingPathComponent($0) }
        if let wordVectors { candidates.append(wordVectors.deletingLastPathComponent().appendingPathComponent("dict.npy")) }
        candidates.append(URL(fileURLWithPath: referenceDictionaryPath))
        return candidates
    }

    /// The dictionary file: the first of `dictionaryCandidates` that exists.
    ///
    /// - Throws: `EvaluationError.badModelFiles` listing the places tried.
    public static func dictionary(explicit: URL?, checkpoint: URL, wordVectors: URL?) throws -> URL {
        let candidates = dictionaryCandidates(explicit: explicit, checkpoint: checkpoint, wordVectors: wordVectors)
        for candidate in candidates where FileManager.default.fileExists(atPath: candidate.path) {
            return candidate
        }
        if let explicit {
            throw EvaluationError.badModelFiles("the dictionary \(explicit.path) (--token_to_word_path) does not exist")
        }
        throw EvaluationError.badModelFiles(
            "no word dictionary found (tried " + candidates.map(\.path).joined(separator: ", ")
                + "); pass it with --token_to_word_path")
    }

    /// The tokenizer of the dictionary found by `dictionary(explicit:checkpoint:wordVectors:)`.
    ///
    /// - Throws: the errors of `dictionary(...)` and of `WordFiles.loadDictionary(from:)`.
    public static func tokenizer(explicit: URL?, checkpoint: URL, wordVectors: URL?, lowercased: Bool) throws
        -> (tokenizer: Tokenizer, path: URL) {
        let url = try dictionary(explicit: explicit, checkpoint: checkpoint, wordVectors: wordVectors)
        return (Tokenizer(words: try WordFiles.loadDictionary(from: url), lowercased: lowercased), url)
    }
}
