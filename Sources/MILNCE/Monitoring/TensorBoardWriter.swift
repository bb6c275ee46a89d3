import FoundationEssentials
import Glibc
import POSIX
import Synchronization

// MARK: - Errors

/// Why a TensorBoard event file could not be written or read.
public enum TensorBoardError: Error, CustomStringConvertible, Equatable {
    /// The log folder could not be created.
    case cannotCreateDirectory(path: String, reason: String)
    /// The event file could not be created.
    case cannotCreateFile(path: String, reason: String)
    /// Writing to the event file failed.
    case writeFailed(path: String, reason: String)
    /// The writer was closed before this call.
    case closed(path: String)

    /// What failed, on what, and why.
    public var description: String {
        switch self {
        case let .cannotCreateDirectory(path, reason):
            return "creating the TensorBoard log folder \(path): \(reason)"
        case let .cannotCreateFile(path, reason):
            return "creating the TensorBoard event file \(path): \(reason)"
        case let .writeFailed(path, reason):
            return "writing the TensorBoard event file \(path): \(reason)"
        case let .closed(path):
            return "writing the TensorBoard event file \(path): the writer is closed"
        }
    }
}

// MARK: - Writer

/// Writes scalars to a TensorBoard event file, `events.out.tfevents.<unix seconds>.<hostname>`
/// in a log folder, readable by TensorBoard while training runs.
///
/// The file starts with the `brain.Event:2` version event. Scalars are buffered and written when
/// `flush()` is called, when the buffer passes 1 MiB, when `flushIntervalSeconds` have passed
/// since the last write, and when the writer is closed or released. All methods may be called
/// from any thread.
public final class TensorBoardWriter: Sendable {
    /// The event file being written.
    public let fileURL: URL
    /// The longest time buffered scalars wait before `add` writes them.
    public let flushIntervalSeconds: Double

    private let output: Mutex<Output>
    private static let bufferLimitBytes = 1 << 20

    /// The open file (nil once closed), the records not yet written, and when it was last written.
    private struct Output {
        var handle: FileOutput?
        var buffer: [UInt8]
        var lastFlush = ContinuousClock.now

        /// Writes the buffer to the file.
        mutating func flush(path: String) throws {
            guard let handle else { throw TensorBoardError.closed(path: path) }
            lastFlush = .now
            guard !buffer.isEmpty else { return }
            do {
                try handle.write(buffer)
            } catch {
                throw TensorBoardError.writeFailed(path: path, reason: describeSystemError(error))
            }
            buffer.removeAll(keepingCapacity: true)
        }
    }

    /// Creates the log folder if needed and a new event file in it.
    ///
    /// - Parameters:
    ///   - directory: the log folder (TensorBoard's `--logdir` or a run below it).
    ///   - flushIntervalSeconds: how long scalars may wait in memory.
    ///   - filenameSuffix: appended to the file name (TensorBoard reads any name containing `tfevents`).
    /// - Throws: `TensorBoardError` when the folder or file cannot be created.
    public init(directory: URL, flushIntervalSeconds: Double = 10, filenameSuffix: String = "") throws {
        self.flushIntervalSeconds = flushIntervalSeconds
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw TensorBoardError.cannotCreateDirectory(path: directory.path, reason: describeSystemError(error))
        }
        let now = Date()
        let seconds = Int(now.timeIntervalSince1970)
        let host = TensorBoardWriter.hostname()
        let baseName = "events.out.tfevents.\(String(cFormat: "%010ld", seconds)).\(host)\(filenameSuffix)"
        let (url, handle) = try TensorBoardWriter.createFile(in: directory, baseName: baseName)
        fileURL = url
        let header = TensorBoardEvent(wallTime: now.timeIntervalSince1970, step: 0, fileVersion: "brain.Event:2")
        output = Mutex(Output(handle: handle, buffer: TFRecord.frame(header.encoded())))
        try flush()
    }

    deinit {
        try? close()
    }

    /// Creates `baseName` in `directory` exclusively; if it exists, `baseName.1`, `baseName.2`, ...
    private static func createFile(in directory: URL, baseName: String) throws -> (URL, FileOutput) {
        for attempt in 0...1000 {
            let name = attempt == 0 ? baseName : "\(baseName).\(attempt)"
            let url = directory.appendingPathComponent(name)
            let descriptor = open(url.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            if descriptor >= 0 { return (url, FileOutput(descriptor: descriptor, ownsDescriptor: true)) }
            let code = errno
            guard code == EEXIST else {
                throw TensorBoardError.cannotCreateFile(path: url.path, reason: String(cString: strerror(code)))
            }
        }
        throw TensorBoardError.cannotCreateFile(path: directory.appendingPathComponent(baseName).path,
                                                reason: "1000 files of that name already exist")
    }

    /// The machine's name as event file names carry it (`/` replaced).
    private static func hostname() -> String {
        var name = [CChar](repeating: 0, count: 256)
        guard gethostname(&name, name.count - 1) == 0 else { return "localhost" }
        let host = String(cString: name).replacing("/", with: "_")
        return host.isEmpty ? "localhost" : host
    }

    // MARK: Writing

    /// Records one scalar at a training step.
    ///
    /// - Throws: `TensorBoardError` when a due write fails or the writer is closed.
    public func add(scalar value: Double, tag: String, step: Int, wallTime: Date = Date()) throws {
        try add(scalars: [TensorBoardScalar(tag: tag, value: Float(value))], step: step, wallTime: wallTime)
    }

    /// Records several scalars at one training step, in one event.
    public func add(scalars: [TensorBoardScalar], step: Int, wallTime: Date = Date()) throws {
        let event = TensorBoardEvent(wallTime: wallTime.timeIntervalSince1970, step: Int64(step), scalars: scalars)
        let record = TFRecord.frame(event.encoded())
        let path = fileURL.path, interval = flushIntervalSeconds
        try output.withLock { output in
            guard output.handle != nil else { throw TensorBoardError.closed(path: path) }
            output.buffer += record
            if output.buffer.count >= TensorBoardWriter.bufferLimitBytes
                || output.lastFlush.elapsedSeconds >= interval {
                try output.flush(path: path)
            }
        }
    }

    /// Writes every buffered scalar to the file.
    public func flush() throws {
        let path = fileURL.path
        try output.withLock { try $0.flush(path: path) }
    }

    /// Flushes and closes the file; later `add` calls throw. Closing twice does nothing.
    public func close() throws {
        let path = fileURL.path
        try output.withLock { output in
            guard let handle = output.handle else { return }
            defer { output.handle = nil }
            try output.flush(path: path)
            do {
                try handle.close()
            } catch {
                throw TensorBoardError.writeFailed(path: path, reason: describeSystemError(error))
            }
        }
    }
}
