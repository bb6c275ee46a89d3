import Foundation
import Glibc
import Testing
import TestSupport
@testable import MILNCE

/// The caption index follows its caption files, and says what it holds in sentences.
@Suite(.serialized) struct CaptionIndexFreshnessTests {
    /// Opens the index through `openOrBuild`, collecting what it reports.
    private struct Opener {
        let path: String
        let trainList: TrainList
        let captionRoot: String

        func open(trainList: TrainList? = nil, captionRoot: String? = nil) throws -> (CaptionIndex, [String]) {
            var messages: [String] = []
            let index = try CaptionIndex.openOrBuild(at: path, trainList: trainList ?? self.trainList,
                                                     captionRoot: captionRoot ?? self.captionRoot, statThreads: 4,
                                                     workers: 2) { messages.append($0) }
            return (index, messages)
        }

        /// The index file is byte for byte the one a full build of the same files writes.
        func expectSameAsAFullBuild(_ folder: URL, sourceLocation: SourceLocation = #_sourceLocation) throws {
            let fresh = folder.appendingPathComponent("fresh.index").path
            try CaptionIndex.build(trainList: trainList, captionRoot: captionRoot, to: fresh, workers: 2)
            let same = try Data(contentsOf: URL(fileURLWithPath: path)) == Data(contentsOf: URL(fileURLWithPath: fresh))
            #expect(same, "the updated index differs from a full build", sourceLocation: sourceLocation)
        }
    }

    /// Sets the access and modification times of `path` back to `time` (its status-change time still moves).
    private func setModificationTime(_ path: String, _ time: timespec) {
        var times = [time, time]
        #expect(utimensat(AT_FDCWD, path, &times, 0) == 0)
    }

    private func modificationTime(_ path: String) -> timespec {
        var status = stat()
        _ = stat(path, &status)
        return status.st_mtim
    }

