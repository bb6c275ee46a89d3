// Building the caption index: the train list's caption files are parsed in parallel, a batch of
// videos at a time, and streamed into one temporary file per section; the sections are then
// joined behind a header into the index file, which replaces any previous one atomically.
// Memory holds one batch of parsed files, whatever the dataset's size.

import Dispatch
import FoundationEssentials
import Glibc
import POSIX

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
}

extension CaptionIndexBuildSummary: CustomStringConvertible {
    /// "136000 captions of 1200 videos in /data/captions.index (3.1 MB); without captions: 3 missing, 1 malformed".
    public var description: String {
        let problems = CaptionIndex.VideoStatus.allCases.filter { $0 != .ok }
            .compactMap { status in videoCountsByStatus[status].flatMap { $0 > 0 ? "\($0) \(status)" : nil } }
        let megabytes = (Double(fileBytes) / 100_000).rounded() / 10
        return "\(captionCount) captions of \(videoCount) videos in \(path) (\(megabytes) MB)"
            + (problems.isEmpty ? "" : "; without captions: " + problems.joined(separator: ", "))
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
        let fail = { (reason: CaptionIndexError.Reason) in
            CaptionIndexError(path: path, operation: "building", reason: reason)
        }
        guard trainList.count <= Int(Int32.max) else {
            throw fail(.invalidInput("\(trainList.count) videos is more than an index holds"))
        }
        let workers = max(1, workers)
        let batchSize = max(1, videosPerBatch)
        let temporaryFolder = path + ".building-\(getpid())"
        let fileManager = FileManager.default
        try? fileManager.removeItem(atPath: temporaryFolder)
        do {
            try fileManager.createDirectory(atPath: temporaryFolder, withIntermediateDirectories: true)
        } catch {
            throw fail(.system("cannot create the folder \(temporaryFolder): \(describeSystemError(error))"))
        }
        defer { try? fileManager.removeItem(atPath: temporaryFolder) }

        var sections: [SectionWriter] = []
        for section in 0..<CaptionIndexLayout.sectionCount {
            sections.append(try SectionWriter(path: temporaryFolder + "/section\(section)", indexPath: path))
        }
        var captionCount: UInt64 = 0
        var failureCount: UInt64 = 0
        var failureBytes: UInt64 = 0
        var statusCounts: [VideoStatus: Int] = [:]
        try sections[0].append(UInt64(0))

        // The paths, straight from the list.
        var pathBytes: UInt64 = 0
        for videoPath in trainList.videoPaths {
            let utf8 = Array(videoPath.utf8)
            try utf8.withUnsafeBytes { try sections[3].append($0) }
            pathBytes += UInt64(utf8.count)
            try sections[2].append(pathBytes)
        }

        // The captions, a batch at a time.
        var batchStart = 0
        while batchStart < trainList.count {
            let batchEnd = min(trainList.count, batchStart + batchSize)
            let results = parseBatch(trainList: trainList, captionRoot: captionRoot, range: batchStart..<batchEnd,
                                     workers: workers)
            for (offset, result) in results.enumerated() {
                let video = batchStart + offset
                switch result {
                case .captions(let file):
                    // Native order is little-endian on every platform Swift runs on (see below).
                    try file.startTimes.withUnsafeBytes { try sections[4].append($0) }
                    try file.endTimes.withUnsafeBytes { try sections[5].append($0) }
                    let (texts, ends) = file.textStorage
                    let textBase = sections[7].byteCount
                    try ends.map { textBase + UInt64($0) }.withUnsafeBytes { try sections[6].append($0) }
                    try texts.withUnsafeBytes { try sections[7].append($0) }
                    captionCount += UInt64(file.count)
                    try sections[1].append(VideoStatus.ok.rawValue)
                    statusCounts[.ok, default: 0] += 1
                case .failed(let status, let message):
                    try sections[1].append(status.rawValue)
                    statusCounts[status, default: 0] += 1
                    try sections[8].append(UInt64(video))
                    let utf8 = Array(message.utf8)
                    try utf8.withUnsafeBytes { try sections[10].append($0) }
                    failureBytes += UInt64(utf8.count)
                    try sections[9].append(failureBytes)
                    failureCount += 1
                }
                try sections[0].append(captionCount)
            }
            batchStart = batchEnd
            progress?(CaptionIndexBuildProgress(videosDone: batchEnd, videoCount: trainList.count,
                                                captionCount: Int(captionCount), failedVideos: Int(failureCount)))
        }
        let root = Array(captionRoot.utf8)
        try root.withUnsafeBytes { try sections[11].append($0) }
        for section in sections { try section.close() }

        let layout = CaptionIndexLayout(videoCount: UInt64(trainList.count), captionCount: captionCount,
                                        textByteCount: sections[7].byteCount, pathByteCount: pathBytes,
                                        failureCount: failureCount, failureMessageByteCount: failureBytes,
                                        captionRootByteCount: UInt64(root.count))
        guard let (offsets, fileSize) = layout.sectionOffsets, layout.sectionLengths.map({ lengths in
            zip(lengths, sections).allSatisfy { $0 == $1.byteCount }
        }) == true else {
            throw fail(.inconsistent("the sections written do not match their counts"))
        }
        let header = makeHeader(layout: layout, fingerprint: trainList.fingerprint, fileSize: fileSize,
                                checksums: sections.map { $0.checksum })
        try assemble(path: path, header: header, sections: sections, offsets: offsets, fileSize: fileSize)
        return CaptionIndexBuildSummary(path: path, videoCount: trainList.count, captionCount: Int(captionCount),
                                        videoCountsByStatus: statusCounts, fileBytes: fileSize)
    }

