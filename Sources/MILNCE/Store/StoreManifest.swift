// The store's small JSON files: `manifest.json` (the settings it was prepared with) and one
// catalog per shard (`shard-NNNNNN.json`: the videos the shard covers, where each lies in it,
// and the videos that could not be prepared). A shard counts as done only once its catalog
// exists, and the catalog is written only after the shard is complete on disk.

import CFFmpeg
import FoundationEssentials
import Glibc
import POSIX
import Video

// MARK: - Errors

/// A store that cannot be prepared or opened; the message says what to do.
public struct VideoStoreError: Error, CustomStringConvertible, Sendable {
    /// The store folder (or file inside it) concerned.
    public var path: String
    /// What was being done and why it failed.
    public var message: String

    /// An error about `path`.
    public init(path: String, _ message: String) {
        self.path = path
        self.message = message
    }

    public var description: String { "video store \(path): \(message)" }
}

// MARK: - Manifest

/// The settings a store was prepared with: every run of `milnce prepare` on the same store (a
/// resumed run, another part) must use the same ones.
public struct StoreManifest: Codable, Equatable, Sendable {
    /// What the folder is.
    public var format = "milnce video store"
    /// The version of the store's layout.
    public var version = 1
    /// How the videos were transcoded.
    public var transcoding: TranscodingOptions
    /// The size at which a shard is closed, in bytes.
    public var shardSizeBytes: Int
    /// The number of parts the videos are split into (one per machine preparing them).
    public var partCount: Int
    /// The number of distinct videos in the train CSV.
    public var videoCount: Int
    /// The fingerprint of the video list (every path, in order), in hexadecimal.
    public var videoListFingerprint: String
    /// The train CSV the list came from (for information).
    public var trainCSV: String
    /// FFmpeg's codec library that encoded the videos (for information: another version may
    /// encode other bytes).
    public var encoderLibrary: String

    /// The manifest's file in a store folder.
    static func path(in store: String) -> String { store + "/manifest.json" }

    /// A fingerprint of everything that decides the store's bytes (not the informational fields).
    public var settingsFingerprint: UInt64 {
        var text = "\(version)|\(transcoding.framesPerSecond)|\(transcoding.shortSide)|\(transcoding.keyframeInterval)|"
        text += "\(transcoding.constantRateFactor)|\(transcoding.preset)|\(transcoding.tune)|\(transcoding.bFrames)|"
        text += "\(shardSizeBytes)|\(partCount)|\(videoCount)|\(videoListFingerprint)"
        return text.withUTF8Bytes { StreamingChecksum.of($0) }
    }

    /// Whether `other` prepares the same bytes (the informational fields may differ).
    func hasSameSettings(as other: StoreManifest) -> Bool {
        other.version == version && other.transcoding == transcoding && other.shardSizeBytes == shardSizeBytes
            && other.partCount == partCount && other.videoCount == videoCount
            && other.videoListFingerprint == videoListFingerprint
    }

    /// The version of FFmpeg's codec library in use.
    static var currentEncoderLibrary: String {
        let version = avcodec_version()
        return "libavcodec \(version >> 16).\((version >> 8) & 0xFF).\(version & 0xFF)"
    }

    /// Reads the manifest of the store at `store`.
    static func read(from store: String) throws -> StoreManifest {
        let path = Self.path(in: store)
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw VideoStoreError(path: store, "no manifest.json (\(describeSystemError(error))): not a store made by "
                                  + "`milnce prepare`, or its preparation has not started")
        }
        do {
            return try JSONDecoder().decode(StoreManifest.self, from: data)
        } catch {
            throw VideoStoreError(path: path, "the manifest cannot be read (\(error)): prepare the store again")
        }
    }

    /// The manifest as JSON text (keys sorted, so equal manifests give equal files).
    func encoded() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return Array(try encoder.encode(self)) + [UInt8(ascii: "\n")]
    }
}

extension String {
    /// Calls `body` with the string's UTF-8 bytes.
    func withUTF8Bytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        var copy = self
        return try copy.withUTF8 { try body(UnsafeRawBufferPointer($0)) }
    }
}

// MARK: - Shard catalogs

/// What one shard holds: written beside it (`shard-NNNNNN.json`) once the shard is on disk.
struct ShardCatalog: Codable, Equatable {
    /// A video in the shard.
    struct Member: Codable, Equatable {
        var key: String
        var dataOffset: Int
        var dataLength: Int
        var frameCount: Int
        var width: Int
        var height: Int
        var framesPerSecond: Int
        var sourceDurationSeconds: Double
        var sourceBytes: Int
    }

    /// A video that could not be prepared, and why.
    struct Failure: Codable, Equatable {
        var key: String
        var reason: String
    }

    /// The shard's file name (in the part's folder).
    var shard: String
    /// The videos the shard covers, as positions in the store's video list: `[firstVideo, endVideo)`.
    var firstVideo: Int
    var endVideo: Int
    /// The shard's size and checksum.
    var byteCount: Int
    var checksum: String
    var members: [Member]
    var failures: [Failure]

    func encoded() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array(try encoder.encode(self)) + [UInt8(ascii: "\n")]
    }

    static func read(from path: String) -> ShardCatalog? {
        guard let data = try? Data(contentsOf: URL(fileURLWithPath: path)) else { return nil }
        return try? JSONDecoder().decode(ShardCatalog.self, from: data)
    }
}

/// Where part `part` of `partCount` keeps its shards: the store's folder when there is one part,
/// else `part-PPP-of-NNN` in it (parts counted from 1).
func partFolderName(part: Int, partCount: Int) -> String {
    partCount == 1 ? "" : String(cFormat: "part-%03ld-of-%03ld", part + 1, partCount)
}

/// The file name of shard `sequence` of a part.
func shardFileName(_ sequence: Int) -> String { String(cFormat: "shard-%06ld.tar", sequence) }

/// The catalog's file name of shard `sequence`.
func catalogFileName(_ sequence: Int) -> String { String(cFormat: "shard-%06ld.json", sequence) }

/// The size of a file in bytes, or nil when it does not exist.
func sizeOfFile(_ path: String) -> Int? {
    var status = stat()
    guard stat(path, &status) == 0 else { return nil }
    return Int(status.st_size)
}
