// The store's index: every prepared video's place (shard, byte range) and shape in one
// memory-mapped file, found by its key (the train CSV's `video_path`) with a binary search over
// key hashes. Opening reads the header and the shard table only, so it takes milliseconds for
// HowTo100M's 1.2 M videos (about 75 MB).
//
// Layout (little-endian, version 1): a 128-byte header, then four sections, each starting at a
// multiple of 8 bytes and padded with zeros to the next one:
//
//   header   magic "MILNCEVS", version, header size, entry count, shard count, key bytes, shard
//            name bytes, file size, settings fingerprint, one checksum per section, the
//            header's own checksum (at 120)
//   0  entries           48 bytes each, sorted by (key hash, key):
//                          0 key hash UInt64     8 data offset UInt64   16 data length UInt32
//                         20 shard UInt32       24 key offset UInt32   28 key length UInt16
//                         30 width UInt16       32 height UInt16       34 frames per second UInt16
//                         36 frame count UInt32 40 source duration (s) Float32   44 zero
//   1  shard name ends   UInt64 x shards: shard s is name bytes [e[s - 1], e[s])
//   2  shard names       UTF-8 paths relative to the store's folder
//   3  keys              UTF-8

import FoundationEssentials
import Glibc
import POSIX

/// A prepared video's place in the store.
public struct StoreEntry: Sendable, Equatable, Codable {
    /// The video's key: its path as the train CSV lists it.
    public var key: String
    /// The shard's number in the index's shard table.
    public var shard: Int
    /// Where the video's MP4 file starts inside the shard, in bytes.
    public var dataOffset: Int
    /// The MP4 file's length in bytes.
    public var dataLength: Int
    /// The number of frames.
    public var frameCount: Int
    /// The frame width, in pixels.
    public var width: Int
    /// The frame height, in pixels.
    public var height: Int
    /// The frame rate.
    public var framesPerSecond: Int
    /// The source video's duration, in seconds.
    public var sourceDurationSeconds: Double

    /// An entry from its fields.
    public init(key: String, shard: Int, dataOffset: Int, dataLength: Int, frameCount: Int, width: Int, height: Int,
                framesPerSecond: Int, sourceDurationSeconds: Double) {
        self.key = key
        self.shard = shard
        self.dataOffset = dataOffset
        self.dataLength = dataLength
        self.frameCount = frameCount
        self.width = width
        self.height = height
        self.framesPerSecond = framesPerSecond
        self.sourceDurationSeconds = sourceDurationSeconds
    }

    /// The prepared video's length, `frameCount / framesPerSecond` seconds.
    public var durationSeconds: Double { Double(frameCount) / Double(max(framesPerSecond, 1)) }
}

/// A store index that cannot be written, opened or read.
public struct VideoStoreIndexError: Error, CustomStringConvertible, Sendable {
    /// The index file.
    public let path: String
    /// What was being done (writing, opening, reading).
    public let operation: String
    /// What is wrong.
    public let reason: String

    /// An error while doing `operation` on the index at `path`.
    public init(path: String, operation: String, reason: String) {
        self.path = path
        self.operation = operation
        self.reason = reason
    }

    public var description: String { "\(operation) the store index \(path): \(reason)" }
}

/// The byte layout of an index file.
struct VideoStoreIndexLayout {
    static let magic: [UInt8] = Array("MILNCEVS".utf8)
    static let version: UInt32 = 1
    static let headerSize = 128
    static let entrySize = 48
    static let headerChecksumOffset = 120

    var entryCount: UInt64
    var shardCount: UInt64
    var keyByteCount: UInt64
    var shardNameByteCount: UInt64

    /// The offsets of the four sections and the file size, or nil when the counts overflow.
    var sections: (offsets: [Int], lengths: [Int], fileSize: Int)? {
        let limit = UInt64(Int.max / 2)
        guard entryCount < limit / UInt64(Self.entrySize), shardCount < limit / 8, keyByteCount < limit,
              shardNameByteCount < limit else { return nil }
        let lengths = [Int(entryCount) * Self.entrySize, Int(shardCount) * 8, Int(shardNameByteCount), Int(keyByteCount)]
        var offsets: [Int] = []
        var position = Self.headerSize
        for length in lengths {
            offsets.append(position)
            position = (position + length + 7) & ~7
        }
        return (offsets, lengths, position)
    }
}

