import FoundationEssentials
import POSIX
import Torch
import TorchFiles

/// The outcome of a run.
public struct TrainingSummary: Sendable {
    /// The metrics of the last evaluation (rank 0, with `--evaluate`).
    public var lastEvaluation: [String: Double]?
    /// Optimiser steps taken since the start of training (resumed runs included).
    public var stepsTaken: Int
    /// The loss of the last step of this run.
    public var finalLoss: Double?
    /// The last checkpoint this run saved (rank 0).
    public var lastCheckpoint: URL?
    /// Samples replaced on this rank in this run.
    public var skippedSamples: Int
    /// Why the run ended.
    public var end: TrainingEnd
    /// Where the run ended.
    public var position: TrainingPosition
    /// Log files that could not be written (training went on without them).
    public var logWriteFailures: [LogWriteFailures.Failure]
}

/// Runs MIL-NCE training as the reference's `main_distributed.py` does, on one process of a
/// (possibly distributed) world: a session is set up (device, group, model, data, optimiser,
/// schedule, resumption), then an epoch loop trains it and tells its observers (the text log,
/// TensorBoard, checkpoints, evaluation, the plot) about each step and epoch.
public final class Trainer {
    /// What the run is told.
    public let configuration: TrainingConfiguration
    /// This process's place among the ranks.
    public let world: DistributedWorld
    /// Processes on this node (the node's batch is split among them).
    public let processesPerNode: Int
    /// Runs the zero-shot evaluation of section 5 when `--evaluate` is set: given the model, the
    /// device, the process group and the epoch, it returns metrics on rank 0 (nil elsewhere).
    public var evaluation: ((MILNCEModel, Device, ProcessGroup?, Int) throws -> [String: Double]?)?
    /// Failures to write the log files, reported as they happen and in the summary.
    public let logWriteFailures = LogWriteFailures()
    let log: TrainingLog
    /// The store the ranks met through (nil in a single process), for work only rank 0 does.
    private var rendezvousStore: Store?

    /// A trainer for `configuration` on `world`'s rank.
    public init(configuration: TrainingConfiguration, world: DistributedWorld, processesPerNode: Int = 1) {
        self.configuration = configuration
        self.world = world
        self.processesPerNode = max(1, processesPerNode)
        self.log = TrainingLog(file: configuration.logFile, rank: world.rank, verbose: configuration.verbose,
                               failures: logWriteFailures)
    }

    // MARK: The run

    /// Sets up the session, trains to the last epoch (or until `maxSteps` or a stop signal), then
    /// returns. Throws when set-up fails, an epoch's data fails, the loss is not finite or a rank
    /// fails; no checkpoint then claims the failed epoch.
    public func run() throws -> TrainingSummary {
        let session = try setUp()
        let parts = TrainingObserverSet(session: session, evaluation: evaluation, failures: logWriteFailures)
        let loop = EpochLoop(session: session, observers: parts.observers)
        let (end, position) = try loop.run()
        let summary = TrainingSummary(
            lastEvaluation: parts.evaluation?.lastMetrics, stepsTaken: session.step.schedule.stepsTaken,
            finalLoss: loop.lastLoss, lastCheckpoint: parts.checkpoints.lastSaved, skippedSamples: loop.skippedSamples,
            end: end, position: position, logWriteFailures: logWriteFailures.all)
        reportEnd(summary)
        return summary
    }

    /// Says how a run stopped by a signal ended and how to continue it (rank 0).
    func reportEnd(_ summary: TrainingSummary) {
        guard case .signal(let request) = summary.end, world.rank == 0 else { return }
        let at = summary.position
        let place = at.batch == 0 ? "at the end of epoch \(at.epoch) (step \(at.globalStep))"
            : "after batch \(at.batch) of epoch \(at.epoch + 1) (step \(at.globalStep))"
        if request.savesCheckpoint, let checkpoint = summary.lastCheckpoint {
            log.notice("=> stopped by \(request.signalName) \(place); saved checkpoint '\(checkpoint.path)'. "
                       + "To continue, run the same command with --resume")
        } else {
            let newest = TrainingCheckpoint.newest(in: configuration.checkpointFolder)
            log.notice("=> stopped by \(request.signalName) \(place) without saving a checkpoint; "
                       + (newest.map { "the newest is '\($0.path)': to continue from it, run the same command with --resume" }
                          ?? "there is no checkpoint yet"))
        }
    }

    // MARK: Set-up

