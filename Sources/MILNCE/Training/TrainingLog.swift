import FoundationEssentials
import POSIX

/// The run's text log: the reference's `<log_root>/<checkpoint_dir>.txt` (lines appended), echoed
/// to standard output on rank 0.
final class TrainingLog: @unchecked Sendable {
    private let file: URL
    private let rank: Int
    private let verbose: Bool
    private let lock = Lock()

    init(file: URL, rank: Int, verbose: Bool) {
        self.file = file
        self.rank = rank
        self.verbose = verbose
        try? FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
    }

    /// A line for the log file and, on rank 0, the terminal.
    func info(_ line: String) {
        append(line)
        if rank == 0 && verbose { print(line) }
    }

    /// A line for the log file only.
    func debug(_ line: String) {
        append(line)
    }

    private func append(_ line: String) {
        lock.lock()
        defer { lock.unlock() }
        let data = Data((line + "\n").utf8)
        if let handle = try? FileOutput(writingTo: file.path, appending: true) {
            try? handle.write(data)
        } else {
            try? data.write(to: file)
        }
    }
}

/// The training curves as a PNG (`training.png` in the log folder): loss per step and the
/// evaluation metrics per epoch.
final class TrainingReport {
    private let folder: URL
    private let enabled: Bool
    private var losses: [PlotPoint] = []
    private var metrics: [String: [PlotPoint]] = [:]

    init(folder: URL, enabled: Bool) {
        self.folder = folder
        self.enabled = enabled
    }

    func add(loss: Double, step: Int) {
        guard enabled else { return }
        losses.append(PlotPoint(x: Double(step), y: loss))
    }

    func add(evaluation: [String: Double], epoch: Int) {
        guard enabled else { return }
        for (name, value) in evaluation where name.hasPrefix("R") {
            metrics[name, default: []].append(PlotPoint(x: Double(epoch), y: value))
        }
    }

    /// Writes the plot (best effort: a failure to draw never stops training).
    func write() {
        guard enabled, !losses.isEmpty else { return }
        var panels = [PlotPanel(title: "MIL-NCE training loss", series: [PlotSeries(name: "loss", points: losses)],
                                xLabel: "step")]
        if !metrics.isEmpty {
            panels.append(PlotPanel(title: "Zero-shot retrieval", series: metrics.keys.sorted().map {
                PlotSeries(name: $0, points: metrics[$0]!)
            }, xLabel: "epoch"))
        }
        guard let png = try? LinePlot.renderPNG(panels: panels, width: 900, height: 360 * panels.count) else { return }
        try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try? Data(png).write(to: folder.appendingPathComponent("training.png"), options: .atomic)
    }
}
