import Foundation
@testable import MILNCE
import Testing
import TestSupport

/// NumPy's window starts for the cases of a JSON file: the reference's YouCook2/MSR-VTT formula
/// (`repr` of each float) and its HMDB-51 formula (integers, on the video padded to a window).
private let numpyWindowsScript = """
import json, sys
import numpy as np
cases = json.load(open(sys.argv[1]))
clips = [[repr(float(v)) for v in np.linspace(s, max(s, e - ns - 0.4), c)] for s, e, ns, c in cases['clips']]
frames = [[int(v) for v in np.linspace(0, max(n, t) - t, c, dtype=int)] for n, t, c in cases['frames']]
print(json.dumps({'clips': clips, 'frames': frames}))
"""

/// What the reference's loaders make of the three CSV files, each read by `pd.read_csv` and its
/// values taken as the loaders take them (`csv[column].values[idx]`): paths, captions, times and
/// splits.
private let referenceDatasetsScript = """
import json, os, sys
import pandas as pd
youcook_csv, msrvtt_csv, hmdb_csv, root = sys.argv[1:5]
csv = pd.read_csv(youcook_csv)
youcook = []
for idx in range(len(csv)):
    video_id, task = csv['video_id'].values[idx], int(csv['task'].values[idx])
    youcook.append([os.path.join(root, 'validation', str(task), video_id + '.mp4'),
                    os.path.join(root, 'validation', str(task), video_id + '.webm'),
                    str(csv['text'].values[idx]), int(csv['start'].values[idx]), int(csv['end'].values[idx])])
csv = pd.read_csv(msrvtt_csv)
msrvtt = [[os.path.join(root, csv['video_id'].values[idx] + '.mp4'), str(csv['sentence'].values[idx])]
          for idx in range(len(csv))]
csv = pd.read_csv(hmdb_csv)
hmdb = []
for idx in range(len(csv)):
    label = csv['label'].values[idx]
    hmdb.append([os.path.join(root, label[:-5], csv['video_id'].values[idx]), label[:-5],
                 [int(csv[s].values[idx]) for s in ['split1', 'split2', 'split3']]])
print(json.dumps({'youcook': youcook, 'msrvtt': msrvtt, 'hmdb': hmdb}))
"""

@Suite("Evaluation datasets and windows")
struct EvaluationDatasetTests {
    // MARK: Windows

    @Test("window starts equal NumPy's linspace over YouCook2 rows and edge cases")
    func windowStartsMatchNumPy() throws {
        let csv = try EvaluationFixtures.sharedCSV("validation_youcook.csv")
        let items = try YouCook2Dataset.items(csv: csv, videoRoot: URL(fileURLWithPath: "/videos"))
        var clipCases: [[Double]] = []
        for item in items.prefix(300) {
            guard case .seconds(let start, let end) = item.timeRange else { continue }
            for (seconds, count) in [(3.2, 4), (3.2, 10), (1.6, 3), (16.0 / 3.0, 7)] {
                clipCases.append([start, end, seconds, Double(count)])
            }
        }
        // Stretches shorter than a window, empty, reversed, fractional; one and two windows.
        for (start, end) in [(10.0, 12.0), (5.0, 5.0), (30.0, 20.0), (0.0, 3.6), (0.0, 3.7), (1.25, 9.75),
                             (0.0, 1e-300), (123456.0, 123999.0)] {
            for count in [1, 2, 5] { clipCases.append([start, end, 3.2, Double(count)]) }
        }
        var frameCases: [[Int]] = []
        for frames in [0, 1, 7, 8, 9, 15, 16, 17, 100, 251, 1003] {
            for window in [8, 16, 32] {
                for count in [1, 2, 4, 10] { frameCases.append([frames, window, count]) }
            }
        }
        let scratch = try TestEnvironment.temporaryDirectory("windows")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let casesFile = try EvaluationOracle.writeJSON(["clips": clipCases, "frames": frameCases], named: "cases.json",
                                                       in: scratch)
        let output = try EvaluationOracle.run(numpyWindowsScript, arguments: [casesFile.path])
        let expected = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
        let clips = try #require(expected["clips"] as? [[String]])
        let frames = try #require(expected["frames"] as? [[Int]])
        try #require(clips.count == clipCases.count && frames.count == frameCases.count)

        var mismatches = 0
        for (values, numpy) in zip(clipCases, clips) {
            let ours = EvaluationWindows.clipStartSeconds(startSeconds: values[0], endSeconds: values[1],
                                                          windowSeconds: values[2], count: Int(values[3]))
            let reference = numpy.compactMap(Double.init)
            // Bit-for-bit: the seek positions are printed on ffmpeg's command line.
            if ours.map(\.bitPattern) != reference.map(\.bitPattern) {
                mismatches += 1
                Issue.record("clip \(values): ours \(ours), NumPy \(numpy)")
            }
            if mismatches > 5 { break }
        }
        for (values, numpy) in zip(frameCases, frames) {
            let ours = EvaluationWindows.frameStarts(videoFrameCount: values[0], windowFrames: values[1], count: values[2])
            #expect(ours == numpy, "frames \(values)")
        }
    }

