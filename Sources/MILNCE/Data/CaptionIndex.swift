// The caption index: every training video's captions in one memory-mapped file, so that a
// sample reads a few numbers and one caption's text instead of parsing a CSV file.
//
// Layout (little-endian, version 2): a 256-byte header, then thirteen sections, each starting at
// a multiple of 8 bytes and padded with zeros to the next one:
//
//   header   magic "MILNCECX", version, header size, the counts below, the train list's
//            fingerprint, the file size, one checksum per section, the counts of captions with
//            odd times and the first of each, the header's own checksum
//   0  video caption starts   UInt64 x (videos + 1): video v has captions [s[v], s[v + 1])
//   1  video statuses         UInt8 x videos (`CaptionIndex.VideoStatus`)
//   2  video path ends        UInt64 x videos: path v is path bytes [e[v - 1], e[v])
//   3  path bytes             UTF-8
//   4  caption starts         Float64 x captions (seconds, as pandas reads them)
//   5  caption ends           Float64 x captions
//   6  caption text ends      UInt64 x captions: text c is text bytes [e[c - 1], e[c])
//   7  text bytes             UTF-8 (the texts `str()` gives for pandas' values)
//   8  failed videos          UInt64 x failures
//   9  failure message ends   UInt64 x failures
//   10 failure message bytes  UTF-8
//   11 caption root           UTF-8, the folder the index was built from
//   12 caption file stamps    UInt64 x videos: each caption file's size, times and inode when it
//                             was read (`CaptionFileStamp`), 0 for a file that did not exist

import FoundationEssentials
import Glibc

// MARK: - Errors

/// A caption index that cannot be opened, built or read.
public struct CaptionIndexError: Error, CustomStringConvertible, Sendable {
    /// What is wrong.
    public enum Reason: Sendable, Equatable {
        /// The operating system refused (its message).
        case system(String)
        /// The file is shorter than its header or than its counts require.
        case truncated(expectedBytes: UInt64, actualBytes: UInt64)
        /// The file is longer than its counts require.
        case trailingBytes(expectedBytes: UInt64, actualBytes: UInt64)
        /// The file does not start with the index's magic bytes.
        case notAnIndex
        /// The file was written by another version of the format.
        case unsupportedVersion(found: UInt32, supported: UInt32)
        /// A checksum does not match (the named part of the file is corrupt).
        case checksumMismatch(String)
        /// The content contradicts itself (the named part of the file is corrupt).
        case inconsistent(String)
        /// The index was built from another train list.
        case trainListMismatch(String)
        /// A video number outside the index.
        case videoOutOfRange(video: Int, videoCount: Int)
        /// A train list or caption root that cannot be indexed.
        case invalidInput(String)
    }

    /// The index file.
    public let path: String
    /// What was being done (opening, building, reading).
    public let operation: String
    /// What is wrong.
    public let reason: Reason

    /// An error while doing `operation` on the index at `path`.
    public init(path: String, operation: String, reason: Reason) {
        self.path = path
        self.operation = operation
        self.reason = reason
    }

    public var description: String {
        let why: String
        switch reason {
        case .system(let message): why = message
        case .truncated(let expected, let actual): why = "the file is truncated: \(actual) bytes, \(expected) expected"
        case .trailingBytes(let expected, let actual): why = "the file has \(actual) bytes, \(expected) expected"
        case .notAnIndex: why = "not a caption index (wrong magic bytes)"
        case .unsupportedVersion(let found, let supported): why = "format version \(found); this program reads version \(supported): rebuild the index"
        case .checksumMismatch(let part): why = "the \(part) is corrupt (checksum mismatch): rebuild the index"
        case .inconsistent(let what): why = "the file is corrupt: \(what): rebuild the index"
        case .trainListMismatch(let what): why = "the index was built from another train list (\(what)): rebuild the index"
        case .videoOutOfRange(let video, let count): why = "video \(video) is outside 0..<\(count)"
        case .invalidInput(let what): why = what
        }
        return "\(operation) caption index \(path): \(why)"
    }
}

// MARK: - Format

