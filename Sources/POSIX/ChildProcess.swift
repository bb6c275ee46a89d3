import Glibc
import Synchronization

/// The exit status of a child process that something outside `ChildProcess` collected first
/// (a `waitpid(-1, ...)` elsewhere in the program, or `SIGCHLD` set to `SIG_IGN`): the child
/// has ended, but how is unknown.
public struct ChildProcessError: Error, CustomStringConvertible, Sendable {
    /// The program that was run.
    public var executable: String
    /// Its process id.
    public var processIdentifier: pid_t

    public var description: String {
        "waiting for process \(processIdentifier) (\(executable)): it has ended, but its exit status was "
            + "collected by other code in this program (a waitpid(-1) or SIGCHLD set to SIG_IGN), so whether "
            + "it succeeded is unknown; do not reap children started through ChildProcess elsewhere"
    }
}

/// A program run as a child process (`posix_spawn`), with its standard output and error
/// inherited or captured: what Foundation's `Process` does, without the rest of Foundation.
///
///     let child = try ChildProcess(executable: "/usr/bin/ffmpeg", arguments: ["-version"], capturing: true)
///     let (output, errors) = try child.readCapturedOutput()
///     let status = try child.wait()
///
/// The child is reaped (its status collected with `waitpid`) only while holding `exitStatus`'s
/// lock, so `wait()` and `isRunning` on several threads agree, and a status that something else
/// collected is reported instead of waited for.
public final class ChildProcess: Sendable {
    /// The child's process id.
    public let processIdentifier: pid_t
    /// The program run.
    public let executable: String
    /// The read ends of the pipes from the child's standard output and error (-1 when not captured).
    private let outputPipe: Int32, errorPipe: Int32
    /// The exit status once the child has been reaped (`.lost` when someone else reaped it).
    private let exitStatus = Mutex<Ending?>(nil)

    /// How the child ended, as far as this object knows.
    private enum Ending {
        case status(Int32)
        case lost
    }
    /// Held from creating a child's pipes to starting it.
    private static let spawning = Mutex(())

    /// Starts `executable` (a path) with `arguments` (without the program name), in
    /// `environment` (this process's when nil). Standard input is `/dev/null`. With `capturing`,
    /// standard output and error go to pipes read by `readCapturedOutput()`; otherwise they go
    /// to `outputFile` when given, else to this process's own.
    public init(executable: String, arguments: [String], environment: [String: String]? = nil,
                capturing: Bool = false, outputFile: FileOutput? = nil) throws {
        self.executable = executable
        (processIdentifier, outputPipe, errorPipe) = try ChildProcess.spawning.withLock { _ in
            try ChildProcess.spawn(executable: executable, arguments: arguments, environment: environment,
                                   capturing: capturing, outputFile: outputFile)
        }
    }

    /// Starts the child, holding `spawning`; returns its process id and the read ends of its
    /// output pipes (-1 when not capturing).
    private static func spawn(executable: String, arguments: [String], environment: [String: String]?,
                              capturing: Bool, outputFile: FileOutput?) throws -> (pid_t, Int32, Int32) {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0)

        var pipes: [Int32] = []
        defer { for descriptor in pipes { close(descriptor) } }
        if capturing {
            for target in [STDOUT_FILENO, STDERR_FILENO] {
                var ends: [Int32] = [-1, -1]
                guard pipe(&ends) == 0 else { throw SystemCallError("pipe") }
                pipes += ends
                // Close-on-exec, set under `spawning` so that no other child started here inherits them.
                for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
                posix_spawn_file_actions_adddup2(&actions, ends[1], target)
            }
        } else if let outputFile {
            posix_spawn_file_actions_adddup2(&actions, outputFile.descriptor, STDOUT_FILENO)
            posix_spawn_file_actions_adddup2(&actions, outputFile.descriptor, STDERR_FILENO)
        }

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        let variables = environment.map { $0.map { "\($0.key)=\($0.value)" } }
        let envp = variables.map { $0.map { strdup($0) } + [nil] }
        defer { envp?.forEach { free($0) } }

