import FoundationEssentials
import Torch
import TorchFiles

/// Everything a training run is told: the reference's options (same names and defaults, see
/// `milnce train --help`) and ours.
public struct TrainingConfiguration: Sendable {
    // MARK: Data
    public var trainCSV = "csv/howto100m_videos.csv"
    public var videoRoot = ""
    /// A store made by `milnce prepare` to read the training videos from, instead of `videoRoot`.
    public var videoStore = ""
    public var captionRoot = ""
    /// The caption index file (default: `captions.index` in the checkpoint folder).
    public var captionIndexPath: String?
    public var wordVectorsPath = "data/word2vec.pth"
    public var dictionaryPath = "data/dict.npy"

    // MARK: Folders
    public var checkpointRoot = "checkpoint"
    public var checkpointDir = ""
    public var logRoot = "log"

    // MARK: Optimisation
    public var optimizer = "adam"
    public var learningRate = 0.001
    public var momentum = 0.9
    public var warmupSteps = 5000
    public var epochs = 300
    /// Clips per step on each node, split across its processes (the reference's Note 1).
    public var batchSize = 256
    public var weightInit = "uniform"
    public var numCandidates = 1
    public var embeddingDimension = 512

    // MARK: Clips
    public var numFrames = 16
    public var videoSize = 224
    public var fps = 5.0
    public var cropOnly = true
    public var centerCrop = false
    public var randomFlip = true
    public var minTime = 5.0
    public var maxWords = 20

    // MARK: Machinery
    public var numThreadReader = 20
    public var pinMemory = false
    public var cudnnBenchmark = false
    public var seed = 1
    public var resume = false
    public var pretrainCNNPath = ""
    public var nDisplay = 10
    public var verbose = true
    public var device: Device?
    public var precision: Precision = .fp32
    public var channelsLast = false
    public var saveEverySteps = 0
    public var microBatches = 1
    public var keepCheckpoints = 10
    public var distributedBackend = "nccl"
    public var distributedTimeoutSeconds = 600.0
    public var tensorboard = true
    /// libtorch CPU threads of this process (nil: the cores divided among the node's processes).
    public var cpuThreads: Int?
    /// Check every this many steps that all ranks hold identical parameters (0: never).
    public var replicaCheckSteps = 0
    /// Stop after this many optimiser steps in this process (0: run to the end); for short trials.
    public var maxSteps = 0
    /// The epoch to start at when not resuming (the reference's `--start-epoch`).
    public var startEpoch = 0

    // MARK: Evaluation during training
    public var evaluate = false
    public var evalVideoRoot = ""
    public var evalCSV = "csv/validation_youcook.csv"
    /// Evaluate every this many epochs (nil: the reference's schedule, every
    /// max(1, total batch / 512) epochs); a run that evaluates also evaluates its final model.
    public var evaluateEveryEpochs: Int?
    public var numWindowsTest = 4
    public var batchSizeVal = 32

    public init() {}

    /// `<checkpoint_root>/<checkpoint_dir>`.
    public var checkpointFolder: URL {
        URL(fileURLWithPath: checkpointRoot).appendingPathComponent(checkpointDir)
    }

    /// The run's name in logs: the checkpoint folder's name, as the reference names its log file.
    public var runName: String { checkpointDir.isEmpty ? "milnce" : checkpointDir }

    /// `<log_root>/<checkpoint_dir>.txt`, the reference's text log.
    public var logFile: URL { URL(fileURLWithPath: logRoot).appendingPathComponent(runName + ".txt") }

    /// `<log_root>/<checkpoint_dir>/`: TensorBoard events and the training plot.
    public var logFolder: URL { URL(fileURLWithPath: logRoot).appendingPathComponent(runName) }

