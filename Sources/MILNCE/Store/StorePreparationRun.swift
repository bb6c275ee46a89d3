import FoundationEssentials
import Glibc
import POSIX
import Video

/// How far a preparation run has come.
public struct PreparationProgress: Sendable {
    /// Videos of this run handled so far (prepared or failed).
    public var videosDone: Int
    /// Videos this run has to handle.
    public var videosToDo: Int
    /// Videos of this run that could not be prepared.
    public var failures: Int
    /// Bytes of the shards this run completed.
    public var bytesWritten: Int
    /// Shards this run completed.
    public var shardsWritten: Int
}

/// One video's outcome, from a transcoding thread to the shard writer.
enum PreparedVideo {
    case prepared(TranscodedVideo, sourceBytes: Int)
    case failed(String)
}

/// The shard being written, and its catalog so far.
private final class ShardInProgress {
    let sequence: Int
    let writer: ShardWriter
    let folder: String
    var catalog: ShardCatalog

    init(folder: String, sequence: Int, firstVideo: Int) throws {
        self.folder = folder
        self.sequence = sequence
        writer = try ShardWriter(path: folder + "/" + shardFileName(sequence))
        catalog = ShardCatalog(shard: shardFileName(sequence), firstVideo: firstVideo, endVideo: firstVideo, byteCount: 0,
                               checksum: "", members: [], failures: [])
    }

    /// Adds one video's outcome; false when it is a failure.
    func add(_ outcome: PreparedVideo, key: String) throws -> Bool {
        switch outcome {
        case .failed(let reason):
            catalog.failures.append(.init(key: key, reason: reason))
            return false
        case .prepared(let video, let sourceBytes):
            guard video.bytes.count <= Int(UInt32.max) else {
                catalog.failures.append(.init(key: key, reason: "the transcoded video has \(video.bytes.count) bytes, "
                                              + "more than a store entry holds (4 GiB)"))
                return false
            }
            let name = key.hasSuffix(".mp4") ? key : key + ".mp4"
            let offset = try writer.append(name: name, data: video.bytes)
            catalog.members.append(.init(key: key, dataOffset: offset, dataLength: video.bytes.count,
                                         frameCount: video.frameCount, width: video.width, height: video.height,
                                         framesPerSecond: video.framesPerSecond,
                                         sourceDurationSeconds: video.source.durationSeconds, sourceBytes: sourceBytes))
            return true
        }
    }

    /// Completes the shard on disk, then its catalog (which marks it done).
    func finish(endVideo: Int) throws -> ShardCatalog {
        let (byteCount, checksum) = try writer.finish()
        catalog.endVideo = endVideo
        catalog.byteCount = byteCount
        catalog.checksum = String(checksum, radix: 16)
        let path = folder + "/" + catalogFileName(sequence)
        do {
            try writeAtomically(try catalog.encoded(), to: path)
        } catch {
            throw VideoStoreError(path: path, "cannot write the shard's catalog: \(describeSystemError(error))")
        }
        synchronizeFolder(folder)
        return catalog
    }
}

extension StorePreparation {
    /// Prepares this run's part, from where earlier runs stopped; then, when every part is done,
    /// writes the index and the report. `progress` is called after each video.
    public func prepare(progress: ((PreparationProgress) -> Void)? = nil) throws -> StorePreparationSummary {
        let startTime = ProcessorTime.now
        let clock = ContinuousClock()
        let start = clock.now
        let part = options.part
        let lock = try PartLock(folder: partFolder(part))
        defer { withExtendedLifetime(lock) {} }
        let (done, next) = completedShards(ofPart: part)
        try removeLeftovers(inFolder: partFolder(part), fromShard: done.count)
        var totals = PartTotals()
        for catalog in done { totals.add(catalog) }
        let range = videoRange(ofPart: part)
        let resumed = next - range.lowerBound
        var run = RunCounts()
        if next < range.upperBound {
            try transcode(next..<range.upperBound, firstShard: done.count, totals: &totals, run: &run, progress: progress)
        }
        let finish = try writeIndexIfComplete()
        return StorePreparationSummary(
            partVideos: range.count, resumedVideos: resumed, preparedVideos: run.prepared, failedVideos: run.failed,
            part: totals, preparedSourceSeconds: run.sourceSeconds, processorSeconds: ProcessorTime.now.since(startTime).totalSeconds,
            wallSeconds: start.duration(to: clock.now).inSeconds, isComplete: finish.remaining.isEmpty, remainingParts: finish.remaining,
            store: finish.totals)
    }

    /// What this run did.
    struct RunCounts {
        var prepared = 0
        var failed = 0
        var sourceSeconds = 0.0
        var bytesWritten = 0
        var shardsWritten = 0
    }

    /// Deletes what an interrupted run left in `folder`: shards from `fromShard` on (finished or
    /// not) and their catalogs, and temporary files.
    func removeLeftovers(inFolder folder: String, fromShard first: Int) throws {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        for name in names where name.hasPrefix("shard-") || name.hasSuffix(".partial") {
            let digits = name.dropFirst("shard-".count).prefix(6)
            let sequence = name.hasPrefix("shard-") ? Int(digits) : nil
            guard name.hasSuffix(".partial") || (sequence.map { $0 >= first } ?? false) else { continue }
            guard unlink(folder + "/" + name) == 0 || errno == ENOENT else {
                throw VideoStoreError(path: folder + "/" + name, "cannot remove what an interrupted run left: "
                                      + String(cString: strerror(errno)))
            }
        }
    }

