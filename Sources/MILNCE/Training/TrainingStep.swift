import FoundationEssentials
import Torch

/// The arithmetic precision of the forward pass.
public enum Precision: String, Sendable, CaseIterable {
    /// Float32 everywhere (the reference's behaviour).
    case fp32
    /// Autocast: convolutions and matrix products in bfloat16, the loss and the optimiser in float32.
    case bf16
}

/// One MIL-NCE training step, as the reference's `TrainOneBatch`: embeddings of the clips and of
/// their K candidate captions, all-gathered across ranks (each rank's backward flows only into its
/// own rows), the MIL-NCE loss, backward, gradients averaged across ranks, an optimiser step and a
/// schedule step.
public final class TrainingStep {
    public let model: MILNCEModel
    public let optimizer: Optimizer
    /// The schedule; the optimiser's learning rate follows it (as PyTorch's `LambdaLR` sets
    /// `param_groups[0]['lr']` at construction and after every step), so that a checkpoint holds
    /// the learning rate of the next step in both.
    public var schedule: CosineSchedule {
        didSet { optimizer.learningRate = schedule.learningRate }
    }
    /// The process group, or nil for a single process.
    public let group: ProcessGroup?
    /// Where the model lives.
    public let device: Device
    public let precision: Precision
    /// Whether clips are fed in channels_last_3d layout (with the weights converted likewise).
    public let channelsLast: Bool
    /// Forward passes per step on this rank, each over a slice of the batch with its own BatchNorm
    /// statistics, and gradients divided by their number: one process then computes exactly what
    /// as many ranks would (the reference's per-GPU BatchNorm and gradient averaging).
    public let microBatches: Int
    /// The size of the gradient buckets whose all-reduce starts while backward still runs (as
    /// DDP's `bucket_cap_mb`); 0: one all-reduce of all gradients after backward.
    public let gradientBucketBytes: Int

    public init(model: MILNCEModel, optimizer: Optimizer, schedule: CosineSchedule, group: ProcessGroup?,
                device: Device, precision: Precision = .fp32, channelsLast: Bool = false, microBatches: Int = 1,
                gradientBucketBytes: Int = 25 << 20) {
        self.model = model
        self.optimizer = optimizer
        self.schedule = schedule
        self.group = group
        self.device = device
        self.precision = precision
        self.channelsLast = channelsLast
        self.microBatches = max(1, microBatches)
        self.gradientBucketBytes = max(0, gradientBucketBytes)
        optimizer.learningRate = schedule.learningRate
    }

    /// The gradients' persistent buffer and, with several ranks and buckets, the all-reduce that
    /// overlaps backward; made at the first step (after the model has its device and layout).
    private var gradients: GradientBuffer?
    private var reducer: GradientReducer?

    /// How many gradient buckets the last step's all-reduce started while backward was running.
    public private(set) var bucketsStartedDuringBackward = 0

    /// The result of a step.
    public struct Outcome {
        /// The MIL-NCE loss over the gathered batch.
        public var loss: Double
        /// The learning rate the optimiser used.
        public var learningRate: Double
    }

    /// Moves a uint8 `B x 3 x T x S x S` batch to the device as float in [0, 1] (as the reference:
    /// `video.float() / 255`): the bytes cross to the device, and there one float copy is made,
    /// in the model's memory format, and divided in place.
    public func prepareVideo(_ video: Tensor) throws -> Tensor {
        guard video.dtype == .uint8 else {
            throw ModelError.badInput("a batch of clips must hold uint8 pixels, got \(video.dtype)")
        }
        let bytes = try video.to(device, nonBlocking: video.device == .cpu && device.isCUDA)
        let clips = try bytes.to(.float32, memoryFormat: channelsLast ? .channelsLast3d : .contiguous)
        return try withoutGrad { try clips.divideInPlace(255) }
    }

    /// Moves a `B x K x W` (or `B·K x W`) int64 token batch to the device as `B·K x W`.
    public func prepareText(_ text: Tensor) throws -> Tensor {
        let rows = try text.to(device, nonBlocking: text.device == .cpu && device.isCUDA)
        return try rows.reshaped([-1, rows.shape.last ?? 0])
    }