// MARK: - Hashing

extension VideoStoreIndex {
    /// The hash the index sorts keys by.
    static func hash(of key: String) -> UInt64 {
        var key = key
        return key.withUTF8 { StreamingChecksum.of(UnsafeRawBufferPointer($0)) }
    }
}

// MARK: - Writing

extension VideoStoreIndex {
    /// Writes an index of `entries` (their `shard` numbers index `shardPaths`) to `path`,
    /// through a temporary file that is synchronised and renamed, so that a reader sees either
    /// the old index or the whole new one. Throws when keys repeat or a field does not fit.
    public static func write(entries: [StoreEntry], shardPaths: [String], settingsFingerprint: UInt64,
                             to path: String) throws {
        let fail = { (reason: String) in VideoStoreIndexError(path: path, operation: "writing", reason: reason) }
        let hashes = entries.map { hash(of: $0.key) }
        var order = Array(0..<entries.count)
        order.sort { hashes[$0] != hashes[$1] ? hashes[$0] < hashes[$1] : entries[$0].key.utf8.lexicographicallyPrecedes(entries[$1].key.utf8) }
        for (previous, next) in zip(order, order.dropFirst()) where entries[previous].key == entries[next].key {
            throw fail("the key '\(entries[next].key)' appears twice")
        }
        var keys: [UInt8] = []
        keys.reserveCapacity(entries.reduce(0) { $0 + $1.key.utf8.count })
        var table = [UInt8](repeating: 0, count: entries.count * VideoStoreIndexLayout.entrySize)
        try table.withUnsafeMutableBytes { raw in
            for (position, number) in order.enumerated() {
                let entry = entries[number]
                let keyLength = entry.key.utf8.count
                guard keyLength <= Int(UInt16.max), keys.count + keyLength <= Int(UInt32.max),
                      entry.shard >= 0, entry.shard < shardPaths.count, entry.dataOffset >= 0,
                      entry.dataLength >= 0, entry.dataLength <= Int(UInt32.max),
                      entry.frameCount >= 0, entry.frameCount <= Int(UInt32.max),
                      entry.width >= 0, entry.width <= Int(UInt16.max), entry.height >= 0, entry.height <= Int(UInt16.max),
                      entry.framesPerSecond >= 1, entry.framesPerSecond <= Int(UInt16.max) else {
                    throw fail("the entry of '\(entry.key)' does not fit the index's fields")
                }
                let base = position * VideoStoreIndexLayout.entrySize
                raw.storeBytes(of: hashes[number].littleEndian, toByteOffset: base, as: UInt64.self)
                raw.storeBytes(of: UInt64(entry.dataOffset).littleEndian, toByteOffset: base + 8, as: UInt64.self)
                raw.storeBytes(of: UInt32(entry.dataLength).littleEndian, toByteOffset: base + 16, as: UInt32.self)
                raw.storeBytes(of: UInt32(entry.shard).littleEndian, toByteOffset: base + 20, as: UInt32.self)
                raw.storeBytes(of: UInt32(keys.count).littleEndian, toByteOffset: base + 24, as: UInt32.self)
                raw.storeBytes(of: UInt16(keyLength).littleEndian, toByteOffset: base + 28, as: UInt16.self)
                raw.storeBytes(of: UInt16(entry.width).littleEndian, toByteOffset: base + 30, as: UInt16.self)
                raw.storeBytes(of: UInt16(entry.height).littleEndian, toByteOffset: base + 32, as: UInt16.self)
                raw.storeBytes(of: UInt16(entry.framesPerSecond).littleEndian, toByteOffset: base + 34, as: UInt16.self)
                raw.storeBytes(of: UInt32(entry.frameCount).littleEndian, toByteOffset: base + 36, as: UInt32.self)
                raw.storeBytes(of: Float32(entry.sourceDurationSeconds).bitPattern.littleEndian, toByteOffset: base + 40,
                               as: UInt32.self)
                keys.append(contentsOf: entry.key.utf8)
            }
        }
        var nameEnds: [UInt8] = []
        var names: [UInt8] = []
        for shardPath in shardPaths {
            names += Array(shardPath.utf8)
            withUnsafeBytes(of: UInt64(names.count).littleEndian) { nameEnds += $0 }
        }
        let layout = VideoStoreIndexLayout(entryCount: UInt64(entries.count), shardCount: UInt64(shardPaths.count),
                                           keyByteCount: UInt64(keys.count), shardNameByteCount: UInt64(names.count))
        try writeFile(layout: layout, sections: [table, nameEnds, names, keys], fingerprint: settingsFingerprint,
                      to: path)
    }

