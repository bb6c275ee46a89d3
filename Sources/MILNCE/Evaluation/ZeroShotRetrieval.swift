// Zero-shot text-to-video retrieval (YouCook2, MSR-VTT) as the reference evaluates it: each
// caption embedded by the text network, each clip embedded as the mean of its windows' video
// embeddings, and `compute_metrics(text @ video.T)`. Items whose video cannot be decoded are
// left out of the matrix (their caption and their video both), and counted.

import FoundationEssentials
import Torch

// MARK: - Results

/// The embeddings of the items of a retrieval run that could be evaluated.
public struct RetrievalEmbeddings {
    /// The positions, in the items given, of the evaluated items (row `i` of `text` and `video`
    /// belongs to item `items[i]`), in order.
    public var items: [Int]
    /// The caption embeddings, `items.count x D`, on the run's device.
    public var text: Tensor
    /// The video embeddings (mean over windows), `items.count x D`, on the run's device.
    public var video: Tensor
    /// The items left out, with why.
    public var failures: [EvaluationFailure]
    /// Windows that held no frame of their video (black padding only), among the evaluated items.
    public var emptyWindowCount: Int
}

/// The outcome of a retrieval evaluation.
public struct RetrievalEvaluation {
    /// The metrics over the evaluated items.
    public var metrics: RetrievalMetrics
    /// The number of items the dataset has.
    public var itemCount: Int
    /// The embeddings the metrics were computed from, and the failures.
    public var embeddings: RetrievalEmbeddings

    /// The number of items in the similarity matrix.
    public var evaluatedCount: Int { embeddings.items.count }
}

// MARK: - Evaluation

/// Zero-shot text-to-video retrieval with a model on a device.
///
/// Usable from the command line (`milnce eval youcook|msrvtt`) and from a training loop: during
/// training, each rank calls `embedShare(of:rank:worldSize:)` and the trainer gathers the shares
/// and calls `RetrievalShare.metrics(text:video:evaluated:itemCount:)` on rank 0.
public final class ZeroShotRetrieval {
    /// The model; switched to evaluation mode while it runs, then back to the mode it was in.
    public let model: MILNCEModel
    /// The caption tokenizer (the model's dictionary).
    public let tokenizer: Tokenizer
    /// Where the network runs.
    public let device: Device
    /// Windows, batching and caption length.
    public let options: EvaluationRunOptions

    /// An evaluation of `model` (already on `device`).
    public init(model: MILNCEModel, tokenizer: Tokenizer, device: Device, options: EvaluationRunOptions) {
        self.model = model
        self.tokenizer = tokenizer
        self.device = device
        self.options = options
    }

    /// The embeddings of every item whose video can be decoded, in order.
    ///
    /// - Throws: `EvaluationError.invalidSettings`, or a `TorchError` from the network. A video
    ///   that cannot be decoded is not an error: it is in `failures`.
    public func embed(_ items: [RetrievalItem], progress: ProgressDisplay? = nil) throws -> RetrievalEmbeddings {
        try options.validate()
        let clips = options.clips
        let run = WindowedVideoRun(network: model.video, device: device, options: options, output: .embedding,
                                   averagesWindows: true)
        let videos = try run.run(count: items.count, progress: progress, decode: { index in
            try EvaluationDecoding.windows(of: items[index], settings: clips)
        }, describe: { index in
            EvaluationFailure(item: items[index].row, name: items[index].videoID,
                              path: items[index].candidatePaths.first?.path ?? "", reason: "")
        })
        let text = try SentenceEmbedder(network: model.text, tokenizer: tokenizer, device: device,
                                        maxWords: options.maxWords, batchSize: max(options.batchSize, 256))
            .embed(videos.items.map { items[$0].text })
        return RetrievalEmbeddings(items: videos.items, text: text, video: videos.outputs, failures: videos.failures,
                                   emptyWindowCount: videos.emptyWindowCount)
    }

    /// Embeds every item and computes the metrics of `text @ videoᵀ` over those evaluated.
    ///
    /// - Throws: `EvaluationError.nothingEvaluated` when no video could be decoded, and the
    ///   errors of `embed`.
    public func evaluate(_ items: [RetrievalItem], name: String, progress: ProgressDisplay? = nil) throws
        -> RetrievalEvaluation {
        let embeddings = try embed(items, progress: progress)
        guard !embeddings.items.isEmpty else {
            throw EvaluationError.nothingEvaluated(what: name, failureCount: embeddings.failures.count)
        }
        let metrics = try RetrievalShare.metrics(text: embeddings.text, video: embeddings.video)
        return RetrievalEvaluation(metrics: metrics, itemCount: items.count, embeddings: embeddings)
    }

