import FoundationEssentials
import Glibc
import Synchronization
import Video

/// One shard file, memory-mapped read-only for the life of the store: every reader of its
/// members reads the same pages.
// @unchecked: wraps a read-only memory mapping (a raw pointer), unmapped only in `deinit`.
final class ShardMapping: @unchecked Sendable {

    /// The shard's path.
    let path: String
    /// The first byte and the length.
    let base: UnsafeRawPointer
    let length: Int

    init(path: String) throws {
        self.path = path
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw VideoStoreError(path: path, "cannot open the shard: \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            throw VideoStoreError(path: path, "cannot read the shard's size: \(String(cString: strerror(errno)))")
        }
        length = Int(status.st_size)
        guard length > 0 else { throw VideoStoreError(path: path, "the shard is empty: prepare the store again") }
        guard let mapping = mmap(nil, length, PROT_READ, MAP_SHARED, descriptor, 0), mapping != MAP_FAILED else {
            throw VideoStoreError(path: path, "cannot map the shard: \(String(cString: strerror(errno)))")
        }
        base = UnsafeRawPointer(mapping)
    }

    deinit {
        munmap(UnsafeMutableRawPointer(mutating: base), length)
    }
}

/// A store made by `milnce prepare`, opened for reading clips: the index maps a video's key (the
/// train CSV's `video_path`) to a byte range of one shard; each shard is opened and
/// memory-mapped once, when first used, and shared by every thread; a video's MP4 file is read
/// from the mapping through FFmpeg's custom I/O (no temporary file, no process).
public final class VideoStore: Sendable {
    /// The store's folder.
    public let path: String
    /// The settings it was prepared with.
    public let manifest: StoreManifest
    /// Its index.
    public let index: VideoStoreIndex
    private let shards: Mutex<[Int: ShardMapping]>

    /// Opens the store in the folder `path`; throws when it is not a complete store.
    public init(at path: String) throws {
        self.path = path
        manifest = try StoreManifest.read(from: path)
        let indexPath = path + "/" + StorePreparation.indexFileName
        guard FileManager.default.fileExists(atPath: indexPath) else {
            throw VideoStoreError(path: path, "it has no index yet: its preparation has not finished (run `milnce "
                                  + "prepare` again with the same options to complete it"
                                  + (manifest.partCount > 1 ? ", for every --part" : "") + ")")
        }
        index = try VideoStoreIndex(contentsOf: indexPath)
        guard index.settingsFingerprint == manifest.settingsFingerprint else {
            throw VideoStoreError(path: path, "its index and manifest.json come from different preparations: "
                                  + "run `milnce prepare` again to rebuild the index")
        }
        shards = Mutex([:])
    }

    /// The frame rate of the store's videos.
    public var framesPerSecond: Int { manifest.transcoding.framesPerSecond }

    /// The entry of the video `key`, or nil when the store does not hold it.
    public func entry(forKey key: String) throws -> StoreEntry? {
        try index.entry(forKey: key)
    }

    /// The full path of shard `shard`.
    public func shardPath(_ shard: Int) -> String {
        path + "/" + index.shardPaths[shard]
    }

    /// The name a member's reader has in messages: `<shard path>:<key>`.
    public func memberName(_ entry: StoreEntry) -> String {
        shardPath(entry.shard) + ":" + entry.key
    }

    /// The mapping of shard `shard`, opening it the first time.
    func mapping(ofShard shard: Int) throws -> ShardMapping {
        if let mapped = shards.withLock({ $0[shard] }) { return mapped }
        let opened = try ShardMapping(path: shardPath(shard))
        return shards.withLock { mappings in
            if let mapped = mappings[shard] { return mapped } // another thread opened it meanwhile
            mappings[shard] = opened
            return opened
        }
    }

    /// The number of shards opened so far.
    public var openedShardCount: Int { shards.withLock { $0.count } }

    /// A reader of the video `entry` (its MP4 file, read from the shard's mapping).
    public func reader(for entry: StoreEntry, threadCount: Int = 1) throws -> VideoReader {
        guard entry.shard >= 0 && entry.shard < index.shardPaths.count else {
            throw VideoStoreError(path: path, "the entry of \(entry.key) names shard \(entry.shard) of "
                                  + "\(index.shardPaths.count): the index is corrupt; run `milnce prepare` again")
        }
        let shard = try mapping(ofShard: entry.shard)
        guard entry.dataOffset >= 0, entry.dataLength > 0, entry.dataOffset + entry.dataLength <= shard.length else {
            throw VideoStoreError(path: shard.path, "\(entry.key)'s bytes \(entry.dataOffset)..<\(entry.dataOffset + entry.dataLength) "
                                  + "lie outside the shard's \(shard.length) bytes: the shard is truncated or was replaced; "
                                  + "prepare the store again")
        }
        let bytes = UnsafeRawBufferPointer(start: shard.base + entry.dataOffset, count: entry.dataLength)
        return try VideoReader(bytes: bytes, keepingAlive: shard, name: memberName(entry), format: "mp4",
                               probing: .containerHeaderOnly, threadCount: threadCount)
    }

    /// A reader of the video `key`; throws when the store does not hold it.
    public func reader(forKey key: String, threadCount: Int = 1) throws -> VideoReader {
        guard let entry = try entry(forKey: key) else {
            throw VideoStoreError(path: path, "it holds no video '\(key)' (a video that could not be prepared is "
                                  + "listed in \(StorePreparation.reportFileName))")
        }
        return try reader(for: entry, threadCount: threadCount)
    }
}