    private static func writeFile(layout: VideoStoreIndexLayout, sections: [[UInt8]], fingerprint: UInt64,
                                  to path: String) throws {
        guard let (offsets, _, fileSize) = layout.sections else {
            throw VideoStoreIndexError(path: path, operation: "writing", reason: "the index is too large")
        }
        var header = [UInt8](repeating: 0, count: VideoStoreIndexLayout.headerSize)
        header.withUnsafeMutableBytes { raw in
            for (index, byte) in VideoStoreIndexLayout.magic.enumerated() { raw[index] = byte }
            raw.storeBytes(of: VideoStoreIndexLayout.version.littleEndian, toByteOffset: 8, as: UInt32.self)
            raw.storeBytes(of: UInt32(VideoStoreIndexLayout.headerSize).littleEndian, toByteOffset: 12, as: UInt32.self)
            let fields = [layout.entryCount, layout.shardCount, layout.keyByteCount, layout.shardNameByteCount,
                          UInt64(fileSize), fingerprint]
            for (index, value) in fields.enumerated() {
                raw.storeBytes(of: value.littleEndian, toByteOffset: 16 + 8 * index, as: UInt64.self)
            }
            for (index, section) in sections.enumerated() {
                let checksum = section.withUnsafeBytes { StreamingChecksum.of($0) }
                raw.storeBytes(of: checksum.littleEndian, toByteOffset: 64 + 8 * index, as: UInt64.self)
            }
            let checksum = StreamingChecksum.of(UnsafeRawBufferPointer(rebasing: raw[0..<VideoStoreIndexLayout.headerChecksumOffset]))
            raw.storeBytes(of: checksum.littleEndian, toByteOffset: VideoStoreIndexLayout.headerChecksumOffset,
                           as: UInt64.self)
        }
        do {
            try writeAtomically(to: path) { output in
                try output.write(header)
                var position = header.count
                for (index, section) in sections.enumerated() {
                    try output.write([UInt8](repeating: 0, count: offsets[index] - position))
                    try section.withUnsafeBytes { try output.write($0) }
                    position = offsets[index] + section.count
                }
                try output.write([UInt8](repeating: 0, count: fileSize - position))
            }
        } catch {
            throw VideoStoreIndexError(path: path, operation: "writing", reason: describeSystemError(error))
        }
    }
}

// MARK: - Reading

/// The store's index, memory-mapped: every video's shard, byte range and shape by its key.
///
/// Opening checks the header, its checksum, the file size and the shard table; entries are
/// checked where they are read (a corrupt entry gives an error, never a crash), and `verify()`
/// checks every checksum.
// @unchecked: wraps a read-only memory mapping (a raw pointer), unmapped only in `deinit`.
public final class VideoStoreIndex: @unchecked Sendable {

    /// The index file.
    public let path: String
    /// The number of videos.
    public let count: Int
    /// The shards' paths, relative to the store's folder, by shard number.
    public let shardPaths: [String]
    /// The fingerprint of the settings the store was prepared with.
    public let settingsFingerprint: UInt64

    private let base: UnsafeRawPointer
    private let mappedLength: Int
    private let offsets: [Int]
    private let lengths: [Int]
    private let keyByteCount: Int

