import Foundation
import Testing
import TestSupport
@testable import MILNCE

/// A generated HowTo100M-like dataset: a train list and a caption folder with good, missing,
/// empty, header-only, malformed, non-UTF-8 and unreadable caption files.
struct GeneratedDataset {
    let folder: URL
    let trainList: TrainList
    let captionRoot: String
    /// The status each video's caption file should get.
    let expectedStatus: [CaptionIndex.VideoStatus]

    init(videos: Int, seed: UInt64, maxCaptions: Int = 40) throws {
        folder = try TestEnvironment.temporaryDirectory("dataset")
        captionRoot = folder.appendingPathComponent("captions").path
        try FileManager.default.createDirectory(atPath: captionRoot, withIntermediateDirectories: true)
        var random = RandomCaptionFiles(seed: seed)
        var paths: [String] = []
        var statuses: [CaptionIndex.VideoStatus] = []
        for video in 0..<videos {
            let id = "v\(video)_\(random.csv.generator.uniformInt(in: 0...999))"
            paths.append(id + [".mp4", ".webm", ".mkv"][video % 3])
            let file = captionRoot + "/" + id + ".csv"
            let kind = random.csv.generator.uniformInt(in: 0...99)
            var status = CaptionIndex.VideoStatus.ok
            var content: String?
            switch kind {
            case 0..<4: status = .missing
            case 4..<6: status = .empty; content = ""
            case 6..<8: status = .empty; content = "start,end,text\n"
            case 8..<10: status = .malformed; content = "start,end,text\n1,2,\"unterminated\n"
            case 10..<12: status = .malformed; content = "start,end,text\n1,x,a\n"
            case 12..<13: status = .malformed; content = "start,finish,text\n1,2,a\n"
            case 13..<14:
                status = .unreadable
                try FileManager.default.createDirectory(atPath: file, withIntermediateDirectories: true)
            case 14..<15:
                status = .malformed
                try (Array("start,end,text\n1,2,".utf8) + [0xFF, 0x0A]).withUnsafeBytes {
                    try Data($0).write(to: URL(fileURLWithPath: file))
                }
            default:
                var text = random.file()
                // Longer files, like HowTo100M's (about 100 captions per video).
                let extra = text.contains("start,end,text") ? random.csv.generator.uniformInt(in: 0...maxCaptions) : 0
                for row in 0..<extra {
                    text += "\(row * 4).5,\(row * 4 + 3),\(random.csv.field(nonBlank: true))\n"
                }
                content = text
            }
            if let content { try content.write(toFile: file, atomically: false, encoding: .utf8) }
            statuses.append(status)
        }
        trainList = TrainList(videoPaths: paths)
        expectedStatus = statuses
    }

    func remove() {
        try? FileManager.default.removeItem(at: folder)
    }
}

