import FoundationEssentials
import Torch

/// Why an epoch ended.
enum EpochOutcome {
    /// Every batch was trained; the run continues at `next`.
    case completed(next: TrainingPosition)
    /// The run stops at `position`.
    case stopped(TrainingEnd, at: TrainingPosition)
}

/// Trains a session epoch by epoch, batch by batch, and tells the observers about each step and
/// epoch. It stops after the last epoch, after `--max_steps` steps, or after the step at which a
/// stop signal reached any rank (every rank stops after the same step); it throws when an epoch's
/// data fails, so that no checkpoint claims an epoch that was not trained.
final class EpochLoop {
    let session: TrainingSession
    let observers: TrainingObservers
    private let stops: StopAgreement
    /// Steps taken by this process in this run.
    private(set) var stepsThisRun = 0
    /// The loss of the last step.
    private(set) var lastLoss: Double?
    /// Samples replaced on this rank in this run.
    private(set) var skippedSamples = 0

    init(session: TrainingSession, observers: TrainingObservers) {
        self.session = session
        self.observers = observers
        self.stops = StopAgreement(group: session.group, device: session.device)
    }

    /// Runs to the end; returns why it ended and where.
    func run() throws -> (TrainingEnd, TrainingPosition) {
        var position = session.start
        StopSignals.setTraining(true)
        defer { StopSignals.setTraining(false) }
        try observers.trainingWillStart(at: position)
        for epoch in position.epoch..<max(position.epoch, session.configuration.epochs) {
            try observers.epochWillStart(epoch, at: position)
            switch try runEpoch(epoch, from: position) {
            case .completed(let next):
                position = next
            case .stopped(let end, let at):
                try observers.trainingDidEnd(end, at: at)
                return (end, at)
            }
        }
        // Nothing remains that a stop signal could save: let a signal end the process at once.
        StopSignals.setTraining(false)
        try observers.trainingDidEnd(.completed, at: position)
        return (.completed, position)
    }

    /// Trains the batches of `epoch` from `position.batch` on.
    func runEpoch(_ epoch: Int, from position: TrainingPosition) throws -> EpochOutcome {
        let batches: EpochBatches
        do {
            batches = try session.loader.epoch(epoch, startingAt: position.batch)
        } catch let error as LoaderError {
            throw error
        } catch {
            // The first batches' memory is allocated here: the epoch fails before its first step.
            throw TrainingRunError.epochFailed(epoch: epoch, batchesTrained: position.batch,
                                               batchesPerEpoch: session.batchesPerEpoch, reason: "\(error)")
        }
        defer { batches.stop() }
        var failures: [SampleFailure] = []
        var padded = 0
        var trained = position.batch
        while let batch = batches.next() {
            let record = try train(batch, epoch: epoch, dataWaitSeconds: batches.waitingSeconds)
            trained += 1
            failures += batch.failures
            padded += batch.paddedSamples
            try observers.stepDidFinish(record)
            if let end = try stopRequested() {
                if case .signal(.interrupt) = end { return .stopped(end, at: record.position) }
                // A stop on the epoch's last batch ends the epoch first (its checkpoint is the stop's);
                // on the last epoch's, the run is simply complete.
                guard record.endsEpoch else { return .stopped(end, at: record.position) }
                let next = try finishEpoch(epoch, failures: failures, padded: padded)
                return next.epoch >= session.configuration.epochs ? .completed(next: next) : .stopped(end, at: next)
            }
        }
        if trained < session.batchesPerEpoch {
            throw TrainingRunError.epochFailed(epoch: epoch, batchesTrained: trained, batchesPerEpoch: session.batchesPerEpoch,
                                               reason: batches.error.map { "\($0)" })
        }
        return .completed(next: try finishEpoch(epoch, failures: failures, padded: padded))
    }

    private func finishEpoch(_ epoch: Int, failures: [SampleFailure], padded: Int) throws -> TrainingPosition {
        let next = TrainingPosition(epoch: epoch + 1, batch: 0, globalStep: session.step.schedule.stepsTaken)
        try observers.epochDidFinish(EpochRecord(epoch: epoch, position: next, failures: failures,
                                                  paddedSamples: padded))
        return next
    }

    /// One optimiser step on `batch`.
    private func train(_ batch: TrainingBatch, epoch: Int, dataWaitSeconds: Double) throws -> StepRecord {
        if batch.blankSamples == session.perRankBatch {
            throw TrainingError.noUsableSamples(batch: batch.number, lastFailure: batch.failures.last)
        }
        let step = session.step
        let outcome = try session.withCollectives { try step.run(video: batch.video, text: batch.text) }
        stepsThisRun += 1
        lastLoss = outcome.loss
        skippedSamples += batch.failures.count
        return StepRecord(
            epoch: epoch, batch: batch.number, batchesPerEpoch: session.batchesPerEpoch,
            position: TrainingPosition(epoch: epoch, batch: batch.number + 1, globalStep: step.schedule.stepsTaken),
            loss: outcome.loss, learningRate: outcome.learningRate, clips: session.totalBatch,
            failures: batch.failures, paddedSamples: batch.paddedSamples, dataWaitSeconds: dataWaitSeconds)
    }

    /// Whether to stop after the step just taken: a stop signal on any rank, or `--max_steps`.
    private func stopRequested() throws -> TrainingEnd? {
        if let request = try session.withCollectives({ try stops.agreedRequest() }) { return .signal(request) }
        let limit = session.configuration.maxSteps
        return limit > 0 && stepsThisRun >= limit ? .stepLimit(limit) : nil
    }
}

/// Failures of the epoch loop other than the step's.
public enum TrainingRunError: Error, CustomStringConvertible {
    /// An epoch's batches ended before its last batch (the loader could not go on).
    case epochFailed(epoch: Int, batchesTrained: Int, batchesPerEpoch: Int, reason: String?)

    /// What failed, why, and what to do.
    public var description: String {
        switch self {
        case let .epochFailed(epoch, trained, total, reason):
            "epoch \(epoch + 1) stopped after \(trained) of its \(total) batches: "
                + (reason ?? "the loader ended early without saying why")
                + ". No checkpoint claims this epoch; once the cause is fixed, run the same command with --resume "
                + "to continue from the last checkpoint"
        }
    }
}