    // MARK: Parsing

    /// A video's caption file, parsed or failed.
    private enum ParsedVideo {
        case captions(CaptionFile)
        case failed(VideoStatus, String)
    }

    private static func parseBatch(trainList: TrainList, captionRoot: String, range: Range<Int>,
                                   workers: Int) -> [ParsedVideo] {
        let count = range.count
        let results = UnsafeMutableBufferPointer<ParsedVideo>.allocate(capacity: count)
        let lanes = min(workers, count)
        // Lane `lane` parses videos lane, lane + lanes, ...: each slot is written by one lane.
        DispatchQueue.concurrentPerform(iterations: lanes) { lane in
            var offset = lane
            while offset < count {
                (results.baseAddress! + offset).initialize(to: parseVideo(trainList: trainList, captionRoot: captionRoot,
                                                                          video: range.lowerBound + offset))
                offset += lanes
            }
        }
        let parsed = Array(results)
        results.deinitialize()
        results.deallocate()
        return parsed
    }

    private static func parseVideo(trainList: TrainList, captionRoot: String, video: Int) -> ParsedVideo {
        let path = trainList.captionPath(at: video, captionRoot: captionRoot)
        do {
            let file = try CaptionFile.read(contentsOf: path)
            guard file.count > 0 else {
                return .failed(.empty, "reading CSV file \(path): the file has a header but no captions")
            }
            return .captions(file)
        } catch let error as CSVError {
            switch error.reason {
            case .fileNotFound: return .failed(.missing, error.description)
            case .unreadable: return .failed(.unreadable, error.description)
            case .noColumns: return .failed(.empty, error.description)
            default: return .failed(.malformed, error.description)
            }
        } catch {
            return .failed(.malformed, "reading CSV file \(path): \(error)")
        }
    }

    // MARK: Writing the file

    private static func makeHeader(layout: CaptionIndexLayout, fingerprint: UInt64, fileSize: UInt64,
                                   checksums: [UInt64]) -> [UInt8] {
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
            let checksum = StreamingChecksum.of(UnsafeRawBufferPointer(rebasing:
                bytes[0..<CaptionIndexLayout.headerChecksumOffset]))
            put(checksum, at: CaptionIndexLayout.headerChecksumOffset)
        }
        return header
    }

    /// Writes the header and the sections into `<path>.partial-<pid>`, then renames it to `path`.
    private static func assemble(path: String, header: [UInt8], sections: [SectionWriter], offsets: [UInt64],
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
