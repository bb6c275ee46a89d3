// `milnce prepare`: every video of a train CSV transcoded once and packed into large tar shards,
// with one memory-mapped index. Videos are assigned to shards by a rule that depends only on the
// inputs (the list's order and the transcoded sizes, which are deterministic), so a run that was
// killed and resumed, or run with another thread count, writes the same bytes.

import FoundationEssentials
import Glibc
import POSIX
import Video

/// What `milnce prepare` is told.
public struct StorePreparationOptions: Sendable {
    /// The train CSV (its `video_path` column lists the videos; repeated paths are prepared once).
    public var trainCSV: String
    /// The folder the CSV's paths are relative to.
    public var videoRoot: String
    /// The store's folder (created when missing).
    public var output: String
    /// How the videos are transcoded.
    public var transcoding = TranscodingOptions()
    /// The size at which a shard is closed (it holds whole videos, so it ends a little larger).
    public var shardSizeBytes = 1 << 30
    /// Videos transcoded at once (one encoder thread each).
    public var threads = 1
    /// This run's part (0-based) of `partCount`: parts split the video list into equal
    /// consecutive ranges, one per machine, written into separate folders of the same store.
    public var part = 0
    /// The number of parts.
    public var partCount = 1

    /// Options for `trainCSV`'s videos under `videoRoot`, into `output`.
    public init(trainCSV: String, videoRoot: String, output: String) {
        self.trainCSV = trainCSV
        self.videoRoot = videoRoot
        self.output = output
    }

    /// Every problem with the options, in words.
    public var problems: [String] {
        var problems = transcoding.problems
        if shardSizeBytes < 1 { problems.append("the shard size must be positive") }
        if threads < 1 { problems.append("the thread count must be at least 1") }
        if partCount < 1 || partCount > 999 { problems.append("the part count must be in 1...999") }
        if part < 0 || part >= partCount { problems.append("the part must be in 1...\(partCount)") }
        return problems
    }
}

/// What a preparation run did.
public struct StorePreparationSummary: Sendable {
    /// The videos of this run's part.
    public var partVideos: Int
    /// Videos found done from an earlier run.
    public var resumedVideos: Int
    /// Videos transcoded by this run.
    public var preparedVideos: Int
    /// Videos of this run that could not be prepared.
    public var failedVideos: Int
    /// Over the whole part (earlier runs included): prepared videos, their source bytes and
    /// seconds, the shards' bytes, the bad videos.
    public var part: PartTotals
    /// Source seconds of the videos transcoded by this run.
    public var preparedSourceSeconds: Double
    /// Processor and elapsed seconds of this run.
    public var processorSeconds: Double
    public var wallSeconds: Double
    /// Whether every part is done and the index and report were written.
    public var isComplete: Bool
    /// The parts (1-based) still to prepare, when not complete.
    public var remainingParts: [Int]
    /// Over the whole store, when complete.
    public var store: PartTotals?
}

/// Totals over shards.
public struct PartTotals: Sendable {
    /// Videos prepared.
    public var videos = 0
    /// Videos that could not be prepared.
    public var failures = 0
    /// Shards written.
    public var shards = 0
    /// Bytes of the prepared videos' source files.
    public var sourceBytes = 0
    /// Seconds of the prepared videos' sources.
    public var sourceSeconds = 0.0
    /// Bytes of the shards.
    public var storeBytes = 0

    mutating func add(_ catalog: ShardCatalog) {
        videos += catalog.members.count
        failures += catalog.failures.count
        shards += 1
        storeBytes += catalog.byteCount
        for member in catalog.members {
            sourceBytes += member.sourceBytes
            sourceSeconds += member.sourceDurationSeconds
        }
    }
}

/// Prepares a store: `prepare()` transcodes this run's part (resuming where an earlier run
/// stopped), and when every part is done writes the index and the report of bad videos.
public final class StorePreparation {
    /// The options.
    public let options: StorePreparationOptions
    /// The distinct videos of the train CSV, in order.
    public let videoPaths: [String]
    /// The store's settings.
    public let manifest: StoreManifest

    /// The index's file name in the store folder.
    public static let indexFileName = "videos.index"
    /// The report of bad videos, in the store folder.
    public static let reportFileName = "bad_videos.csv"

    /// Reads the train CSV and checks the options; creates the store folder and its manifest,
    /// or checks that an existing store was started with the same settings.
    public init(options: StorePreparationOptions) throws {
        if let problem = options.problems.first { throw VideoStoreError(path: options.output, problem) }
        self.options = options
        var seen = Set<String>()
        videoPaths = try TrainList(contentsOf: options.trainCSV).videoPaths.filter { seen.insert($0).inserted }
        manifest = StoreManifest(transcoding: options.transcoding, shardSizeBytes: options.shardSizeBytes,
                                 partCount: options.partCount, videoCount: videoPaths.count,
                                 videoListFingerprint: String(TrainList(videoPaths: videoPaths).fingerprint, radix: 16),
                                 trainCSV: options.trainCSV, encoderLibrary: StoreManifest.currentEncoderLibrary)
        try createOrCheckManifest()
    }

    private func createOrCheckManifest() throws {
        let store = options.output
        do {
            try FileManager.default.createDirectory(atPath: store, withIntermediateDirectories: true)
            let folder = partFolder(options.part)
            if folder != store { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
        } catch {
            throw VideoStoreError(path: store, "cannot create the store folder: \(describeSystemError(error))")
        }
        if FileManager.default.fileExists(atPath: StoreManifest.path(in: store)) {
            let existing = try StoreManifest.read(from: store)
            guard existing.hasSameSettings(as: manifest) else {
                throw VideoStoreError(path: store, "it was started with other settings or another video list "
                                      + "(see its manifest.json); continue it with the same options, or prepare into "
                                      + "another --output")
            }
            return
        }
        do {
            try writeAtomically(try manifest.encoded(), to: StoreManifest.path(in: store))
        } catch {
            throw VideoStoreError(path: store, "cannot write manifest.json: \(describeSystemError(error))")
        }
    }

    /// The folder of part `part`'s shards.
    func partFolder(_ part: Int) -> String {
        let name = partFolderName(part: part, partCount: options.partCount)
        return name.isEmpty ? options.output : options.output + "/" + name
    }

    /// The positions `[start, end)` of part `part`'s videos in the list.
    public func videoRange(ofPart part: Int) -> Range<Int> {
        let count = videoPaths.count, parts = options.partCount
        return (count * part / parts)..<(count * (part + 1) / parts)
    }

    /// The shards of part `part` that are done, in order, and the first position they do not cover.
    func completedShards(ofPart part: Int) -> (catalogs: [ShardCatalog], nextVideo: Int) {
        let range = videoRange(ofPart: part)
        let folder = partFolder(part)
        var catalogs: [ShardCatalog] = []
        var next = range.lowerBound
        while next < range.upperBound {
            let sequence = catalogs.count
            guard let catalog = ShardCatalog.read(from: folder + "/" + catalogFileName(sequence)),
                  catalog.firstVideo == next, catalog.endVideo > next, catalog.endVideo <= range.upperBound,
                  catalog.shard == shardFileName(sequence),
                  sizeOfFile(folder + "/" + catalog.shard) == catalog.byteCount else { break }
            catalogs.append(catalog)
            next = catalog.endVideo
        }
        return (catalogs, next)
    }
}
