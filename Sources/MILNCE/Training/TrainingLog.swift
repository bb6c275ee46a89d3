import FoundationEssentials
import Glibc
import POSIX
import Synchronization

/// Failures to write a run's log files (the text log, TensorBoard events, the plot). Training goes
/// on without them, but never in silence: each file's first failure is reported on standard
/// error when it happens, and every failing file is listed again in the run's summary.
public final class LogWriteFailures: Sendable {
    /// One file that could not be written.
    public struct Failure: Sendable, CustomStringConvertible {
        /// What the file is ("the text log", "the TensorBoard events", "the training plot").
        public var what: String
        /// The file.
        public var path: String
        /// The first failure, in the C library's words.
        public var firstReason: String
        /// Writes that failed.
        public var count: Int

        /// A sentence for the final summary.
        public var description: String {
            "\(count) write\(count == 1 ? "" : "s") of \(what) \(path) failed (first: \(firstReason))"
        }
    }

    private let failures = Mutex<[Failure]>([])

    /// No failures yet.
    public init() {}

    /// Records a failed write; on a file's first failure, says so on standard error, with what
    /// happens next (`consequence`).
    func record(_ what: String, path: String, error: Error, consequence: String) {
        record(what, path: path, reason: describeSystemError(error), consequence: consequence)
    }

    /// Records a failed write, with its reason in words.
    func record(_ what: String, path: String, reason: String, consequence: String) {
        let isFirst = failures.withLock { list in
            if let index = list.firstIndex(where: { $0.path == path }) {
                list[index].count += 1
                return false
            }
            list.append(Failure(what: what, path: path, firstReason: reason, count: 1))
            return true
        }
        guard isFirst else { return }
        FileOutput.standardError.print(
            "warning: cannot write \(what) \(path): \(reason); \(consequence). Training continues; this is repeated "
                + "at the end, and the exit status will be 3\n")
    }

    /// Every file that failed, in the order of their first failures.
    public var all: [Failure] { failures.withLock { $0 } }
}

/// The run's text log: the reference's `<log_root>/<checkpoint_dir>.txt` (lines appended), echoed
/// to standard output on rank 0. A line that cannot be written is counted in `failures`.
final class TrainingLog: Sendable {
    private let file: URL
    private let rank: Int
    private let verbose: Bool
    /// Where write failures are recorded.
    let failures: LogWriteFailures
    private let appending = Mutex<Void>(())

    init(file: URL, rank: Int, verbose: Bool, failures: LogWriteFailures) {
        self.file = file
        self.rank = rank
        self.verbose = verbose
        self.failures = failures
    }

    /// A line for the log file and, on rank 0, the terminal.
    func info(_ line: String) {
        append(line)
        if rank == 0 && verbose { print(line) }
    }

    /// A line for the log file and, on rank 0, the terminal, whatever `--verbose` says.
    func notice(_ line: String) {
        append(line)
        if rank == 0 { print(line) }
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
            do {
                try FileManager.default.createDirectory(at: file.deletingLastPathComponent(),
                                                        withIntermediateDirectories: true)
                let descriptor = open(file.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
                guard descriptor >= 0 else { throw SystemCallError("open", path: file.path) }
                let output = FileOutput(descriptor: descriptor, ownsDescriptor: true)
                try output.write(line + "\n")
                try output.close()
            } catch {
                failures.record("the text log", path: file.path, error: error,
                                consequence: rank == 0 && verbose ? "its lines are printed on the terminal only"
                                    : "its lines are lost")
            }
        }
    }
}