        var pid: pid_t = 0
        let status = envp.map { posix_spawn(&pid, executable, &actions, nil, argv, $0) }
            ?? posix_spawn(&pid, executable, &actions, nil, argv, environ)
        guard status == 0 else { throw SystemCallError("start", path: executable, code: status) }
        guard capturing else { return (pid, -1, -1) }
        let readEnds = (pipes[0], pipes[2])
        close(pipes[1])
        close(pipes[3])
        pipes = []
        return (pid, readEnds.0, readEnds.1)
    }

    deinit {
        // Reap a child that has ended, so that it does not stay a zombie.
        _ = reap(blocking: false)
        if outputPipe >= 0 { close(outputPipe) }
        if errorPipe >= 0 { close(errorPipe) }
    }

    /// Reads the captured standard output and error to their ends (both at once, so that
    /// neither pipe fills and blocks the child).
    public func readCapturedOutput() throws -> (output: [UInt8], errors: [UInt8]) {
        var output: [UInt8] = [], errors: [UInt8] = []
        var open = [outputPipe, errorPipe].filter { $0 >= 0 }
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while !open.isEmpty {
            var polls = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let ready = poll(&polls, nfds_t(polls.count), -1)
            if ready < 0 {
                if errno == EINTR { continue }
                throw SystemCallError("poll")
            }
            for entry in polls where entry.revents != 0 {
                let count = chunk.withUnsafeMutableBytes { read(entry.fd, $0.baseAddress, $0.count) }
                if count < 0 {
                    if errno == EINTR || errno == EAGAIN { continue }
                    throw SystemCallError("read")
                }
                if count == 0 {
                    open.removeAll { $0 == entry.fd }
                } else if entry.fd == outputPipe {
                    output += chunk[0..<count]
                } else {
                    errors += chunk[0..<count]
                }
            }
        }
        return (output, errors)
    }

    /// Waits for the child to end; its exit status, or 128 + the signal that ended it.
    ///
    /// - Throws: `ChildProcessError` when the child has ended but other code collected its
    ///   status first.
    @discardableResult
    public func wait() throws -> Int32 {
        // Wait for the end without collecting the status (WNOWAIT), then reap under the lock.
        var information = siginfo_t()
        while waitid(P_PID, id_t(processIdentifier), &information, WEXITED | WNOWAIT) != 0 && errno == EINTR {}
        switch reap(blocking: true) {
        case .status(let status): return status
        case .lost, nil: throw ChildProcessError(executable: executable, processIdentifier: processIdentifier)
        }
    }

    /// Whether the child is still running (reaping it if it has ended).
    public var isRunning: Bool { reap(blocking: false) == nil }

    /// The exit status once the child has ended and been reaped here (see `wait()`), else nil.
    public var terminationStatus: Int32? {
        exitStatus.withLock { ending in
            if case .status(let status) = ending { return status }
            return nil
        }
    }

    /// Sends `signal` (SIGTERM by default) to the child, if it is still running.
    public func terminate(signal: Int32 = SIGTERM) {
        if isRunning { kill(processIdentifier, signal) }
    }

    /// Collects the child's status if it has ended (`waitpid` with `WNOHANG`, under the lock);
    /// nil while it runs. With `blocking`, the caller knows it has ended: a child that is not
    /// there to reap was then reaped elsewhere.
    private func reap(blocking: Bool) -> Ending? {
        exitStatus.withLock { ending in
            if let ending { return ending }
            var raw: Int32 = 0
            var result: pid_t
            repeat { result = waitpid(processIdentifier, &raw, WNOHANG) } while result < 0 && errno == EINTR
            if result == processIdentifier {
                // WIFEXITED / WEXITSTATUS / WTERMSIG, which Swift does not import as macros.
                let signal = raw & 0x7f
                ending = .status(signal == 0 ? (raw >> 8) & 0xff : 128 + signal)
            } else if result < 0 || blocking {
                // ECHILD: not our child any more; someone else collected its status.
                ending = .lost
            }
            return ending
        }
    }
}
