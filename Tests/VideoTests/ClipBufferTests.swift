import Foundation
import TestSupport
import Testing
@testable import Video

/// Clips decoded straight into memory the caller provides, and the reasons a clip is empty.
@Suite("Decoding into a buffer")
struct ClipBufferTests {
    @Test("every byte of the buffer is written: the frames, then black padding; the same bytes as ffmpeg's")
    func buffersAreFilledCompletely() throws {
        let ffmpeg = try TestVideos.ffmpeg()
        let video = try TestVideos.named("h264-bt709.mkv")
        let reader = try VideoReader(url: video.url)
        let requests = [
            ClipRequest(startSeconds: 1, frameCount: 8, framesPerSecond: 5, size: 96, cropping: .window,
                        cropOffset: CropOffset(horizontal: 0.2, vertical: 0.9), flipped: true),
            ClipRequest(startSeconds: 0, frameCount: 5, framesPerSecond: 10, size: 64, cropping: .scaledSquare,
                        flipped: true),
            // Near the end: 3 frames from the video, 13 black.
            ClipRequest(startSeconds: 4.5, frameCount: 16, framesPerSecond: 5, size: 80, cropping: .scaledSquare),
        ]
        for request in requests {
            let expected = try ffmpeg.clip(request, of: video.url)
            // Memory full of another value, as a fresh batch tensor may be.
            var pixels = [UInt8](repeating: 0xAB, count: request.byteCount)
            let fill = try pixels.withUnsafeMutableBytes { try reader.decode(request, into: $0) }
            #expect(fill.frameCount == request.frameCount)
            #expect(fill.decodedFrameCount == expected.decodedFrameCount, "start \(request.startSeconds)")
            #expect(fill.isPadded == (fill.decodedFrameCount < request.frameCount))
            #expect(fill.paddingFrameCount == request.frameCount - fill.decodedFrameCount)
            #expect(fill.emptyReason == nil)
            #expect(meanAbsoluteDifference(pixels, expected.pixels) <= 1.5, "start \(request.startSeconds)")
            #expect(pixels == (try reader.clip(request)).pixels, "the buffer and the clip agree")
            let plane = request.size * request.size
            for channel in 0..<3 {
                for frame in fill.decodedFrameCount..<request.frameCount {
                    let start = (channel * request.frameCount + frame) * plane
                    #expect(pixels[start..<(start + plane)].allSatisfy { $0 == 0 }, "frame \(frame) is black")
                }
            }
        }
        #expect(requests.last.map { try! reader.clip($0).decodedFrameCount } == 3)
    }

