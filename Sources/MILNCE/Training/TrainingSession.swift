import FoundationEssentials
import Torch
import TorchFiles

/// A training run set up on one process: its device and process group, the model with its
/// optimiser and schedule (in `step`), the data, and where training continues from.
public final class TrainingSession {
    /// What the run is told.
    public let configuration: TrainingConfiguration
    /// This process's place among the ranks.
    public let world: DistributedWorld
    /// Where the model lives.
    public let device: Device
    /// The process group (nil for a single process).
    public let group: ProcessGroup?
    /// The model, optimiser and schedule, and how a step runs.
    public let step: TrainingStep
    /// The batches of each epoch.
    public let loader: TrainingLoader
    /// The training videos.
    public let trainList: TrainList
    /// Clips per step on this rank.
    public let perRankBatch: Int
    /// Where training continues from: the start, `--start-epoch`, or a resumed checkpoint.
    public internal(set) var start: TrainingPosition
    /// Words in the dictionary (recorded in checkpoints).
    let dictionaryWords: Int
    let log: TrainingLog

    init(configuration: TrainingConfiguration, world: DistributedWorld, log: TrainingLog, device: Device,
         group: ProcessGroup?, step: TrainingStep, loader: TrainingLoader, trainList: TrainList, perRankBatch: Int,
         dictionaryWords: Int) {
        self.configuration = configuration
        self.world = world
        self.log = log
        self.device = device
        self.group = group
        self.step = step
        self.loader = loader
        self.trainList = trainList
        self.perRankBatch = perRankBatch
        self.dictionaryWords = dictionaryWords
        let epoch = configuration.startEpoch
        start = TrainingPosition(epoch: epoch, batch: 0, globalStep: epoch * loader.batchesPerEpoch)
        step.schedule.stepsTaken = start.globalStep
    }

    /// The model being trained.
    public var model: MILNCEModel { step.model }

    /// Batches per epoch on this rank.
    public var batchesPerEpoch: Int { loader.batchesPerEpoch }

    /// Clips per step over all ranks.
    public var totalBatch: Int { world.size * perRankBatch }

    /// What a checkpoint records about the run: its shape (for exact resumption) and the clip
    /// settings and dictionary that `eval` and `embed` need to use the model as it was trained.
    var runDescription: [String: PickleValue] {
        let c = configuration
        return [
            "seed": .int(c.seed), "world_size": .int(world.size), "batch_size": .int(c.batchSize),
            "batches_per_epoch": .int(batchesPerEpoch), "num_candidates": .int(c.numCandidates),
            "num_frames": .int(c.numFrames), "video_size": .int(c.videoSize), "fps": .float(c.fps),
            "crop_only": .bool(c.cropOnly), "centercrop": .bool(c.centerCrop), "random_flip": .bool(c.randomFlip),
            "min_time": .float(c.minTime), "max_words": .int(c.maxWords),
            "dictionary": .string(TrainingInputs.dictionaryFileName), "dictionary_words": .int(dictionaryWords),
        ]
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

// MARK: - Resumption

extension Trainer {
    /// With `--resume`, continues from the newest checkpoint in the checkpoint folder that loads:
    /// a damaged newer one (truncated, empty, not a training checkpoint) is skipped with a message.
    func resume(_ session: TrainingSession) throws {
        let c = configuration
        guard c.resume else { return }
        let candidates = TrainingCheckpoint.list(in: c.checkpointFolder).reversed()
        guard !candidates.isEmpty else {
            log.info("=> no checkpoint found at '\(c.checkpointFolder.path)'")
            return
        }
        var skipped: [String] = []
        for url in candidates {
            let contents: PickleValue
            let checkpoint: ModelCheckpoint
            do {
                checkpoint = try ModelCheckpoint.load(from: url)
                guard let entries = checkpoint.contents else {
                    throw ModelError.badCheckpoint("a bare state_dict, not a training checkpoint")
                }
                contents = entries
            } catch {
                log.warning("=> skipping checkpoint '\(url.path)': it cannot be loaded (\(error)); "
                            + "trying the one before it")
                skipped.append("\(url.lastPathComponent): \(error)")
                continue
            }
            session.start = try restore(session, from: checkpoint, contents: contents, url: url)
            return
        }
        throw TrainingError.invalidConfiguration(
            "--resume: none of the \(skipped.count) checkpoints in \(c.checkpointFolder.path) can be loaded:\n  "
                + skipped.joined(separator: "\n  ")
                + "\nMove them away to start afresh, or restore a good copy")
    }

    /// Restores model, optimiser and schedule from a loaded checkpoint and returns where to continue.
    func restore(_ session: TrainingSession, from checkpoint: ModelCheckpoint, contents: PickleValue,
                 url: URL) throws -> TrainingPosition {
        log.info("=> loading checkpoint '\(url.path)'")
        let step = session.step
        try session.model.load(stateDict: checkpoint.tensorsByName)
        if let optimizerState = contents["optimizer"] {
            try TrainingCheckpoint.restore(step.optimizer, from: optimizerState)
        }
        let batchesPerEpoch = session.batchesPerEpoch
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
}
