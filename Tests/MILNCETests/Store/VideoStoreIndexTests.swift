import Foundation
import Testing
import TestSupport
@testable import MILNCE

/// Entries with varied keys (nested paths, non-ASCII, long) and fields at their limits.
private func sampleEntries(count: Int, shards: Int) -> [StoreEntry] {
    var random = SplitMix64(seed: 11)
    return (0..<count).map { number in
        let key = number % 7 == 0 ? "dir/sub/video-\(number)-ü.mp4"
            : number % 11 == 0 ? String(repeating: "x", count: 300) + "\(number).webm" : "v\(number).mp4"
        return StoreEntry(key: key, shard: number % shards, dataOffset: random.uniformInt(in: 0...(1 << 40)),
                          dataLength: number == 3 ? Int(UInt32.max) : random.uniformInt(in: 1...(1 << 30)),
                          frameCount: random.uniformInt(in: 0...100_000), width: random.uniformInt(in: 2...65535),
                          height: random.uniformInt(in: 2...4096), framesPerSecond: 5,
                          sourceDurationSeconds: Double(random.uniformInt(in: 0...36_000_000)) / 1000)
    }
}

@Suite struct VideoStoreIndexTests {
    @Test func everyEntryIsFoundByItsKeyAndOthersAreNot() throws {
        let folder = try TestEnvironment.temporaryDirectory("store-index")
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("videos.index").path
        let entries = sampleEntries(count: 2000, shards: 7)
        let shardPaths = (0..<7).map { "part-00\($0 % 2)-of-002/shard-00000\($0).tar" }
        try VideoStoreIndex.write(entries: entries, shardPaths: shardPaths, settingsFingerprint: 42, to: path)
        let index = try VideoStoreIndex(contentsOf: path)
        try index.verify()
        #expect(index.count == 2000 && index.shardPaths == shardPaths && index.settingsFingerprint == 42)
        for entry in entries {
            let found = try #require(try index.entry(forKey: entry.key))
            // The duration is stored as a 32-bit float.
            #expect(abs(found.sourceDurationSeconds - entry.sourceDurationSeconds) <= entry.sourceDurationSeconds * 1e-7)
            var exact = found
            exact.sourceDurationSeconds = entry.sourceDurationSeconds
            #expect(exact == entry)
        }
        for missing in ["", "v2000.mp4", "v1.mp4 ", "dir/sub/video-7-u.mp4", "V1.mp4"] {
            #expect(try index.entry(forKey: missing) == nil)
        }
        #expect(Set(try (0..<index.count).map { try index.entry(at: $0).key }) == Set(entries.map(\.key)))
        #expect(throws: VideoStoreIndexError.self) { try index.entry(at: 2000) }
    }

    @Test func badIndexesAreErrorsThatSayWhatToDo() throws {
        let folder = try TestEnvironment.temporaryDirectory("store-index")
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("videos.index").path
        let entries = sampleEntries(count: 50, shards: 2)
        #expect(throws: VideoStoreIndexError.self) {
            try VideoStoreIndex.write(entries: entries + [entries[4]], shardPaths: ["a", "b"], settingsFingerprint: 0, to: path)
        }
        #expect(throws: VideoStoreIndexError.self) {
            try VideoStoreIndex.write(entries: entries, shardPaths: ["a"], settingsFingerprint: 0, to: path)
        }
        try VideoStoreIndex.write(entries: entries, shardPaths: ["a", "b"], settingsFingerprint: 0, to: path)
        let good = try Data(contentsOf: URL(fileURLWithPath: path))
        func opening(_ bytes: Data) -> String {
            try? bytes.write(to: URL(fileURLWithPath: path))
            do {
                let index = try VideoStoreIndex(contentsOf: path)
                try index.verify()
                return "opened"
            } catch {
                return "\(error)"
            }
        }
        #expect(opening(good) == "opened")
        #expect(opening(good.prefix(100)).contains("truncated"))
        #expect(opening(good.prefix(good.count - 8)).contains("expected"))
        #expect(opening(Data(repeating: 7, count: 500)).contains("not a store index"))
        var header = good
        header[20] ^= 1
        #expect(opening(header).contains("header is corrupt"))
        var entry = good
        entry[128 + 48 * 10 + 9] ^= 0x40
        #expect(opening(entry).contains("entries are corrupt"))
        #expect(opening(Data()).contains("truncated"))
        try? FileManager.default.removeItem(atPath: path)
        #expect(throws: VideoStoreIndexError.self) { try VideoStoreIndex(contentsOf: path) }
    }

    @Test func anIndexOfHowTo100MsSizeOpensFastAndIsSmall() throws {
        let folder = try TestEnvironment.temporaryDirectory("store-index")
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("videos.index").path
        // 1.2 M videos with ids as long as HowTo100M's (11 characters), in 4,000 shards.
        let count = 1_200_000
        var entries: [StoreEntry] = []
        entries.reserveCapacity(count)
        for number in 0..<count {
            let id = String((UInt64(number) &* 0x9E37_79B9_7F4A_7C15) >> 8, radix: 36)
            entries.append(StoreEntry(key: id + ".mp4", shard: number / 300, dataOffset: (number % 300) * 3_000_000,
                                      dataLength: 2_900_000, frameCount: 1950, width: 456, height: 256, framesPerSecond: 5,
                                      sourceDurationSeconds: 390))
        }
        let shardPaths = (0..<4000).map { String(format: "shard-%06d.tar", $0) }
        let writeStart = Date()
        try VideoStoreIndex.write(entries: entries, shardPaths: shardPaths, settingsFingerprint: 1, to: path)
        let writeSeconds = Date().timeIntervalSince(writeStart)
        let size = try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
        let openStart = Date()
        let index = try VideoStoreIndex(contentsOf: path)
        let openSeconds = Date().timeIntervalSince(openStart)
        print(String(format: "index of %d videos: %.1f MB, written in %.2f s, opened in %.4f s", count,
                     Double(size) / 1e6, writeSeconds, openSeconds))
        #expect(index.count == count && index.shardPaths.count == 4000)
        #expect(size < 100_000_000)
        #expect(openSeconds < 1)
        for number in stride(from: 0, to: count, by: 99_991) {
            let found = try #require(try index.entry(forKey: entries[number].key))
            #expect(found.shard == number / 300 && found.dataOffset == (number % 300) * 3_000_000)
        }
        #expect(try index.entry(forKey: "not-there.mp4") == nil)
    }
}
