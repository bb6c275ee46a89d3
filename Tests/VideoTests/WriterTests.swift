import Dispatch
import Foundation
import Synchronization
import TestSupport
import Testing
@testable import Video

/// A codec and a container to write.
struct WriterCase: Sendable, CustomTestStringConvertible {
    var codec: VideoCodec
    var fileExtension: String
    var expectedCodecName: String
    var testDescription: String { "\(codec) in .\(fileExtension)" }

    static let all: [WriterCase] = [
        WriterCase(codec: .h264, fileExtension: "mp4", expectedCodecName: "h264"),
        WriterCase(codec: .h264, fileExtension: "mkv", expectedCodecName: "h264"),
        WriterCase(codec: .h264, fileExtension: "mov", expectedCodecName: "h264"),
        WriterCase(codec: .mpeg4, fileExtension: "avi", expectedCodecName: "mpeg4"),
        WriterCase(codec: .mpeg4, fileExtension: "mp4", expectedCodecName: "mpeg4"),
        WriterCase(codec: .vp9, fileExtension: "webm", expectedCodecName: "vp9"),
        WriterCase(codec: .vp9, fileExtension: "mkv", expectedCodecName: "vp9"),
    ]
}

/// Smooth moving test frames (lossy codecs keep them well): `count` frames of `width`×`height`.
func syntheticFrames(count: Int, width: Int, height: Int) -> [[UInt8]] {
    (0..<count).map { t in
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                let index = (y * width + x) * 3
                pixels[index] = UInt8((x * 255 / max(width - 1, 1) + t * 6) % 256)
                pixels[index + 1] = UInt8(y * 255 / max(height - 1, 1))
                let dx = x - (t * 2) % width, dy = y - height / 2
                pixels[index + 2] = dx * dx + dy * dy < 100 ? 230 : 40
            }
        }
        return pixels
    }
}

/// A video to write twice: every codec, even and odd frame sizes.
struct DeterminismCase: Sendable, CustomTestStringConvertible {
    var codec: VideoCodec
    var fileExtension: String
    var width: Int
    var height: Int
    var testDescription: String { "\(codec) \(width)×\(height) in .\(fileExtension)" }

    static let all: [DeterminismCase] = [
        DeterminismCase(codec: .h264, fileExtension: "mp4", width: 64, height: 64),
        DeterminismCase(codec: .h264, fileExtension: "mov", width: 66, height: 50),
        DeterminismCase(codec: .h264, fileExtension: "mkv", width: 64, height: 64),
        DeterminismCase(codec: .mpeg4, fileExtension: "avi", width: 75, height: 53),
        DeterminismCase(codec: .vp9, fileExtension: "webm", width: 75, height: 53),
        DeterminismCase(codec: .vp9, fileExtension: "mkv", width: 33, height: 17),
    ]
}

@Suite("Writer")
struct WriterTests {
    @Test("encoded frames read back close to what was written", arguments: WriterCase.all)
    func roundTrip(_ testCase: WriterCase) throws {
        let folder = try TestEnvironment.temporaryDirectory("writer")
        defer { try? FileManager.default.removeItem(at: folder) }
        let frames = syntheticFrames(count: 24, width: 64, height: 64)
        func write(_ name: String) throws -> URL {
            let url = folder.appendingPathComponent("\(name).\(testCase.fileExtension)")
            let writer = try VideoWriter(url: url, width: 64, height: 64, framesPerSecond: 12, codec: testCase.codec,
                                         keyframeInterval: 12)
            for frame in frames { try writer.append(rgb: frame) }
            try writer.finish()
            return url
        }
        let url = try write("first")
        let reader = try VideoReader(url: url)
        #expect(reader.codecName == testCase.expectedCodecName)
        #expect(reader.width == 64 && reader.height == 64)
        #expect(abs(reader.framesPerSecond - 12) < 1e-9)
        #expect(abs(reader.durationSeconds - 2) < 0.1, "duration \(reader.durationSeconds)")
        let clip = try reader.allFrames(size: 64, cropping: .window)
        #expect(clip.frameCount == frames.count)
        for index in 0..<min(clip.frameCount, frames.count) {
            let decoded = try #require(clip.frame(index))
            let difference = meanAbsoluteDifference(decoded.pixels, frames[index])
            #expect(difference < 6, "frame \(index): mean absolute difference \(difference)")
        }
        // The same frames give the same bytes.
        let again = try write("second")
        #expect(try Data(contentsOf: url) == Data(contentsOf: again))
    }