    /// This rank's share of a distributed evaluation: the contiguous block of rows
    /// `RetrievalShare.rows(rank:worldSize:itemCount:)`, embedded, in row order, padded to the
    /// same number of rows on every rank so that the tensors can be all-gathered.
    ///
    /// - Throws: `EvaluationError.invalidSettings` for a rank outside the world, and the errors
    ///   of `embed`.
    public func embedShare(of items: [RetrievalItem], rank: Int, worldSize: Int,
                           progress: ProgressDisplay? = nil) throws -> RetrievalShare {
        guard worldSize >= 1, rank >= 0, rank < worldSize else {
            throw EvaluationError.invalidSettings("rank \(rank) is not in a world of \(worldSize)")
        }
        let rows = RetrievalShare.rows(rank: rank, worldSize: worldSize, itemCount: items.count)
        let capacity = RetrievalShare.capacity(worldSize: worldSize, itemCount: items.count)
        let embeddings = try embed(Array(items[rows]), progress: progress)
        let dimension = embeddings.text.shape.last ?? 0
        // Scatter the evaluated rows into zero-filled blocks of `capacity` rows.
        var mask = [Float](repeating: 0, count: capacity)
        for position in embeddings.items { mask[position] = 1 }
        func padded(_ values: Tensor) throws -> Tensor {
            let rowsOfValues = try values.to(.cpu).contiguous().toArray(of: Float.self)
            var block = [Float](repeating: 0, count: capacity * dimension)
            for (row, position) in embeddings.items.enumerated() {
                block.replaceSubrange(position * dimension..<(position + 1) * dimension,
                                      with: rowsOfValues[row * dimension..<(row + 1) * dimension])
            }
            return try Tensor(block, shape: [capacity, dimension]).to(device)
        }
        return RetrievalShare(rows: rows, capacity: capacity, text: try padded(embeddings.text),
                              video: try padded(embeddings.video), evaluated: try Tensor(mask).to(device),
                              failures: embeddings.failures, emptyWindowCount: embeddings.emptyWindowCount)
    }
}

// MARK: - Distributed shares

/// One rank's share of a distributed retrieval evaluation. Every rank's tensors have `capacity`
/// rows, so that they can be all-gathered: concatenated in rank order they hold the dataset's
/// rows in order, followed by padding; `evaluated` marks the rows that count.
public struct RetrievalShare {
    /// The dataset rows of this rank.
    public var rows: Range<Int>
    /// The number of rows of every rank's tensors (`ceil(items / worldSize)`).
    public var capacity: Int
    /// Caption embeddings, `capacity x D`, row `i` for dataset row `rows.lowerBound + i`.
    public var text: Tensor
    /// Video embeddings, `capacity x D`.
    public var video: Tensor
    /// `capacity` values: 1 where the row was evaluated, 0 for a failed video or padding.
    public var evaluated: Tensor
    /// This rank's failures (`item` is the dataset row).
    public var failures: [EvaluationFailure]
    /// Windows without any frame of their video, on this rank.
    public var emptyWindowCount: Int

    /// Rows per rank: `ceil(itemCount / worldSize)`, at least 1.
    public static func capacity(worldSize: Int, itemCount: Int) -> Int {
        let size = max(1, worldSize)
        return max(1, (max(0, itemCount) + size - 1) / size)
    }

    /// The contiguous block of rows of `rank`: `rank × capacity ..< min((rank + 1) × capacity, itemCount)`
    /// (empty for the last ranks when there are fewer rows than ranks).
    public static func rows(rank: Int, worldSize: Int, itemCount: Int) -> Range<Int> {
        let capacity = capacity(worldSize: worldSize, itemCount: itemCount)
        let count = max(0, itemCount)
        let start = min(count, max(0, rank) * capacity)
        return start..<min(count, start + capacity)
    }

    /// The metrics of gathered shares (one tensor of each kind per rank, in rank order) over the
    /// rows marked evaluated.
    ///
    /// - Throws: `EvaluationError.invalidSettings` when the lists differ in length or are empty,
    ///   `EvaluationError.nothingEvaluated` when no row was evaluated, or a `TorchError`.
    public static func metrics(text: [Tensor], video: [Tensor], evaluated: [Tensor]) throws -> RetrievalMetrics {
        guard !text.isEmpty, text.count == video.count, text.count == evaluated.count else {
            throw EvaluationError.invalidSettings(
                "gathered shares: \(text.count) text, \(video.count) video and \(evaluated.count) mask tensors")
        }
        let allText = try Tensor.cat(text, dimension: 0)
        let allVideo = try Tensor.cat(video, dimension: 0)
        let mask = try Tensor.cat(evaluated, dimension: 0).to(.cpu).to(.float32).toArray(of: Float.self)
        let keep = mask.enumerated().compactMap { $0.element != 0 ? Int64($0.offset) : nil }
        guard !keep.isEmpty else { throw EvaluationError.nothingEvaluated(what: "the gathered shares", failureCount: 0) }
        let index = try Tensor(keep).to(allText.device)
        return try metrics(text: allText.indexSelect(0, index), video: allVideo.indexSelect(0, index))
    }

    /// The metrics of `text @ videoᵀ` (row `i` of each belongs to item `i`), computed as the
    /// reference's `compute_metrics`.
    ///
    /// - Throws: `EvaluationError.invalidSettings` when the shapes do not pair up (more text
    ///   rows than videos, or different dimensions), `EvaluationError.nonFiniteEmbeddings` when
    ///   a row holds NaN or an infinity, or a `TorchError`.
    public static func metrics(text: Tensor, video: Tensor) throws -> RetrievalMetrics {
        let rows = text.shape.first ?? 0
        guard text.rank == 2, video.rank == 2, text.shape[1] == video.shape[1], rows <= video.shape[0] else {
            throw EvaluationError.invalidSettings(
                "text embeddings \(text.shape) and video embeddings \(video.shape) do not pair up row by row")
        }
        try EmbeddingFiles.requireFinite(text, what: "the text embeddings")
        try EmbeddingFiles.requireFinite(video, what: "the video embeddings")
        let similarity = try withoutGrad {
            try text.to(.float32).matmul(video.to(.float32).t()).to(.cpu).contiguous().toArray(of: Float.self)
        }
        return try RetrievalMetrics(similarity: similarity, rows: rows, columns: video.shape[0])
    }
}