    /// Checks options and paths before any work starts; every problem at once.
    public func validate() throws {
        var problems: [String] = []
        let files = FileManager.default
        func requireFile(_ path: String, _ flag: String) {
            if path.isEmpty { problems.append("\(flag) is required") }
            else if !files.fileExists(atPath: path) { problems.append("\(flag) \(path): no such file") }
        }
        func requireFolder(_ path: String, _ flag: String) {
            var isFolder = false
            if path.isEmpty { problems.append("\(flag) is required") }
            else if !files.fileExists(atPath: path, isDirectory: &isFolder) || !isFolder {
                problems.append("\(flag) \(path): no such folder")
            }
        }
        requireFile(trainCSV, "--train_csv")
        if videoStore.isEmpty { requireFolder(videoRoot, "--video_path") } else { requireFolder(videoStore, "--video_store") }
        if !videoStore.isEmpty && !videoRoot.isEmpty { problems.append("give --video_path or --video_store, not both") }
        requireFolder(captionRoot, "--caption_root")
        requireFile(wordVectorsPath, "--word2vec_path")
        requireFile(dictionaryPath, "--token_to_word_path")
        if !pretrainCNNPath.isEmpty { requireFile(pretrainCNNPath, "--pretrain_cnn_path") }
        if evaluate {
            requireFolder(evalVideoRoot, "--eval_video_root")
            requireFile(evalCSV, "--eval_csv")
        }
        if !["adam", "sgd"].contains(optimizer) { problems.append("--optimizer must be adam or sgd, got \(optimizer)") }
        if !["uniform", "kaiming_normal"].contains(weightInit) {
            problems.append("--weight_init must be uniform or kaiming_normal, got \(weightInit)")
        }
        if !["nccl", "gloo"].contains(distributedBackend) {
            problems.append("--dist-backend must be nccl or gloo, got \(distributedBackend)")
        }
        for (value, flag) in [(batchSize, "--batch_size"), (epochs, "--epochs"), (numCandidates, "--num_candidates"),
                              (numFrames, "--num_frames"), (videoSize, "--video_size"), (numThreadReader, "--num_thread_reader"),
                              (nDisplay, "--n_display"), (maxWords, "--max_words"), (microBatches, "--micro_batches"),
                              (keepCheckpoints, "--keep_checkpoints")] where value < 1 {
            problems.append("\(flag) must be at least 1, got \(value)")
        }
        if warmupSteps < 0 { problems.append("--warmup_steps must not be negative") }
        if !(learningRate > 0) { problems.append("--lr must be positive") }
        if !(fps > 0) { problems.append("--fps must be positive") }
        if saveEverySteps < 0 { problems.append("--save_every_steps must not be negative") }
        if !problems.isEmpty {
            throw TrainingError.invalidConfiguration("cannot start training:\n  " + problems.joined(separator: "\n  "))
        }
    }
}

/// The outcome of a run.
public struct TrainingSummary: Sendable {
    /// The metrics of the last evaluation (rank 0, with `--evaluate`).
    public var lastEvaluation: [String: Double]?
    public var stepsTaken: Int
    public var finalLoss: Double?
    public var lastCheckpoint: URL?
    public var skippedSamples: Int
}

/// Runs MIL-NCE training as the reference's `main_distributed.py` does, on one process of a
/// (possibly distributed) world: model, data, optimiser, schedule, resumption, the epoch loop,
/// logs, TensorBoard and checkpoints.
public final class Trainer {
    public let configuration: TrainingConfiguration
    public let world: DistributedWorld
    /// Processes on this node (the node's batch is split among them).
    public let processesPerNode: Int
    /// Runs the zero-shot evaluation of section 5 when `--evaluate` is set: given the model, the
    /// device, the process group and the epoch, it returns metrics on rank 0 (nil elsewhere).
    public var evaluation: ((MILNCEModel, Device, ProcessGroup?, Int) throws -> [String: Double]?)?
    private let log: TrainingLog

    public init(configuration: TrainingConfiguration, world: DistributedWorld, processesPerNode: Int = 1) {
        self.configuration = configuration
        self.world = world
        self.processesPerNode = max(1, processesPerNode)
        self.log = TrainingLog(file: configuration.logFile, rank: world.rank, verbose: configuration.verbose)
    }

    // MARK: Setup

    func chooseDevice() throws -> Device {
        if let device = configuration.device { return device }
        guard Runtime.isCUDAAvailable else { return .cpu }
        return .cuda(world.localRank % max(1, Runtime.cudaDeviceCount))
    }