    /// Transcodes the videos at `positions` on the worker threads and writes them in order.
    private func transcode(_ positions: Range<Int>, firstShard: Int, totals: inout PartTotals, run: inout RunCounts,
                           progress: ((PreparationProgress) -> Void)?) throws {
        let transcoding = options.transcoding
        let root = URL(fileURLWithPath: options.videoRoot)
        let paths = videoPaths
        let first = positions.lowerBound
        let prefetch = OrderedPrefetcher<PreparedVideo>(count: positions.count, threads: options.threads,
                                                        capacity: 2 * options.threads, name: "milnce-prepare") { index in
            let url = root.appendingPathComponent(paths[first + index])
            do {
                let video = try VideoTranscoder(options: transcoding).transcode(url)
                return .prepared(video, sourceBytes: sizeOfFile(url.path) ?? 0)
            } catch {
                return .failed("\(error)")
            }
        }
        defer {
            prefetch.stop()
            prefetch.waitForThreads()
        }
        let folder = partFolder(options.part)
        var shard = try ShardInProgress(folder: folder, sequence: firstShard, firstVideo: first)
        for position in positions {
            guard let outcome = try prefetch.next() else {
                throw VideoStoreError(path: options.output, "the transcoding threads stopped early")
            }
            if try shard.add(outcome, key: paths[position]) {
                run.prepared += 1
                if case .prepared(let video, _) = outcome { run.sourceSeconds += video.source.durationSeconds }
            } else {
                run.failed += 1
            }
            if shard.writer.byteCount >= options.shardSizeBytes || position + 1 == positions.upperBound {
                let catalog = try shard.finish(endVideo: position + 1)
                totals.add(catalog)
                run.bytesWritten += catalog.byteCount
                run.shardsWritten += 1
                if position + 1 < positions.upperBound {
                    shard = try ShardInProgress(folder: folder, sequence: shard.sequence + 1, firstVideo: position + 1)
                }
            }
            progress?(PreparationProgress(videosDone: position + 1 - first, videosToDo: positions.count,
                                          failures: run.failed, bytesWritten: run.bytesWritten + shard.writer.byteCount,
                                          shardsWritten: run.shardsWritten))
        }
    }

    /// When every part is done, writes the index and the report of bad videos (again, which
    /// changes nothing when they exist); returns the parts still to do (1-based), or the totals.
    func writeIndexIfComplete() throws -> (remaining: [Int], totals: PartTotals?) {
        var remaining: [Int] = []
        var catalogs: [(part: Int, catalog: ShardCatalog)] = []
        for part in 0..<options.partCount {
            let (done, next) = completedShards(ofPart: part)
            if next < videoRange(ofPart: part).upperBound { remaining.append(part + 1) }
            catalogs += done.map { (part, $0) }
        }
        guard remaining.isEmpty else { return (remaining, nil) }
        var totals = PartTotals()
        var entries: [StoreEntry] = []
        var shardPaths: [String] = []
        var report = "video_path,reason\n"
        for (part, catalog) in catalogs {
            totals.add(catalog)
            let folder = partFolderName(part: part, partCount: options.partCount)
            let shard = shardPaths.count
            shardPaths.append(folder.isEmpty ? catalog.shard : folder + "/" + catalog.shard)
            for member in catalog.members {
                entries.append(StoreEntry(key: member.key, shard: shard, dataOffset: member.dataOffset,
                                          dataLength: member.dataLength, frameCount: member.frameCount, width: member.width,
                                          height: member.height, framesPerSecond: member.framesPerSecond,
                                          sourceDurationSeconds: member.sourceDurationSeconds))
            }
            for failure in catalog.failures { report += csvField(failure.key) + "," + csvField(failure.reason) + "\n" }
        }
        let indexPath = options.output + "/" + Self.indexFileName
        try VideoStoreIndex.write(entries: entries, shardPaths: shardPaths,
                                  settingsFingerprint: manifest.settingsFingerprint, to: indexPath)
        let reportPath = options.output + "/" + Self.reportFileName
        do {
            try writeAtomically(Array(report.utf8), to: reportPath)
        } catch {
            throw VideoStoreError(path: reportPath, "cannot write the report: \(describeSystemError(error))")
        }
        synchronizeFolder(options.output)
        return ([], totals)
    }
}

/// An exclusive lock on a part's folder (`flock` on `prepare.lock`), held while a run works on
/// it, so that two runs never write the same shards; released when the run ends or dies.
private final class PartLock {
    private let descriptor: Int32

    init(folder: String) throws {
        let path = folder + "/prepare.lock"
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw VideoStoreError(path: path, "cannot open the lock file: \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(descriptor)
            throw VideoStoreError(path: folder, "another `milnce prepare` is working on this part now; wait for it "
                                  + "to end (or prepare another part with --part)")
        }
    }

    deinit { close(descriptor) }
}

