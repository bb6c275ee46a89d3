import ArgumentParser
import Foundation
import MILNCE
import Testing
import TestSupport
import Video
@testable import milnce

/// Every file under `folder` (relative path → bytes), without lock files.
private func files(in folder: URL) throws -> [String: Data] {
    var files: [String: Data] = [:]
    let enumerator = FileManager.default.enumerator(atPath: folder.path)
    while let path = enumerator?.nextObject() as? String {
        var isFolder: ObjCBool = false
        let url = folder.appendingPathComponent(path)
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isFolder), !isFolder.boolValue,
              !path.hasSuffix("prepare.lock") else { continue }
        files[path] = try Data(contentsOf: url)
    }
    return files
}

@Suite(.serialized) struct PrepareCommandTests {
    @Test func optionsParseWithTheDocumentedDefaults() throws {
        let folder = try TestEnvironment.temporaryDirectory("prepare")
        defer { try? FileManager.default.removeItem(at: folder) }
        let csv = folder.appendingPathComponent("train.csv")
        try "video_path\na.mp4\n".write(to: csv, atomically: false, encoding: .utf8)
        let required = ["--train_csv", csv.path, "--video_path", folder.path, "--output", "s"]
        let command = try PrepareCommand.parse(required)
        let options = command.preparationOptions
        #expect(options.transcoding == TranscodingOptions())
        #expect(options.transcoding.framesPerSecond == 5 && options.transcoding.shortSide == 256)
        #expect(options.transcoding.keyframeInterval == 5 && options.transcoding.constantRateFactor == 26)
        let faster = try PrepareCommand.parse(required + ["--fps", "10"])
        #expect(faster.preparationOptions.transcoding.keyframeInterval == 10)
        #expect(options.shardSizeBytes == 1 << 30 && options.part == 0 && options.partCount == 1)
        for (text, bytes) in [("1G", 1 << 30), ("512M", 512 << 20), ("2GiB", 2 << 30), ("1000", 1000), ("1.5 GB", 3 << 29)] {
            let parsed = try PrepareCommand.parse(required + ["--shard_size", text])
            #expect(parsed.parsedShardSize == bytes, "\(text)")
        }
        let part = try PrepareCommand.parse(required + ["--part", "2/3", "--tune", "none", "--threads", "3"])
        #expect(part.preparationOptions.part == 1 && part.preparationOptions.partCount == 3)
        #expect(part.preparationOptions.transcoding.tune == "" && part.preparationOptions.threads == 3)
    }

