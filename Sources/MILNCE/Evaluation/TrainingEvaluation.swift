import FoundationEssentials
import Torch

// MARK: - During training

/// The zero-shot YouCook2 evaluation a training loop runs every few epochs (the reference's
/// `--evaluate`), on every rank of the job: each rank embeds its block of the clips
/// (`ZeroShotRetrieval.embedShare`), the blocks are all-gathered, and rank 0 computes the metrics.
///
/// Every rank must call `evaluate(model:device:group:)` at the same point: it runs three
/// all-gathers. A video that cannot be decoded is left out (see `lastFailures`), never an error.
public final class YouCook2TrainingEvaluation {
    /// The clips of the validation CSV.
    public let items: [RetrievalItem]
    /// The caption tokenizer (the training dictionary).
    public let tokenizer: Tokenizer
    /// Windows, batching and caption length.
    public let options: EvaluationRunOptions
    /// The failures of this rank's block in the last evaluation (`item` is the CSV data row).
    public private(set) var lastFailures: [EvaluationFailure] = []

    /// The evaluation of the clips of `csv` (`validation_youcook.csv`) with videos under `videoRoot`.
    ///
    /// - Throws: `CSVError` or `EvaluationError` when the CSV cannot be read or has no rows, and
    ///   `EvaluationError.invalidSettings` for unusable options.
    public init(csv: URL, videoRoot: URL, tokenizer: Tokenizer, options: EvaluationRunOptions) throws {
        try options.validate()
        items = try YouCook2Dataset.items(csv: csv, videoRoot: videoRoot)
        guard !items.isEmpty else { throw EvaluationError.emptyDataset(path: csv.path) }
        self.tokenizer = tokenizer
        self.options = options
    }

    /// Evaluates `model` (on `device`) with the ranks of `group` (nil for a single process).
    ///
    /// - Returns: on rank 0, `R1`, `R5`, `R10` (fractions) and `MR` (median rank) when at least
    ///   one clip was evaluated, with the counts `evaluated` and `items`; nil on the other ranks.
    /// - Throws: a `TorchError` from the network or a collective.
    public func evaluate(model: MILNCEModel, device: Device, group: ProcessGroup?) throws -> [String: Double]? {
        let rank = group?.rank ?? 0
        let size = group?.size ?? 1
        let retrieval = ZeroShotRetrieval(model: model, tokenizer: tokenizer, device: device, options: options)
        let share = try retrieval.embedShare(of: items, rank: rank, worldSize: size)
        lastFailures = share.failures
        var texts = [share.text]
        var videos = [share.video]
        var masks = [share.evaluated]
        if let group, size > 1 {
            texts = try group.allGather(share.text)
            videos = try group.allGather(share.video)
            masks = try group.allGather(share.evaluated)
        }
        guard rank == 0 else { return nil }
        let evaluated = try Tensor.cat(masks).sum().item()
        var result: [String: Double] = ["evaluated": evaluated, "items": Double(items.count)]
        guard evaluated > 0 else { return result }
        let metrics = try RetrievalShare.metrics(text: texts, video: videos, evaluated: masks)
        result["R1"] = metrics.r1
        result["R5"] = metrics.r5
        result["R10"] = metrics.r10
        result["MR"] = metrics.medianRank
        return result
    }
}