/// The byte layout of an index file, computed from its header's counts.
struct CaptionIndexLayout: Equatable {
    static let magic: [UInt8] = Array("MILNCECX".utf8)
    static let version: UInt32 = 2
    static let headerSize = 256
    static let sectionCount = 13
    static let sectionNames = [
        "video caption starts", "video statuses", "video path ends", "video paths",
        "caption starts", "caption ends", "caption text ends", "caption texts",
        "failed videos", "failure message ends", "failure messages", "caption root", "caption file stamps",
    ]
    /// The sections verified only with `.full` verification (they scale with the captions).
    static let captionSections: Set<Int> = [4, 5, 6, 7]

    // Header field offsets.
    static let versionOffset = 8
    static let headerSizeOffset = 12
    static let videoCountOffset = 16
    static let captionCountOffset = 24
    static let textBytesOffset = 32
    static let pathBytesOffset = 40
    static let failureCountOffset = 48
    static let failureBytesOffset = 56
    static let rootBytesOffset = 64
    static let fingerprintOffset = 72
    static let fileSizeOffset = 80
    static let checksumsOffset = 88
    /// Captions that start after they end; then the video and caption of the first (or all ones).
    static let reversedCountOffset = 192
    static let firstReversedOffset = 200
    /// Captions with a negative start or end; then the video and caption of the first.
    static let negativeCountOffset = 216
    static let firstNegativeOffset = 224
    static let headerChecksumOffset = 248

    var videoCount: UInt64
    var captionCount: UInt64
    var textByteCount: UInt64
    var pathByteCount: UInt64
    var failureCount: UInt64
    var failureMessageByteCount: UInt64
    var captionRootByteCount: UInt64

    /// The byte length of each section, or nil when the counts overflow.
    var sectionLengths: [UInt64]? {
        func times(_ count: UInt64, _ size: UInt64) -> UInt64? {
            let (product, overflow) = count.multipliedReportingOverflow(by: size)
            return overflow ? nil : product
        }
        guard videoCount < UInt64.max, let videoStarts = times(videoCount + 1, 8), let pathEnds = times(videoCount, 8),
              let captionStarts = times(captionCount, 8), let failureVideos = times(failureCount, 8) else { return nil }
        return [videoStarts, videoCount, pathEnds, pathByteCount, captionStarts, captionStarts, captionStarts,
                textByteCount, failureVideos, failureVideos, failureMessageByteCount, captionRootByteCount, pathEnds]
    }

    /// The offset of each section and the total file size, or nil when they overflow.
    var sectionOffsets: (offsets: [UInt64], fileSize: UInt64)? {
        guard let lengths = sectionLengths else { return nil }
        var offsets: [UInt64] = []
        var position = UInt64(CaptionIndexLayout.headerSize)
        for length in lengths {
            offsets.append(position)
            let (end, overflow) = position.addingReportingOverflow(length)
            guard !overflow, end < UInt64.max - 8 else { return nil }
            position = (end + 7) & ~7
        }
        return (offsets, position)
    }
}

// MARK: - Index

/// Every training video's captions, memory-mapped from one file built by `CaptionIndex.build`.
///
/// Opening validates the header, the checksums and consistency of the per-video tables, and
/// the file size; the caption tables (which scale with the dataset) are validated where they
/// are read, and with `.full` verification also checksummed at open. Corrupt content gives a
/// `CaptionIndexError`, never a crash.
// @unchecked: wraps a read-only memory mapping (a raw pointer), unmapped only in `deinit`.
public final class CaptionIndex: @unchecked Sendable {
    /// How much of the file to check when opening it.
    public enum Verification: Sendable {
        /// Header, per-video tables and failure list: milliseconds for HowTo100M.
        case structure
        /// Also the checksums of the caption tables and texts (reads the whole file).
        case full
    }

    /// What became of a video's caption file when the index was built.
    public enum VideoStatus: UInt8, Sendable, CaseIterable {
        /// Parsed: the video has at least one caption.
        case ok = 0
        /// The caption file does not exist.
        case missing = 1
        /// The caption file is empty or has a header but no captions.
        case empty = 2
        /// The caption file is not a valid caption CSV (the failure message says why).
        case malformed = 3
        /// The caption file exists but could not be read.
        case unreadable = 4
    }

    /// A video whose captions could not be indexed.
    public struct Failure: Sendable, Equatable, CustomStringConvertible {
        /// The video number (position in the train list).
        public let video: Int
        /// The video's path as the train list gives it.
        public let videoPath: String
        /// What happened.
        public let status: VideoStatus
        /// The error message, naming the caption file.
        public let message: String