    @Test(arguments: [["--part", "0/3"], ["--part", "4/3"], ["--part", "x"], ["--shard_size", "big"], ["--shard_size", "-1G"],
                      ["--fps", "0"], ["--short_side", "255"], ["--threads", "0"], ["--preset", "quick"], ["--crf", "70"]])
    func badOptionsAreRejected(_ arguments: [String]) throws {
        let folder = try TestEnvironment.temporaryDirectory("prepare")
        defer { try? FileManager.default.removeItem(at: folder) }
        let csv = folder.appendingPathComponent("train.csv")
        try "video_path\na.mp4\n".write(to: csv, atomically: false, encoding: .utf8)
        #expect(throws: (any Error).self) {
            try PrepareCommand.parse(["--train_csv", csv.path, "--video_path", folder.path, "--output", "s"] + arguments)
        }
    }

    /// `milnce prepare` killed with SIGKILL while it writes shards, then run again, writes the
    /// bytes an uninterrupted run writes.
    @Test func killedAndRunAgainEqualsUninterrupted() throws {
        let folder = try TestEnvironment.temporaryDirectory("prepare-kill")
        defer { try? FileManager.default.removeItem(at: folder) }
        let videos = folder.appendingPathComponent("videos")
        var rows = ["video_path"]
        for number in 0..<10 {
            try TestVideos.write(to: videos.appendingPathComponent("clip\(number).mkv"), seconds: 8, framesPerSecond: 25,
                                 width: 192, height: 144, seed: number)
            rows.append("clip\(number).mkv")
        }
        let csv = folder.appendingPathComponent("train.csv")
        try (rows.joined(separator: "\n") + "\n").write(to: csv, atomically: false, encoding: .utf8)
        func arguments(_ output: String, threads: Int) -> [String] {
            ["prepare", "--train_csv", csv.path, "--video_path", videos.path, "--output",
             folder.appendingPathComponent(output).path, "--shard_size", "40K", "--threads", "\(threads)"]
        }
        let steady = try TrainingFixture.run(arguments("steady", threads: 2), log: folder.appendingPathComponent("steady.log"))
        #expect(steady.status == 0, "\(steady.output)")
        #expect(steady.output.contains("store: 10 videos") && steady.output.contains("complete: train with --video_store"))
        #expect(steady.output.contains("per core-hour"))

        let killedFolder = folder.appendingPathComponent("killed")
        let victim = try TrainingFixture.launch(arguments("killed", threads: 1), log: folder.appendingPathComponent("killed.log"))
        let reached = TrainingFixture.waitUntil(timeout: 300) {
            FileManager.default.fileExists(atPath: killedFolder.appendingPathComponent("shard-000001.json").path)
        }
        kill(victim.processIdentifier, SIGKILL)
        victim.waitUntilExit()
        #expect(reached, "no second shard was completed")
        #expect(victim.terminationReason == .uncaughtSignal)
        #expect(!FileManager.default.fileExists(atPath: killedFolder.appendingPathComponent("videos.index").path),
                "the run ended before it was killed: make its videos larger")
        let again = try TrainingFixture.run(arguments("killed", threads: 2), log: folder.appendingPathComponent("again.log"))
        #expect(again.status == 0, "\(again.output)")
        #expect(again.output.contains("resumed: "))
        let expected = try files(in: folder.appendingPathComponent("steady"))
        let actual = try files(in: killedFolder)
        #expect(expected.keys.sorted() == actual.keys.sorted())
        for (path, bytes) in expected {
            #expect(actual[path] == bytes, "\(path) differs")
        }
    }

    /// Training reads the store in place of the video folder, and a run that is given both is refused.
    @Test func trainingFromTheStoreRunsEndToEnd() throws {
        let data = try TrainingFixture.dataset()
        let folder = try TestEnvironment.temporaryDirectory("train-store")
        defer { try? FileManager.default.removeItem(at: folder) }
        let store = folder.appendingPathComponent("store")
        let prepared = try TrainingFixture.run(["prepare", "--train_csv", data.trainList.path, "--video_path", data.videoRoot.path,
                                                "--output", store.path, "--fps", "4", "--short_side", "32", "--threads", "2"],
                                               log: folder.appendingPathComponent("prepare.log"))
        #expect(prepared.status == 0, "\(prepared.output)")
        var arguments = TrainingFixture.arguments(data, run: folder, name: "store", epochs: 1)
        let both = try TrainingFixture.run(arguments + ["--video_store", store.path], log: folder.appendingPathComponent("both.log"))
        #expect(both.status != 0 && both.output.contains("not both"))
        let pathFlag = try #require(arguments.firstIndex(of: "--video_path"))
        arguments.replaceSubrange(pathFlag...(pathFlag + 1), with: ["--video_store", store.path])
        let trained = try TrainingFixture.run(arguments, log: folder.appendingPathComponent("train.log"))
        #expect(trained.status == 0, "\(trained.output)")
        let log = try String(contentsOf: folder.appendingPathComponent("log/store.txt"), encoding: .utf8)
        print(log.split(separator: "\n").suffix(3).joined(separator: "\n"))
        let lines = log.split(separator: "\n").filter { $0.contains("Training loss") }
        #expect(!lines.isEmpty)
        #expect(lines.allSatisfy { $0.contains("skipped samples: 0") })
        #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("checkpoint/store/epoch0001.pth.tar").path))
    }
}
