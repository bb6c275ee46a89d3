import FoundationEssentials
import Glibc
import POSIX

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
    /// The event file could not be read.
    case cannotRead(path: String, reason: String)
    /// A record ends before its declared length or its checksums.
    case truncatedRecord(path: String, offset: Int)
    /// The checksum of a record's length does not match.
    case corruptLength(path: String, offset: Int)
    /// The checksum of a record's data does not match.
    case corruptData(path: String, offset: Int)
    /// A record's data is not an `Event` message.
    case malformedEvent(path: String, offset: Int, reason: String)

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
        case let .cannotRead(path, reason):
            return "reading the TensorBoard event file \(path): \(reason)"
        case let .truncatedRecord(path, offset):
            return "reading the TensorBoard event file \(path): the record at byte \(offset) is truncated"
        case let .corruptLength(path, offset):
            return "reading the TensorBoard event file \(path): the length of the record at byte \(offset) "
                + "fails its CRC-32C check"
        case let .corruptData(path, offset):
            return "reading the TensorBoard event file \(path): the data of the record at byte \(offset) "
                + "fails its CRC-32C check"
        case let .malformedEvent(path, offset, reason):
            return "reading the TensorBoard event file \(path): the record at byte \(offset) is not an event: \(reason)"
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
public final class TensorBoardWriter: @unchecked Sendable {
    /// The event file being written.
    public let fileURL: URL
    /// The longest time buffered scalars wait before `add` writes them.
    public let flushIntervalSeconds: Double

    private let lock = Lock()
    private var handle: FileOutput?
    private var buffer: [UInt8] = []
    private var lastFlush = Date()
    private static let bufferLimitBytes = 1 << 20

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
        (fileURL, handle) = try TensorBoardWriter.createFile(in: directory, baseName: baseName)
        let header = TensorBoardEvent(wallTime: now.timeIntervalSince1970, step: 0, fileVersion: "brain.Event:2")
        buffer = TFRecord.frame(header.encoded())
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
        lock.lock()
        defer { lock.unlock() }
        guard handle != nil else { throw TensorBoardError.closed(path: fileURL.path) }
        buffer += record
        if buffer.count >= TensorBoardWriter.bufferLimitBytes || Date().timeIntervalSince(lastFlush) >= flushIntervalSeconds {
            try flushLocked()
        }
    }

    /// Writes every buffered scalar to the file.
    public func flush() throws {
        lock.lock()
        defer { lock.unlock() }
        try flushLocked()
    }

    /// Flushes and closes the file; later `add` calls throw. Closing twice does nothing.
    public func close() throws {
        lock.lock()
        defer { lock.unlock() }
        guard let handle else { return }
        defer { self.handle = nil }
        try flushLocked()
        do {
            try handle.close()
        } catch {
            throw TensorBoardError.writeFailed(path: fileURL.path, reason: describeSystemError(error))
        }
    }

    private func flushLocked() throws {
        guard let handle else { throw TensorBoardError.closed(path: fileURL.path) }
        lastFlush = Date()
        guard !buffer.isEmpty else { return }
        do {
            try handle.write(buffer)
        } catch {
            throw TensorBoardError.writeFailed(path: fileURL.path, reason: describeSystemError(error))
        }
        buffer.removeAll(keepingCapacity: true)
    }
}
