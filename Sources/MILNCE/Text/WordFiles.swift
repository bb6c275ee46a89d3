import FoundationEssentials
import Torch
import TorchFiles

/// Readers for the text network's files: the word dictionary (`dict.npy`) and the word2vec matrix
/// (`word2vec.pth` written by `torch.save`, or a `.npy` array).
public enum WordFiles {
    /// The dictionary's words (word i has token i + 1) from a NumPy array of strings.
    public static func loadDictionary(from url: URL) throws -> [String] {
        let array = try NumPyFile.load(contentsOf: url)
        guard case .strings(let words, let shape) = array else {
            throw ModelError.badCheckpoint("\(url.path): the word dictionary must be a NumPy array of strings, found numbers")
        }
        guard shape.count == 1 else {
            throw ModelError.badCheckpoint("\(url.path): the word dictionary must be 1-dimensional, found shape \(shape)")
        }
        return words
    }

    /// The word-vector matrix (`vocabulary x dimension`, float32) from a `torch.save`d tensor or
    /// a `.npy` array.
    public static func loadMatrix(from url: URL) throws -> Tensor {
        let record: TensorRecord
        if url.pathExtension == "npy" {
            guard case .numeric(let numbers) = try NumPyFile.load(contentsOf: url) else {
                throw ModelError.badCheckpoint("\(url.path): the word2vec matrix must be numeric")
            }
            record = numbers
        } else {
            let value = try TorchFile.load(contentsOf: url)
            if let tensor = value.asTensor {
                record = tensor
            } else if let single = value.asTensorDictionary, single.count == 1 {
                record = single[0].tensor
            } else {
                throw ModelError.badCheckpoint("\(url.path): expected a saved tensor (the word2vec matrix)")
            }
        }
        guard record.shape.count == 2, record.shape[0] > 0, record.shape[1] > 0 else {
            throw ModelError.badCheckpoint("\(url.path): the word2vec matrix must be 2-dimensional, found shape \(record.shape)")
        }
        return try Tensor(record).to(.float32)
    }
}
