import FoundationEssentials
import POSIX

/// The steps between two log lines (`--n_display` batches): their mean loss, speed and data wait.
struct DisplayWindow {
    /// The figures of a window that just closed.
    struct Figures {
        var meanLoss: Double
        var learningRate: Double
        var elapsedSeconds: Double
        var clipsPerSecond: Double
        /// The fraction of the elapsed time spent waiting for data.
        var dataWaitFraction: Double
    }

    let length: Int
    private var lossSum = 0.0
    private var clips = 0
    private var start = ContinuousClock.now
    private var waitAtStart = 0.0

    init(length: Int) {
        self.length = max(1, length)
    }

    /// Starts a window at the start of an epoch (the loader's wait count starts at 0).
    mutating func restart() {
        lossSum = 0
        clips = 0
        start = .now
        waitAtStart = 0
    }

    /// Adds a step; returns the window's figures when it is the window's last step.
    mutating func add(_ step: StepRecord) -> Figures? {
        lossSum += step.loss
        clips += step.clips
        guard (step.batch + 1) % length == 0 else { return nil }
        let elapsed = start.elapsedSeconds
        let figures = Figures(meanLoss: lossSum / Double(length), learningRate: step.learningRate,
                              elapsedSeconds: elapsed, clipsPerSecond: Double(clips) / max(elapsed, 1e-9),
                              dataWaitFraction: (step.dataWaitSeconds - waitAtStart) / max(elapsed, 1e-9))
        lossSum = 0
        clips = 0
        start = .now
        waitAtStart = step.dataWaitSeconds
        return figures
    }
}

// MARK: - The text log

/// Writes the reference's log line every `--n_display` batches (rank 0), with clips/s, the time
/// spent waiting for data and the samples replaced; each replaced sample (every rank); and a line
/// per epoch.
final class TextLogObserver: TrainingObserver {
    private let session: TrainingSession
    private var window: DisplayWindow
    private var epochSkipped = 0

    init(session: TrainingSession) {
        self.session = session
        self.window = DisplayWindow(length: session.configuration.nDisplay)
    }

    func epochWillStart(_ epoch: Int, at position: TrainingPosition) throws {
        window.restart()
        epochSkipped = 0
    }

    func stepDidFinish(_ step: StepRecord) throws {
        let log = session.log
        epochSkipped += step.failures.count
        for failure in step.failures { log.debug("skipped sample: \(failure)") }
        guard let figures = window.add(step), session.world.rank == 0 else { return }
        let status = Double(session.totalBatch) * Double(step.batch) / Double(session.trainList.count)
        let referenceLine = String(
            cFormat: "Epoch %ld, Elapsed Time: %.3f, Epoch status: %.4f, Training loss: %.4f, Learning rate: %.6f",
            step.epoch + 1, figures.elapsedSeconds, status, figures.meanLoss, figures.learningRate)
        let extra = String(cFormat: ", clips/s: %.1f, data wait: %.0f%%, skipped samples: %ld",
                           figures.clipsPerSecond, 100 * figures.dataWaitFraction, epochSkipped)
        log.info(referenceLine + extra)
    }

    func epochDidFinish(_ epoch: EpochRecord) throws {
        let failures = epoch.failures
        guard !failures.isEmpty || epoch.paddedSamples > 0 || session.world.rank == 0 else { return }
        session.log.info("Epoch \(epoch.epoch + 1) finished: \(failures.count) samples skipped on rank \(session.world.rank)"
                         + (failures.isEmpty ? "" : " (\(Set(failures.map(\.path)).count) files)")
                         + ", \(epoch.paddedSamples) clips padded with black frames")
    }
}

// MARK: - TensorBoard

/// Writes TensorBoard scalars (rank 0): the text log's figures every `--n_display` batches and the
/// evaluation metrics. A failure to write stops the events (a half-written record would spoil
/// the file), is reported at once and again at the end; training goes on.
final class TensorBoardObserver: TrainingObserver {
    private let folder: URL
    private let failures: LogWriteFailures
    private var writer: TensorBoardWriter?
    private var window: DisplayWindow
    private var skippedSamples = 0
    /// Clips padded with black frames since the run started.
    private var paddedSamples = 0

    init(folder: URL, failures: LogWriteFailures, displayEvery: Int = 10) {
        self.folder = folder
        self.failures = failures
        self.window = DisplayWindow(length: displayEvery)
    }

    /// The same window as the text log's.
    convenience init(session: TrainingSession, failures: LogWriteFailures) {
        self.init(folder: session.configuration.logFolder, failures: failures,
                  displayEvery: session.configuration.nDisplay)
    }

    func trainingWillStart(at position: TrainingPosition) throws {
        do {
            writer = try TensorBoardWriter(directory: folder)
        } catch {
            record(error, path: folder.path, consequence: "this run writes no TensorBoard events")
        }
    }

    func epochWillStart(_ epoch: Int, at position: TrainingPosition) throws {
        window.restart()
    }

