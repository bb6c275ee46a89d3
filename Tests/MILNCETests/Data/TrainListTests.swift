import Foundation
import Testing
import TestSupport
@testable import MILNCE

@Suite struct TrainListTests {
    /// `video_file.split('.')[0]` and `os.path.join(caption_root, video_id + '.csv')`.
    @Test func idsAndCaptionPathsMatchPython() throws {
        var generator = SplitMix64(seed: 4)
        let pieces = ["abc", "x_y", ".", "..", "/", "mp4", "webm", "dir.v2", "é", "-", " ", "9"]
        var paths: [String] = ["a.mp4", "./a.mp4", "/abs/path.mkv", "noext", ".hidden.mp4", "a.b.c", ""]
        for _ in 0..<500 {
            paths.append((0..<generator.uniformInt(in: 1...6)).map { _ in pieces[generator.uniformInt(in: 0...11)] }.joined())
        }
        let roots = ["", "/data/captions", "/data/captions/", "relative", "/"]
        struct Input: Encodable { let paths: [String]; let roots: [String] }
        let expected: [[String]] = try PythonOracle.run("""
        import json, os, sys
        data = json.load(open(sys.argv[1]))
        out = []
        for path in data["paths"]:
            video_id = path.split('.')[0]
            out.append([video_id] + [os.path.join(root, video_id + '.csv') for root in data["roots"]])
        print(json.dumps(out))
        """, input: Input(paths: paths, roots: roots))
        let list = TrainList(videoPaths: paths)
        for (index, truth) in expected.enumerated() {
            let ours = [list.videoID(at: index)] + roots.map { list.captionPath(at: index, captionRoot: $0) }
            #expect(ours.map(codePoints) == truth.map(codePoints), "path \(paths[index].debugDescription)")
        }
    }

    @Test func readsTheVideoPathColumnAndIgnoresTheRest() throws {
        let folder = try TestEnvironment.temporaryDirectory("trainlist")
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("train.csv")
        try "\u{FEFF}id,video_path,duration\r\n1,a/b.mp4,3\r\n2,\"c,d.webm\",4\r\n\r\n3,e.mkv,\"5\n\"\r\n".write(
            to: file, atomically: true, encoding: .utf8)
        let list = try TrainList(contentsOf: file.path)
        #expect(list.videoPaths == ["a/b.mp4", "c,d.webm", "e.mkv"])
        #expect(list.videoID(at: 1) == "c,d")
        #expect(list.fingerprint == TrainList(videoPaths: ["a/b.mp4", "c,d.webm", "e.mkv"]).fingerprint)
        #expect(list.fingerprint != TrainList(videoPaths: ["a/b.mp4", "e.mkv", "c,d.webm"]).fingerprint)
        #expect(list.fingerprint != TrainList(videoPaths: ["a/b.mp4", "c,d.webm", "e.mkv", ""]).fingerprint)

        try "video,other\nx.mp4,1\n".write(to: file, atomically: true, encoding: .utf8)
        #expect { try TrainList(contentsOf: file.path) } throws: {
            ($0 as? CSVError)?.reason == .missingColumn("video_path")
        }
        try "video_path\nx.mp4\n\"\"\ny.mp4\n".write(to: file, atomically: true, encoding: .utf8)
        #expect { try TrainList(contentsOf: file.path) } throws: {
            ($0 as? CSVError)?.reason == .missingValue(column: "video_path") && ($0 as? CSVError)?.line == 3
        }
    }
}