    /// Opens the index at `path`.
    public init(contentsOf path: String) throws {
        self.path = path
        let fail = { (reason: String) in VideoStoreIndexError(path: path, operation: "opening", reason: reason) }
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw fail(String(cString: strerror(errno))) }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw fail(String(cString: strerror(errno))) }
        let size = Int(status.st_size)
        guard size >= VideoStoreIndexLayout.headerSize else {
            throw fail("the file is truncated: \(size) bytes, at least \(VideoStoreIndexLayout.headerSize) expected")
        }
        guard let mapping = mmap(nil, size, PROT_READ, MAP_SHARED, descriptor, 0), mapping != MAP_FAILED else {
            throw fail("cannot map the file: " + String(cString: strerror(errno)))
        }
        let base = UnsafeRawPointer(mapping)
        do {
            let header = try Self.readHeader(base: base, size: size, fail: fail)
            self.base = base
            mappedLength = size
            offsets = header.offsets
            lengths = header.lengths
            count = header.entryCount
            keyByteCount = header.keyByteCount
            settingsFingerprint = header.fingerprint
            shardPaths = try Self.readShardPaths(base: base, offsets: header.offsets, lengths: header.lengths, fail: fail)
        } catch {
            munmap(mapping, size)
            throw error
        }
    }

    deinit {
        munmap(UnsafeMutableRawPointer(mutating: base), mappedLength)
    }

    private struct Header {
        var offsets: [Int], lengths: [Int], entryCount: Int, keyByteCount: Int, fingerprint: UInt64
    }

    private static func readHeader(base: UnsafeRawPointer, size: Int,
                                   fail: (String) -> VideoStoreIndexError) throws -> Header {
        let header = UnsafeRawBufferPointer(start: base, count: VideoStoreIndexLayout.headerSize)
        func field(_ offset: Int) -> UInt64 { UInt64(littleEndian: header.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) }
        guard header.prefix(8).elementsEqual(VideoStoreIndexLayout.magic) else {
            throw fail("not a store index (wrong magic bytes)")
        }
        let version = UInt32(littleEndian: header.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
        guard version == VideoStoreIndexLayout.version else {
            throw fail("format version \(version); this program reads version \(VideoStoreIndexLayout.version): "
                       + "prepare the store again with this program")
        }
        let checksum = StreamingChecksum.of(UnsafeRawBufferPointer(rebasing: header[0..<VideoStoreIndexLayout.headerChecksumOffset]))
        guard checksum == field(VideoStoreIndexLayout.headerChecksumOffset) else {
            throw fail("the header is corrupt (checksum mismatch): run `milnce prepare` again to rebuild the index")
        }
        let layout = VideoStoreIndexLayout(entryCount: field(16), shardCount: field(24), keyByteCount: field(32),
                                           shardNameByteCount: field(40))
        guard let (offsets, lengths, fileSize) = layout.sections, UInt64(fileSize) == field(48) else {
            throw fail("the file is corrupt: the header's counts do not describe a file")
        }
        guard size == fileSize else {
            throw fail("the file has \(size) bytes, \(fileSize) expected (truncated or overwritten): "
                       + "run `milnce prepare` again to rebuild the index")
        }
        return Header(offsets: offsets, lengths: lengths, entryCount: Int(layout.entryCount),
                      keyByteCount: Int(layout.keyByteCount), fingerprint: field(56))
    }

    private static func readShardPaths(base: UnsafeRawPointer, offsets: [Int], lengths: [Int],
                                       fail: (String) -> VideoStoreIndexError) throws -> [String] {
        let header = UnsafeRawBufferPointer(start: base, count: VideoStoreIndexLayout.headerSize)
        for section in 1...2 {
            let bytes = UnsafeRawBufferPointer(start: base + offsets[section], count: lengths[section])
            guard StreamingChecksum.of(bytes) == UInt64(littleEndian: header.loadUnaligned(fromByteOffset: 64 + 8 * section,
                                                                                           as: UInt64.self)) else {
                throw fail("the shard table is corrupt (checksum mismatch): run `milnce prepare` again to rebuild the index")
            }
        }
        var paths: [String] = []
        var start = 0
        for shard in 0..<(lengths[1] / 8) {
            let end = Int(UInt64(littleEndian: (base + offsets[1] + 8 * shard).loadUnaligned(as: UInt64.self)))
            guard end >= start, end <= lengths[2] else { throw fail("the file is corrupt: shard \(shard)'s name lies outside the names") }
            paths.append(String(decoding: UnsafeRawBufferPointer(start: base + offsets[2] + start, count: end - start),
                                as: UTF8.self))
            start = end
        }
        return paths
    }

    /// Checks the checksums of every section (reads the whole file).
    public func verify() throws {
        let header = UnsafeRawBufferPointer(start: base, count: VideoStoreIndexLayout.headerSize)
        for section in 0..<4 {
            let stored = UInt64(littleEndian: header.loadUnaligned(fromByteOffset: 64 + 8 * section, as: UInt64.self))
            guard StreamingChecksum.of(UnsafeRawBufferPointer(start: base + offsets[section], count: lengths[section])) == stored else {
                let names = ["entries", "shard table", "shard names", "keys"]
                throw VideoStoreIndexError(path: path, operation: "verifying", reason: "the \(names[section]) are corrupt "
                                           + "(checksum mismatch): run `milnce prepare` again to rebuild the index")
            }
        }
    }

    // MARK: Entries

    @inline(__always)
    private func load<T: FixedWidthInteger>(_ entry: Int, _ offset: Int, as type: T.Type) -> T {
        T(littleEndian: (base + offsets[0] + entry * VideoStoreIndexLayout.entrySize + offset).loadUnaligned(as: T.self))
    }

    private func keyBytes(ofEntry entry: Int) throws -> UnsafeRawBufferPointer {
        let start = Int(load(entry, 24, as: UInt32.self))
        let length = Int(load(entry, 28, as: UInt16.self))
        guard start + length <= keyByteCount else {
            throw VideoStoreIndexError(path: path, operation: "reading", reason: "entry \(entry)'s key lies outside the keys: "
                                       + "the file is corrupt; run `milnce prepare` again to rebuild the index")
        }
        return UnsafeRawBufferPointer(start: base + offsets[3] + start, count: length)
    }

    /// Entry number `entry` (in hash order, `0..<count`).
    public func entry(at entry: Int) throws -> StoreEntry {
        guard entry >= 0 && entry < count else {
            throw VideoStoreIndexError(path: path, operation: "reading", reason: "entry \(entry) is outside 0..<\(count)")
        }
        let shard = Int(load(entry, 20, as: UInt32.self))
        guard shard < shardPaths.count else {
            throw VideoStoreIndexError(path: path, operation: "reading", reason: "entry \(entry) names shard \(shard) of "
                                       + "\(shardPaths.count): the file is corrupt; run `milnce prepare` again")
        }
        return StoreEntry(key: String(decoding: try keyBytes(ofEntry: entry), as: UTF8.self), shard: shard,
                          dataOffset: Int(load(entry, 8, as: UInt64.self)), dataLength: Int(load(entry, 16, as: UInt32.self)),
                          frameCount: Int(load(entry, 36, as: UInt32.self)), width: Int(load(entry, 30, as: UInt16.self)),
                          height: Int(load(entry, 32, as: UInt16.self)),
                          framesPerSecond: Int(load(entry, 34, as: UInt16.self)),
                          sourceDurationSeconds: Double(Float32(bitPattern: load(entry, 40, as: UInt32.self))))
    }

    /// The entry of the video `key`, or nil when the store does not hold it.
    public func entry(forKey key: String) throws -> StoreEntry? {
        let target = Self.hash(of: key)
        var low = 0, high = count
        while low < high {
            let middle = (low + high) / 2
            if load(middle, 0, as: UInt64.self) < target { low = middle + 1 } else { high = middle }
        }
        var key = key
        var candidate = low
        while candidate < count && load(candidate, 0, as: UInt64.self) == target {
            let matches = try key.withUTF8 { wanted in try keyBytes(ofEntry: candidate).elementsEqual(UnsafeRawBufferPointer(wanted)) }
            if matches { return try entry(at: candidate) }
            candidate += 1
        }
        return nil
    }
}

// MARK: - Files

/// Writes `bytes` to `path` through a temporary file beside it (`<path>.<process id>.partial`),
/// synchronised and renamed into place: readers see the old file or the whole new one.
func writeAtomically(_ bytes: [UInt8], to path: String) throws {
    try writeAtomically(to: path) { output in try bytes.withUnsafeBytes { try output.write($0) } }
}

/// Writes what `body` writes to `path` the same way as `writeAtomically(_:to:)`.
func writeAtomically(to path: String, _ body: (FileOutput) throws -> Void) throws {
    let temporary = "\(path).\(getpid()).partial"
    unlink(temporary)
    let output = try FileOutput(creating: temporary)
    try body(output)
    try output.synchronize()
    try output.close()
    guard rename(temporary, path) == 0 else { throw SystemCallError("rename", path: temporary) }
}
