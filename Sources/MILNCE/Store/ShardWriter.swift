import FoundationEssentials
import Glibc
import POSIX

/// Writes one shard: tar members appended in order to `<name>.partial`, in large sequential
/// blocks; `finish()` ends the archive, synchronises it and renames it to its name. A shard
/// that is not finished stays `.partial` and is never counted as done.
final class ShardWriter {
    /// The shard's final path.
    let path: String
    /// The bytes of the shard so far (headers, data, padding).
    private(set) var byteCount = 0
    private var checksum = StreamingChecksum()
    private let output: FileOutput
    private var buffer: [UInt8] = []
    private let blockBytes: Int
    private var isFinished = false

    /// The temporary name a shard has while it is written.
    static func partialPath(of path: String) -> String { path + ".partial" }

    /// Starts the shard at `path` (replacing a leftover `.partial`), buffering `blockBytes` at a time.
    init(path: String, blockBytes: Int = 8 << 20) throws {
        self.path = path
        self.blockBytes = blockBytes
        let partial = Self.partialPath(of: path)
        unlink(partial)
        do {
            output = try FileOutput(creating: partial)
        } catch {
            throw VideoStoreError(path: partial, "cannot create the shard: \(describeSystemError(error))")
        }
        buffer.reserveCapacity(blockBytes)
    }

    /// Appends a member `name` holding `data`; returns where its data starts in the shard.
    func append(name: String, data: [UInt8]) throws -> Int {
        guard let header = TarMemberHeader(name: name, dataLength: data.count) else {
            throw VideoStoreError(path: path, "the member \(name) of \(data.count) bytes does not fit a tar header")
        }
        try write(header.bytes)
        let dataOffset = byteCount
        try write(data)
        try write([UInt8](repeating: 0, count: TarMemberHeader.paddingLength(afterDataOf: data.count)))
        return dataOffset
    }

    private func write(_ bytes: [UInt8]) throws {
        bytes.withUnsafeBytes { checksum.update($0) }
        byteCount += bytes.count
        if buffer.count + bytes.count > blockBytes { try flush() }
        if bytes.count >= blockBytes {
            try writeOut(bytes)
        } else {
            buffer += bytes
        }
    }

    private func flush() throws {
        guard !buffer.isEmpty else { return }
        try writeOut(buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    private func writeOut(_ bytes: [UInt8]) throws {
        do {
            try bytes.withUnsafeBytes { try output.write($0) }
        } catch {
            throw VideoStoreError(path: Self.partialPath(of: path), "cannot write the shard: \(describeSystemError(error))")
        }
    }

    /// Ends the archive, writes it to the disk and gives it its name; returns its size and checksum.
    func finish() throws -> (byteCount: Int, checksum: UInt64) {
        guard !isFinished else { return (byteCount, checksum.finalize()) }
        try write(TarMemberHeader.endOfArchive)
        try flush()
        let partial = Self.partialPath(of: path)
        do {
            try output.synchronize()
            try output.close()
        } catch {
            throw VideoStoreError(path: partial, "cannot complete the shard: \(describeSystemError(error))")
        }
        guard rename(partial, path) == 0 else {
            throw VideoStoreError(path: partial, "cannot rename the shard: \(String(cString: strerror(errno)))")
        }
        isFinished = true
        return (byteCount, checksum.finalize())
    }
}

/// Makes the entries of a folder durable (`fsync` of the folder): renames survive a power cut.
func synchronizeFolder(_ path: String) {
    let descriptor = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard descriptor >= 0 else { return }
    fsync(descriptor)
    close(descriptor)
}
