// Building the caption index: the train list's caption files are parsed in parallel, a batch of
// videos at a time, and streamed into one temporary file per section; the sections are then
// joined behind a header into the index file, which replaces any previous one atomically.
// Memory holds one batch of parsed files, whatever the dataset's size.

import Dispatch
import FoundationEssentials
import Glibc
import POSIX
import Synchronization

#if _endian(big)
#error("the caption index stores native little-endian numbers")
#endif

// MARK: - Progress and summary

/// How far an index build has got.
public struct CaptionIndexBuildProgress: Sendable, Equatable {
    /// Videos whose caption files have been processed.
    public let videosDone: Int
    /// Videos in the train list.
    public let videoCount: Int
    /// Captions indexed so far.
    public let captionCount: Int
    /// Videos whose caption file was missing, empty, malformed or unreadable so far.
    public let failedVideos: Int
}

/// The outcome of an index build.
public struct CaptionIndexBuildSummary: Sendable, Equatable {
    /// The index file written.
    public let path: String
    /// Videos in the train list.
    public let videoCount: Int
    /// Captions indexed.
    public let captionCount: Int
    /// Videos per status.
    public let videoCountsByStatus: [CaptionIndex.VideoStatus: Int]
    /// The index file's size in bytes.
    public let fileBytes: UInt64
    /// Videos whose caption file was read (all of them, unless an index was updated).
    public let captionFilesRead: Int
    /// Captions with odd times (starting after they end, or negative).
    public let timeAnomalies: CaptionTimeAnomalies
}

extension CaptionIndexBuildSummary: CustomStringConvertible {
    /// "136000 captions of 1200 videos in /data/captions.index (3.1 MB); without captions: 3 missing, 1 malformed".
    public var description: String {
        let problems = CaptionIndex.VideoStatus.allCases.filter { $0 != .ok }
            .compactMap { status in videoCountsByStatus[status].flatMap { $0 > 0 ? "\($0) \(status)" : nil } }
        let megabytes = (Double(fileBytes) / 100_000).rounded() / 10
        let copied = videoCount - captionFilesRead
        return "\(captionCount) captions of \(videoCount) videos in \(path) (\(megabytes) MB)"
            + (problems.isEmpty ? "" : "; without captions: " + problems.joined(separator: ", "))
            + (copied == 0 ? "" : "; \(captionFilesRead) caption files read, \(copied) unchanged ones copied from the previous index")
    }
}

// MARK: - Building

extension CaptionIndex {
    /// Builds the index of `trainList`'s videos, whose captions are `<captionRoot>/<id>.csv`,
    /// into the file at `path`.
    ///
    /// A caption file that is missing, empty, malformed or unreadable marks its video failed
    /// (with the reason) and does not stop the build. `workers` caption files are parsed at
    /// once (by default one per processor); `progress` is called after every batch of
    /// `videosPerBatch` videos, on the calling thread.
    @discardableResult
    public static func build(trainList: TrainList, captionRoot: String, to path: String,
                             workers: Int = ProcessInfo.processInfo.activeProcessorCount,
                             videosPerBatch: Int = 2048,
                             progress: ((CaptionIndexBuildProgress) -> Void)? = nil) throws -> CaptionIndexBuildSummary {
        try build(trainList: trainList, captionRoot: captionRoot, to: path, reusing: nil, workers: workers,
                  videosPerBatch: videosPerBatch, progress: progress)
    }

    /// `build`, copying the videos that `reuse` does not mark for rereading from its index (built
    /// from the same train list and caption root) instead of reading their caption files.
    static func build(trainList: TrainList, captionRoot: String, to path: String, reusing reuse: CaptionIndexReuse?,
                      workers: Int = ProcessInfo.processInfo.activeProcessorCount, videosPerBatch: Int = 2048,
                      progress: ((CaptionIndexBuildProgress) -> Void)? = nil) throws -> CaptionIndexBuildSummary {
        guard trainList.count <= Int(Int32.max) else {
            throw CaptionIndexError(path: path, operation: "building",
                                    reason: .invalidInput("\(trainList.count) videos is more than an index holds"))
        }
        let writer = try CaptionIndexWriter(path: path)
        defer { writer.removeTemporaryFiles() }
        try writer.appendPaths(of: trainList)
        let batchSize = max(1, videosPerBatch)
        var batchStart = 0
        while batchStart < trainList.count {
            let batchEnd = min(trainList.count, batchStart + batchSize)
            let results = parseBatch(trainList: trainList, captionRoot: captionRoot, range: batchStart..<batchEnd,
                                     reusing: reuse, workers: max(1, workers))
            for (offset, result) in results.enumerated() { try writer.append(result, video: batchStart + offset) }
            batchStart = batchEnd
            progress?(CaptionIndexBuildProgress(videosDone: batchEnd, videoCount: trainList.count,
                                                captionCount: Int(writer.captionCount),
                                                failedVideos: Int(writer.failureCount)))
        }
        return try writer.finish(trainList: trainList, captionRoot: captionRoot)
    }

    // MARK: Parsing