    @Test("a buffer of the wrong size is refused before anything is decoded")
    func wrongBufferSize() throws {
        let video = try TestVideos.named("tiny-short-gop.mp4")
        let reader = try VideoReader(url: video.url)
        let request = ClipRequest(startSeconds: 0, frameCount: 4, size: 32)
        #expect(request.byteCount == 3 * 4 * 32 * 32)
        for count in [0, request.byteCount - 1, request.byteCount + 1] {
            var pixels = [UInt8](repeating: 0, count: count)
            #expect(throws: VideoError.self) { try pixels.withUnsafeMutableBytes { try reader.decode(request, into: $0) } }
        }
        #expect(ClipRequest(startSeconds: 0, frameCount: Int.max / 2, size: 1 << 20).byteCount == 0)
        var pixels = [UInt8](repeating: 0, count: 1)
        #expect(throws: VideoError.self) {
            try pixels.withUnsafeMutableBytes {
                try reader.decode(ClipRequest(startSeconds: 0, frameCount: Int.max / 2, size: 1 << 20), into: $0)
            }
        }
    }

    @Test("a window past the end of a video is empty, and says so")
    func windowPastTheEnd() throws {
        let video = try TestVideos.named("tiny-short-gop.mp4") // 3 s
        let reader = try VideoReader(url: video.url)
        let request = ClipRequest(startSeconds: 3.5, frameCount: 4, framesPerSecond: 5, size: 32)
        var pixels = [UInt8](repeating: 7, count: request.byteCount)
        let fill = try pixels.withUnsafeMutableBytes { try reader.decode(request, into: $0) }
        #expect(fill.decodedFrameCount == 0)
        #expect(pixels.allSatisfy { $0 == 0 })
        let reason = try #require(fill.emptyReason)
        guard case .framesEndBeforeStart(let start, let last, let declared) = reason else {
            Issue.record("unexpected reason \(reason)")
            return
        }
        #expect(start == 3.5)
        #expect(last > 2.5 && last < 3.0, "the last frame at \(last) s")
        #expect(abs(declared - 3) < 0.1)
        #expect(reason.description.contains("after the video's last frame"), "\(reason)")
        #expect(!reason.description.contains("cut short"))
        let error = VideoError.emptyClip(path: video.url.path, reason: reason)
        #expect(error.description.contains(video.url.path) && error.description.contains("3.5 s"), "\(error)")
    }

    @Test("a one-frame video gives no frame at 5 fps, and says why")
    func oneFrame() throws {
        let folder = try TestEnvironment.temporaryDirectory("one-frame")
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("one.mp4")
        let writer = try VideoWriter(url: url, width: 64, height: 64, framesPerSecond: 25, codec: .h264)
        try writer.append(rgb: [UInt8](repeating: 200, count: 64 * 64 * 3))
        try writer.finish()
        let request = ClipRequest(startSeconds: 0, frameCount: 4, framesPerSecond: 5, size: 32)
        var pixels = [UInt8](repeating: 7, count: request.byteCount)
        let fill = try pixels.withUnsafeMutableBytes { try VideoReader(url: url).decode(request, into: $0) }
        #expect(fill.decodedFrameCount == 0)
        #expect(pixels.allSatisfy { $0 == 0 })
        #expect(fill.emptyReason == .tooShortForFrameRate(frameCount: 1, framesPerSecond: 5))
        #expect(fill.emptyReason?.description.contains("too short") == true)
        // ffmpeg gives no frame either.
        #expect(try TestVideos.ffmpeg().clip(request, of: url).decodedFrameCount == 0)
    }

    @Test("a file cut short with its index at the front: frames before the window, or no data at all")
    func cutShortWithIndexAtTheFront() throws {
        let ffmpeg = try TestVideos.ffmpeg()
        let folder = try TestEnvironment.temporaryDirectory("cut-short")
        defer { try? FileManager.default.removeItem(at: folder) }
        let whole = folder.appendingPathComponent("whole.mp4")
        let made = try runProcess(ffmpeg.executable, ["-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
                                                      "testsrc2=size=160x120:rate=25", "-t", "20", "-c:v", "libx264",
                                                      "-g", "250", "-movflags", "+faststart", whole.path])
        #expect(made.status == 0, "\(made.standardError)")
        let url = folder.appendingPathComponent("half.mp4")
        let bytes = try Data(contentsOf: whole)
        try bytes.prefix(bytes.count / 2).write(to: url)
        let reader = try VideoReader(url: url)
        #expect(abs(reader.durationSeconds - 20) < 0.1, "the index declares the whole video")

        // Find where the data ends: the last start that still gives frames.
        var lastWithFrames: Double?
        var emptyReason: EmptyClipReason?
        var noData: VideoError?
        for tenth in stride(from: 0, through: 190, by: 5) {
            let request = ClipRequest(startSeconds: Double(tenth) / 10, frameCount: 4, framesPerSecond: 5, size: 64)
            var pixels = [UInt8](repeating: 0, count: request.byteCount)
            do {
                let fill = try pixels.withUnsafeMutableBytes { try VideoReader(url: url).decode(request, into: $0) }
                if fill.decodedFrameCount > 0 {
                    lastWithFrames = request.startSeconds
                } else if emptyReason == nil {
                    emptyReason = fill.emptyReason
                }
            } catch let error as VideoError {
                noData = noData ?? error
            }
        }
        let dataEnd = try #require(lastWithFrames)
        #expect(dataEnd > 2 && dataEnd < 18, "frames up to \(dataEnd) s")
        // Past the data, each window is empty or fails, and the reason says the file is cut short.
        #expect(emptyReason != nil || noData != nil)
        if let emptyReason {
            #expect(emptyReason.description.contains("cut short"), "\(emptyReason)")
            #expect(!emptyReason.description.contains("after the video's last frame"))
        }
        if let noData {
            guard case .corruptData(_, let reason) = noData else {
                Issue.record("unexpected error \(noData)")
                return
            }
            #expect(reason.contains("cut short"), "\(reason)")
        }
    }
}
