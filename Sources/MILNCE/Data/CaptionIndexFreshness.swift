// Keeping the caption index in step with the caption files: the index records each caption
// file's stamp (size, modification and change times, inode) when it read it; before training,
// the files are stat'ed again, in parallel, and an index whose train list, caption folder or
// stamps differ is rebuilt or updated, with a message that says why.

import Dispatch
import FoundationEssentials
import Glibc
import POSIX
import Synchronization

// MARK: - Stamps

/// A 64-bit summary of what `stat` says about a caption file: its size, modification and
/// status-change times (nanoseconds) and inode. Editing, replacing, adding or removing the file
/// changes it; reading it does not. (The device number is left out: on a network file system it
/// can differ between the machines of a cluster.)
public enum CaptionFileStamp {
    /// The stamp of a file that does not exist.
    public static let absent: UInt64 = 0
    /// The stamp of a file whose status cannot be read (other than not existing).
    public static let unknown: UInt64 = 1

    /// The stamp of the file at `path` now.
    public static func of(path: String) -> UInt64 {
        var status = stat()
        guard stat(path, &status) == 0 else {
            return errno == ENOENT || errno == ENOTDIR ? absent : unknown
        }
        let fields = (Int64(status.st_size).littleEndian, Int64(status.st_mtim.tv_sec).littleEndian,
                      Int64(status.st_mtim.tv_nsec).littleEndian, Int64(status.st_ctim.tv_sec).littleEndian,
                      Int64(status.st_ctim.tv_nsec).littleEndian, UInt64(status.st_ino).littleEndian)
        return max(2, withUnsafeBytes(of: fields) { StreamingChecksum.of($0) })
    }

    /// The stamps of every video's caption file, taken by `threads` threads at once (a network
    /// file system answers one `stat` in a fraction of a millisecond, so many run in parallel).
    public static func stamps(of trainList: TrainList, captionRoot: String, threads: Int = 32) -> [UInt64] {
        let count = trainList.count
        guard count > 0 else { return [] }
        let work = StampWork(count: count)
        let chunk = 256
        let group = DispatchGroup()
        for lane in 0..<max(1, min(threads, (count + chunk - 1) / chunk)) {
            group.enter()
            startThread(named: "stat-\(lane)") {
                while true {
                    let first = work.next.add(chunk, ordering: .relaxed).oldValue
                    guard first < count else { break }
                    let videos = first..<min(count, first + chunk)
                    let stamps = videos.map { of(path: trainList.captionPath(at: $0, captionRoot: captionRoot)) }
                    work.results.withLock { $0.replaceSubrange(videos, with: stamps) }
                }
                group.leave()
            }
        }
        group.wait()
        return work.results.withLock { $0 }
    }

    /// The shared state of the stat threads: the next video to take, and the stamps taken (each
    /// thread stores a chunk of 256 at a time).
    private final class StampWork: Sendable {
        let next = Atomic<Int>(0)
        let results: Mutex<[UInt64]>
        init(count: Int) { results = Mutex([UInt64](repeating: 0, count: count)) }
    }
}

// MARK: - Changes

/// The caption files that changed since an index was built.
public struct CaptionFileChanges: Sendable, Equatable {
    /// Caption files checked.
    public var checkedFiles: Int
    /// Videos whose caption file appeared since.
    public var added: [Int]
    /// Videos whose caption file disappeared since.
    public var removed: [Int]
    /// Videos whose caption file was edited or replaced since.
    public var modified: [Int]

    /// Every video to read again, in order.
    public var videos: [Int] { (added + removed + modified).sorted() }
    /// Whether nothing changed.
    public var isEmpty: Bool { added.isEmpty && removed.isEmpty && modified.isEmpty }

    /// Compares the stamps recorded in an index with the files' stamps now.
    public init(recorded: [UInt64], current: [UInt64]) {
        checkedFiles = current.count
        added = []
        removed = []
        modified = []
        for (video, (before, now)) in zip(recorded, current).enumerated() where before != now {
            if before == CaptionFileStamp.absent {
                added.append(video)
            } else if now == CaptionFileStamp.absent {
                removed.append(video)
            } else {
                modified.append(video)
            }
        }
    }

    /// "3 caption files changed since the index was built: 1 added, 2 edited or replaced (the first: /c/a.csv, added)".
    public func description(trainList: TrainList, captionRoot: String) -> String {
        let total = added.count + removed.count + modified.count
        let kinds = [(added.count, "added"), (removed.count, "removed"), (modified.count, "edited or replaced")]
            .filter { $0.0 > 0 }.map { "\($0.0) \($0.1)" }
        let first = videos.first ?? 0
        let kind = added.contains(first) ? "added" : removed.contains(first) ? "removed" : "edited or replaced"
        return "\(total) caption \(total == 1 ? "file has" : "files have") changed since the index was built: "
            + kinds.joined(separator: ", ")
            + " (the first: \(trainList.captionPath(at: first, captionRoot: captionRoot)), \(kind))"
    }
}

