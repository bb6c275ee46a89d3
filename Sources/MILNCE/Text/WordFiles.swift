import FoundationEssentials
import Torch
import TorchFiles

/// Readers for the text network's files: the word dictionary (`dict.npy`) and the word2vec matrix
/// (`word2vec.pth` written by `torch.save`, or a `.npy` array), and the check that the two belong
/// together.
public enum WordFiles {
    /// The width of the reference's word vectors: its text network (and its released weights)
    /// take 300-dimensional word2vec vectors.
    public static let referenceDimension = 300

    /// The dictionary's words (word i has token i + 1) from a NumPy array of strings.
    public static func loadDictionary(from url: URL) throws -> [String] {
        let array = try NumPyFile.load(contentsOf: url)
        guard case .strings(let words, let shape) = array else {
            throw WordFileFormatError(path: url.path, problem: "the word dictionary must be a NumPy array of strings, found numbers")
        }
        guard shape.count == 1 else {
            throw WordFileFormatError(path: url.path, problem: "the word dictionary must be 1-dimensional, found shape \(shape)")
        }
        return words
    }

    /// The word-vector matrix (`vocabulary x dimension`, float32) from a `torch.save`d tensor or
    /// a `.npy` array.
    public static func loadMatrix(from url: URL) throws -> Tensor {
        try Tensor(loadMatrixRecord(from: url)).to(.float32)
    }

    /// The word-vector matrix's values as stored (any element type), without making a tensor.
    public static func loadMatrixRecord(from url: URL) throws -> TensorRecord {
        let record: TensorRecord
        if url.pathExtension == "npy" {
            guard case .numeric(let numbers) = try NumPyFile.load(contentsOf: url) else {
                throw WordFileFormatError(path: url.path, problem: "the word2vec matrix must be numeric")
            }
            record = numbers
        } else {
            let value = try TorchFile.load(contentsOf: url)
            if let tensor = value.asTensor {
                record = tensor
            } else if let single = value.asTensorDictionary, single.count == 1 {
                record = single[0].tensor
            } else {
                throw WordFileFormatError(path: url.path, problem: "expected a saved tensor (the word2vec matrix)")
            }
        }
        guard record.shape.count == 2, record.shape[0] > 0, record.shape[1] > 0 else {
            throw WordFileFormatError(path: url.path, problem: "the word2vec matrix must be 2-dimensional, found shape \(record.shape)")
        }
        return record
    }

    // MARK: Checking a matrix against a dictionary

    /// Checks that the word vectors of `vectors` and the dictionary `dictionary` (both files, or
    /// a dictionary and a checkpoint's word embedding) belong together: one row per word plus row
    /// 0 for padding, and, when `expectedColumns` is given, that many values per row.
    ///
    /// - Throws: `WordFilesError` saying which of these fails, with both sizes and what to do.
    public static func check(rows: Int, columns: Int, vectors: String, wordCount: Int, dictionary: String,
                             expectedColumns: Int? = referenceDimension) throws {
        let problem: WordFilesError.Problem
        if rows != wordCount + 1 {
            problem = rows < wordCount + 1 ? .tooFewRows : .tooManyRows
        } else if let expectedColumns, columns != expectedColumns {
            problem = .wrongDimension(expected: expectedColumns)
        } else {
            return
        }
        throw WordFilesError(problem: problem, vectors: vectors, rows: rows, columns: columns,
                             dictionary: dictionary, wordCount: wordCount)
    }

    /// Reads the word2vec matrix and the dictionary and checks that they belong together and
    /// that the vectors have the reference's 300 dimensions (what training needs).
    ///
    /// - Throws: the errors of `loadMatrixRecord(from:)` and `loadDictionary(from:)`, and
    ///   `WordFilesError`.
    public static func checkTrainingFiles(wordVectors: URL, dictionary: URL) throws {
        let shape = try loadMatrixRecord(from: wordVectors).shape
        let words = try loadDictionary(from: dictionary)
        try check(rows: shape[0], columns: shape[1], vectors: "the word vectors \(wordVectors.path)",
                  wordCount: words.count, dictionary: dictionary.path)
    }
}

/// A word file that is not what the text network reads: a dictionary that is not a 1-dimensional
/// array of strings, or a word-vector matrix that is not a 2-dimensional numeric tensor.
public struct WordFileFormatError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The file.
    public var path: String
    /// What is wrong with it.
    public var problem: String

    public var description: String { "\(path): \(problem)" }
}

/// A word-vector matrix that does not fit its dictionary, or has another width than the
/// network takes.
public struct WordFilesError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What does not fit.
    public enum Problem: Sendable, Equatable {
        /// Fewer rows than the dictionary's words plus one: some tokens have no row.
        case tooFewRows
        /// More rows than the dictionary's words plus one: the files were not made together.
        case tooManyRows
        /// Rows of another width than the network takes.
        case wrongDimension(expected: Int)
    }

    /// What does not fit.
    public var problem: Problem
    /// The word vectors, in words ("the word vectors data/word2vec.pth").
    public var vectors: String
    /// Rows of the matrix.
    public var rows: Int
    /// Values per row.
    public var columns: Int
    /// The dictionary file.
    public var dictionary: String
    /// Words in the dictionary.
    public var wordCount: Int

    public var description: String {
        let sizes = "\(vectors) (\(rows) x \(columns)) and the dictionary \(dictionary) (\(wordCount) words)"
        let remedy = "use the dict.npy and word2vec.pth made together (milnce word2vec import writes both), "
            + "or the dictionary the model was trained with"
        switch problem {
        case .tooFewRows:
            return "\(sizes) do not belong together: a matrix has one row per word plus row 0 for padding, "
                + "\(wordCount + 1) rows, and this one has \(rows), so tokens \(rows) to \(wordCount) have no "
                + "vector; \(remedy)"
        case .tooManyRows:
            return "\(sizes) do not belong together: a matrix has one row per word plus row 0 for padding, "
                + "\(wordCount + 1) rows, and this one has \(rows), so words would be given other words' "
                + "vectors; \(remedy)"
        case .wrongDimension(let expected):
            return "\(sizes): the rows have \(columns) values, and the text network takes \(expected) "
                + "(the reference's word2vec dimension, which its checkpoints and released weights need); "
                + "use \(expected)-dimensional word vectors"
        }
    }
}