    @Test func theIndexIsUpdatedWhenCaptionFilesAreAddedEditedOrRemoved() throws {
        let dataset = try GeneratedDataset(videos: 150, seed: 61, maxCaptions: 4)
        defer { dataset.remove() }
        let opener = Opener(path: dataset.folder.appendingPathComponent("run/captions.index").path,
                            trainList: dataset.trainList, captionRoot: dataset.captionRoot)
        var (index, messages) = try opener.open()
        #expect(messages.first == "building the caption index \(opener.path) from the captions of 150 videos in "
                + dataset.captionRoot)
        #expect(messages.contains { $0.hasPrefix("caption index: ") && $0.contains("150 videos") })
        (index, messages) = try opener.open()
        #expect(messages.first?.hasPrefix("caption index \(opener.path) is up to date (150 caption files checked in ")
                == true, "\(messages)")

        // A caption file added after the first run.
        let missing = try #require(dataset.expectedStatus.firstIndex(of: .missing))
        let added = dataset.trainList.captionPath(at: missing, captionRoot: dataset.captionRoot)
        try "start,end,text\n1,9,first\n".write(toFile: added, atomically: false, encoding: .utf8)
        (index, messages) = try opener.open()
        let update = "updating the caption index \(opener.path): 1 caption file has changed since the index was built: "
            + "1 added (the first: \(added), added); reading it again (150 caption files checked in "
        #expect(messages.first?.hasPrefix(update) == true, "\(messages)")
        #expect(messages.contains { $0.contains("1 caption files read, 149 unchanged ones copied") }, "\(messages)")
        #expect(try index.status(ofVideo: missing) == .ok)
        #expect(try index.captions(ofVideo: missing).text(at: 0) == "first")
        try opener.expectSameAsAFullBuild(dataset.folder)

        // The same file edited in place to the same size, its modification time put back.
        let before = modificationTime(added)
        usleep(50_000)  // past the file system's timestamp granularity
        try "start,end,text\n1,9,fires\n".write(toFile: added, atomically: false, encoding: .utf8)
        setModificationTime(added, before)
        (index, messages) = try opener.open()
        #expect(messages.first?.contains("1 caption file has changed since the index was built: 1 edited or replaced") == true,
                "\(messages)")
        #expect(try index.captions(ofVideo: missing).text(at: 0) == "fires")
        try opener.expectSameAsAFullBuild(dataset.folder)

        // Two files removed and one replaced.
        let good = dataset.expectedStatus.indices.filter { dataset.expectedStatus[$0] == .ok }
        for video in good.prefix(2) {
            try FileManager.default.removeItem(atPath: dataset.trainList.captionPath(at: video, captionRoot: dataset.captionRoot))
        }
        let replaced = dataset.trainList.captionPath(at: good[2], captionRoot: dataset.captionRoot)
        try "start,end,text\n0,3,replaced\n".write(toFile: replaced + ".new", atomically: false, encoding: .utf8)
        #expect(rename(replaced + ".new", replaced) == 0)
        (index, messages) = try opener.open()
        #expect(messages.first?.contains("3 caption files have changed since the index was built: 2 removed, 1 edited or replaced")
                == true, "\(messages)")
        #expect(try index.status(ofVideo: good[0]) == .missing && index.status(ofVideo: good[1]) == .missing)
        #expect(try index.captions(ofVideo: good[2]).text(at: 0) == "replaced")
        try opener.expectSameAsAFullBuild(dataset.folder)
        (_, messages) = try opener.open()
        #expect(messages.first?.contains("is up to date") == true, "\(messages)")
    }

    @Test func trainingSeesACaptionFileAddedAfterItsFirstRun() throws {
        let dataset = try GeneratedDataset(videos: 150, seed: 61, maxCaptions: 2)
        defer { dataset.remove() }
        var configuration = TrainingConfiguration()
        configuration.captionRoot = dataset.captionRoot
        configuration.checkpointRoot = dataset.folder.appendingPathComponent("checkpoint").path
        configuration.checkpointDir = "run"
        configuration.logRoot = dataset.folder.appendingPathComponent("log").path
        configuration.verbose = false
        let trainer = Trainer(configuration: configuration, world: .single)
        let missing = try #require(dataset.expectedStatus.firstIndex(of: .missing))
        #expect(try trainer.openCaptionIndex(trainList: dataset.trainList).status(ofVideo: missing) == .missing)
        try "start,end,text\n2,8,late caption\n".write(
            toFile: dataset.trainList.captionPath(at: missing, captionRoot: dataset.captionRoot), atomically: false,
            encoding: .utf8)
        let index = try trainer.openCaptionIndex(trainList: dataset.trainList)
        #expect(try index.status(ofVideo: missing) == .ok)
        #expect(try index.captions(ofVideo: missing).count == 1)
    }

    @Test func anIndexOfAnotherListOrFolderOrAnUnreadableOneIsRebuilt() throws {
        let dataset = try GeneratedDataset(videos: 40, seed: 62, maxCaptions: 2)
        defer { dataset.remove() }
        let opener = Opener(path: dataset.folder.appendingPathComponent("captions.index").path,
                            trainList: dataset.trainList, captionRoot: dataset.captionRoot)
        _ = try opener.open()
        let shorter = TrainList(videoPaths: Array(dataset.trainList.videoPaths.dropLast()))
        var (index, messages) = try opener.open(trainList: shorter)
        #expect(messages.first == "rebuilding the caption index \(opener.path): it was built from another train list "
                + "(40 videos, now 39)")
        #expect(index.videoCount == 39)
        (index, messages) = try opener.open(trainList: shorter, captionRoot: dataset.captionRoot + "/")
        #expect(messages.first == "rebuilding the caption index \(opener.path): it was built from the captions in "
                + "\(dataset.captionRoot), not \(dataset.captionRoot)/")
        try Data("not an index".utf8).write(to: URL(fileURLWithPath: opener.path))
        (index, messages) = try opener.open()
        #expect(messages.first?.hasPrefix("rebuilding the caption index, which cannot be used: opening caption index "
                                          + "\(opener.path): ") == true, "\(messages)")
        #expect(index.videoCount == 40)
    }

    @Test func failuresAreSentences() throws {
        let dataset = try GeneratedDataset(videos: 80, seed: 63, maxCaptions: 2)
        defer { dataset.remove() }
        let path = dataset.folder.appendingPathComponent("captions.index").path
        try CaptionIndex.build(trainList: dataset.trainList, captionRoot: dataset.captionRoot, to: path)
        let index = try CaptionIndex(contentsOf: path)
        let failures = index.failures
        let missing = try #require(failures.first { $0.status == .missing })
        let captionFile = dataset.trainList.captionPath(at: missing.video, captionRoot: dataset.captionRoot)
        #expect("\(missing)" == "video \(missing.video) (\(dataset.trainList.videoPaths[missing.video])) has no caption "
                + "file: reading CSV file \(captionFile): no such file")
        for failure in failures {
            let sentence = "\(failure)"
            #expect(!sentence.contains("Failure(") && !sentence.contains("MILNCE.") && !sentence.contains("status:"),
                    "\(sentence)")
            #expect(sentence.hasPrefix("video \(failure.video) (") && sentence.contains(" has "), "\(sentence)")
        }
        let summary = try #require(index.failureSummary())
        let counts = index.videoCountsByStatus
        #expect(summary.hasPrefix("\(failures.count) of 80 videos have no usable captions (\(counts[.missing] ?? 0) missing, "))
        #expect(summary.contains("and are replaced by other videos when drawn; the first 3: \(failures[0]); \(failures[1]); "))
    }

    @Test func captionsWithOddTimesAreCountedAndReported() throws {
        let folder = try TestEnvironment.temporaryDirectory("odd-times")
        defer { try? FileManager.default.removeItem(at: folder) }
        let root = folder.appendingPathComponent("captions").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let files = ["a": "start,end,text\n0,5,fine\n6,9,fine too\n",
                     "b": "start,end,text\n1,2,fine\n5.5,3,backwards\n-2,4,early\n",
                     "c": "start,end,text\n0,-1,both\n"]
        for (name, text) in files { try text.write(toFile: "\(root)/\(name).csv", atomically: false, encoding: .utf8) }
        let trainList = TrainList(videoPaths: ["a.mp4", "b.mp4", "c.mp4"])
        var messages: [String] = []
        let index = try CaptionIndex.openOrBuild(at: folder.appendingPathComponent("captions.index").path,
                                                 trainList: trainList, captionRoot: root) { messages.append($0) }
        #expect(index.timeAnomalies == CaptionTimeAnomalies(
            reversedCount: 2, firstReversed: CaptionReference(video: 1, caption: 1),
            negativeCount: 2, firstNegative: CaptionReference(video: 1, caption: 2)))
        let summary = try #require(index.timeAnomalySummary())
        #expect(summary.hasPrefix("caption times: 2 captions start after they end (the first: caption 1, counted from 0, "
                                  + "of \(root)/b.csv: 5.5 to 3.0 s); 2 captions have a negative start or end (the first: "
                                  + "caption 2, counted from 0, of \(root)/b.csv: -2.0 to 4.0 s); they are kept"), "\(summary)")
        #expect(messages.contains(summary))
        // Sampling still works on them, as the reference's code does.
        let sampler = try ClipSampler(index: index, tokenizer: Tokenizer(words: ["fine"]), options: ClipSamplingOptions())
        var generator = SplitMix64(seed: 1)
        _ = try sampler.sample(video: 1, using: &generator)
    }

    @Test func videoPathsWithADotBeforeTheExtensionAreNamed() throws {
        let list = TrainList(videoPaths: ["my.video.mp4", "a/b.mp4", "v1.2/c.mp4", "plain", "d.webm"])
        #expect(list.videosWithDottedNames == [0, 2])
        let warning = try #require(list.dottedNameWarning(captionRoot: "/c"))
        #expect(warning.hasPrefix("2 of 5 video paths have a '.' before their extension (the first: my.video.mp4, "
                                  + "whose captions are read from /c/my.csv)"), "\(warning)")
        #expect(TrainList(videoPaths: ["a.mp4", "x/y.mkv"]).dottedNameWarning(captionRoot: "/c") == nil)
    }
}
