import Foundation
import Glibc
@testable import POSIX
import Synchronization
import Testing

/// A number shared between threads; the tests wait for it to change under a `Condition`.
final class Counter: Sendable {
    private let state = Mutex(0)

    /// The current number.
    var value: Int { state.withLock { $0 } }

    /// Sets the number.
    func set(_ value: Int) { state.withLock { $0 = value } }

    /// Adds one to the number.
    func increment() { state.withLock { $0 += 1 } }
}

/// A result handed from one thread to another; the receiver waits for it under a `Condition`.
final class Outcome: Sendable {
    private let state = Mutex<Result<Int32, Error>?>(nil)

    /// The result handed over, or nil before.
    var result: Result<Int32, Error>? {
        get { state.withLock { $0 } }
        set { state.withLock { $0 = newValue } }
    }
}

extension Result {
    /// The error of a failure, else nil.
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}

@Suite struct ChildProcessTests {
    @Test func capturesOutputErrorsAndStatus() throws {
        let child = try ChildProcess(executable: "/bin/sh", arguments: ["-c", "echo out; echo err >&2; exit 3"],
                                     capturing: true)
        let (output, errors) = try child.readCapturedOutput()
        #expect(String(decoding: output, as: UTF8.self) == "out\n")
        #expect(String(decoding: errors, as: UTF8.self) == "err\n")
        #expect(try child.wait() == 3)
        #expect(child.terminationStatus == 3)
        #expect(!child.isRunning)
    }

    @Test func largeOutputOnBothStreamsDoesNotBlock() throws {
        // 8 MiB on standard output and 1 MiB on standard error: more than a pipe holds.
        let script = "head -c 8388608 /dev/zero; head -c 1048576 /dev/zero >&2"
        let child = try ChildProcess(executable: "/bin/sh", arguments: ["-c", script], capturing: true)
        let (output, errors) = try child.readCapturedOutput()
        #expect(output.count == 8 << 20)
        #expect(errors.count == 1 << 20)
        #expect(try child.wait() == 0)
    }

    @Test func environmentIsPassedAndSignalsAreReported() throws {
        let child = try ChildProcess(executable: "/bin/sh", arguments: ["-c", "echo $MILNCE_PROBE"],
                                     environment: ["MILNCE_PROBE": "seen", "PATH": "/usr/bin:/bin"], capturing: true)
        #expect(String(decoding: try child.readCapturedOutput().output, as: UTF8.self) == "seen\n")
        #expect(try child.wait() == 0)

        let sleeper = try ChildProcess(executable: "/bin/sleep", arguments: ["30"])
        #expect(sleeper.isRunning)
        sleeper.terminate(signal: SIGKILL)
        #expect(try sleeper.wait() == 128 + SIGKILL)
    }

    @Test func waitingAndPollingFromTwoThreadsAgreeOnTheStatus() throws {
        for _ in 0..<20 {
            let child = try ChildProcess(executable: "/bin/sh", arguments: ["-c", "exit 7"])
            let poller = Condition()
            let polled = Counter()
            startThread(named: "posix-poll") {
                while child.isRunning {}
                poller.withLock { polled.set(1) }
                poller.broadcast()
            }
            #expect(try child.wait() == 7)
            poller.withLock { while polled.value == 0 { poller.wait() } }
            #expect(child.terminationStatus == 7)
        }
    }