    func stepDidFinish(_ step: StepRecord) throws {
        skippedSamples += step.failures.count
        paddedSamples += step.paddedSamples
        guard let figures = window.add(step) else { return }
        let scalars = [
            TensorBoardScalar(tag: "train/loss", value: Float(figures.meanLoss)),
            TensorBoardScalar(tag: "train/learning_rate", value: Float(figures.learningRate)),
            TensorBoardScalar(tag: "train/clips_per_second", value: Float(figures.clipsPerSecond)),
            TensorBoardScalar(tag: "train/data_wait_fraction", value: Float(figures.dataWaitFraction)),
            TensorBoardScalar(tag: "train/skipped_samples", value: Float(skippedSamples)),
            TensorBoardScalar(tag: "train/padded_samples", value: Float(paddedSamples)),
        ]
        write(at: step.position.globalStep) { try $0.add(scalars: scalars, step: step.position.globalStep) }
    }

    func epochDidFinish(_ epoch: EpochRecord) throws {
        write(at: epoch.position.globalStep) { try $0.flush() }
    }

    func evaluationDidFinish(_ metrics: [String: Double], epoch: Int, globalStep: Int) throws {
        let scalars = metrics.sorted { $0.key < $1.key }
            .map { TensorBoardScalar(tag: "eval/youcook2/\($0.key)", value: Float($0.value)) }
        write(at: globalStep) { try $0.add(scalars: scalars, step: globalStep) }
    }

    func trainingDidEnd(_ end: TrainingEnd, at position: TrainingPosition) throws {
        write(at: position.globalStep) { try $0.close() }
        writer = nil
    }

    private func write(at step: Int, _ body: (TensorBoardWriter) throws -> Void) {
        guard let writer else { return }
        do {
            try body(writer)
        } catch {
            record(error, path: writer.fileURL.path, consequence: "the events stop at step \(step)")
            self.writer = nil
        }
    }

    private func record(_ error: Error, path: String, consequence: String) {
        switch error as? TensorBoardError {
        case .cannotCreateDirectory(let path, let reason), .cannotCreateFile(let path, let reason),
             .writeFailed(let path, let reason):
            failures.record("the TensorBoard events", path: path, reason: reason, consequence: consequence)
        default:
            failures.record("the TensorBoard events", path: path, error: error, consequence: consequence)
        }
    }
}

// MARK: - The plot

/// Draws the training curves (`training.png` in the log folder, rank 0): the loss per step and
/// the evaluation metrics per epoch, redrawn after every epoch and at the end.
final class PlotObserver: TrainingObserver {
    private let file: URL
    private let failures: LogWriteFailures
    private var losses: [PlotPoint] = []
    private var metrics: [String: [PlotPoint]] = [:]

    init(folder: URL, failures: LogWriteFailures) {
        self.file = folder.appendingPathComponent("training.png")
        self.failures = failures
    }

    func stepDidFinish(_ step: StepRecord) throws {
        losses.append(PlotPoint(x: Double(step.position.globalStep), y: step.loss))
    }

    func evaluationDidFinish(_ metrics: [String: Double], epoch: Int, globalStep: Int) throws {
        for (name, value) in metrics where name.hasPrefix("R") {
            self.metrics[name, default: []].append(PlotPoint(x: Double(epoch), y: value))
        }
    }

    func epochDidFinish(_ epoch: EpochRecord) throws {
        draw()
    }

    func trainingDidEnd(_ end: TrainingEnd, at position: TrainingPosition) throws {
        draw()
    }

    private func draw() {
        guard !losses.isEmpty else { return }
        var panels = [PlotPanel(title: "MIL-NCE training loss", series: [PlotSeries(name: "loss", points: losses)],
                                xLabel: "step")]
        if !metrics.isEmpty {
            panels.append(PlotPanel(title: "Zero-shot retrieval", series: metrics.keys.sorted().map {
                PlotSeries(name: $0, points: metrics[$0] ?? [])
            }, xLabel: "epoch"))
        }
        do {
            let png = try LinePlot.renderPNG(panels: panels, width: 900, height: 360 * panels.count)
            try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(png).write(to: file, options: .atomic)
        } catch {
            failures.record("the training plot", path: file.path, error: error,
                            consequence: "it is drawn again after the next epoch")
        }
    }
}

// MARK: - Progress

/// A progress bar per epoch on standard error (rank 0), with the loss and learning rate.
final class ProgressObserver: TrainingObserver {
    private let epochs: Int
    private let batchesPerEpoch: Int
    private var display: ProgressDisplay?

    init(epochs: Int, batchesPerEpoch: Int) {
        self.epochs = epochs
        self.batchesPerEpoch = batchesPerEpoch
    }

    func epochWillStart(_ epoch: Int, at position: TrainingPosition) throws {
        display = ProgressDisplay("epoch \(epoch + 1)/\(epochs)", total: batchesPerEpoch)
    }

    func stepDidFinish(_ step: StepRecord) throws {
        display?.update(step.batch + 1, status: String(cFormat: "loss %.4f lr %.2e", step.loss, step.learningRate))
    }

    func epochDidFinish(_ epoch: EpochRecord) throws {
        display?.finish()
        display = nil
    }

    func trainingDidEnd(_ end: TrainingEnd, at position: TrainingPosition) throws {
        switch end {
        case .completed: display?.finish()
        case .stepLimit(let steps): display?.finish("stopped after \(steps) steps")
        case .signal(let request): display?.finish("stopped by \(request.signalName)")
        }
        display = nil
    }
}
