import FoundationEssentials
import POSIX
import Synchronization

/// The run's text log: the reference's `<log_root>/<checkpoint_dir>.txt` (lines appended), echoed
/// to standard output on rank 0.
final class TrainingLog: Sendable {
    private let file: URL
    private let rank: Int
    private let verbose: Bool
    private let appending = Mutex<Void>(())

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

    /// A line for the log file and, on every rank, the terminal (standard error).
    func warning(_ line: String) {
        append(line)
        FileOutput.standardError.print(line + "\n")
    }

    private func append(_ line: String) {
        appending.withLock { _ in
            let data = Data((line + "\n").utf8)
            if let handle = try? FileOutput(writingTo: file.path, appending: true) {
                try? handle.write(data)
            } else {
                try? data.write(to: file)
            }
        }
    }
}
