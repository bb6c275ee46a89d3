import FoundationEssentials

// MARK: - Errors

/// Why an evaluation, an embedding run or one of their files could not be used.
///
/// A video that cannot be read is not an error of this kind: it is an `EvaluationFailure`,
/// counted and reported while the run goes on.
public enum EvaluationError: Error, CustomStringConvertible, Equatable {
    /// A setting is out of range.
    case invalidSettings(String)
    /// A dataset CSV lacks a value, or holds one the evaluation cannot use.
    case badDataset(path: String, line: Int?, reason: String)
    /// A dataset has no rows to evaluate.
    case emptyDataset(path: String)
    /// None of the files that may hold a video exists.
    case videoNotFound(candidates: [String])
    /// No video of the dataset could be decoded.
    case nothingEvaluated(what: String, failureCount: Int)
    /// A model file, word file or dictionary cannot be used for this evaluation.
    case badModelFiles(String)
    /// An embedding or feature file cannot be read or has the wrong shape.
    case badEmbeddingFile(path: String, reason: String)
    /// A list of inputs (videos or sentences) cannot be read or is empty.
    case badInputList(path: String, reason: String)
    /// Writing a result file failed.
    case writeFailed(path: String, reason: String)
    /// Embedding rows hold NaN or infinite values: `what` names the embeddings, `rows` lists
    /// the bad rows (0-based) of `rowCount`.
    case nonFiniteEmbeddings(what: String, rows: [Int], rowCount: Int)

    /// What failed, on what, and why.
    public var description: String {
        switch self {
        case .invalidSettings(let message):
            return "evaluation settings: \(message)"
        case let .badDataset(path, line, reason):
            let location = line.map { "\(path), line \($0)" } ?? path
            return "reading the evaluation dataset \(location): \(reason)"
        case .emptyDataset(let path):
            return "reading the evaluation dataset \(path): it has no rows"
        case .videoNotFound(let candidates):
            if candidates.count == 1 { return "cannot read video '\(candidates[0])': no such file" }
            return "cannot find the video: none of " + candidates.map { "'\($0)'" }.joined(separator: ", ")
                + " exists"
        case let .nothingEvaluated(what, failureCount):
            return "evaluating \(what): none of the videos could be decoded (\(failureCount) failed); "
                + "check the video root folder"
        case .badModelFiles(let message):
            return "loading the model for evaluation: \(message)"
        case let .badEmbeddingFile(path, reason):
            return "reading the embeddings \(path): \(reason)"
        case let .badInputList(path, reason):
            return "reading the inputs \(path): \(reason)"
        case let .writeFailed(path, reason):
            return "writing \(path): \(reason)"
        case let .nonFiniteEmbeddings(what, rows, rowCount):
            let shown = rows.prefix(10).map(String.init).joined(separator: ", ")
                + (rows.count > 10 ? " and \(rows.count - 10) more" : "")
            return "computing retrieval metrics: \(rows.count) of the \(rowCount) rows of \(what) hold NaN or infinite "
                + "values (\(rows.count == 1 ? "row" : "rows") \(shown), counted from 0); metrics over them would be "
                + "meaningless. Such rows come from a model whose weights are not finite (a training run that "
                + "diverged) or from a damaged file: embed again with a sound checkpoint"
        }
    }
}

// MARK: - Failures

/// A video that could not be evaluated: which item, which file, and why. Runs count these and go on.
public struct EvaluationFailure: Sendable, Codable, Equatable, CustomStringConvertible {
    /// The item's position in its dataset (the 0-based CSV data row, or the line of a list).
    public var item: Int
    /// The item's name (its video id, or the path as listed).
    public var name: String
    /// The file that was tried (the first candidate when none exists).
    public var path: String
    /// Why it failed.
    public var reason: String

    /// Creates a failure record.
    public init(item: Int, name: String, path: String, reason: String) {
        self.item = item
        self.name = name
        self.path = path
        self.reason = reason
    }

    /// One line: the item, the path and the reason.
    public var description: String { "item \(item) (\(name)): \(path): \(reason)" }
}
