import Foundation
import Testing
import TestSupport
import Video
@testable import MILNCE

/// The test set prepared once, on one thread, uninterrupted: what other runs are compared with.
enum ReferenceStore {
    static let shared = Result { () throws -> (folder: URL, summary: StorePreparationSummary) in
        let set = try StoreTestSet.get()
        let folder = set.folder.appendingPathComponent("reference-store")
        let summary = try StorePreparation(options: set.preparationOptions(output: folder, threads: 1)).prepare()
        return (folder, summary)
    }

    static func get() throws -> (folder: URL, summary: StorePreparationSummary) { try shared.get() }
}

@Suite(.serialized) struct StorePreparationTests {
    @Test func everyGoodVideoIsPreparedOnceAndTheBadOnesAreReported() throws {
        let set = try StoreTestSet.get()
        let (folder, summary) = try ReferenceStore.get()
        let good = set.goodVideos
        #expect(summary.isComplete && summary.remainingParts.isEmpty)
        #expect(summary.preparedVideos == good.count && summary.failedVideos == StoreTestSet.badVideos.count)
        #expect(summary.part.videos == good.count && summary.part.failures == 3)
        #expect(summary.part.shards >= 3, "a small shard size gives several shards")
        #expect(abs(summary.preparedSourceSeconds - Double(good.count * StoreTestSet.seconds)) < 0.5)

        let store = try VideoStore(at: folder.path)
        #expect(store.index.count == good.count)
        for key in good {
            let entry = try #require(try store.entry(forKey: key))
            #expect(entry.key == key && entry.width == 320 && entry.height == 240 && entry.framesPerSecond == 5)
            #expect(entry.frameCount == 5 * StoreTestSet.seconds)
            #expect(abs(entry.sourceDurationSeconds - Double(StoreTestSet.seconds)) < 0.05)
            let reader = try store.reader(for: entry)
            #expect(reader.width == 320 && reader.declaredFrameCount == entry.frameCount)
        }
        // The bad videos are not in the index; asking for one says where to look.
        for bad in StoreTestSet.badVideos {
            #expect(try store.entry(forKey: bad) == nil)
            #expect { try store.reader(forKey: bad) } throws: { "\($0)".contains("bad_videos.csv") }
        }
        // The report lists them, in the CSV's order, with the reasons.
        let report = try CSVTable.read(contentsOf: folder.appendingPathComponent("bad_videos.csv").path)
        #expect(report.columnNames == ["video_path", "reason"])
        #expect((0..<report.rowCount).map { report.string(row: $0, column: 0) } == StoreTestSet.badVideos)
        #expect(report.string(row: 0, column: 1).contains("no such file"))
        #expect(report.string(row: 1, column: 1).contains("empty"))
        #expect(report.string(row: 2, column: 1).contains("not a video"))
        // Every shard was opened once by the readers above, and no more.
        #expect(store.openedShardCount == store.index.shardPaths.count)
    }