    /// Embeddings of this rank's clips and captions (micro-batched as configured).
    ///
    /// Micro-batch m takes clips m, m + M, m + 2M, ... of the batch, as DistributedSampler deals
    /// samples to M ranks, and the embeddings are concatenated micro-batch after micro-batch, as
    /// the all-gather orders ranks; BatchNorm's running statistics keep the first micro-batch's
    /// update only, as DDP keeps rank 0's. So one process with M micro-batches computes what M
    /// ranks with a batch M times smaller compute.
    public func embed(video: Tensor, text: Tensor) throws -> (video: Tensor, text: Tensor) {
        let m = microBatches
        let forward = { () throws -> (Tensor, Tensor) in
            if m == 1 { return (try self.model.video(video), try self.model.text(text)) }
            let clipCount = video.shape[0]
            guard clipCount % m == 0, text.shape[0] % clipCount == 0 else {
                throw ModelError.badInput("a batch of \(clipCount) clips does not split into \(m) micro-batches")
            }
            let candidates = text.shape[0] / clipCount
            let clips = try video.view([clipCount / m, m] + Array(video.shape.dropFirst()))
            let captions = try text.view([clipCount / m, m, candidates, text.shape[1]])
            var videos: [Tensor] = [], texts: [Tensor] = []
            var firstBuffers: [Tensor] = []
            for index in 0..<m {
                videos.append(try self.model.video(clips.select(1, index)))
                texts.append(try self.model.text(captions.select(1, index).reshaped([-1, text.shape[1]])))
                if index == 0 && self.model.isTraining {
                    firstBuffers = try withoutGrad { try self.model.namedBuffers().map { try $0.tensor.clone() } }
                }
            }
            self.firstMicroBatchBuffers = firstBuffers
            return (try Tensor.cat(videos), try Tensor.cat(texts))
        }
        let (videoEmbedding, textEmbedding) = precision == .bf16
            ? try withAutocast(on: device, dtype: .bfloat16, forward)
            : try forward()
        return (try videoEmbedding.to(.float32), try textEmbedding.to(.float32))
    }

    /// BatchNorm buffers as the first micro-batch left them, restored after the backward pass
    /// (not before: the graph still refers to them).
    private var firstMicroBatchBuffers: [Tensor] = []

    private func restoreFirstMicroBatchBuffers() throws {
        guard !firstMicroBatchBuffers.isEmpty else { return }
        try withoutGrad {
            for (buffer, saved) in zip(model.namedBuffers().map(\.tensor), firstMicroBatchBuffers) {
                try buffer.copy(from: saved)
            }
        }
        firstMicroBatchBuffers = []
    }

    /// All ranks' rows in rank order; the gradient of the result reaches only this rank's rows.
    public func gatherAcrossRanks(_ local: Tensor) throws -> Tensor {
        guard let group, group.size > 1 else { return local }
        var parts = try withoutGrad { try group.allGather(local.detach()) }
        parts[group.rank] = local
        return try Tensor.cat(parts, dimension: 0)
    }

    /// Runs one step on a batch (`video` uint8 `B x 3 x T x S x S`, `text` int64 `B x K x W`).
    /// Throws `TrainingError.nonFiniteLoss` before any update if the loss is NaN or infinite.
    ///
    /// The host waits for the device only once, to read the loss after backward and the gradient
    /// all-reduce; a NaN or infinite loss still stops the step before the update.
    public func run(video: Tensor, text: Tensor) throws -> Outcome {
        model.train()
        let clips = try prepareVideo(video)
        let tokens = try prepareText(text)
        let gradients = try gradientBuffer()
        try gradients.attach()
        try gradients.zero()
        try broadcastBuffers()
        let (localVideo, localText) = try embed(video: clips, text: tokens)
        let loss = try milNCELoss(video: gatherAcrossRanks(localVideo), text: gatherAcrossRanks(localText))
        try reducer?.prepare()
        try (microBatches > 1 ? loss / Double(microBatches) : loss).backward()
        try restoreFirstMicroBatchBuffers()
        try averageGradients(gradients)
        let lossValue = try loss.item()
        guard lossValue.isFinite else {
            throw TrainingError.nonFiniteLoss(step: schedule.stepsTaken, value: lossValue)
        }
        let learningRate = optimizer.learningRate
        try optimizer.step()
        schedule.step()
        return Outcome(loss: lossValue, learningRate: learningRate)
    }