    private static func parseBatch(trainList: TrainList, captionRoot: String, range: Range<Int>,
                                   reusing reuse: CaptionIndexReuse?, workers: Int) -> [ParsedVideo] {
        let count = range.count
        let lanes = min(workers, count)
        guard lanes > 0 else { return [] }
        // Lane `lane` parses videos lane, lane + lanes, ..., and stores them once at its end.
        let parsedByLane = Mutex([[ParsedVideo]](repeating: [], count: lanes))
        DispatchQueue.concurrentPerform(iterations: lanes) { lane in
            let parsed = stride(from: lane, to: count, by: lanes).map { offset in
                let video = range.lowerBound + offset
                return reuse?.copy(video: video)
                    ?? parseVideo(path: trainList.captionPath(at: video, captionRoot: captionRoot))
            }
            parsedByLane.withLock { $0[lane] = parsed }
        }
        let byLane = parsedByLane.withLock { $0 }
        return (0..<count).map { byLane[$0 % lanes][$0 / lanes] }
    }

    /// Reads the caption file at `path`, after taking its stamp: a file changed while it is read
    /// then looks changed at the next check.
    static func parseVideo(path: String) -> ParsedVideo {
        let stamp = CaptionFileStamp.of(path: path)
        do {
            let file = try CaptionFile.read(contentsOf: path)
            guard file.count > 0 else {
                return ParsedVideo(stamp: stamp, content: .failed(.empty, "reading CSV file \(path): the file has a header but no captions"))
            }
            return ParsedVideo(stamp: stamp, content: .captions(file))
        } catch let error as CSVError {
            switch error.reason {
            case .fileNotFound: return ParsedVideo(stamp: stamp, content: .failed(.missing, error.description))
            case .unreadable: return ParsedVideo(stamp: stamp, content: .failed(.unreadable, error.description))
            case .noColumns: return ParsedVideo(stamp: stamp, content: .failed(.empty, error.description))
            default: return ParsedVideo(stamp: stamp, content: .failed(.malformed, error.description))
            }
        } catch {
            return ParsedVideo(stamp: stamp, content: .failed(.malformed, "reading CSV file \(path): \(error)"))
        }
    }

    // MARK: Writing the file

    static func makeHeader(layout: CaptionIndexLayout, fingerprint: UInt64, fileSize: UInt64,
                           checksums: [UInt64], anomalies: CaptionTimeAnomalies) -> [UInt8] {
        var header = [UInt8](repeating: 0, count: CaptionIndexLayout.headerSize)
        header.withUnsafeMutableBytes { bytes in
            func put(_ value: UInt64, at offset: Int) {
                bytes.storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt64.self)
            }
            for (index, byte) in CaptionIndexLayout.magic.enumerated() { bytes[index] = byte }
            bytes.storeBytes(of: CaptionIndexLayout.version.littleEndian, toByteOffset: CaptionIndexLayout.versionOffset,
                             as: UInt32.self)
            bytes.storeBytes(of: UInt32(CaptionIndexLayout.headerSize).littleEndian,
                             toByteOffset: CaptionIndexLayout.headerSizeOffset, as: UInt32.self)
            put(layout.videoCount, at: CaptionIndexLayout.videoCountOffset)
            put(layout.captionCount, at: CaptionIndexLayout.captionCountOffset)
            put(layout.textByteCount, at: CaptionIndexLayout.textBytesOffset)
            put(layout.pathByteCount, at: CaptionIndexLayout.pathBytesOffset)
            put(layout.failureCount, at: CaptionIndexLayout.failureCountOffset)
            put(layout.failureMessageByteCount, at: CaptionIndexLayout.failureBytesOffset)
            put(layout.captionRootByteCount, at: CaptionIndexLayout.rootBytesOffset)
            put(fingerprint, at: CaptionIndexLayout.fingerprintOffset)
            put(fileSize, at: CaptionIndexLayout.fileSizeOffset)
            for (section, checksum) in checksums.enumerated() {
                put(checksum, at: CaptionIndexLayout.checksumsOffset + 8 * section)
            }
            func putReference(_ reference: CaptionReference?, at offset: Int) {
                put(reference.map { UInt64($0.video) } ?? UInt64.max, at: offset)
                put(reference.map { UInt64($0.caption) } ?? UInt64.max, at: offset + 8)
            }
            put(UInt64(anomalies.reversedCount), at: CaptionIndexLayout.reversedCountOffset)
            putReference(anomalies.firstReversed, at: CaptionIndexLayout.firstReversedOffset)
            put(UInt64(anomalies.negativeCount), at: CaptionIndexLayout.negativeCountOffset)
            putReference(anomalies.firstNegative, at: CaptionIndexLayout.firstNegativeOffset)
            let checksum = StreamingChecksum.of(UnsafeRawBufferPointer(rebasing:
                bytes[0..<CaptionIndexLayout.headerChecksumOffset]))
            put(checksum, at: CaptionIndexLayout.headerChecksumOffset)
        }
        return header
    }

    /// Writes the header and the sections into `<path>.partial-<pid>`, then renames it to `path`.
    static func assemble(path: String, header: [UInt8], sections: [SectionWriter], offsets: [UInt64],
                         fileSize: UInt64) throws {
        let partial = path + ".partial-\(getpid())"
        let output = try OutputFile(path: partial, indexPath: path)
        var completed = false
        defer {
            output.closeQuietly()
            if !completed { unlink(partial) }
        }
        try header.withUnsafeBytes { try output.write($0) }
        var position = UInt64(header.count)
        let padding = [UInt8](repeating: 0, count: 8)
        var buffer = [UInt8](repeating: 0, count: 1 << 22)
        for (section, writer) in sections.enumerated() {
            if position < offsets[section] {
                try padding.withUnsafeBytes {
                    try output.write(UnsafeRawBufferPointer(rebasing: $0[0..<Int(offsets[section] - position)]))
                }
                position = offsets[section]
            }
            let input = open(writer.path, O_RDONLY | O_CLOEXEC)
            guard input >= 0 else {
                throw CaptionIndexError(path: path, operation: "building",
                                        reason: .system("cannot reopen \(writer.path): \(String(cString: strerror(errno)))"))
            }
            defer { close(input) }
            var copied: UInt64 = 0
            while true {
                let got = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
                if got < 0 {
                    if errno == EINTR { continue }
                    throw CaptionIndexError(path: path, operation: "building",
                                            reason: .system("cannot read \(writer.path): \(String(cString: strerror(errno)))"))
                }
                if got == 0 { break }
                try buffer.withUnsafeBytes { try output.write(UnsafeRawBufferPointer(rebasing: $0[0..<got])) }
                copied += UInt64(got)
            }
            guard copied == writer.byteCount else {
                throw CaptionIndexError(path: path, operation: "building",
                                        reason: .system("\(writer.path) holds \(copied) bytes, \(writer.byteCount) were written"))
            }
            position += copied
        }
        if position < fileSize {
            try padding.withUnsafeBytes {
                try output.write(UnsafeRawBufferPointer(rebasing: $0[0..<Int(fileSize - position)]))
            }
        }
        try output.close()
        guard rename(partial, path) == 0 else {
            throw CaptionIndexError(path: path, operation: "building",
                                    reason: .system("cannot rename \(partial): \(String(cString: strerror(errno)))"))
        }
        completed = true
    }
}

