import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The `MemoryProbe` executable (built from Tests/MemoryProbe beside the test bundles): runs one
/// memory or lifetime workload in a process of its own, so that what it measures is that
/// workload's alone and not the allocations of the tests running beside it.
public enum MemoryProbe {
    /// What one run of the probe printed and how it ended.
    public struct Report: CustomStringConvertible {
        /// The workload and its arguments.
        public var command: [String]
        /// Everything it wrote, standard output and standard error interleaved.
        public var output: String
        /// The peak resident memory of the probe process alone (`ru_maxrss` from `wait4`), in bytes.
        public var peakResidentBytes: Int

        /// The figure `name` that the workload printed (a line `name = integer`).
        public func figure(_ name: String) throws -> Int {
            for line in output.split(separator: "\n") {
                let parts = line.split(separator: " ", omittingEmptySubsequences: false)
                if parts.count == 3, parts[0] == name, parts[1] == "=", let value = Int(parts[2]) { return value }
            }
            throw TestSupportError("MemoryProbe \(command.joined(separator: " ")) printed no figure \(name):\n\(output)")
        }

        /// The lines that start with `prefix`.
        public func lines(startingWith prefix: String) -> [String] {
            output.split(separator: "\n").filter { $0.hasPrefix(prefix) }.map(String.init)
        }

        /// The command and its output, for failure messages.
        public var description: String {
            "MemoryProbe \(command.joined(separator: " ")):\n\(output)"
        }
    }

    /// The built probe: beside the running test bundle, or in the package's `.build/debug`.
    /// Throws (the test fails) when it is not built.
    public static func executable() throws -> URL {
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("MemoryProbe"),
            TestEnvironment.packageRoot.appendingPathComponent(".build/debug/MemoryProbe"),
        ]
        if let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) { return found }
        throw TestSupportError("the MemoryProbe executable is not built (looked at \(candidates.map(\.path).joined(separator: ", "))): "
                               + "build it with `swift build --build-tests`")
    }

    /// Runs `workload` in a new probe process and waits for it (at most `timeoutSeconds`, then it
    /// is killed). Throws, with the probe's output, when it cannot start, does not finish, is
    /// killed by a signal or exits with a status other than 0.
    public static func run(_ workload: String, arguments: [String] = [], timeoutSeconds: Double = 600) throws -> Report {
        let executable = try executable()
        let command = [workload] + arguments
        let log = FileManager.default.temporaryDirectory
            .appendingPathComponent("milnce-memory-probe-\(UUID().uuidString.prefix(8)).log")
        defer { try? FileManager.default.removeItem(at: log) }

        let run = try spawnMeasuringPeakMemory(executable, command, log: log, timeoutSeconds: timeoutSeconds)
        let report = Report(command: command, output: run.output, peakResidentBytes: run.peakResidentBytes)
        if run.timedOut {
            throw TestSupportError("\(report)\n(killed after \(Int(timeoutSeconds)) s)")
        } else if let signal = run.signal {
            throw TestSupportError("\(report)\n(killed by signal \(signal))")
        } else if run.status != 0 {
            throw TestSupportError("\(report)\n(exit status \(run.status))")
        }
        return report
    }
}

/// How a child run by `spawnMeasuringPeakMemory` ended.
public struct MeasuredRun {
    /// The exit status, or 128 + the signal that killed it.
    public var status: Int32
    /// The signal that killed it, if one did.
    public var signal: Int32?
    /// Its standard output and error, interleaved.
    public var output: String
    /// Its peak resident memory alone (`ru_maxrss` from `wait4`), in bytes.
    public var peakResidentBytes: Int
    /// Whether it ran past its time limit and was killed.
    public var timedOut: Bool
}

/// Runs `executable` with standard input from `/dev/null` and its output in `log`, killing it
/// after `timeoutSeconds` (when given); returns how it ended, its output and its peak memory.
public func spawnMeasuringPeakMemory(_ executable: URL, _ arguments: [String], log: URL,
                                     timeoutSeconds: Double? = nil) throws -> MeasuredRun {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, log.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    let argv: [UnsafeMutablePointer<CChar>?] = ([executable.path] + arguments).map { strdup($0) } + [nil]
    defer { for argument in argv { free(argument) } }
    var pid: pid_t = 0
    let spawned = posix_spawn(&pid, executable.path, &actions, nil, argv, environ)
    guard spawned == 0 else {
        throw TestSupportError("cannot start \(executable.path): \(String(cString: strerror(spawned)))")
    }

    var status: Int32 = 0
    var usage = rusage()
    let deadline = timeoutSeconds.map { Date().addingTimeInterval($0) }
    var timedOut = false
    while true {
        let waited = wait4(pid, &status, timedOut || deadline == nil ? 0 : WNOHANG, &usage)
        if waited == pid { break }
        if waited < 0 {
            guard errno == EINTR else { throw TestSupportError("wait4 failed: \(String(cString: strerror(errno)))") }
            continue
        }
        if let deadline, Date() > deadline {
            kill(pid, SIGKILL)
            timedOut = true
        } else {
            usleep(20_000)
        }
    }
    let signal = status & 0x7F
    return MeasuredRun(status: signal == 0 ? (status >> 8) & 0xFF : 128 + signal, signal: signal == 0 ? nil : signal,
                       output: (try? String(contentsOf: log, encoding: .utf8)) ?? "",
                       peakResidentBytes: usage.ru_maxrss * 1024, timedOut: timedOut)
}