extension CaptionIndex {
    /// The stamps recorded for every video.
    public var recordedStamps: [UInt64] {
        (0..<videoCount).map { (try? captionFileStamp(ofVideo: $0)) ?? CaptionFileStamp.unknown }
    }
}

// MARK: - Open, rebuild or update

extension CaptionIndex {
    /// Opens the index at `path` of `trainList`'s videos, whose captions are in `captionRoot`,
    /// after making it current: it is built when there is none; rebuilt when it cannot be read
    /// or was built from another train list or caption folder; updated when caption files were
    /// added, removed, edited or replaced since it was built (those are read again, the others
    /// copied). Each decision is reported through `report` in a sentence, and so are the videos
    /// without usable captions, the captions with odd times and the video paths whose caption
    /// file name the reference's rule derives in a surprising way.
    ///
    /// The check stats every caption file with `statThreads` threads; `workers` caption files
    /// are parsed at once when building.
    ///
    /// - Throws: `CaptionIndexError` when the index cannot be written or read back.
    public static func openOrBuild(at path: String, trainList: TrainList, captionRoot: String, statThreads: Int = 32,
                                   workers: Int = ProcessInfo.processInfo.activeProcessorCount,
                                   report: (String) -> Void) throws -> CaptionIndex {
        if let warning = trainList.dottedNameWarning(captionRoot: captionRoot) { report(warning) }
        let index: CaptionIndex
        switch freshness(of: path, trainList: trainList, captionRoot: captionRoot, statThreads: statThreads,
                         report: report) {
        case .current(let existing):
            index = existing
        case .build(let reuse):
            do {
                try FileManager.default.createDirectory(at: URL(fileURLWithPath: path).deletingLastPathComponent(),
                                                        withIntermediateDirectories: true)
            } catch {
                throw CaptionIndexError(path: path, operation: "building",
                                        reason: .system("cannot create its folder: \(describeSystemError(error))"))
            }
            let progress = ProgressDisplay("caption index", total: trainList.count)
            let summary = try build(trainList: trainList, captionRoot: captionRoot, to: path, reusing: reuse,
                                    workers: workers) { progress.update($0.videosDone) }
            progress.finish()
            report("caption index: \(summary)")
            index = try CaptionIndex(contentsOf: path, expecting: trainList)
        }
        if let failures = index.failureSummary() { report(failures) }
        if let times = index.timeAnomalySummary() { report(times) }
        return index
    }

    /// Whether an index file can be used as it is, or what to build.
    private enum Freshness {
        /// Up to date: this one.
        case current(CaptionIndex)
        /// Build it, copying what `reuse` allows when given.
        case build(CaptionIndexReuse?)
    }

    private static func freshness(of path: String, trainList: TrainList, captionRoot: String, statThreads: Int,
                                  report: (String) -> Void) -> Freshness {
        guard FileManager.default.fileExists(atPath: path) else {
            report("building the caption index \(path) from the captions of \(trainList.count) videos in \(captionRoot)")
            return .build(nil)
        }
        let existing: CaptionIndex
        do {
            existing = try CaptionIndex(contentsOf: path)
        } catch {
            report("rebuilding the caption index, which cannot be used: \(error)")
            return .build(nil)
        }
        guard existing.videoCount == trainList.count, existing.trainListFingerprint == trainList.fingerprint else {
            report("rebuilding the caption index \(path): it was built from another train list ("
                   + (existing.videoCount == trainList.count ? "the same number of videos, other paths"
                      : "\(existing.videoCount) videos, now \(trainList.count)") + ")")
            return .build(nil)
        }
        guard existing.captionRoot == captionRoot else {
            report("rebuilding the caption index \(path): it was built from the captions in \(existing.captionRoot), "
                   + "not \(captionRoot)")
            return .build(nil)
        }
        let started = ContinuousClock.now
        let current = CaptionFileStamp.stamps(of: trainList, captionRoot: captionRoot, threads: statThreads)
        let checked = "\(trainList.count) caption files checked in " + String(cFormat: "%.2f", started.elapsedSeconds) + " s"
        let changes = CaptionFileChanges(recorded: existing.recordedStamps, current: current)
        guard !changes.isEmpty else {
            report("caption index \(path) is up to date (\(checked))")
            return .current(existing)
        }
        report("updating the caption index \(path): \(changes.description(trainList: trainList, captionRoot: captionRoot)); "
               + "reading \(changes.videos.count == 1 ? "it" : "them") again (\(checked))")
        var reread = [Bool](repeating: false, count: trainList.count)
        for video in changes.videos { reread[video] = true }
        return .build(CaptionIndexReuse(index: existing, reread: reread))
    }
}