    func formGroup(device: Device) throws -> ProcessGroup? {
        guard world.isDistributed else { return nil }
        var backend = DistributedBackend(rawValue: configuration.distributedBackend) ?? .nccl
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

    func makeModel(generator: Generator) throws -> MILNCEModel {
        let c = configuration
        let wordVectors = try WordFiles.loadMatrix(from: URL(fileURLWithPath: c.wordVectorsPath))
        let model = MILNCEModel(
            video: try S3DG(embeddingDimension: c.embeddingDimension, generator: generator),
            text: try SentenceEmbedding(wordVectors: wordVectors, embeddingDimension: c.embeddingDimension,
                                        generator: generator))
        if c.weightInit == "kaiming_normal" {
            try initializeKaimingNormal(model, generator: generator)
        }
        if !c.pretrainCNNPath.isEmpty {
            let checkpoint = try ModelCheckpoint.load(from: URL(fileURLWithPath: c.pretrainCNNPath))
            try model.load(stateDict: checkpoint.tensorsByName)
            log.info("=> loaded weights from '\(c.pretrainCNNPath)' (\(checkpoint.layout.rawValue))")
        }
        return model
    }

    func openCaptionIndex(trainList: TrainList, group: ProcessGroup?) throws -> CaptionIndex {
        let c = configuration
        let path = c.captionIndexPath ?? c.checkpointFolder.appendingPathComponent("captions.index").path
        let usable = { () -> CaptionIndex? in
            guard let index = try? CaptionIndex(contentsOf: path, expecting: trainList),
                  index.captionRoot == c.captionRoot else { return nil }
            return index
        }
        if world.rank == 0, usable() == nil {
            log.info("building the caption index \(path) from \(trainList.count) videos' captions in \(c.captionRoot)")
            try FileManager.default.createDirectory(at: URL(fileURLWithPath: path).deletingLastPathComponent(),
                                                    withIntermediateDirectories: true)
            let progress = ProgressDisplay("caption index", total: trainList.count)
            let summary = try CaptionIndex.build(trainList: trainList, captionRoot: c.captionRoot, to: path) {
                progress.update($0.videosDone)
            }
            progress.finish()
            log.info("caption index: \(summary)")
        }
        try group?.barrier()
        let index = try CaptionIndex(contentsOf: path, expecting: trainList)
        let failures = index.failures
        if !failures.isEmpty {
            log.info("\(failures.count) of \(index.videoCount) videos have unusable captions; they are replaced when drawn"
                     + " (first: \(failures.prefix(3).map { "\($0)" }.joined(separator: "; ")))")
        }
        return index
    }

    // MARK: The run

    /// Trains to the last epoch (or `maxSteps`), then returns.
    public func run() throws -> TrainingSummary {
        let c = configuration
        try c.validate()
        let device = try chooseDevice()
        Runtime.threadCount = c.cpuThreads ?? max(1, ProcessInfo.processInfo.activeProcessorCount / processesPerNode)
        if device.isCUDA {
            try Runtime.setCurrentDevice(device)
            Runtime.setCuDNNBenchmark(c.cudnnBenchmark)
        }
        let group = try formGroup(device: device)
        if world.rank == 0 {
            try FileManager.default.createDirectory(at: c.checkpointFolder, withIntermediateDirectories: true)
        }

        let generator = try Generator(seed: UInt64(c.seed))
        try Generator.manualSeed(UInt64(c.seed))
        let model = try makeModel(generator: generator)
        try model.move(to: device)
        if c.channelsLast { try model.convert(to: .channelsLast3d) }

        let perRankBatch = c.batchSize / processesPerNode
        guard perRankBatch >= 1, c.batchSize % processesPerNode == 0 else {
            throw TrainingError.invalidConfiguration(
                "--batch_size \(c.batchSize) is the batch of a node; it must divide among its \(processesPerNode) processes")
        }
        let threads = max(1, c.numThreadReader / processesPerNode)

        let trainList = try TrainList(contentsOf: c.trainCSV)
        guard trainList.count > 0 else { throw TrainingError.invalidConfiguration("\(c.trainCSV) lists no videos") }
        let index = try openCaptionIndex(trainList: trainList, group: group)
        let tokenizer = Tokenizer(words: try WordFiles.loadDictionary(from: URL(fileURLWithPath: c.dictionaryPath)))
        var sampling = ClipSamplingOptions(numCandidates: c.numCandidates, maxWords: c.maxWords, minTimeSeconds: c.minTime,
                                           numFrames: c.numFrames, framesPerSecond: c.fps)
        sampling.numCandidates = c.numCandidates
        let sampler = try ClipSampler(index: index, tokenizer: tokenizer, options: sampling)
        let order = try DistributedOrder(datasetCount: trainList.count, worldSize: world.size, rank: world.rank,
                                         seed: UInt64(c.seed), shuffle: true, dropLast: false)
        var loaderOptions = LoaderOptions()
        loaderOptions.batchSize = perRankBatch
        loaderOptions.threads = threads
        loaderOptions.sampling = sampling
        loaderOptions.size = c.videoSize
        loaderOptions.cropOnly = c.cropOnly
        loaderOptions.centerCrop = c.centerCrop
        loaderOptions.randomFlip = c.randomFlip
        loaderOptions.pinMemory = c.pinMemory && device.isCUDA
        loaderOptions.seed = UInt64(c.seed)
        let loader = try TrainingLoader(trainList: trainList, sampler: sampler, videos: try c.trainingVideos(), order: order,
                                        options: loaderOptions)
        let batchesPerEpoch = loader.batchesPerEpoch
        guard batchesPerEpoch > 0 else {
            throw TrainingError.invalidConfiguration(
                "\(trainList.count) videos make no full batch of \(perRankBatch) on each of \(world.size) ranks")
        }

        let optimizer: Optimizer = c.optimizer == "sgd"
            ? SGD(parameters: model.parameters, learningRate: c.learningRate, momentum: c.momentum)
            : Adam(parameters: model.parameters, learningRate: c.learningRate)
        let schedule = CosineSchedule(baseLearningRate: c.learningRate, warmupSteps: c.warmupSteps,
                                      totalSteps: batchesPerEpoch * c.epochs)
        let step = TrainingStep(model: model, optimizer: optimizer, schedule: schedule, group: group, device: device,
                                precision: c.precision, channelsLast: c.channelsLast, microBatches: c.microBatches)

        var position = TrainingPosition(epoch: c.startEpoch, batch: 0, globalStep: c.startEpoch * batchesPerEpoch)
        step.schedule.stepsTaken = position.globalStep
        if c.resume {
            if let newest = TrainingCheckpoint.newest(in: c.checkpointFolder) {
                position = try resume(from: newest, model: model, optimizer: optimizer, step: step,
                                      batchesPerEpoch: batchesPerEpoch)
            } else {
                log.info("=> no checkpoint found at '\(c.checkpointFolder.path)'")
            }
        }
        try withCollectives { try step.broadcastParameters() }

        let tensorboard = (c.tensorboard && world.rank == 0) ? try TensorBoardWriter(directory: c.logFolder) : nil
        let report = TrainingReport(folder: c.logFolder, enabled: world.rank == 0)
        let totalBatch = world.size * perRankBatch
        log.info("Starting training loop for rank: \(world.rank), total batch size: \(totalBatch)"
                 + " (\(perRankBatch) per process on \(device), \(threads) decoding threads, \(batchesPerEpoch) batches per epoch,"
                 + " \(c.precision.rawValue)\(c.channelsLast ? ", channels_last" : ""))")

        var summary = TrainingSummary(lastEvaluation: nil, stepsTaken: 0, finalLoss: nil, lastCheckpoint: nil, skippedSamples: 0)
        var stepsThisProcess = 0
        let runDescription: [String: PickleValue] = [
            "seed": .int(c.seed), "world_size": .int(world.size), "batch_size": .int(c.batchSize),
            "batches_per_epoch": .int(batchesPerEpoch), "num_candidates": .int(c.numCandidates),
            "num_frames": .int(c.numFrames), "video_size": .int(c.videoSize), "fps": .float(c.fps),
        ]
        func save(_ at: TrainingPosition) throws {
            guard world.rank == 0 else { return }
            let url = try TrainingCheckpoint.save(model: model, optimizer: optimizer, schedule: step.schedule,
                                                  position: at, run: runDescription, to: c.checkpointFolder)
            TrainingCheckpoint.prune(c.checkpointFolder, keep: c.keepCheckpoints)
            summary.lastCheckpoint = url
            log.info("=> saved checkpoint '\(url.path)'")
        }

        func evaluate(epoch: Int, label: String) throws {
            guard let evaluation else { return }
            guard let metrics = try withCollectives({ try evaluation(model, device, group, epoch) }) else { return }
            log.info("\(label) results: " + metrics.sorted { $0.key < $1.key }
                .map { "\($0.key): \(String(cFormat: "%.4f", $0.value))" }.joined(separator: ", "))
            for (name, value) in metrics {
                try tensorboard?.add(scalar: value, tag: "eval/youcook2/\(name)", step: step.schedule.stepsTaken)
            }
            report.add(evaluation: metrics, epoch: epoch)
            summary.lastEvaluation = metrics
        }

        epochs: for epoch in position.epoch..<c.epochs {
            let evaluationPeriod = c.evaluateEveryEpochs ?? max(1, totalBatch / 512)
            if c.evaluate, (epoch + 1) % evaluationPeriod == 0, position.batch == 0 {
                try evaluate(epoch: epoch, label: "Epoch \(epoch)")
            }
            let batches = try loader.epoch(epoch, startingAt: position.batch)
            let progress = world.rank == 0 ? ProgressDisplay("epoch \(epoch + 1)/\(c.epochs)", total: batchesPerEpoch) : nil
            var runningLoss = 0.0, windowStart = monotonicSeconds(), windowWait = batches.waitingSeconds
            var windowClips = 0, epochFailures: [SampleFailure] = []
            while let batch = batches.next() {
                if batch.blankSamples == perRankBatch {
                    throw TrainingError.noUsableSamples(batch: batch.number, lastFailure: batch.failures.last)
                }
                let outcome = try withCollectives { try step.run(video: batch.video, text: batch.text) }
                position = TrainingPosition(epoch: epoch, batch: batch.number + 1, globalStep: step.schedule.stepsTaken)
                stepsThisProcess += 1
                summary.stepsTaken = step.schedule.stepsTaken
                summary.finalLoss = outcome.loss
                runningLoss += outcome.loss
                windowClips += perRankBatch * world.size
                epochFailures += batch.failures
                summary.skippedSamples += batch.failures.count
                for failure in batch.failures { log.debug("skipped sample: \(failure)") }
                progress?.update(batch.number + 1, status: String(cFormat: "loss %.4f lr %.2e", outcome.loss, outcome.learningRate))
                report.add(loss: outcome.loss, step: position.globalStep)

                if (batch.number + 1) % c.nDisplay == 0 && world.rank == 0 {
                    let elapsed = monotonicSeconds() - windowStart
                    let wait = batches.waitingSeconds - windowWait
                    let status = Double(totalBatch) * Double(batch.number) / Double(trainList.count)
                    let meanLoss = runningLoss / Double(c.nDisplay)
                    let clipsPerSecond = Double(windowClips) / elapsed
                    let waitFraction = wait / max(elapsed, 1e-9)
                    let referenceLine = String(
                        cFormat: "Epoch %ld, Elapsed Time: %.3f, Epoch status: %.4f, Training loss: %.4f, Learning rate: %.6f",
                        epoch + 1, elapsed, status, meanLoss, outcome.learningRate)
                    let extra = String(cFormat: ", clips/s: %.1f, data wait: %.0f%%, skipped samples: %ld",
                                       clipsPerSecond, 100 * waitFraction, epochFailures.count)
                    log.info(referenceLine + extra)
                    let scalars: [TensorBoardScalar] = [
                        TensorBoardScalar(tag: "train/loss", value: Float(meanLoss)),
                        TensorBoardScalar(tag: "train/learning_rate", value: Float(outcome.learningRate)),
                        TensorBoardScalar(tag: "train/clips_per_second", value: Float(clipsPerSecond)),
                        TensorBoardScalar(tag: "train/data_wait_fraction", value: Float(waitFraction)),
                        TensorBoardScalar(tag: "train/skipped_samples", value: Float(summary.skippedSamples)),
                    ]
                    try tensorboard?.add(scalars: scalars, step: position.globalStep)
                    runningLoss = 0
                    windowClips = 0
                    windowStart = monotonicSeconds()
                    windowWait = batches.waitingSeconds
                }
                if c.replicaCheckSteps > 0, position.globalStep % c.replicaCheckSteps == 0 {
                    try withCollectives { try step.checkReplicas() }
                    if world.isDistributed { log.debug("step \(position.globalStep): the \(world.size) replicas are identical") }
                }
                let finishedEpoch = batch.number + 1 == batchesPerEpoch
                if c.saveEverySteps > 0, position.globalStep % c.saveEverySteps == 0, !finishedEpoch {
                    try save(position)
                }
                if c.maxSteps > 0, stepsThisProcess >= c.maxSteps, !finishedEpoch {
                    batches.stop()
                    progress?.finish("stopped after \(stepsThisProcess) steps")
                    try save(position)
                    break epochs
                }
            }
            progress?.finish()
            if !epochFailures.isEmpty || world.rank == 0 {
                log.info("Epoch \(epoch + 1) finished: \(epochFailures.count) samples skipped on rank \(world.rank)"
                         + (epochFailures.isEmpty ? "" : " (\(Set(epochFailures.map(\.path)).count) files)"))
            }
            position = TrainingPosition(epoch: epoch + 1, batch: 0, globalStep: step.schedule.stepsTaken)
            try save(position)
            report.write()
            try tensorboard?.flush()
        }
        if c.evaluate, position.epoch == c.epochs, position.batch == 0 {
            try evaluate(epoch: c.epochs, label: "Final (after epoch \(c.epochs))")
        }
        report.write()
        try tensorboard?.close()
        return summary
    }

    /// Restores model, optimiser and schedule from a checkpoint and returns where to continue.
    func resume(from url: URL, model: MILNCEModel, optimizer: Optimizer, step: TrainingStep,
                batchesPerEpoch: Int) throws -> TrainingPosition {
        log.info("=> loading checkpoint '\(url.path)'")
        let checkpoint = try ModelCheckpoint.load(from: url)
        guard let contents = checkpoint.contents else {
            throw ModelError.badCheckpoint("\(url.path) is a bare state_dict, not a training checkpoint")
        }
        try model.load(stateDict: checkpoint.tensorsByName)
        if let optimizerState = contents["optimizer"] {
            try TrainingCheckpoint.restore(optimizer, from: optimizerState)
        }
        let epoch = contents["epoch"]?.asInt ?? 0
        var position = TrainingPosition(epoch: epoch, batch: 0, globalStep: epoch * batchesPerEpoch)
        if let ours = contents["milnce"] {
            if let savedBatches = ours["run"]?["batches_per_epoch"]?.asInt, savedBatches != batchesPerEpoch {
                log.info("=> the checkpoint's run had \(savedBatches) batches per epoch, this one \(batchesPerEpoch):"
                         + " resuming at the start of epoch \(epoch + 1)")
            } else {
                position.epoch = ours["epoch"]?.asInt ?? epoch
                position.batch = ours["batch"]?.asInt ?? 0
            }
            position.globalStep = ours["global_step"]?.asInt ?? position.globalStep
        }
        if let steps = TrainingCheckpoint.restoredSteps(from: contents["scheduler"]) {
            position.globalStep = steps
        }
        step.schedule.stepsTaken = position.globalStep
        log.info("=> loaded checkpoint '\(url.path)' (epoch \(epoch), batch \(position.batch), step \(position.globalStep))")
        return position
    }

    /// Runs `body`, turning a failed collective into a clear message about the other ranks.
    func withCollectives<R>(_ body: () throws -> R) throws -> R {
        do {
            return try body()
        } catch let error as TorchError where world.isDistributed
            && ["all-reduce", "all-gather", "broadcast", "barrier"].contains(error.operation) {
            throw TrainingError.rankFailure(
                "rank \(world.rank): a collective operation failed, so another rank has probably died or hung "
                + "(\(error.message)); stopping. Resume with --resume from the last checkpoint.")
        }
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