// MARK: - Files being written

/// A file written through a buffer, reporting failures as index build errors.
final class OutputFile {
    let path: String
    private let indexPath: String
    private var descriptor: Int32
    private var buffer: [UInt8] = []
    private let bufferCapacity = 1 << 20

    init(path: String, indexPath: String) throws {
        self.path = path
        self.indexPath = indexPath
        descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw CaptionIndexError(path: indexPath, operation: "building",
                                    reason: .system("cannot create \(path): \(String(cString: strerror(errno)))"))
        }
        buffer.reserveCapacity(bufferCapacity)
    }

    deinit {
        closeQuietly()
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        if buffer.count + bytes.count > bufferCapacity { try flush() }
        if bytes.count >= bufferCapacity {
            try writeFully(bytes)
        } else {
            buffer.append(contentsOf: bytes)
        }
    }

    private func flush() throws {
        guard !buffer.isEmpty else { return }
        try buffer.withUnsafeBytes { try writeFully($0) }
        buffer.removeAll(keepingCapacity: true)
    }

    private func writeFully(_ bytes: UnsafeRawBufferPointer) throws {
        guard let start = bytes.baseAddress else { return }
        var written = 0
        while written < bytes.count {
            let result = Glibc.write(descriptor, start + written, bytes.count - written)
            if result < 0 {
                if errno == EINTR { continue }
                throw CaptionIndexError(path: indexPath, operation: "building",
                                        reason: .system("cannot write \(path): \(String(cString: strerror(errno)))"))
            }
            written += result
        }
    }

    func close() throws {
        try flush()
        guard descriptor >= 0 else { return }
        let result = Glibc.close(descriptor)
        descriptor = -1
        guard result == 0 else {
            throw CaptionIndexError(path: indexPath, operation: "building",
                                    reason: .system("cannot close \(path): \(String(cString: strerror(errno)))"))
        }
    }

    func closeQuietly() {
        if descriptor >= 0 {
            _ = Glibc.close(descriptor)
            descriptor = -1
        }
    }
}

/// One section's temporary file: counts its bytes and checksums them as they are written.
final class SectionWriter {
    private let file: OutputFile
    private(set) var byteCount: UInt64 = 0
    private var running = StreamingChecksum()

    var path: String { file.path }
    var checksum: UInt64 { running.finalize() }

    init(path: String, indexPath: String) throws {
        file = try OutputFile(path: path, indexPath: indexPath)
    }

    func append(_ bytes: UnsafeRawBufferPointer) throws {
        try file.write(bytes)
        running.update(bytes)
        byteCount += UInt64(bytes.count)
    }

    func append(_ value: UInt64) throws {
        try withUnsafeBytes(of: value.littleEndian) { try append($0) }
    }

    func append(_ value: UInt8) throws {
        try withUnsafeBytes(of: value) { try append($0) }
    }

    func close() throws {
        try file.close()
    }
}
