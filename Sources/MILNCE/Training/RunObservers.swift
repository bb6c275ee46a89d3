import FoundationEssentials
import Torch
import TorchFiles

/// The observers of a standard run, in the order they are told: replica checks, checkpoints,
/// evaluation, the progress bar, the text log, TensorBoard, the plot.
final class TrainingObserverSet {
    let observers = TrainingObservers()
    let checkpoints: CheckpointObserver
    let evaluation: EvaluationObserver?

    init(session: TrainingSession,
         evaluation run: ((MILNCEModel, Device, ProcessGroup?, Int) throws -> [String: Double]?)?,
         failures: LogWriteFailures) {
        let c = session.configuration
        let isRankZero = session.world.rank == 0
        checkpoints = CheckpointObserver(session: session)
        let observers = self.observers
        evaluation = c.evaluate ? run.map { EvaluationObserver(session: session, evaluate: $0, observers: observers) } : nil
        if c.replicaCheckSteps > 0 { observers.add(ReplicaCheckObserver(session: session)) }
        observers.add(checkpoints)
        if let evaluation { observers.add(evaluation) }
        if isRankZero { observers.add(ProgressObserver(epochs: c.epochs, batchesPerEpoch: session.batchesPerEpoch)) }
        observers.add(TextLogObserver(session: session))
        if isRankZero && c.tensorboard { observers.add(TensorBoardObserver(session: session, failures: failures)) }
        if isRankZero { observers.add(PlotObserver(folder: c.logFolder, failures: failures)) }
    }
}

// MARK: - Checkpoints

/// Saves checkpoints (rank 0): after every epoch, every `--save_every_steps` steps within one, and
/// where a run stops early (`--max_steps`, SIGTERM, SIGUSR1); keeps the newest `--keep_checkpoints`.
final class CheckpointObserver: TrainingObserver {
    private let session: TrainingSession
    /// The last checkpoint this run saved.
    private(set) var lastSaved: URL?
    private var lastSavedPosition: TrainingPosition?

    init(session: TrainingSession) {
        self.session = session
    }

    func stepDidFinish(_ step: StepRecord) throws {
        let every = session.configuration.saveEverySteps
        if every > 0, step.position.globalStep % every == 0, !step.endsEpoch {
            try save(step.position)
        }
    }

    func epochDidFinish(_ epoch: EpochRecord) throws {
        try save(epoch.position)
    }

    func trainingDidEnd(_ end: TrainingEnd, at position: TrainingPosition) throws {
        if end.savesCheckpoint && position != lastSavedPosition { try save(position) }
    }

    private func save(_ position: TrainingPosition) throws {
        lastSavedPosition = position
        guard session.world.rank == 0 else { return }
        let c = session.configuration
        let step = session.step
        let url = try TrainingCheckpoint.save(model: step.model, optimizer: step.optimizer, schedule: step.schedule,
                                              position: position, run: session.runDescription, to: c.checkpointFolder)
        TrainingCheckpoint.prune(c.checkpointFolder, keep: c.keepCheckpoints)
        lastSaved = url
        session.log.info("=> saved checkpoint '\(url.path)'")
    }
}

// MARK: - Evaluation

/// Evaluates the model during training (`--evaluate`): at the start of every evaluation period's
/// last epoch (the reference's schedule, or `evaluateEveryEpochs`) and after the last epoch; tells
/// the other observers the metrics (rank 0).
final class EvaluationObserver: TrainingObserver {
    private let session: TrainingSession
    private let evaluate: (MILNCEModel, Device, ProcessGroup?, Int) throws -> [String: Double]?
    private weak var observers: TrainingObservers?
    /// The metrics of the last evaluation.
    private(set) var lastMetrics: [String: Double]?

    init(session: TrainingSession, evaluate: @escaping (MILNCEModel, Device, ProcessGroup?, Int) throws -> [String: Double]?,
         observers: TrainingObservers) {
        self.session = session
        self.evaluate = evaluate
        self.observers = observers
    }

    func epochWillStart(_ epoch: Int, at position: TrainingPosition) throws {
        let c = session.configuration
        let period = c.evaluateEveryEpochs ?? max(1, session.totalBatch / 512)
        if (epoch + 1) % period == 0, position.batch == 0 {
            try run(epoch: epoch, at: position, label: "Epoch \(epoch)")
        }
    }

    func trainingDidEnd(_ end: TrainingEnd, at position: TrainingPosition) throws {
        let epochs = session.configuration.epochs
        if end == .completed, position.epoch == epochs, position.batch == 0 {
            try run(epoch: epochs, at: position, label: "Final (after epoch \(epochs))")
        }
    }

    private func run(epoch: Int, at position: TrainingPosition, label: String) throws {
        let model = session.model, device = session.device, group = session.group
        guard let metrics = try session.withCollectives({ try evaluate(model, device, group, epoch) }) else { return }
        session.log.info("\(label) results: " + metrics.sorted { $0.key < $1.key }
            .map { "\($0.key): \(String(cFormat: "%.4f", $0.value))" }.joined(separator: ", "))
        lastMetrics = metrics
        try observers?.evaluationDidFinish(metrics, epoch: epoch, globalStep: position.globalStep)
    }
}

// MARK: - Replica checks

/// Checks every `--replica_check_steps` steps that all ranks hold identical parameters.
final class ReplicaCheckObserver: TrainingObserver {
    private let session: TrainingSession

    init(session: TrainingSession) {
        self.session = session
    }

    func stepDidFinish(_ step: StepRecord) throws {
        let every = session.configuration.replicaCheckSteps
        guard every > 0, step.position.globalStep % every == 0 else { return }
        try session.withCollectives { try session.step.checkReplicas() }
        if session.world.isDistributed {
            session.log.debug("step \(step.position.globalStep): the \(session.world.size) replicas are identical")
        }
    }
}