    @Test func aChildReapedByOtherCodeIsReportedNotWaitedForForever() throws {
        let child = try ChildProcess(executable: "/bin/sh", arguments: ["-c", "exit 4"])
        // Code outside ChildProcess collects the exit status first (a `waitpid(-1)` loop, or
        // SIGCHLD ignored).
        var raw: Int32 = 0
        #expect(waitpid(child.processIdentifier, &raw, 0) == child.processIdentifier)
        let finished = Condition()
        let outcome = Outcome()
        startThread(named: "posix-wait") {
            let result = Result { try child.wait() }
            finished.withLock { outcome.result = result }
            finished.broadcast()
        }
        let result = finished.withLock { () -> Result<Int32, Error>? in
            while outcome.result == nil { if !finished.wait(seconds: 10) { break } }
            return outcome.result
        }
        let returned = try #require(result, "wait() did not return within 10 s")
        let error = try #require(returned.failure, "wait() returned a status for a child it did not reap")
        #expect(error is ChildProcessError)
        #expect("\(error)".contains("\(child.processIdentifier)"))
        #expect("\(error)".contains("/bin/sh"))
        #expect(child.terminationStatus == nil)
        #expect(!child.isRunning)
    }

    @Test func aMissingProgramIsAnError() {
        let error = #expect(throws: SystemCallError.self) {
            _ = try ChildProcess(executable: "/nonexistent/program", arguments: [])
        }
        #expect(error?.code == ENOENT)
        #expect(error?.description.contains("/nonexistent/program") == true)
    }
}

@Suite struct FileTests {
    func temporaryFolder() throws -> String {
        let path = NSTemporaryDirectory() + "posix-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test func writesCreatesAndAppends() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/out.txt"
        let created = try FileOutput(creating: path)
        try created.write("first\n")
        try created.synchronize()
        try created.close()
        try created.close()
        #expect(throws: SystemCallError.self) { _ = try FileOutput(creating: path) }
        try FileOutput(writingTo: path, appending: true).write(Array("second\n".utf8))
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "first\nsecond\n")
        #expect(fileSize(atPath: path) == 13)
        #expect(fileSize(atPath: folder + "/absent") == nil)
        #expect(throws: SystemCallError.self) { _ = try FileOutput(writingTo: folder + "/absent") }
    }

    @Test func listsRegularFilesBelowAFolder() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FileManager.default.createDirectory(atPath: folder + "/a/b", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: folder + "/.hidden", withIntermediateDirectories: true)
        for name in ["top.csv", "a/one.csv", "a/b/two.mp4", ".hidden/no.csv", "a/.dot.csv"] {
            FileManager.default.createFile(atPath: folder + "/" + name, contents: Data("x".utf8))
        }
        try FileManager.default.createSymbolicLink(atPath: folder + "/link.csv", withDestinationPath: folder + "/top.csv")
        try FileManager.default.createSymbolicLink(atPath: folder + "/a/loop", withDestinationPath: folder)
        try FileManager.default.createSymbolicLink(atPath: folder + "/broken.csv", withDestinationPath: folder + "/none")
        let found = try #require(regularFiles(under: folder)).map { String($0.dropFirst(folder.count + 1)) }.sorted()
        #expect(found == ["a/b/two.mp4", "a/one.csv", "link.csv", "top.csv"])
        #expect(regularFiles(under: folder + "/absent") == nil)
    }

    @Test func systemErrorsAreWordedByTheCLibrary() {
        #expect(describeSystemError(SystemCallError("open", path: "/x", code: ENOENT)) == "No such file or directory")
        #expect(describeSystemError(CocoaError(.fileReadNoSuchFile)) == "no such file")
        #expect(describeSystemError(POSIXError(.EACCES)) == "Permission denied")
        #expect("  a b \n\t".trimmingWhitespace() == "a b")
        #expect(" \n ".trimmingWhitespace() == "")
    }
}

@Suite struct ThreadTests {
    @Test func threadsRunAndConditionsWake() throws {
        let condition = Condition()
        let counter = Counter()
        for index in 0..<8 {
            startThread(named: "posix-test-\(index)") {
                condition.withLock { counter.increment() }
                condition.broadcast()
            }
        }
        condition.lock()
        var timedOut = false
        while counter.value < 8 && !timedOut { timedOut = !condition.wait(seconds: 10) && counter.value < 8 }
        condition.unlock()
        #expect(counter.value == 8)
        #expect(!condition.withLock { condition.wait(seconds: 0.05) }, "nothing wakes it: the wait times out")
    }
}
