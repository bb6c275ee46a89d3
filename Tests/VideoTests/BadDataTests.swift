import Foundation
import TestSupport
import Testing
@testable import Video

/// A damaged or unusual file and what reading it must give.
enum BadFile: String, CaseIterable, Sendable {
    case missing
    case empty
    case directory
    case textNamedMP4
    case audioOnly
    case noFrames
    case singleFrame
    case headerOnly
    case truncatedQuarterWebM
    case truncatedHalfMKV
    case truncatedThreeQuartersFaststartMP4
    case truncatedHalfMP4WithIndexAtEnd
    case corruptMiddleMKV
    case corruptMiddleMP4
    case corruptMiddleWebM
    case randomBytesNamedMP4

    /// Writes the file into `folder` and returns its location.
    func make(in folder: URL) throws -> URL {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let ffmpeg = try TestVideos.ffmpeg()
        func encode(_ name: String, _ arguments: [String]) throws -> URL {
            let url = folder.appendingPathComponent(name)
            let result = try runProcess(ffmpeg.executable, ["-nostdin", "-v", "error", "-y"] + arguments + [url.path])
            guard result.status == 0 else { throw TestSupportError("encoding \(name) failed: \(result.standardError)") }
            return url
        }
        func source(_ name: String, _ codec: [String], extra: [String] = []) throws -> URL {
            try encode(name, ["-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25", "-t", "4"] + codec
                       + ["-g", "25", "-pix_fmt", "yuv420p"] + extra)
        }
        let h264 = ["-c:v", "libx264", "-preset", "veryfast"]
        let vp9 = ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8"]
        func cut(_ url: URL, keeping fraction: Double, as name: String) throws -> URL {
            let data = try Data(contentsOf: url)
            let target = folder.appendingPathComponent(name)
            try data.prefix(Int(Double(data.count) * fraction)).write(to: target)
            return target
        }
        func corrupt(_ url: URL, as name: String) throws -> URL {
            var data = try Data(contentsOf: url)
            var generator = SeededGenerator(seed: 42)
            let start = data.count * 35 / 100, end = data.count * 65 / 100
            for index in start..<end { data[index] = UInt8(truncatingIfNeeded: generator.next()) }
            let target = folder.appendingPathComponent(name)
            try data.write(to: target)
            return target
        }
        switch self {
        case .missing:
            return folder.appendingPathComponent("does-not-exist.mp4")
        case .empty:
            let url = folder.appendingPathComponent("empty.mp4")
            try Data().write(to: url)
            return url
        case .directory:
            let url = folder.appendingPathComponent("folder.mp4")
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
            return url
        case .textNamedMP4:
            let url = folder.appendingPathComponent("text.mp4")
            try Data("This is a caption file, not a video.\n1,2,hello\n".utf8).write(to: url)
            return url
        case .audioOnly:
            return try encode("audio.mp4", ["-f", "lavfi", "-i", "sine=frequency=440", "-t", "2"])
        case .noFrames:
            return try encode("no-frames.mkv", ["-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25", "-t", "0"] + h264)
        case .singleFrame:
            return try encode("single-frame.mp4", ["-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25",
                                                   "-frames:v", "1"] + h264)
        case .headerOnly:
            return try cut(source("header.webm", vp9), keeping: 0.02, as: "header-only.webm")
        case .truncatedQuarterWebM:
            return try cut(source("quarter.webm", vp9), keeping: 0.25, as: "truncated-quarter.webm")
        case .truncatedHalfMKV:
            return try cut(source("half.mkv", h264), keeping: 0.5, as: "truncated-half.mkv")
        case .truncatedThreeQuartersFaststartMP4:
            return try cut(source("faststart.mp4", h264, extra: ["-movflags", "+faststart"]), keeping: 0.75,
                           as: "truncated-faststart.mp4")
        case .truncatedHalfMP4WithIndexAtEnd:
            return try cut(source("index-at-end.mp4", h264), keeping: 0.5, as: "truncated-index-at-end.mp4")
        case .corruptMiddleMKV:
            return try corrupt(source("corrupt.mkv", h264), as: "corrupt-middle.mkv")
        case .corruptMiddleMP4:
            return try corrupt(source("corrupt.mp4", h264, extra: ["-movflags", "+faststart"]), as: "corrupt-middle.mp4")
        case .corruptMiddleWebM:
            return try corrupt(source("corrupt.webm", vp9), as: "corrupt-middle.webm")
        case .randomBytesNamedMP4:
            var generator = SeededGenerator(seed: 7)
            let url = folder.appendingPathComponent("random.mp4")
            try Data((0..<20_000).map { _ in UInt8(truncatingIfNeeded: generator.next()) }).write(to: url)
            return url
        }
    }
}

