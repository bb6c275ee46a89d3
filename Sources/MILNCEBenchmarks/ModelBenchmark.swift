import FoundationEssentials
import MILNCE
import POSIX
import Torch

/// Timing of the model's forward and forward+backward passes, and of a full training step, on
/// random data of a given shape (`milnce bench model`, `milnce bench train`).
public struct ModelBenchmark {
    /// What to measure.
    public struct Configuration: Sendable {
        public var batchSize = 2
        public var frames = 16
        public var size = 112
        public var candidates = 4
        public var maxWords = 20
        public var vocabularySize = 66_250
        public var device: Device = .cpu
        public var precision: Precision = .fp32
        public var channelsLast = false
        public var cudnnBenchmark = true
        public var warmupIterations = 1
        public var iterations = 3
        public var seed: UInt64 = 0
        /// Gradient buckets whose all-reduce overlaps backward, in bytes (0: one all-reduce after it).
        public var gradientBucketBytes = 25 << 20
        public init() {}
    }

    /// Median seconds per iteration and the derived rates.
    public struct Figures: Sendable {
        public var name: String
        public var medianSeconds: Double
        public var clipsPerSecond: Double
        /// Peak device memory (CUDA) or peak resident memory of the process (CPU), in bytes.
        public var peakMemoryBytes: Int
    }

    public let configuration: Configuration
    public init(_ configuration: Configuration) { self.configuration = configuration }

    private func makeModel(_ generator: Generator) throws -> MILNCEModel {
        let c = configuration
        let model = MILNCEModel(video: try S3DG(generator: generator),
                                text: try SentenceEmbedding(vocabularySize: c.vocabularySize, generator: generator))
        try model.move(to: c.device)
        if c.channelsLast { try model.convert(to: .channelsLast3d) }
        return model
    }

    private func batch(_ generator: Generator) throws -> (video: Tensor, text: Tensor) {
        let c = configuration
        let video = try Tensor.randint(0, 256, shape: [c.batchSize, 3, c.frames, c.size, c.size],
                                       generator: generator, dtype: .uint8)
        let text = try Tensor.randint(0, c.vocabularySize, shape: [c.batchSize, c.candidates, c.maxWords],
                                      generator: generator)
        return (video, text)
    }

    private func measure(_ name: String, _ body: () throws -> Void) throws -> Figures {
        let c = configuration
        for _ in 0..<c.warmupIterations { try body() }
        try Runtime.synchronize(c.device)
        if c.device.isCUDA { try Runtime.resetPeakMemory(on: c.device) } else { ResourceUsage.resetPeak() }
        var times: [Double] = []
        for _ in 0..<max(1, c.iterations) {
            let start = ContinuousClock.now
            try body()
            try Runtime.synchronize(c.device)
            times.append(start.elapsedSeconds)
        }
        times.sort()
        let median = times[times.count / 2]
        let peak = c.device.isCUDA ? try Runtime.peakMemory(on: c.device) : ResourceUsage.peakResidentBytes
        return Figures(name: name, medianSeconds: median, clipsPerSecond: Double(c.batchSize) / median,
                       peakMemoryBytes: peak)
    }

    /// Forward (evaluation mode, no gradients) and forward+backward (training mode) of the video
    /// and text networks with the MIL-NCE loss.
    public func runModel() throws -> [Figures] {
        let c = configuration
        if c.device.isCUDA { Runtime.setCuDNNBenchmark(c.cudnnBenchmark) }
        let generator = try Generator(seed: c.seed)
        let model = try makeModel(generator)
        let step = TrainingStep(model: model, optimizer: SGD(parameters: [], learningRate: 0),
                                schedule: CosineSchedule(baseLearningRate: 0, warmupSteps: 0, totalSteps: 1),
                                group: nil, device: c.device, precision: c.precision, channelsLast: c.channelsLast)
        let (video, text) = try batch(generator)
        let clips = try step.prepareVideo(video)
        let tokens = try step.prepareText(text)
        model.eval()
        let forward = try measure("forward") {
            _ = try withoutGrad { try step.embed(video: clips, text: tokens) }
        }
        model.train()
        let backward = try measure("forward+backward") {
            let (v, t) = try step.embed(video: clips, text: tokens)
            try milNCELoss(video: v, text: t).backward()
            for parameter in model.parameters { try parameter.setGrad(nil) }
        }
        return [forward, backward]
    }

    /// A full training step (`TrainingStep.run`: host-to-device copy, forward, loss, backward,
    /// gradient all-reduce across `group`'s ranks, Adam, schedule) on this process. With a group,
    /// clips per second count every rank's clips (each rank steps on its own batch of `batchSize`).
    public func runTrainingStep(group: ProcessGroup? = nil) throws -> (figures: Figures, overlappedBuckets: Int) {
        let c = configuration
        if c.device.isCUDA { Runtime.setCuDNNBenchmark(c.cudnnBenchmark) }
        let generator = try Generator(seed: c.seed)
        let model = try makeModel(generator)
        let step = TrainingStep(model: model, optimizer: Adam(parameters: model.parameters, learningRate: 1e-4),
                                schedule: CosineSchedule(baseLearningRate: 1e-4, warmupSteps: 0, totalSteps: 1_000_000),
                                group: group, device: c.device, precision: c.precision, channelsLast: c.channelsLast,
                                gradientBucketBytes: c.gradientBucketBytes)
        try step.broadcastParameters()
        let (video, text) = try batch(try Generator(seed: c.seed + UInt64(group?.rank ?? 0)))
        let pinnedVideo = c.device.isCUDA ? try video.pinned() : video
        var figures = try measure("training step") { _ = try step.run(video: pinnedVideo, text: text) }
        figures.clipsPerSecond *= Double(group?.size ?? 1)
        return (figures, step.bucketsStartedDuringBackward)
    }
}