    @Test("odd frame sizes and the reference's clip decode of a written video")
    func oddSizeAndClip() throws {
        let folder = try TestEnvironment.temporaryDirectory("writer")
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("odd.webm")
        let writer = try VideoWriter(url: url, width: 75, height: 53, framesPerSecond: 25, codec: .vp9)
        for frame in syntheticFrames(count: 50, width: 75, height: 53) { try writer.append(rgb: frame) }
        try writer.finish()
        let reader = try VideoReader(url: url)
        #expect(reader.width == 75 && reader.height == 53)
        let request = ClipRequest(startSeconds: 0.5, frameCount: 8, framesPerSecond: 5, size: 48, cropping: .window,
                                  cropOffset: CropOffset(horizontal: 0.3, vertical: 0.8), flipped: true)
        let clip = try reader.clip(request)
        let expected = try TestVideos.ffmpeg().clip(request, of: url)
        #expect(clip.decodedFrameCount == expected.decodedFrameCount)
        #expect(clip.decodedFrameCount == 8)
        #expect(meanAbsoluteDifference(clip.pixels, expected.pixels) <= 1.5)
    }

    @Test("what lies in memory after a frame's pixels never reaches the file", arguments: DeterminismCase.all)
    func bytesAfterThePixels(_ testCase: DeterminismCase) throws {
        let folder = try TestEnvironment.temporaryDirectory("writer")
        defer { try? FileManager.default.removeItem(at: folder) }
        let frames = syntheticFrames(count: 12, width: testCase.width, height: testCase.height)
        func write(_ name: String, trailing color: [UInt8]) throws -> Data {
            let url = folder.appendingPathComponent("\(name).\(testCase.fileExtension)")
            let writer = try VideoWriter(url: url, width: testCase.width, height: testCase.height, framesPerSecond: 12,
                                         codec: testCase.codec, keyframeInterval: 6)
            for frame in frames {
                // The same pixels, followed in memory by pixels of another colour (grey would not
                // change the chroma): the array keeps its storage when its tail is removed.
                let trailing = Array(Array(repeating: color, count: 1024).joined())
                var pixels = frame + trailing
                pixels.removeLast(trailing.count)
                try writer.append(rgb: pixels)
            }
            try writer.finish()
            return try Data(contentsOf: url)
        }
        let red = try write("red", trailing: [255, 0, 0])
        let blue = try write("blue", trailing: [0, 0, 255])
        let green = try write("green", trailing: [0, 255, 0])
        #expect(red == blue, "\(testCase): \(red.count) against \(blue.count) bytes")
        #expect(red == green, "\(testCase): \(red.count) against \(green.count) bytes")
    }

    @Test("the same videos written several times at once give the same bytes")
    func parallelWritesAgree() throws {
        let folder = try TestEnvironment.temporaryDirectory("writer")
        defer { try? FileManager.default.removeItem(at: folder) }
        let cases = DeterminismCase.all
        let copies = 4
        let failures = Mutex<[String]>([])
        // Every (copy, video) pair at once, each with its own frames: the heap around them differs.
        DispatchQueue.concurrentPerform(iterations: copies * cases.count) { job in
            let copy = job / cases.count, testCase = cases[job % cases.count]
            do {
                let url = folder.appendingPathComponent("\(copy)-\(job % cases.count).\(testCase.fileExtension)")
                let writer = try VideoWriter(url: url, width: testCase.width, height: testCase.height,
                                             framesPerSecond: 12, codec: testCase.codec, keyframeInterval: 6)
                for frame in syntheticFrames(count: 12, width: testCase.width, height: testCase.height) {
                    try writer.append(rgb: frame)
                }
                try writer.finish()
            } catch {
                failures.withLock { $0.append("\(testCase), copy \(copy): \(error)") }
            }
        }
        #expect(failures.withLock { $0 } == [])
        for (index, testCase) in cases.enumerated() {
            let first = try Data(contentsOf: folder.appendingPathComponent("0-\(index).\(testCase.fileExtension)"))
            #expect(first.count > 0)
            for copy in 1..<copies {
                let other = try Data(contentsOf: folder.appendingPathComponent("\(copy)-\(index).\(testCase.fileExtension)"))
                #expect(other == first, "\(testCase), copy \(copy): \(other.count) against \(first.count) bytes")
            }
        }
    }

    @Test("writer misuse gives typed errors")
    func misuse() throws {
        let folder = try TestEnvironment.temporaryDirectory("writer")
        defer { try? FileManager.default.removeItem(at: folder) }
        #expect(throws: VideoError.self) {
            try VideoWriter(url: folder.appendingPathComponent("x.mp4"), width: 0, height: 8, framesPerSecond: 5, codec: .h264)
        }
        #expect(throws: VideoError.self) {
            try VideoWriter(url: folder.appendingPathComponent("x.unknown-extension"), width: 8, height: 8,
                            framesPerSecond: 5, codec: .h264)
        }
        #expect(throws: VideoError.self) {
            try VideoWriter(url: folder.appendingPathComponent("missing-folder/x.mkv"), width: 8, height: 8,
                            framesPerSecond: 5, codec: .mpeg4)
        }
        let writer = try VideoWriter(url: folder.appendingPathComponent("y.mkv"), width: 8, height: 8,
                                     framesPerSecond: 5, codec: .mpeg4)
        #expect(throws: VideoError.self) { try writer.append(rgb: [1, 2, 3]) }
        try writer.finish()
        #expect(throws: VideoError.self) { try writer.append(rgb: [UInt8](repeating: 0, count: 8 * 8 * 3)) }
    }
}