@Suite("Bad data")
struct BadDataTests {
    /// The error (or the frames) each bad file must give: never a crash.
    @Test("bad files give typed errors or the frames ffmpeg gives", arguments: BadFile.allCases)
    func badFile(_ file: BadFile) throws {
        let folder = try TestEnvironment.temporaryDirectory("bad-video")
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = try file.make(in: folder)
        let request = ClipRequest(startSeconds: 0, frameCount: 8, framesPerSecond: 5, size: 64,
                                  cropping: .scaledSquare)
        let outcome = Result { try VideoReader(url: url).clip(request) }

        func expectError(_ matches: (VideoError) -> Bool) {
            switch outcome {
            case .success(let clip):
                Issue.record("\(file): expected an error, got \(clip.decodedFrameCount) frames")
            case .failure(let error):
                guard let videoError = error as? VideoError else {
                    Issue.record("\(file): not a VideoError: \(error)")
                    return
                }
                #expect(matches(videoError), "\(file): \(videoError)")
                #expect(videoError.description.contains(url.path), "the message names the file")
            }
        }

        switch file {
        case .missing: expectError { $0 == .fileNotFound(path: url.path) }
        case .empty: expectError { $0 == .emptyFile(path: url.path) }
        case .directory: expectError { if case .ioError = $0 { return true } else { return false } }
        case .textNamedMP4, .randomBytesNamedMP4, .truncatedHalfMP4WithIndexAtEnd:
            expectError { if case .unknownFormat = $0 { return true } else { return false } }
        case .audioOnly: expectError { $0 == .noVideoStream(path: url.path) }
        case .noFrames, .headerOnly:
            expectError {
                switch $0 {
                case .noDecodableFrame, .unknownFormat, .corruptData: return true
                default: return false
                }
            }
        case .singleFrame:
            // One frame at 25 fps ends before the first 5 fps tick is due: ffmpeg gives no frame.
            let clip = try outcome.get()
            #expect(clip.decodedFrameCount == 0)
            #expect(clip.pixels.allSatisfy { $0 == 0 })
            let all = try VideoReader(url: url).allFrames(size: 32)
            #expect(all.frameCount == 1)
        case .truncatedQuarterWebM, .truncatedHalfMKV, .truncatedThreeQuartersFaststartMP4,
             .corruptMiddleMKV, .corruptMiddleMP4, .corruptMiddleWebM:
            // Damaged files give what can be decoded, as ffmpeg does.
            #expect(try outcome.get().decodedFrameCount > 0)
            for start in [0, 1.3, 2.9, 3.5] {
                var window = request
                window.startSeconds = start
                try expectSameOutcomeAsFFmpeg(window, url: url)
            }
        }
    }

    /// Where `ffmpeg` decodes a window, the reader gives the same frames; where `ffmpeg` fails
    /// (it gives up when most packets are damaged), the reader gives a typed error or what it could
    /// decode, never a crash.
    private func expectSameOutcomeAsFFmpeg(_ request: ClipRequest, url: URL) throws {
        let expected = Result { try TestVideos.ffmpeg().clip(request, of: url) }
        let actual = Result { try VideoReader(url: url).clip(request) }
        switch (expected, actual) {
        case (.success(let expected), .success(let clip)):
            #expect(clip.decodedFrameCount == expected.decodedFrameCount, "start \(request.startSeconds)")
            #expect(meanAbsoluteDifference(clip.pixels, expected.pixels) <= 1.5, "start \(request.startSeconds)")
        case (.success(let expected), .failure(let error)):
            Issue.record("ffmpeg decoded \(expected.decodedFrameCount) frames at \(request.startSeconds) s, the reader failed: \(error)")
        case (.failure, .failure(let error)):
            #expect(error is VideoError, "\(error)")
        case (.failure, .success):
            break
        }
    }

    @Test("requests that cannot be met are typed errors")
    func invalidRequests() throws {
        let video = try TestVideos.named("carphone_pristine.mp4")
        let reader = try VideoReader(url: video.url)
        let bad: [ClipRequest] = [
            ClipRequest(startSeconds: 0, size: 224),                 // window larger than 176×144 frames
            ClipRequest(startSeconds: -1, size: 64),
            ClipRequest(startSeconds: .nan, size: 64),
            ClipRequest(startSeconds: 0, framesPerSecond: 0, size: 64, durationSeconds: 1),
            ClipRequest(startSeconds: 0, size: 0),
            ClipRequest(startSeconds: 0, size: 63),                  // odd window of a 4:2:0 video
            ClipRequest(startSeconds: 0, size: 64, cropOffset: CropOffset(horizontal: .infinity, vertical: 0)),
        ]
        for request in bad {
            #expect(throws: VideoError.self) { try reader.clip(request) }
        }
        let empty = try reader.clip(ClipRequest(startSeconds: 0, frameCount: 0, size: 64))
        #expect(empty.frameCount == 0 && empty.pixels.isEmpty)
        // The reader is still usable afterwards.
        let clip = try reader.clip(ClipRequest(startSeconds: 1, frameCount: 4, size: 64))
        #expect(clip.decodedFrameCount == 4)
    }
}
