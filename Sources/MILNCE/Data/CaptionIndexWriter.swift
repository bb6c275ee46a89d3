// The parts of an index build: what one video's caption file gave, the copy of an unchanged video
// from a previous index, and the writer that streams videos into the section files and joins
// them behind a header.

import FoundationEssentials
import Glibc
import POSIX

// MARK: - One video

/// A video's caption file, parsed or failed, with the stamp it had when it was read.
struct ParsedVideo: Sendable {
    /// What the caption file held.
    enum Content: Sendable {
        case captions(CaptionFile)
        case failed(CaptionIndex.VideoStatus, String)
    }

    /// The caption file's `CaptionFileStamp` when it was read.
    var stamp: UInt64
    var content: Content
    /// Whether the caption file was read (false when the video was copied from a previous index).
    var wasRead = true
}

/// What an update takes from the index it replaces: every video not marked for rereading is
/// copied from `index` (built from the same train list and caption root).
final class CaptionIndexReuse: Sendable {
    let index: CaptionIndex
    /// `reread[v]`: whether video v's caption file must be read again.
    let reread: [Bool]
    private let failureMessages: [Int: String]

    init(index: CaptionIndex, reread: [Bool]) {
        self.index = index
        self.reread = reread
        failureMessages = Dictionary(index.failures.map { ($0.video, $0.message) }, uniquingKeysWith: { first, _ in first })
    }

    /// Video `video` as the previous index holds it, or nil when it must be read again (or the
    /// previous index cannot give it).
    func copy(video: Int) -> ParsedVideo? {
        guard video < reread.count, !reread[video], let stamp = try? index.captionFileStamp(ofVideo: video),
              let status = try? index.status(ofVideo: video) else { return nil }
        if status == .ok {
            guard let file = try? index.captionFile(ofVideo: video) else { return nil }
            return ParsedVideo(stamp: stamp, content: .captions(file), wasRead: false)
        }
        guard let message = failureMessages[video] else { return nil }
        return ParsedVideo(stamp: stamp, content: .failed(status, message), wasRead: false)
    }
}

// MARK: - Writer

/// Streams the videos of an index being built into one temporary file per section, counting as
/// it goes, then joins them behind the header into the index file.
final class CaptionIndexWriter {
    let path: String
    private let temporaryFolder: String
    private var sections: [SectionWriter] = []
    private(set) var captionCount: UInt64 = 0
    private(set) var failureCount: UInt64 = 0
    private var failureBytes: UInt64 = 0
    private var pathBytes: UInt64 = 0
    private var statusCounts: [CaptionIndex.VideoStatus: Int] = [:]
    private var anomalies = CaptionTimeAnomalies()
    private var filesRead = 0

    /// A writer of the index at `path`, with its section files in a temporary folder beside it.
    init(path: String) throws {
        self.path = path
        temporaryFolder = path + ".building-\(getpid())"
        let fileManager = FileManager.default
        try? fileManager.removeItem(atPath: temporaryFolder)
        do {
            try fileManager.createDirectory(atPath: temporaryFolder, withIntermediateDirectories: true)
        } catch {
            throw CaptionIndexError(path: path, operation: "building",
                                    reason: .system("cannot create the folder \(temporaryFolder): \(describeSystemError(error))"))
        }
        for section in 0..<CaptionIndexLayout.sectionCount {
            sections.append(try SectionWriter(path: temporaryFolder + "/section\(section)", indexPath: path))
        }
        try sections[0].append(UInt64(0))
    }

    /// Removes the section files (after the index is written, or when the build failed).
    func removeTemporaryFiles() {
        try? FileManager.default.removeItem(atPath: temporaryFolder)
    }

    /// The paths, straight from the list.
    func appendPaths(of trainList: TrainList) throws {
        for videoPath in trainList.videoPaths {
            let utf8 = Array(videoPath.utf8)
            try utf8.withUnsafeBytes { try sections[3].append($0) }
            pathBytes += UInt64(utf8.count)
            try sections[2].append(pathBytes)
        }
    }

    /// Appends the next video (number `video`): its captions or its failure, and its stamp.
    func append(_ parsed: ParsedVideo, video: Int) throws {
        switch parsed.content {
        case .captions(let file):
            // Native order is little-endian on every platform Swift runs on (see the builder).
            try file.startTimes.withUnsafeBytes { try sections[4].append($0) }
            try file.endTimes.withUnsafeBytes { try sections[5].append($0) }
            let (texts, ends) = file.textStorage
            let textBase = sections[7].byteCount
            try ends.map { textBase + UInt64($0) }.withUnsafeBytes { try sections[6].append($0) }
            try texts.withUnsafeBytes { try sections[7].append($0) }
            captionCount += UInt64(file.count)
            anomalies.count(starts: file.startTimes, ends: file.endTimes, video: video)
            try sections[1].append(CaptionIndex.VideoStatus.ok.rawValue)
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
        try sections[12].append(parsed.stamp)
        if parsed.wasRead { filesRead += 1 }
    }

    /// Writes the index file from the sections and returns what it holds.
    func finish(trainList: TrainList, captionRoot: String) throws -> CaptionIndexBuildSummary {
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
            throw CaptionIndexError(path: path, operation: "building",
                                    reason: .inconsistent("the sections written do not match their counts"))
        }
        let header = CaptionIndex.makeHeader(layout: layout, fingerprint: trainList.fingerprint, fileSize: fileSize,
                                             checksums: sections.map { $0.checksum }, anomalies: anomalies)
        try CaptionIndex.assemble(path: path, header: header, sections: sections, offsets: offsets, fileSize: fileSize)
        return CaptionIndexBuildSummary(path: path, videoCount: trainList.count, captionCount: Int(captionCount),
                                        videoCountsByStatus: statusCounts, fileBytes: fileSize,
                                        captionFilesRead: filesRead, timeAnomalies: anomalies)
    }
}