    /// Everything before the first step: the inputs checked (flags, files, the dictionary against
    /// the word vectors, the clip settings against the videos), then the device, group, model,
    /// data, optimiser, schedule, resumption.
    func setUp() throws -> TrainingSession {
        let c = configuration
        try c.validate()
        let inputs = try TrainingInputs.read(c)
        let device = try chooseDevice()
        try inputs.probeClipSettings(c)
        Runtime.threadCount = c.cpuThreads ?? max(1, ProcessInfo.processInfo.activeProcessorCount / processesPerNode)
        if device.isCUDA {
            try Runtime.setCurrentDevice(device)
            Runtime.setCuDNNBenchmark(c.cudnnBenchmark)
        }
        let perRankBatch = try batchPerRank()
        if world.rank == 0 { try prepareCheckpointFolder() }
        let group = try formGroup(device: device)

        let generator = try Generator(seed: UInt64(c.seed))
        try Generator.manualSeed(UInt64(c.seed))
        let model = try makeModel(wordVectors: inputs.wordVectors, generator: generator)
        try model.move(to: device)
        if c.channelsLast { try model.convert(to: .channelsLast3d) }

        let index = try openCaptionIndex(trainList: inputs.trainList)
        let loader = try makeLoader(inputs: inputs, index: index, perRankBatch: perRankBatch, device: device)
        let optimizer = c.optimizer.makeOptimizer(parameters: model.parameters, learningRate: c.learningRate,
                                                  momentum: c.momentum)
        let schedule = CosineSchedule(baseLearningRate: c.learningRate, warmupSteps: c.warmupSteps,
                                      totalSteps: loader.batchesPerEpoch * c.epochs)
        let step = TrainingStep(model: model, optimizer: optimizer, schedule: schedule, group: group, device: device,
                                precision: c.precision, channelsLast: c.channelsLast, microBatches: c.microBatches)
        let session = TrainingSession(configuration: c, world: world, log: log, device: device, group: group,
                                      step: step, loader: loader, trainList: inputs.trainList, perRankBatch: perRankBatch,
                                      dictionaryWords: inputs.words.count)
        try resume(session)
        try session.withCollectives { try step.broadcastParameters() }
        log.info("Starting training loop for rank: \(world.rank), total batch size: \(session.totalBatch)"
                 + " (\(perRankBatch) per process on \(device), \(loader.options.threads) decoding threads,"
                 + " \(loader.batchesPerEpoch) batches per epoch, \(c.precision.rawValue)"
                 + "\(c.channelsLast ? ", channels_last" : ""))")
        return session
    }

    func chooseDevice() throws -> Device {
        if let device = configuration.device { return device }
        guard Runtime.isCUDAAvailable else { return .cpu }
        return .cuda(world.localRank % max(1, Runtime.cudaDeviceCount))
    }

    /// Clips per step on this rank: the node's batch split among its processes.
    func batchPerRank() throws -> Int {
        let c = configuration
        guard c.batchSize % processesPerNode == 0, c.batchSize / processesPerNode >= 1 else {
            throw TrainingError.invalidConfiguration(
                "--batch_size \(c.batchSize) is the batch of a node; it must divide among its \(processesPerNode) processes")
        }
        return c.batchSize / processesPerNode
    }

    /// Creates the checkpoint folder, removes the temporary files that a save left there when its
    /// process was killed, and places the dictionary beside the checkpoints (rank 0).
    func prepareCheckpointFolder() throws {
        let c = configuration
        try FileManager.default.createDirectory(at: c.checkpointFolder, withIntermediateDirectories: true)
        for leftover in TrainingCheckpoint.unfinishedSaves(in: c.checkpointFolder) {
            do {
                try FileManager.default.removeItem(at: leftover)
                log.info("=> removed '\(leftover.path)', the unfinished save of an earlier run that was stopped")
            } catch {
                log.warning("warning: cannot remove the unfinished save '\(leftover.path)': \(describeSystemError(error))")
            }
        }
        if let line = try TrainingInputs.placeDictionary(from: URL(fileURLWithPath: c.dictionaryPath),
                                                         in: c.checkpointFolder) {
            log.info(line)
        }
    }

    func formGroup(device: Device) throws -> ProcessGroup? {
        guard world.isDistributed else { return nil }
        var backend = configuration.distributedBackend
        if backend == .nccl && !device.isCUDA {
            log.info("rank \(world.rank): --dist-backend nccl needs CUDA; using gloo on the CPU")
            backend = .gloo
        }
        log.info("rank \(world.rank) of \(world.size): meeting the other ranks at \(world.rendezvous) (\(world.source)); "
                 + "waiting up to \(Int(configuration.distributedTimeoutSeconds)) s (--dist_timeout)")
        let store: Store
        switch world.rendezvous {
        case .none:
            throw TrainingError.invalidConfiguration("a world of \(world.size) ranks needs a rendezvous")
        case .tcp(let host, let port):
            // Under torchrun the agent already serves a store at MASTER_ADDR:MASTER_PORT.
            let agentServes = ProcessInfo.processInfo.environment["TORCHELASTIC_USE_AGENT_STORE"] == "True"
            store = try Store(host: host, port: port, worldSize: world.size, isServer: world.rank == 0 && !agentServes,
                              timeoutSeconds: configuration.distributedTimeoutSeconds).prefixed("milnce/")
        case .file(let path):
            store = try Store(file: path, worldSize: world.size).prefixed("milnce/")
        }
        rendezvousStore = store
        do {
            return try ProcessGroup(store: store, rank: world.rank, size: world.size, backend: backend,
                                    timeoutSeconds: configuration.distributedTimeoutSeconds)
        } catch {
            throw TrainingError.rankFailure(
                "the \(world.size) ranks did not all join at \(world.rendezvous) within "
                    + "\(Int(configuration.distributedTimeoutSeconds)) s (--dist_timeout); is every rank started, "
                    + "with the same --world-size and --dist-url? (\(error))")
        }
    }

