import Foundation
import Synchronization
import Testing
import TestSupport
import Video
@testable import MILNCE

/// Videos that say which frame they show, with captions, a train CSV (with a repeated row, a
/// missing file, an empty file and a file that is no video) and a caption index: what the store
/// tests prepare.
///
/// Video `n` is `seconds` long at 25 fps, 320×240 (a short side below the store's 256, so no
/// scaling is involved), H.264 with a keyframe every 5 s. Rows 40..<120 are grey at
/// `20 + 10 × second`, rows 120..<200 grey at `20 + 9 × (frame within the second)`: a clip frame
/// cut anywhere from it tells the source frame it shows. Rows above and below hold a moving texture.
final class StoreTestSet: Sendable {
    static let width = 320
    static let height = 240
    static let framesPerSecond = 25
    static let videoCount = 6
    static let seconds = 12
    static let words = ["cut", "the", "onion", "fry", "egg", "pan", "salt", "stir", "add", "water"]
    /// The bad rows of the train CSV: a missing file, an empty file, a file that is no video.
    static let badVideos = ["missing.mp4", "empty.mp4", "notavideo.mkv"]

    let folder: URL
    let videoRoot: URL
    let captionRoot: String
    let trainCSV: URL
    let trainList: TrainList
    let index: CaptionIndex
    let tokenizer = Tokenizer(words: StoreTestSet.words)

    static let shared = Result { try StoreTestSet() }

    static func get() throws -> StoreTestSet { try shared.get() }

    private init() throws {
        let folder = try TestEnvironment.sharedTemporaryDirectory("store-set")
        self.folder = folder
        videoRoot = folder.appendingPathComponent("videos")
        captionRoot = folder.appendingPathComponent("captions").path
        try FileManager.default.createDirectory(at: videoRoot.appendingPathComponent("nested"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: captionRoot + "/nested", withIntermediateDirectories: true)
        var paths: [String] = []
        for video in 0..<StoreTestSet.videoCount {
            // One path in a subfolder, one longer than a tar header's 100-byte name field.
            let name = video == 1 ? "nested/v1.mp4"
                : video == 4 ? "v4_" + String(repeating: "long-name-", count: 11) + ".mp4" : "v\(video).mp4"
            try StoreTestSet.writeVideo(number: video, to: videoRoot.appendingPathComponent(name))
            try StoreTestSet.captions(seed: video).write(toFile: captionRoot + "/" + TrainList.videoID(ofPath: name) + ".csv",
                                                         atomically: false, encoding: .utf8)
            paths.append(name)
            if video == 2 { paths.append(name) } // a repeated row: prepared once
            if video == 3 { paths += StoreTestSet.badVideos }
        }
        try Data().write(to: videoRoot.appendingPathComponent("empty.mp4"))
        try Data("this is no video".utf8).write(to: videoRoot.appendingPathComponent("notavideo.mkv"))
        for bad in StoreTestSet.badVideos {
            try StoreTestSet.captions(seed: 9).write(toFile: captionRoot + "/" + TrainList.videoID(ofPath: bad) + ".csv",
                                                     atomically: false, encoding: .utf8)
        }
        trainList = TrainList(videoPaths: paths)
        trainCSV = folder.appendingPathComponent("train.csv")
        try ("video_path\n" + paths.joined(separator: "\n") + "\n").write(to: trainCSV, atomically: false, encoding: .utf8)
        let indexPath = folder.appendingPathComponent("captions.index").path
        try CaptionIndex.build(trainList: trainList, captionRoot: captionRoot, to: indexPath, workers: 2)
        index = try CaptionIndex(contentsOf: indexPath, expecting: trainList)
    }

    deinit {
        try? FileManager.default.removeItem(at: folder)
    }

    /// The good videos' paths, in the CSV's order, once each.
    var goodVideos: [String] {
        var seen = Set<String>()
        return trainList.videoPaths.filter { !StoreTestSet.badVideos.contains($0) && seen.insert($0).inserted }
    }

    /// The grey level of the rows that give the second, and of those that give the frame within it.
    static func secondLevel(_ second: Int) -> Int { 20 + 10 * second }
    static func frameLevel(_ frame: Int) -> Int { 20 + 9 * frame }

    private static func writeVideo(number: Int, to url: URL) throws {
        let writer = try VideoWriter(url: url, width: width, height: height, framesPerSecond: Double(framesPerSecond),
                                     codec: .h264, keyframeInterval: 5 * framesPerSecond)
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for frame in 0..<(seconds * framesPerSecond) {
            let second = UInt8(secondLevel(frame / framesPerSecond))
            let within = UInt8(frameLevel(frame % framesPerSecond))
            for y in 0..<height {
                for x in 0..<width {
                    let offset = (y * width + x) * 3
                    if (40..<120).contains(y) {
                        pixels[offset] = second; pixels[offset + 1] = second; pixels[offset + 2] = second
                    } else if (120..<200).contains(y) {
                        pixels[offset] = within; pixels[offset + 1] = within; pixels[offset + 2] = within
                    } else {
                        pixels[offset] = UInt8(truncatingIfNeeded: x * 2 + frame * 3 + number * 40)
                        pixels[offset + 1] = UInt8(truncatingIfNeeded: y * 4 - frame * 2)
                        pixels[offset + 2] = UInt8(truncatingIfNeeded: (x ^ y) + frame)
                    }
                }
            }
            try writer.append(rgb: pixels)
        }
        try writer.finish()
    }

    /// A caption every 2 seconds.
    private static func captions(seed: Int) -> String {
        var lines = ["start,end,text"]
        for start in stride(from: 0, to: seconds - 2, by: 2) {
            let text = (0..<4).map { words[(seed * 7 + start + $0 * 3) % words.count] }.joined(separator: " ")
            lines.append("\(start).3,\(start + 1).9,\(text)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Options to prepare this set into `output`.
    func preparationOptions(output: URL, threads: Int = 2, shardSize: Int = 150_000) -> StorePreparationOptions {
        var options = StorePreparationOptions(trainCSV: trainCSV.path, videoRoot: videoRoot.path, output: output.path)
        options.threads = threads
        options.shardSizeBytes = shardSize
        return options
    }

    /// The source frame (25 fps) a clip frame shows, read from its grey rows: `pixels` is a
    /// packed RGB `size`×`size` frame cut from rows `cropY..<cropY + size`.
    static func sourceFrame(of image: RGBImage) -> Int {
        func level(atRow row: Int) -> Double {
            var sum = 0, count = 0
            for y in (row - 3)...(row + 3) {
                for x in (image.width / 4)..<(3 * image.width / 4) {
                    sum += Int(image.pixels[(y * image.width + x) * 3 + 1])
                    count += 1
                }
            }
            return Double(sum) / Double(count)
        }
        // Whatever the crop (16 rows of freedom in 240), rows 70 and 150 of the clip lie inside the bands.
        let second = Int(((level(atRow: 70) - 20) / 10).rounded())
        let frame = Int(((level(atRow: 150) - 20) / 9).rounded())
        return second * framesPerSecond + frame
    }
}

/// Every file under `folder` (relative path → bytes), without lock files.
func filesByPath(in folder: URL) throws -> [String: Data] {
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