    @Test("linspace keeps NumPy's special cases")
    func linspaceSpecialCases() {
        #expect(EvaluationWindows.linspace(from: 3, to: 9, count: 0).isEmpty)
        #expect(EvaluationWindows.linspace(from: 3, to: 9, count: 1) == [3])
        #expect(EvaluationWindows.linspace(from: 3, to: 9, count: 2) == [3, 9])
        #expect(EvaluationWindows.linspace(from: 4, to: 4, count: 3) == [4, 4, 4])
        #expect(EvaluationWindows.linspace(from: 0, to: 1, count: 4).last == 1)
    }

    // MARK: Datasets

    @Test("the three CSV files give the reference's paths, captions, times and splits")
    func datasetsMatchPandas() throws {
        let youcookCSV = try EvaluationFixtures.sharedCSV("validation_youcook.csv")
        let msrvttCSV = try EvaluationFixtures.sharedCSV("msrvtt_test.csv")
        let hmdbCSV = try EvaluationFixtures.sharedCSV("hmdb51.csv")
        let root = URL(fileURLWithPath: "/data/videos")
        let youcook = try YouCook2Dataset.items(csv: youcookCSV, videoRoot: root)
        let msrvtt = try MSRVTTDataset.items(csv: msrvttCSV, videoRoot: root)
        let hmdb = try HMDBDataset.videos(csv: hmdbCSV, videoRoot: root)
        #expect(youcook.count == 3350)
        #expect(msrvtt.count == 1000)
        #expect(hmdb.count == 6766)
        #expect(HMDBDataset.classNames(of: hmdb).count == 51)

        try TestEnvironment.requireOracle("pandas")
        let output = try EvaluationOracle.run(referenceDatasetsScript,
                                              arguments: [youcookCSV.path, msrvttCSV.path, hmdbCSV.path, root.path])
        let expected = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
        let youcookRows = try #require(expected["youcook"] as? [[Any]])
        let msrvttRows = try #require(expected["msrvtt"] as? [[Any]])
        let hmdbRows = try #require(expected["hmdb"] as? [[Any]])
        try #require(youcookRows.count == youcook.count && msrvttRows.count == msrvtt.count && hmdbRows.count == hmdb.count)

        var differences: [String] = []
        for (item, row) in zip(youcook, youcookRows) {
            let (start, end): (Double, Double)
            if case .seconds(let first, let last) = item.timeRange { (start, end) = (first, last) } else { (start, end) = (-1, -1) }
            let same = item.candidatePaths.first?.path == row[0] as? String
                && item.candidatePaths.last?.path == row[1] as? String && item.text == row[2] as? String
                && start == (row[3] as? Int).map(Double.init) && end == (row[4] as? Int).map(Double.init)
            if !same { differences.append("youcook row \(item.row): \(item) vs \(row)") }
        }
        for (item, row) in zip(msrvtt, msrvttRows) {
            if item.candidatePaths != [URL(fileURLWithPath: row[0] as? String ?? "")] || item.text != row[1] as? String
                || item.timeRange != .wholeVideo {
                differences.append("msrvtt row \(item.row): \(item) vs \(row)")
            }
        }
        for (video, row) in zip(hmdb, hmdbRows) {
            let splits = (row[2] as? [Int] ?? []).map { $0 == 1 ? SplitRole.train : $0 == 2 ? .test : .unused }
            if video.path.path != row[0] as? String || video.className != row[1] as? String || video.splits != splits {
                differences.append("hmdb row \(video.row): \(video) vs \(row)")
            }
        }
        #expect(differences.isEmpty, "\(differences.count) rows differ, first: \(differences.prefix(3))")
    }

    @Test("HMDB-51 labels lose exactly their last five characters", arguments: [
        ("brush_hair_test", "brush_hair"), ("a_test", "a"), ("_test", ""), ("test", ""), ("", ""),
        ("é_x_test", "é_x"), ("ride_horse_test", "ride_horse"),
    ])
    func hmdbClassNames(label: String, expected: String) {
        #expect(HMDBDataset.className(ofLabel: label) == expected)
    }