@Suite(.serialized) struct CaptionIndexTests {
    @Test func buildThenOpenGivesTheCaptionsOfTheCSVFiles() throws {
        let dataset = try GeneratedDataset(videos: 700, seed: 41)
        defer { dataset.remove() }
        let indexPath = dataset.folder.appendingPathComponent("captions.index").path
        var reports: [CaptionIndexBuildProgress] = []
        let summary = try CaptionIndex.build(trainList: dataset.trainList, captionRoot: dataset.captionRoot, to: indexPath,
                                             workers: 3, videosPerBatch: 64) { reports.append($0) }
        #expect(reports.count == (700 + 63) / 64)
        #expect(reports.map(\.videosDone) == reports.map(\.videosDone).sorted())
        #expect(reports.last?.videosDone == 700 && reports.last?.videoCount == 700)
        #expect(reports.last?.captionCount == summary.captionCount)

        let index = try CaptionIndex(contentsOf: indexPath, verification: .full, expecting: dataset.trainList)
        #expect(index.videoCount == 700)
        #expect(index.captionCount == summary.captionCount)
        #expect(index.captionRoot == dataset.captionRoot)
        var captions = 0
        for video in 0..<index.videoCount {
            let status = try index.status(ofVideo: video)
            #expect(status == dataset.expectedStatus[video], "video \(video)")
            #expect(try index.videoPath(ofVideo: video) == dataset.trainList.videoPaths[video])
            let indexed = try index.captions(ofVideo: video)
            guard status == .ok else {
                #expect(indexed.count == 0)
                continue
            }
            let parsed = try CaptionFile.read(contentsOf: dataset.trainList.captionPath(at: video, captionRoot: dataset.captionRoot))
            #expect(indexed.count == parsed.count)
            for caption in 0..<parsed.count {
                #expect(try indexed.startSeconds(at: caption).bitPattern == parsed.startTimes[caption].bitPattern)
                #expect(try indexed.endSeconds(at: caption).bitPattern == parsed.endTimes[caption].bitPattern)
                #expect(try codePoints(indexed.text(at: caption)) == codePoints(parsed.text(at: caption)))
            }
            captions += parsed.count
        }
        #expect(captions == index.captionCount)
        #expect(captions > 10_000)

        // Failures: one per failed video, with the caption file in the message.
        let failures = index.failures
        let failed = (0..<700).filter { dataset.expectedStatus[$0] != .ok }
        #expect(failures.map(\.video) == failed)
        #expect(failures.map(\.status) == failed.map { dataset.expectedStatus[$0] })
        for failure in failures {
            #expect(failure.message.contains(dataset.trainList.captionPath(at: failure.video, captionRoot: dataset.captionRoot)))
        }
        var expectedCounts: [CaptionIndex.VideoStatus: Int] = [:]
        for status in dataset.expectedStatus { expectedCounts[status, default: 0] += 1 }
        #expect(index.videoCountsByStatus == expectedCounts)
        #expect(summary.videoCountsByStatus == expectedCounts)
        for status in CaptionIndex.VideoStatus.allCases { #expect(expectedCounts[status, default: 0] > 0, "\(status)") }
        #expect("\(summary)".hasPrefix("\(captions) captions of 700 videos in "), "\(summary)")
        #expect("\(summary)".contains("without captions: \(expectedCounts[.missing]!) missing, "), "\(summary)")
        #expect(throws: CaptionIndexError.self) { try index.captions(ofVideo: 700) }
        #expect(throws: CaptionIndexError.self) { try index.status(ofVideo: -1) }
        #expect(throws: CaptionRangeError.self) { try index.captions(ofVideo: failed[0]).text(at: 0) }
    }

    @Test func samplingFromTheIndexEqualsSamplingFromTheFiles() throws {
        let dataset = try GeneratedDataset(videos: 200, seed: 43)
        defer { dataset.remove() }
        let indexPath = dataset.folder.appendingPathComponent("captions.index").path
        try CaptionIndex.build(trainList: dataset.trainList, captionRoot: dataset.captionRoot, to: indexPath)
        let index = try CaptionIndex(contentsOf: indexPath)
        let tokenizer = Tokenizer(words: ["a", "b", "Z", "7", "é", "中", "x", "y", "nan", "True", "0"])
        for candidates in [1, 4] {
            let sampler = try ClipSampler(index: index, tokenizer: tokenizer,
                                          options: ClipSamplingOptions(numCandidates: candidates, maxWords: 6))
            for video in 0..<index.videoCount {
                var fromIndex = SplitMix64(seed: 1, epoch: 0, rank: 0, sample: video)
                var fromFile = fromIndex
                guard dataset.expectedStatus[video] == .ok else {
                    #expect(throws: ClipSamplingError.self) { try sampler.sample(video: video, using: &fromIndex) }
                    continue
                }
                let file = try CaptionFile.read(contentsOf: dataset.trainList.captionPath(at: video, captionRoot: dataset.captionRoot))
                #expect(try sampler.sample(video: video, using: &fromIndex) == sampler.sample(from: file, using: &fromFile))
            }
        }
    }

    @Test func corruptOrTruncatedIndexFilesGiveTypedErrors() throws {
        let dataset = try GeneratedDataset(videos: 40, seed: 47, maxCaptions: 3)
        defer { dataset.remove() }
        let indexPath = dataset.folder.appendingPathComponent("captions.index").path
        try CaptionIndex.build(trainList: dataset.trainList, captionRoot: dataset.captionRoot, to: indexPath)
        let good = try Data(contentsOf: URL(fileURLWithPath: indexPath))
        let corruptPath = dataset.folder.appendingPathComponent("corrupt.index").path
        let tokenizer = Tokenizer(words: ["a", "b"])

        /// Opens the file; with `.structure` it may open, and then reading every video must work
        /// or throw, never crash.
        func check(_ bytes: Data, _ what: String) throws {
            try bytes.write(to: URL(fileURLWithPath: corruptPath))
            #expect(throws: CaptionIndexError.self, "\(what) with full verification") {
                _ = try CaptionIndex(contentsOf: corruptPath, verification: .full)
            }
            do {
                let index = try CaptionIndex(contentsOf: corruptPath)
                let sampler = try ClipSampler(index: index, tokenizer: tokenizer, options: ClipSamplingOptions(numCandidates: 3))
                for video in 0..<index.videoCount {
                    var generator = SplitMix64(seed: 0, epoch: 0, rank: 0, sample: video)
                    _ = try? sampler.sample(video: video, using: &generator)
                    _ = try? index.videoPath(ofVideo: video)
                }
                _ = index.failures
            } catch {
                #expect(error is CaptionIndexError, "\(what): \(error)")
            }
        }
        var generator = SplitMix64(seed: 8)
        // Truncations, including inside the header, and extra bytes.
        for length in [0, 7, 8, 100, 255, 256, 257, good.count / 2, good.count - 8, good.count - 1] {
            try check(good.prefix(length), "truncated to \(length) bytes")
        }
        try check(good + Data([0]), "one extra byte")
        // Every header byte, then random bytes of the rest, flipped.
        var positions = Array(0..<256)
        for _ in 0..<600 { positions.append(generator.uniformInt(in: 256...(good.count - 1))) }
        for position in positions {
            var bytes = good
            bytes[position] ^= UInt8(1 << generator.uniformInt(in: 0...7))
            try check(bytes, "byte \(position) flipped")
        }
        // Another version of the format.
        var newer = good
        let other = UInt8(CaptionIndexLayout.version + 1)
        newer[CaptionIndexLayout.versionOffset] = other
        try newer.write(to: URL(fileURLWithPath: corruptPath))
        #expect {
            try CaptionIndex(contentsOf: corruptPath)
        } throws: {
            ($0 as? CaptionIndexError)?.reason == .unsupportedVersion(found: UInt32(other), supported: CaptionIndexLayout.version)
        }
        #expect(throws: CaptionIndexError.self) {
            try CaptionIndex(contentsOf: dataset.folder.appendingPathComponent("absent.index").path)
        }
    }

    @Test func anIndexOfAnotherTrainListIsRejected() throws {
        let dataset = try GeneratedDataset(videos: 30, seed: 53, maxCaptions: 2)
        defer { dataset.remove() }
        let indexPath = dataset.folder.appendingPathComponent("captions.index").path
        try CaptionIndex.build(trainList: dataset.trainList, captionRoot: dataset.captionRoot, to: indexPath)
        var reordered = dataset.trainList.videoPaths
        reordered.swapAt(0, 1)
        for other in [TrainList(videoPaths: reordered), TrainList(videoPaths: Array(reordered.dropLast()))] {
            #expect {
                try CaptionIndex(contentsOf: indexPath, expecting: other)
            } throws: {
                if case .trainListMismatch = ($0 as? CaptionIndexError)?.reason { return true }
                return false
            }
        }
        // Rebuilding replaces the file; a build into a folder that does not exist fails cleanly.
        try CaptionIndex.build(trainList: TrainList(videoPaths: reordered), captionRoot: dataset.captionRoot, to: indexPath)
        #expect(try CaptionIndex(contentsOf: indexPath, expecting: TrainList(videoPaths: reordered)).videoCount == 30)
        #expect(throws: CaptionIndexError.self) {
            try CaptionIndex.build(trainList: dataset.trainList, captionRoot: dataset.captionRoot,
                                   to: "/proc/no-such-folder/captions.index")
        }
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dataset.folder.path)
        #expect(leftovers.sorted() == ["captions", "captions.index"])
    }

    @Test func anEmptyTrainListBuildsAnEmptyIndex() throws {
        let folder = try TestEnvironment.temporaryDirectory("index")
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("empty.index").path
        let summary = try CaptionIndex.build(trainList: TrainList(videoPaths: []), captionRoot: folder.path, to: path)
        #expect(summary.videoCount == 0 && summary.captionCount == 0)
        let index = try CaptionIndex(contentsOf: path, verification: .full, expecting: TrainList(videoPaths: []))
        #expect(index.videoCount == 0 && index.failures.isEmpty)
    }
}
