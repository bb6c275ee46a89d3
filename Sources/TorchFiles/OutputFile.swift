import FoundationEssentials
import Glibc
import POSIX

// MARK: - Byte sinks

/// Somewhere bytes are written in order.
protocol ByteSink: AnyObject {
    /// Bytes written so far.
    var position: Int { get }
    /// Appends `bytes`.
    func write(_ bytes: UnsafeRawBufferPointer) throws
}

extension ByteSink {
    /// Appends `bytes`.
    func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }
}

/// Bytes collected in memory.
final class MemorySink: ByteSink {
    /// Everything written.
    private(set) var bytes: [UInt8] = []
    var position: Int { bytes.count }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        self.bytes.append(contentsOf: bytes)
    }
}

// MARK: - Atomic output

/// A file being written to a temporary path beside its destination and moved into place only
/// when complete, so that a crash or kill during a save never leaves a partial file at the
/// destination (the old file, if any, stays until the rename replaces it).
final class OutputFile: ByteSink {
    /// Bytes written so far.
    private(set) var position = 0
    private let destination: URL
    private let temporary: URL
    private var handle: FileOutput?
    private var buffer: [UInt8] = []
    private static let bufferCapacity = 1 << 20

    /// Starts writing the file that will replace `destination`.
    init(destination: URL) throws {
        self.destination = destination
        let folder = destination.deletingLastPathComponent()
        temporary = folder.appendingPathComponent(".\(destination.lastPathComponent).\(UUID().uuidString).partial")
        guard FileManager.default.createFile(atPath: temporary.path, contents: nil) else {
            let reason = errno != 0 ? String(cString: strerror(errno)) : "the folder is missing or not writable"
            throw FormatFailure("cannot create the temporary file \(temporary.path): \(reason)")
        }
        do {
            handle = try FileOutput(writingTo: temporary.path)
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw error
        }
    }

    deinit {
        // Not committed: remove what was written.
        if handle != nil {
            try? handle?.close()
            try? FileManager.default.removeItem(at: temporary)
        }
    }

    /// Appends `bytes`.
    func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count > 0 else { return }
        position += bytes.count
        if bytes.count >= OutputFile.bufferCapacity {
            try flush()
            try writeToFile(bytes)
        } else {
            buffer.append(contentsOf: bytes)
            if buffer.count >= OutputFile.bufferCapacity { try flush() }
        }
    }

    private func flush() throws {
        guard !buffer.isEmpty else { return }
        try buffer.withUnsafeBytes { try writeToFile($0) }
        buffer.removeAll(keepingCapacity: true)
    }

    private func writeToFile(_ bytes: UnsafeRawBufferPointer) throws {
        guard let handle else { return }
        try handle.write(bytes)
    }

    /// Flushes the file to disk and renames it to its destination.
    func commit() throws {
        try flush()
        guard let handle else { return }
        try handle.synchronize()
        try handle.close()
        self.handle = nil
        guard rename(temporary.path, destination.path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: temporary)
            throw FormatFailure("cannot move the finished file into place: \(reason)")
        }
    }
}