        /// A sentence: "video 3 (abc.mp4) has no caption file: reading CSV file /c/abc.csv: no such file".
        public var description: String { "video \(video) (\(videoPath)) \(status.explanation): \(message)" }
    }

    /// The index file.
    public let path: String
    /// The number of videos (the train list's length).
    public let videoCount: Int
    /// The number of captions of all videos.
    public let captionCount: Int
    /// The train list's fingerprint (`TrainList.fingerprint`) recorded at build time.
    public let trainListFingerprint: UInt64
    /// The caption folder the index was built from.
    public let captionRoot: String
    /// The captions whose times are odd (starting after they end, or negative), counted when the
    /// index was built.
    public let timeAnomalies: CaptionTimeAnomalies

    private let base: UnsafeRawPointer
    private let mappedLength: Int
    private let layout: CaptionIndexLayout
    private let offsets: [Int]

    /// Opens the index at `path`. With `trainList`, also checks that the index was built from
    /// that list (same videos in the same order).
    public init(contentsOf path: String, verification: Verification = .structure,
                expecting trainList: TrainList? = nil) throws {
        self.path = path
        let fail = { (reason: CaptionIndexError.Reason) in
            CaptionIndexError(path: path, operation: "opening", reason: reason)
        }
        let (base, size) = try CaptionIndex.map(path, fail: fail)
        let header: IndexHeader
        do {
            header = try IndexHeader(base: base, fileSize: size, fail: fail)
            try header.verifySections(base: base, verification: verification, fail: fail)
        } catch {
            munmap(UnsafeMutableRawPointer(mutating: base), size)
            throw error
        }
        self.base = base
        mappedLength = size
        layout = header.layout
        offsets = header.sectionOffsets
        videoCount = Int(header.layout.videoCount)
        captionCount = Int(header.layout.captionCount)
        trainListFingerprint = header.trainListFingerprint
        timeAnomalies = header.timeAnomalies
        captionRoot = String(decoding: UnsafeRawBufferPointer(start: base + offsets[11],
                                                              count: Int(header.layout.captionRootByteCount)),
                             as: UTF8.self)
        try validateTables()
        if let trainList {
            guard trainList.count == videoCount else {
                throw fail(.trainListMismatch("\(videoCount) videos in the index, \(trainList.count) in the list"))
            }
            guard trainList.fingerprint == trainListFingerprint else {
                throw fail(.trainListMismatch("same number of videos, different paths"))
            }
        }
    }