    /// The persistent gradient buffer (and the overlapping all-reduce), made at the first step.
    private func gradientBuffer() throws -> GradientBuffer {
        if let gradients { return gradients }
        let made = try GradientBuffer(parameters: optimizer.parameters,
                                      bucketBytes: gradientBucketBytes > 0 ? gradientBucketBytes : Int.max)
        if let group, group.size > 1, gradientBucketBytes > 0 {
            reducer = try GradientReducer(group: group, parameters: made.parameters,
                                          bucketOfParameter: made.bucketOfParameter, buckets: made.buckets)
        }
        gradients = made
        return made
    }

    /// Averages the gradients across ranks, in place in their flat buffer: the sum of each bucket
    /// started during backward (or one all-reduce of the whole buffer), then one division.
    func averageGradients(_ gradients: GradientBuffer) throws {
        guard let group, group.size > 1 else { return }
        if let reducer {
            bucketsStartedDuringBackward = try reducer.finish()
        } else {
            try group.allReduce([gradients.flat], .sum)
        }
        try withoutGrad { _ = try gradients.flat.divideInPlace(Double(group.size)) }
    }

    /// Checks that every rank holds the same parameters (bit for bit; buffers legitimately differ
    /// between the broadcasts that start each step): each rank's
    /// fingerprint (per-tensor sums of the raw bits) is gathered and compared. Throws
    /// `TrainingError.rankFailure` naming the first tensor that differs.
    public func checkReplicas() throws {
        guard let group, group.size > 1 else { return }
        try withoutGrad {
            let named = model.namedParameters()
            let fingerprints = try named.map { entry -> Tensor in
                let values = try entry.tensor.detach().to(.float64).reshaped([-1])
                let weights = try Tensor.arange(1, Double(values.count) + 1, dtype: .float64, device: values.device)
                return try Tensor.stack([values.sum(), (values * weights).sum()])
            }
            let local = try Tensor.stack(fingerprints)
            let all = try group.allGather(local).map { try $0.cpu().toArray(of: Double.self) }
            for (rank, other) in all.enumerated() where other != all[0] {
                let index = zip(other, all[0]).enumerated().first { !($0.element.0 == $0.element.1) }.map { $0.offset / 2 } ?? 0
                throw TrainingError.rankFailure(
                    "rank \(rank)'s \(named[index].name) differs from rank 0's: the replicas have diverged")
            }
        }
    }

    /// Copies rank 0's parameters and buffers to every rank (as DDP does at start).
    public func broadcastParameters() throws {
        try broadcastFromRankZero(model.stateDict().map(\.tensor))
    }

    /// Copies rank 0's buffers (BatchNorm running statistics) to every rank before a forward pass,
    /// as DDP's `broadcast_buffers=True` does.
    func broadcastBuffers() throws {
        try broadcastFromRankZero(model.namedBuffers().map(\.tensor))
    }

    /// Broadcasts tensors from rank 0, one flat buffer per dtype.
    private func broadcastFromRankZero(_ tensors: [Tensor]) throws {
        guard let group, group.size > 1 else { return }
        try withoutGrad {
            for dtype in Set(tensors.map(\.dtype)).sorted(by: { $0.rawValue < $1.rawValue }) {
                let members = tensors.filter { $0.dtype == dtype }
                let flat = try Tensor.cat(members.map { try $0.reshaped([-1]) })
                try group.broadcast([flat], from: 0)
                var offset = 0
                for tensor in members {
                    try tensor.copy(from: flat.narrow(0, start: offset, length: tensor.count).view(tensor.shape))
                    offset += tensor.count
                }
            }
        }
    }
}

/// Failures of a training run.
public enum TrainingError: Error, CustomStringConvertible {
    /// The loss became NaN or infinite.
    case nonFiniteLoss(step: Int, value: Double)
    /// A configuration that cannot run, found before any work starts.
    case invalidConfiguration(String)
    /// Another rank failed or stopped answering.
    case rankFailure(String)
    /// No sample of a whole batch could be loaded: the data or the clip settings cannot work.
    case noUsableSamples(batch: Int, lastFailure: SampleFailure?)

    public var description: String {
        switch self {
        case .nonFiniteLoss(let step, let value):
            "the loss is \(value) at step \(step); stopping (the last checkpoint is kept)"
        case .invalidConfiguration(let message): message
        case .rankFailure(let message): message
        case .noUsableSamples(let batch, let lastFailure):
            "no sample of batch \(batch) could be loaded, even with substitutes; stopping instead of training on "
                + "blank clips (check --video_path, --caption_root and the clip settings)"
                + (lastFailure.map { ". The last failure: \($0)" } ?? "")
        }
    }
}