    func makeModel(wordVectors: Tensor, generator: Generator) throws -> MILNCEModel {
        let c = configuration
        let model = MILNCEModel(
            video: try S3DG(embeddingDimension: c.embeddingDimension, generator: generator),
            text: try SentenceEmbedding(wordVectors: wordVectors, embeddingDimension: c.embeddingDimension,
                                        generator: generator))
        if c.weightInit == .kaimingNormal {
            try initializeKaimingNormal(model, generator: generator)
        }
        if !c.pretrainCNNPath.isEmpty {
            let checkpoint = try ModelCheckpoint.load(from: URL(fileURLWithPath: c.pretrainCNNPath))
            try model.load(stateDict: checkpoint.tensorsByName)
            log.info("=> loaded weights from '\(c.pretrainCNNPath)' (\(checkpoint.layout.rawValue))")
        }
        return model
    }

    /// The caption index: rank 0 opens it, building or updating it when needed (an hour for
    /// HowTo100M on a slow file system), while the other ranks wait for it without a time limit,
    /// then open what it wrote.
    func openCaptionIndex(trainList: TrainList) throws -> CaptionIndex {
        let c = configuration
        let path = c.captionIndexPath ?? c.checkpointFolder.appendingPathComponent("captions.index").path
        let build = { try CaptionIndex.openOrBuild(at: path, trainList: trainList, captionRoot: c.captionRoot) { self.log.info($0) } }
        guard let store = rendezvousStore else { return try build() }
        let restart = ProcessInfo.processInfo.environment["TORCHELASTIC_RESTART_COUNT"] ?? "0"
        let work = RankZeroWork(store: store, key: "caption-index-\(restart)", name: "the caption index \(path)")
        guard world.rank != 0 else {
            do {
                let index = try build()
                try work.announce(failure: nil)
                return index
            } catch {
                try? work.announce(failure: "\(error)")
                throw error
            }
        }
        try work.waitForRankZero { waited in
            log.info("rank \(world.rank): waiting for rank 0 to open or build the caption index (\(formatDuration(waited)))")
        }
        return try CaptionIndex(contentsOf: path, expecting: trainList)
    }

    /// The training loader: this rank's share of the videos, with captions sampled from `index`.
    /// (The one place where the source of the videos is chosen.)
    func makeLoader(inputs: TrainingInputs, index: CaptionIndex, perRankBatch: Int, device: Device) throws -> TrainingLoader {
        let c = configuration
        let sampling = ClipSamplingOptions(numCandidates: c.numCandidates, maxWords: c.maxWords, minTimeSeconds: c.minTime,
                                           numFrames: c.numFrames, framesPerSecond: c.fps)
        let sampler = try ClipSampler(index: index, tokenizer: Tokenizer(words: inputs.words), options: sampling)
        let order = try DistributedOrder(datasetCount: inputs.trainList.count, worldSize: world.size, rank: world.rank,
                                         seed: UInt64(c.seed), shuffle: true, dropLast: false)
        var options = LoaderOptions()
        options.batchSize = perRankBatch
        options.threads = max(1, c.numThreadReader / processesPerNode)
        options.sampling = sampling
        options.size = c.videoSize
        options.cropOnly = c.cropOnly
        options.centerCrop = c.centerCrop
        options.randomFlip = c.randomFlip
        options.pinMemory = c.pinMemory && device.isCUDA
        options.seed = UInt64(c.seed)
        let loader = try TrainingLoader(trainList: inputs.trainList, sampler: sampler, videos: inputs.videos,
                                        order: order, options: options)
        guard loader.batchesPerEpoch > 0 else {
            throw TrainingError.invalidConfiguration(
                "\(inputs.trainList.count) videos make no full batch of \(perRankBatch) on each of \(world.size) ranks")
        }
        return loader
    }
}

/// `--weight_init kaiming_normal`: He-normal convolution weights (fan in, ReLU gain) and unit
/// BatchNorm scales with zero shifts, as the reference's option.
func initializeKaimingNormal(_ module: Module, generator: Generator) throws {
    for (_, child) in module.children {
        if let conv = child as? Conv3d {
            let fanIn = conv.weight.shape.dropFirst().reduce(1, *)
            try withoutGrad { _ = try conv.weight.normalInPlace(mean: 0, std: (2.0 / Double(fanIn)).squareRoot(), generator: generator) }
        } else if let norm = child as? BatchNorm3d {
            try withoutGrad {
                try norm.weight.fillInPlace(1)
                try norm.bias.fillInPlace(0)
            }
        }
        try initializeKaimingNormal(child, generator: generator)
    }
}
