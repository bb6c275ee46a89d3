import FoundationEssentials

/// One optimiser step, as the epoch loop reports it.
public struct StepRecord: Sendable {
    /// The epoch (0-based).
    public var epoch: Int
    /// The batch just trained, within the epoch (0-based).
    public var batch: Int
    /// Batches in an epoch on this rank.
    public var batchesPerEpoch: Int
    /// Where the run stands after the step (the next batch).
    public var position: TrainingPosition
    /// The MIL-NCE loss of the step.
    public var loss: Double
    /// The learning rate the step used.
    public var learningRate: Double
    /// Clips the step trained on, over all ranks.
    public var clips: Int
    /// The samples of this rank's batch that were replaced, with why.
    public var failures: [SampleFailure]
    /// Clips of this rank's batch that the video filled only in part (padded with black frames at
    /// the end, as the reference pads them).
    public var paddedSamples: Int = 0
    /// Seconds this rank has waited for data since the epoch's first batch.
    public var dataWaitSeconds: Double

    /// Whether this step trained the epoch's last batch.
    public var endsEpoch: Bool { batch + 1 == batchesPerEpoch }
}

/// A completed epoch.
public struct EpochRecord: Sendable {
    /// The epoch (0-based).
    public var epoch: Int
    /// Where the run stands: the start of the next epoch.
    public var position: TrainingPosition
    /// Samples replaced on this rank during the epoch, with why.
    public var failures: [SampleFailure]
    /// Clips padded with black frames on this rank during the epoch.
    public var paddedSamples: Int = 0
}

/// Why a run ended.
public enum TrainingEnd: Sendable, Equatable {
    /// Every epoch was trained.
    case completed
    /// `--max_steps` steps were taken.
    case stepLimit(Int)
    /// A signal asked the run to stop: SIGTERM and SIGUSR1 save a checkpoint of the stopping
    /// point, SIGINT does not.
    case signal(StopRequest)

    /// Whether the observers should save the stopping point.
    var savesCheckpoint: Bool {
        switch self {
        case .completed: false
        case .stepLimit: true
        case .signal(let request): request.savesCheckpoint
        }
    }
}

/// What the epoch loop tells about a run: the text log, TensorBoard, checkpoints, evaluation and
/// the plot each listen to it. Every method has an empty default; a method that throws stops the
/// run (the observers that only record, such as the logs, never throw).
public protocol TrainingObserver: AnyObject {
    /// Before the first step (after set-up and resumption), at `position`.
    func trainingWillStart(at position: TrainingPosition) throws
    /// Before an epoch's first batch, or the batch it resumes at.
    func epochWillStart(_ epoch: Int, at position: TrainingPosition) throws
    /// After each optimiser step.
    func stepDidFinish(_ step: StepRecord) throws
    /// After an epoch's last step; never for an epoch whose data failed.
    func epochDidFinish(_ epoch: EpochRecord) throws
    /// After an evaluation of the model during training.
    func evaluationDidFinish(_ metrics: [String: Double], epoch: Int, globalStep: Int) throws
    /// When the loop ends without an error, at `position`.
    func trainingDidEnd(_ end: TrainingEnd, at position: TrainingPosition) throws
}

extension TrainingObserver {
    /// Nothing, unless the observer says otherwise.
    public func trainingWillStart(at position: TrainingPosition) throws {}
    /// Nothing, unless the observer says otherwise.
    public func epochWillStart(_ epoch: Int, at position: TrainingPosition) throws {}
    /// Nothing, unless the observer says otherwise.
    public func stepDidFinish(_ step: StepRecord) throws {}
    /// Nothing, unless the observer says otherwise.
    public func epochDidFinish(_ epoch: EpochRecord) throws {}
    /// Nothing, unless the observer says otherwise.
    public func evaluationDidFinish(_ metrics: [String: Double], epoch: Int, globalStep: Int) throws {}
    /// Nothing, unless the observer says otherwise.
    public func trainingDidEnd(_ end: TrainingEnd, at position: TrainingPosition) throws {}
}

/// The observers of a run, told in the order they were added.
public final class TrainingObservers {
    private(set) var members: [TrainingObserver] = []

    /// No observers.
    public init() {}

    /// Adds an observer after the others.
    public func add(_ observer: TrainingObserver) {
        members.append(observer)
    }

    func trainingWillStart(at position: TrainingPosition) throws {
        for member in members { try member.trainingWillStart(at: position) }
    }

    func epochWillStart(_ epoch: Int, at position: TrainingPosition) throws {
        for member in members { try member.epochWillStart(epoch, at: position) }
    }

    func stepDidFinish(_ step: StepRecord) throws {
        for member in members { try member.stepDidFinish(step) }
    }

    func epochDidFinish(_ epoch: EpochRecord) throws {
        for member in members { try member.epochDidFinish(epoch) }
    }

    func evaluationDidFinish(_ metrics: [String: Double], epoch: Int, globalStep: Int) throws {
        for member in members { try member.evaluationDidFinish(metrics, epoch: epoch, globalStep: globalStep) }
    }

    func trainingDidEnd(_ end: TrainingEnd, at position: TrainingPosition) throws {
        for member in members { try member.trainingDidEnd(end, at: position) }
    }
}