    @Test func anotherThreadCountWritesTheSameBytes() throws {
        let set = try StoreTestSet.get()
        let (reference, _) = try ReferenceStore.get()
        let folder = set.folder.appendingPathComponent("store-three-threads")
        defer { try? FileManager.default.removeItem(at: folder) }
        _ = try StorePreparation(options: set.preparationOptions(output: folder, threads: 3)).prepare()
        let expected = try filesByPath(in: reference)
        let actual = try filesByPath(in: folder)
        #expect(expected.keys.sorted() == actual.keys.sorted())
        for (path, bytes) in expected { #expect(actual[path] == bytes, "\(path) differs") }
        #expect(expected["videos.index"] != nil && expected["shard-000000.tar"] != nil)
    }

    @Test func aRunStoppedMidwayThenResumedWritesTheSameBytes() throws {
        let set = try StoreTestSet.get()
        let (reference, referenceSummary) = try ReferenceStore.get()
        let folder = set.folder.appendingPathComponent("store-resumed")
        defer { try? FileManager.default.removeItem(at: folder) }
        _ = try StorePreparation(options: set.preparationOptions(output: folder, threads: 2)).prepare()
        // What a run killed while writing shard 1 leaves: shard 0 done, shard 1 half written.
        let shards = referenceSummary.part.shards
        for sequence in 1..<shards {
            let tar = folder.appendingPathComponent(String(format: "shard-%06d.tar", sequence))
            if sequence == 1 {
                let bytes = try Data(contentsOf: tar)
                try bytes.prefix(bytes.count / 2).write(to: folder.appendingPathComponent("shard-000001.tar.partial"))
            }
            try FileManager.default.removeItem(at: tar)
            try FileManager.default.removeItem(at: folder.appendingPathComponent(String(format: "shard-%06d.json", sequence)))
        }
        try FileManager.default.removeItem(at: folder.appendingPathComponent("videos.index"))
        // A shard renamed just before its catalog was written does not count either.
        try Data("half".utf8).write(to: folder.appendingPathComponent("shard-000002.tar"))
        #expect(throws: VideoStoreError.self) { try VideoStore(at: folder.path) }

        let resumed = try StorePreparation(options: set.preparationOptions(output: folder, threads: 1)).prepare()
        #expect(resumed.resumedVideos > 0 && resumed.resumedVideos < set.goodVideos.count + 3)
        #expect(resumed.resumedVideos + resumed.preparedVideos + resumed.failedVideos == set.goodVideos.count + 3)
        #expect(resumed.isComplete)
        let expected = try filesByPath(in: reference)
        let actual = try filesByPath(in: folder)
        #expect(expected.keys.sorted() == actual.keys.sorted())
        for (path, bytes) in expected { #expect(actual[path] == bytes, "\(path) differs") }

        // Running a complete store again changes nothing.
        let again = try StorePreparation(options: set.preparationOptions(output: folder, threads: 2)).prepare()
        #expect(again.preparedVideos == 0 && again.isComplete)
        #expect(try filesByPath(in: folder) == expected)
    }

    @Test func otherSettingsOnAStartedStoreAreRefused() throws {
        let set = try StoreTestSet.get()
        let (reference, _) = try ReferenceStore.get()
        var options = set.preparationOptions(output: reference)
        options.transcoding.keyframeInterval = 3
        #expect { try StorePreparation(options: options) } throws: { "\($0)".contains("other settings") }
        options = set.preparationOptions(output: reference, shardSize: 1 << 20)
        #expect(throws: VideoStoreError.self) { try StorePreparation(options: options) }
        // Options that cannot work are named before any work.
        options = set.preparationOptions(output: set.folder.appendingPathComponent("never"))
        options.part = 2
        options.partCount = 2
        #expect { try StorePreparation(options: options) } throws: { "\($0)".contains("part") }
    }

    @Test func partsWriteTheirOwnFoldersAndTheLastOneWritesTheIndex() throws {
        let set = try StoreTestSet.get()
        let folder = set.folder.appendingPathComponent("store-in-parts")
        defer { try? FileManager.default.removeItem(at: folder) }
        var options = set.preparationOptions(output: folder)
        options.partCount = 3
        options.part = 2
        let last = try StorePreparation(options: options).prepare()
        #expect(!last.isComplete && last.remainingParts == [1, 2])
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("videos.index").path))
        options.part = 0
        #expect(try StorePreparation(options: options).prepare().remainingParts == [2])
        options.part = 1
        let complete = try StorePreparation(options: options).prepare()
        #expect(complete.isComplete && complete.store?.videos == set.goodVideos.count && complete.store?.failures == 3)
        let store = try VideoStore(at: folder.path)
        #expect(store.index.shardPaths.allSatisfy { $0.hasPrefix("part-00") && $0.contains("-of-003/shard-") })
        // The same videos hold the same bytes as in the one-part store.
        let reference = try VideoStore(at: try ReferenceStore.get().folder.path)
        for key in set.goodVideos {
            let entry = try #require(try store.entry(forKey: key))
            let other = try #require(try reference.entry(forKey: key))
            #expect(try memberBytes(store, entry) == memberBytes(reference, other))
        }
    }

    @Test func shardsAreTarArchivesThatTarAndPythonRead() throws {
        let set = try StoreTestSet.get()
        let store = try VideoStore(at: try ReferenceStore.get().folder.path)
        var listed: [String] = []
        for shard in 0..<store.index.shardPaths.count {
            // Python's tarfile: every member's name, size and data offset.
            let output = try runPython("""
            import sys, tarfile
            with tarfile.open(sys.argv[1]) as archive:
                for member in archive.getmembers():
                    print(f"{member.offset_data}\\t{member.size}\\t{member.name}")
            """, arguments: [store.shardPath(shard)])
            for line in output.split(separator: "\n") {
                let fields = line.split(separator: "\t", maxSplits: 2).map(String.init)
                let key = fields[2].hasSuffix(".mp4") ? fields[2] : String(fields[2].dropLast(4))
                let entry = try #require(try store.entry(forKey: key), "\(key) is in a shard but not in the index")
                #expect(entry.shard == shard && entry.dataOffset == Int(fields[0]) && entry.dataLength == Int(fields[1]))
                listed.append(key)
            }
            // The tar command lists the same members.
            let tar = try runProcess(URL(fileURLWithPath: "/usr/bin/env"), ["tar", "tf", store.shardPath(shard)])
            #expect(tar.status == 0, "tar failed: \(tar.standardError)")
            #expect(tar.standardOutput.split(separator: "\n").count == output.split(separator: "\n").count)
        }
        #expect(listed == set.goodVideos)
    }
}

/// The bytes of a store member.
func memberBytes(_ store: VideoStore, _ entry: StoreEntry) throws -> [UInt8] {
    let shard = try store.mapping(ofShard: entry.shard)
    return Array(UnsafeRawBufferPointer(start: shard.base + entry.dataOffset, count: entry.dataLength))
}