    @Test("HMDB-51 rows whose label lacks '_test' are left out, counted and named")
    func hmdbRowsWithoutTheSuffix() throws {
        let scratch = try TestEnvironment.temporaryDirectory("hmdb-csv")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let csv = scratch.appendingPathComponent("hmdb51.csv")
        try Data("""
        video_id,label,split1,split2,split3
        a.avi,brush_hair_test,1,1,2
        b.avi,brush_hair,1,2,2
        c.avi,ride_horse_test,2,1,1
        d.avi,ab,2,2,1

        """.utf8).write(to: csv)
        let videos = try HMDBDataset.videos(csv: csv, videoRoot: scratch)
        #expect(videos.map(\.videoID) == ["a.avi", "c.avi"])
        #expect(videos.map(\.className) == ["brush_hair", "ride_horse"])
        let rows = try HMDBDataset.rows(csv: csv, videoRoot: scratch)
        #expect(rows.videos == videos)
        #expect(rows.skippedRows == [HMDBSkippedRow(row: 1, line: 3, label: "brush_hair"),
                                     HMDBSkippedRow(row: 3, line: 5, label: "ab")])
        let message = try #require(rows.skippedRowsDescription)
        #expect(message.contains(csv.path) && message.contains("2 of 4 rows are left out"))
        #expect(message.contains("line 3, label 'brush_hair'") && message.contains("'_test'"))

        try Data("video_id,label,split1,split2,split3\na.avi,brush_hair_test,1,1,2\n".utf8).write(to: csv)
        #expect(try HMDBDataset.rows(csv: csv, videoRoot: scratch).skippedRowsDescription == nil)
    }

    @Test("a YouCook2 row without a number of seconds is an error naming the file and line")
    func badYouCookTimes() throws {
        let scratch = try TestEnvironment.temporaryDirectory("youcook-csv")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let csv = scratch.appendingPathComponent("validation_youcook.csv")
        try Data("end,start,task,text,video_id\n60,47,226,pick it,abc\n,3,226,chop,abd\n".utf8).write(to: csv)
        #expect {
            try YouCook2Dataset.items(csv: csv, videoRoot: scratch)
        } throws: { error in
            guard case .badDataset(let path, let line, let reason)? = error as? EvaluationError else { return false }
            return path == csv.path && line == 3 && reason.contains("end")
        }
        try Data("end,start,task,text\n60,47,226,pick it\n".utf8).write(to: csv)
        #expect(throws: CSVError.self) { try YouCook2Dataset.items(csv: csv, videoRoot: scratch) }
    }

    @Test("fractional YouCook2 times are truncated as int() does")
    func youcookTruncation() throws {
        let scratch = try TestEnvironment.temporaryDirectory("youcook-csv")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let csv = scratch.appendingPathComponent("validation_youcook.csv")
        try Data("end,start,task,text,video_id\n60.9,47.5,226,pick it,abc\n".utf8).write(to: csv)
        let items = try YouCook2Dataset.items(csv: csv, videoRoot: scratch)
        #expect(items.first?.timeRange == .seconds(start: 47, end: 60))
        #expect(items.first?.candidatePaths.map(\.lastPathComponent) == ["abc.mp4", "abc.mkv", "abc.webm"])
    }

    // MARK: Inputs

    @Test("sentence files keep empty lines and drop a final line break; video lists resolve relative paths")
    func inputLists() throws {
        let scratch = try TestEnvironment.temporaryDirectory("inputs")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let sentences = scratch.appendingPathComponent("sentences.txt")
        try Data("cut the onion\r\n\nstir it\n".utf8).write(to: sentences)
        #expect(try EmbeddingInputs.sentences(in: sentences) == ["cut the onion", "", "stir it"])

        let folder = scratch.appendingPathComponent("videos")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("b"), withIntermediateDirectories: true)
        for name in ["b/z.mp4", "a.MKV", "notes.txt", "b/c.webm"] {
            try Data([1]).write(to: folder.appendingPathComponent(name))
        }
        let found = try EmbeddingInputs.videos(at: folder).map { $0.path.dropFirst(folder.path.count + 1) }
        #expect(found == ["a.MKV", "b/c.webm", "b/z.mp4"])

        let list = scratch.appendingPathComponent("list.txt")
        try Data("# videos\nb/z.mp4\n\n/abs/x.mp4\n".utf8).write(to: list)
        #expect(try EmbeddingInputs.videos(at: list, root: folder).map(\.path)
                == [folder.appendingPathComponent("b/z.mp4").path, "/abs/x.mp4"])
        try Data("\n# nothing\n".utf8).write(to: list)
        #expect(throws: EvaluationError.self) { try EmbeddingInputs.videos(at: list) }
        #expect(throws: EvaluationError.self) { try EmbeddingInputs.videos(at: scratch.appendingPathComponent("none")) }
    }
}