    /// Maps the file at `path` read-only: its first byte and its length (at least a header's).
    private static func map(_ path: String, fail: (CaptionIndexError.Reason) -> CaptionIndexError) throws
        -> (UnsafeRawPointer, Int) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw fail(.system(String(cString: strerror(errno)))) }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw fail(.system(String(cString: strerror(errno)))) }
        let size = UInt64(max(0, status.st_size))
        guard size >= UInt64(CaptionIndexLayout.headerSize) else {
            throw fail(.truncated(expectedBytes: UInt64(CaptionIndexLayout.headerSize), actualBytes: size))
        }
        guard size <= UInt64(Int.max), let mapping = mmap(nil, Int(size), PROT_READ, MAP_SHARED, descriptor, 0),
              mapping != MAP_FAILED else {
            throw fail(.system("cannot map the file: " + String(cString: strerror(errno))))
        }
        return (UnsafeRawPointer(mapping), Int(size))
    }

    /// The header of a mapped index, checked: magic, version, checksum, and counts that describe
    /// a file of exactly the mapped size.
    private struct IndexHeader {
        let layout: CaptionIndexLayout
        let sectionOffsets: [Int]
        let sectionLengths: [Int]
        let fileSize: Int
        let trainListFingerprint: UInt64
        let timeAnomalies: CaptionTimeAnomalies
        private let header: UnsafeRawBufferPointer

        init(base: UnsafeRawPointer, fileSize size: Int, fail: (CaptionIndexError.Reason) -> CaptionIndexError) throws {
            let header = UnsafeRawBufferPointer(start: base, count: CaptionIndexLayout.headerSize)
            self.header = header
            guard header.prefix(8).elementsEqual(CaptionIndexLayout.magic) else { throw fail(.notAnIndex) }
            let version = UInt32(littleEndian: header.loadUnaligned(fromByteOffset: CaptionIndexLayout.versionOffset,
                                                                    as: UInt32.self))
            guard version == CaptionIndexLayout.version else {
                throw fail(.unsupportedVersion(found: version, supported: CaptionIndexLayout.version))
            }
            let headerChecksum = StreamingChecksum.of(UnsafeRawBufferPointer(rebasing:
                header[0..<CaptionIndexLayout.headerChecksumOffset]))
            guard headerChecksum == IndexHeader.field(CaptionIndexLayout.headerChecksumOffset, of: header) else {
                throw fail(.checksumMismatch("header"))
            }
            let field = { IndexHeader.field($0, of: header) }
            layout = CaptionIndexLayout(
                videoCount: field(CaptionIndexLayout.videoCountOffset),
                captionCount: field(CaptionIndexLayout.captionCountOffset),
                textByteCount: field(CaptionIndexLayout.textBytesOffset),
                pathByteCount: field(CaptionIndexLayout.pathBytesOffset),
                failureCount: field(CaptionIndexLayout.failureCountOffset),
                failureMessageByteCount: field(CaptionIndexLayout.failureBytesOffset),
                captionRootByteCount: field(CaptionIndexLayout.rootBytesOffset))
            guard let (offsets, fileSize) = layout.sectionOffsets, fileSize == field(CaptionIndexLayout.fileSizeOffset),
                  fileSize <= UInt64(Int.max), layout.videoCount <= UInt64(Int32.max),
                  layout.captionCount <= UInt64(Int.max / 8) else {
                throw fail(.inconsistent("the header's counts do not describe a file"))
            }
            guard UInt64(size) >= fileSize else { throw fail(.truncated(expectedBytes: fileSize, actualBytes: UInt64(size))) }
            guard UInt64(size) == fileSize else {
                throw fail(.trailingBytes(expectedBytes: fileSize, actualBytes: UInt64(size)))
            }
            self.fileSize = Int(fileSize)
            sectionOffsets = offsets.map { Int($0) }
            sectionLengths = (layout.sectionLengths ?? []).map { Int($0) }
            trainListFingerprint = field(CaptionIndexLayout.fingerprintOffset)
            let videoCount = layout.videoCount
            func reference(_ offset: Int) -> CaptionReference? {
                let video = field(offset)
                guard video < videoCount else { return nil }
                return CaptionReference(video: Int(video), caption: Int(clamping: field(offset + 8)))
            }
            timeAnomalies = CaptionTimeAnomalies(
                reversedCount: Int(clamping: field(CaptionIndexLayout.reversedCountOffset)),
                firstReversed: reference(CaptionIndexLayout.firstReversedOffset),
                negativeCount: Int(clamping: field(CaptionIndexLayout.negativeCountOffset)),
                firstNegative: reference(CaptionIndexLayout.firstNegativeOffset))
        }

        /// The little-endian UInt64 at `offset` of the header.
        static func field(_ offset: Int, of header: UnsafeRawBufferPointer) -> UInt64 {
            UInt64(littleEndian: header.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
        }

        /// Checks the sections' checksums (the caption tables' only with `.full`) and that the
        /// padding between sections is zero.
        func verifySections(base: UnsafeRawPointer, verification: Verification,
                            fail: (CaptionIndexError.Reason) -> CaptionIndexError) throws {
            for section in 0..<CaptionIndexLayout.sectionCount
            where verification == .full || !CaptionIndexLayout.captionSections.contains(section) {
                let bytes = UnsafeRawBufferPointer(start: base + sectionOffsets[section], count: sectionLengths[section])
                let stored = IndexHeader.field(CaptionIndexLayout.checksumsOffset + 8 * section, of: header)
                guard StreamingChecksum.of(bytes) == stored else {
                    throw fail(.checksumMismatch(CaptionIndexLayout.sectionNames[section]))
                }
            }
            for section in 0..<CaptionIndexLayout.sectionCount {
                let end = sectionOffsets[section] + sectionLengths[section]
                let next = section + 1 < CaptionIndexLayout.sectionCount ? sectionOffsets[section + 1] : fileSize
                guard UnsafeRawBufferPointer(start: base + end, count: next - end).allSatisfy({ $0 == 0 }) else {
                    throw fail(.inconsistent("the padding after the \(CaptionIndexLayout.sectionNames[section]) is not zero"))
                }
            }
        }
    }

    deinit {
        munmap(UnsafeMutableRawPointer(mutating: base), mappedLength)
    }

    // MARK: Raw tables

    @inline(__always)
    private func word(section: Int, _ index: Int) -> UInt64 {
        UInt64(littleEndian: (base + offsets[section] + 8 * index).load(as: UInt64.self))
    }

    @inline(__always)
    private func double(section: Int, _ index: Int) -> Double {
        Double(bitPattern: word(section: section, index))
    }

    private func bytes(section: Int, _ range: Range<Int>) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base + offsets[section] + range.lowerBound, count: range.count)
    }

    /// Checks every per-video table and the failure list (the caption tables are checked where
    /// they are read).
    private func validateTables() throws {
        let fail = { (what: String) in
            CaptionIndexError(path: self.path, operation: "opening", reason: .inconsistent(what))
        }
        guard word(section: 0, 0) == 0, word(section: 0, videoCount) == layout.captionCount else {
            throw fail("the video caption ranges do not cover the captions")
        }
        var previousStart: UInt64 = 0
        var previousPathEnd: UInt64 = 0
        let statuses = bytes(section: 1, 0..<videoCount)
        for video in 0..<videoCount {
            let next = word(section: 0, video + 1)
            guard next >= previousStart else { throw fail("the caption range of video \(video) is reversed") }
            guard let status = VideoStatus(rawValue: statuses[video]) else {
                throw fail("video \(video) has an unknown status \(statuses[video])")
            }
            guard (status == .ok) == (next > previousStart) else {
                throw fail("video \(video)'s status does not match its caption count")
            }
            let pathEnd = word(section: 2, video)
            guard pathEnd >= previousPathEnd, pathEnd <= layout.pathByteCount else {
                throw fail("the path of video \(video) lies outside the path bytes")
            }
            previousStart = next
            previousPathEnd = pathEnd
        }
        var previousMessageEnd: UInt64 = 0
        for failure in 0..<Int(layout.failureCount) {
            let video = word(section: 8, failure)
            guard video < layout.videoCount, statuses[Int(video)] != VideoStatus.ok.rawValue else {
                throw fail("failure \(failure) names video \(video), which is not a failed video")
            }
            let end = word(section: 9, failure)
            guard end >= previousMessageEnd, end <= layout.failureMessageByteCount else {
                throw fail("the message of failure \(failure) lies outside the message bytes")
            }
            previousMessageEnd = end
        }
    }

    // MARK: Videos

    private func checkVideo(_ video: Int, _ operation: String) throws {
        guard video >= 0 && video < videoCount else {
            throw CaptionIndexError(path: path, operation: operation,
                                    reason: .videoOutOfRange(video: video, videoCount: videoCount))
        }
    }

    /// What became of video `video`'s caption file at build time.
    public func status(ofVideo video: Int) throws -> VideoStatus {
        try checkVideo(video, "reading")
        return VideoStatus(rawValue: bytes(section: 1, video..<(video + 1))[0]) ?? .malformed
    }

    /// The path of video `video` as the train list gives it.
    public func videoPath(ofVideo video: Int) throws -> String {
        try checkVideo(video, "reading")
        let start = video == 0 ? 0 : Int(word(section: 2, video - 1))
        let end = Int(word(section: 2, video))
        return String(decoding: bytes(section: 3, start..<end), as: UTF8.self)
    }

    /// The caption file of video `video` (under the caption root the index was built from).
    public func captionPath(ofVideo video: Int) throws -> String {
        TrainList.captionPath(forVideoID: TrainList.videoID(ofPath: try videoPath(ofVideo: video)),
                              captionRoot: captionRoot)
    }

    /// The captions of video `video` (an empty list for a failed video).
    public func captions(ofVideo video: Int) throws -> IndexedCaptions {
        try checkVideo(video, "reading")
        let first = Int(word(section: 0, video))
        let end = Int(word(section: 0, video + 1))
        return IndexedCaptions(index: self, video: video, firstCaption: first, count: end - first)
    }

    /// The videos whose caption files could not be indexed, with the reasons.
    public var failures: [Failure] {
        (0..<Int(layout.failureCount)).map { failure in
            let video = Int(word(section: 8, failure))
            let start = failure == 0 ? 0 : Int(word(section: 9, failure - 1))
            let end = Int(word(section: 9, failure))
            let status = (try? self.status(ofVideo: video)) ?? .malformed
            return Failure(video: video, videoPath: (try? videoPath(ofVideo: video)) ?? "", status: status,
                           message: String(decoding: bytes(section: 10, start..<end), as: UTF8.self))
        }
    }

    /// The stamp of video `video`'s caption file when the index was built (`CaptionFileStamp`).
    public func captionFileStamp(ofVideo video: Int) throws -> UInt64 {
        try checkVideo(video, "reading")
        return word(section: 12, video)
    }

    /// Video `video`'s captions copied out of the index, as if read from its caption file
    /// (an empty list for a failed video).
    func captionFile(ofVideo video: Int) throws -> CaptionFile {
        let captions = try self.captions(ofVideo: video)
        let first = captions.firstCaption
        let range = first..<(first + captions.count)
        let textStart = first == 0 ? 0 : Int(word(section: 6, first - 1))
        var textEnds: [Int] = []
        textEnds.reserveCapacity(range.count)
        for caption in range {
            let end = Int(word(section: 6, caption))
            guard end >= textStart + (textEnds.last ?? 0), end <= Int(layout.textByteCount) else {
                throw CaptionIndexError(path: path, operation: "reading video \(video) from",
                                        reason: .inconsistent("caption \(caption)'s text lies outside the text bytes"))
            }
            textEnds.append(end - textStart)
        }
        return CaptionFile(path: try captionPath(ofVideo: video),
                           startTimes: range.map { double(section: 4, $0) }, endTimes: range.map { double(section: 5, $0) },
                           textBytes: Array(bytes(section: 7, textStart..<(textStart + (textEnds.last ?? 0)))),
                           textEnds: textEnds)
    }

    /// The number of videos with each status.
    public var videoCountsByStatus: [VideoStatus: Int] {
        var counts: [VideoStatus: Int] = [:]
        for status in bytes(section: 1, 0..<videoCount) {
            counts[VideoStatus(rawValue: status) ?? .malformed, default: 0] += 1
        }
        return counts
    }

    // MARK: Captions

    fileprivate func startSeconds(ofCaption caption: Int) -> Double { double(section: 4, caption) }
    fileprivate func endSeconds(ofCaption caption: Int) -> Double { double(section: 5, caption) }

    fileprivate func withText<R>(ofCaption caption: Int, video: Int,
                                 _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        let start = caption == 0 ? 0 : word(section: 6, caption - 1)
        let end = word(section: 6, caption)
        guard start <= end, end <= layout.textByteCount else {
            throw CaptionIndexError(path: path, operation: "reading video \(video) from",
                                    reason: .inconsistent("caption \(caption)'s text lies outside the text bytes"))
        }
        return try body(bytes(section: 7, Int(start)..<Int(end)))
    }
}

// MARK: - One video's captions

/// One video's captions inside a `CaptionIndex` (keeps the index open).
public struct IndexedCaptions: CaptionList, Sendable {
    /// The index.
    public let index: CaptionIndex
    /// The video number.
    public let video: Int
    /// The index-wide number of the video's first caption.
    public let firstCaption: Int
    /// The number of captions.
    public let count: Int

    private func checked(_ caption: Int) throws -> Int {
        guard caption >= 0 && caption < count else { throw CaptionRangeError(index: caption, count: count) }
        return firstCaption + caption
    }

    /// The start time of caption `caption` in seconds; throws when it is out of range.
    public func startSeconds(at caption: Int) throws -> Double {
        index.startSeconds(ofCaption: try checked(caption))
    }

    /// The end time of caption `caption` in seconds; throws when it is out of range.
    public func endSeconds(at caption: Int) throws -> Double {
        index.endSeconds(ofCaption: try checked(caption))
    }

    /// Calls `body` with the UTF-8 text of caption `caption`; throws when it is out of range or its stored
    /// offsets are corrupt.
    public func withTextUTF8<R>(at caption: Int, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        try index.withText(ofCaption: try checked(caption), video: video, body)
    }
}
