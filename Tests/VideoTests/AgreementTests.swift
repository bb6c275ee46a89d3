import Foundation
import Synchronization
import TestSupport
import Testing
@testable import Video

/// One clip to decode both in-process and with the `ffmpeg` command.
struct AgreementCase: Sendable, CustomTestStringConvertible {
    var video: String
    var request: ClipRequest
    /// Whether the window lies inside the video (else both decoders give no frame).
    var insideVideo: Bool

    var testDescription: String {
        let r = request
        return "\(video) start \(r.startSeconds) s, \(r.durationSeconds) s at \(r.framesPerSecond) fps, "
            + "\(r.frameCount)×\(r.size)² \(r.cropping) (\(r.cropOffset.horizontal), \(r.cropOffset.vertical))"
            + (r.flipped ? " flipped" : "")
    }

    /// A varied table: starts at 0, in the middle, near the end and past the end; several frame
    /// rates (integer and not); window crops and scaled squares; centred and off-centre; flips.
    static let all: [AgreementCase] = {
        // (video, duration in seconds, largest window crop that fits)
        let videos: [(String, Double, Int)] = [
            ("bikes.mp4", 10, 224), ("bigbuckbunny.mp4", 5.28, 224), ("carphone_pristine.mp4", 4, 112),
            ("vp9.webm", 5, 224), ("h264-bt709.mkv", 5, 224), ("mpeg4.avi", 5, 224),
            ("h264-audio.mov", 4, 224), ("odd-size.webm", 4, 128), ("portrait.mp4", 4, 160),
            ("full-range-mjpeg.mkv", 3, 160), ("variable-rate.mkv", 4.4, 224),
            ("rotated-90.mp4", 3, 160), ("rotated-180.mp4", 3, 160), ("rotated-270.mov", 3, 160),
            ("yuv422.mkv", 3, 224), ("yuv444.mkv", 3, 224), ("paletted.mkv", 3, 224), ("rgb.mkv", 3, 224),
        ]
        let rates: [Double] = [5, 10, 30, 7.5, 29.97, 5, 12.5, 24]
        let offsets: [CropOffset] = [.centered, CropOffset(horizontal: 0.13, vertical: 0.87),
                                     CropOffset(horizontal: 1, vertical: 0), CropOffset(horizontal: 0.61803, vertical: 0.25)]
        var cases: [AgreementCase] = []
        var counter = 0
        for (name, duration, window) in videos {
            let starts: [Double] = [0, (duration / 2).rounded(.down), duration - 1.2, 1.37, duration + 2]
            for (index, start) in starts.enumerated() {
                counter += 1
                let rate = rates[(counter * 3 + index) % rates.count]
                let scaled = (counter + index) % 2 == 0
                var request = ClipRequest(
                    startSeconds: start, frameCount: index == 2 ? 32 : 16, framesPerSecond: rate,
                    size: scaled ? ((counter % 3 == 0) ? 97 : 112) : min(window, index % 2 == 0 ? 224 : 96),
                    cropping: scaled ? .scaledSquare : .window, cropOffset: offsets[counter % offsets.count],
                    flipped: counter % 3 != 1)
                if index == 3 { request.durationSeconds = 0.9 }
                cases.append(AgreementCase(video: name, request: request, insideVideo: start < duration - 0.5))
            }
        }
        return cases
    }()
}

/// Frames decoded in-process against the `ffmpeg` command's, on real and encoded videos.
@Suite("Agreement with the ffmpeg command")
struct AgreementTests {
    @Test("same frames as ffmpeg", arguments: AgreementCase.all)
    func sameFramesAsFFmpeg(_ testCase: AgreementCase) throws {
        let ffmpeg = try TestVideos.ffmpeg()
        let video = try TestVideos.named(testCase.video)
        let expected = try ffmpeg.clip(testCase.request, of: video.url)
        let reader = try VideoReader(url: video.url)
        let clip = try reader.clip(testCase.request)
        #expect(clip.decodedFrameCount == expected.decodedFrameCount)
        #expect((clip.decodedFrameCount > 0) == testCase.insideVideo)
        #expect(clip.pixels.count == expected.pixels.count)
        let difference = meanAbsoluteDifference(clip.pixels, expected.pixels)
        AgreementLog.shared.record(difference, for: testCase.testDescription)
        #expect(difference <= 1.5, "mean absolute difference \(difference)")
    }

    @Test("pixel formats with both croppings, mirrored or not",
          arguments: ["yuv422.mkv", "yuv444.mkv", "paletted.mkv", "rgb.mkv", "h264-bt709.mkv"])
    func pixelFormats(_ name: String) throws {
        let ffmpeg = try TestVideos.ffmpeg()
        let video = try TestVideos.named(name)
        for cropping in [ClipCropping.window, .scaledSquare] {
            for flipped in [false, true] {
                let request = ClipRequest(startSeconds: 0.6, frameCount: 6, framesPerSecond: 5,
                                          size: cropping == .window ? 96 : 112, cropping: cropping,
                                          cropOffset: CropOffset(horizontal: 0.3, vertical: 0.7), flipped: flipped)
                let expected = try ffmpeg.clip(request, of: video.url)
                let clip = try VideoReader(url: video.url).clip(request)
                #expect(clip.decodedFrameCount == expected.decodedFrameCount)
                #expect(clip.decodedFrameCount == 6)
                let difference = meanAbsoluteDifference(clip.pixels, expected.pixels)
                AgreementLog.shared.record(difference, for: "\(name) \(cropping)" + (flipped ? " flipped" : ""))
                #expect(difference <= 1.5, "\(cropping)\(flipped ? " flipped" : ""): mean absolute difference \(difference)")
            }
        }
    }

    @Test("the same reader decodes many clips as fresh readers do")
    func readerReuse() throws {
        let ffmpeg = try TestVideos.ffmpeg()
        let video = try TestVideos.named("h264-bt709.mkv")
        let reader = try VideoReader(url: video.url)
        for (index, start) in [3.0, 0.5, 4.2, 0.0, 2.25].enumerated() {
            let request = ClipRequest(startSeconds: start, frameCount: 8, framesPerSecond: index % 2 == 0 ? 5 : 10,
                                      size: 64, cropping: .scaledSquare, flipped: index == 1)
            let clip = try reader.clip(request)
            let expected = try ffmpeg.clip(request, of: video.url)
            #expect(clip.decodedFrameCount == expected.decodedFrameCount)
            #expect(meanAbsoluteDifference(clip.pixels, expected.pixels) <= 1.5)
        }
    }

    @Test("decoder threads and skipped pictures do not change the frames")
    func threadsAndSkipping() throws {
        let video = try TestVideos.named("bikes.mp4")
        let request = ClipRequest(startSeconds: 4, frameCount: 16, framesPerSecond: 5, size: 96, cropping: .window,
                                  cropOffset: CropOffset(horizontal: 0.7, vertical: 0.2), flipped: true)
        let reference = try VideoReader(url: video.url, threadCount: 1)
        reference.skipsUnusedFrames = false
        let expected = try reference.clip(request)
        #expect(expected.decodedFrameCount == 16)
        for threads in [0, 1, 3] {
            let clip = try VideoReader(url: video.url, threadCount: threads).clip(request)
            #expect(clip == expected, "\(threads) decoder threads")
        }
    }

    @Test("whole videos at their native rate", arguments: ["carphone_pristine.mp4", "variable-rate.mkv", "mpeg4.avi"])
    func allFramesAgree(_ name: String) throws {
        let ffmpeg = try TestVideos.ffmpeg()
        let video = try TestVideos.named(name)
        let expected = try ffmpeg.allFrames(of: video.url, size: 64)
        let clip = try VideoReader(url: video.url).allFrames(size: 64)
        #expect(clip.frameCount == expected.frameCount)
        #expect(clip.frameCount > 0)
        let difference = meanAbsoluteDifference(clip.pixels, expected.pixels)
        AgreementLog.shared.record(difference, for: "\(name) all frames")
        #expect(difference <= 1.5, "mean absolute difference \(difference)")
    }
}

/// The worst difference seen, printed as the tests go.
final class AgreementLog: Sendable {
    static let shared = AgreementLog()
    private let worst = Mutex(-1.0)

    func record(_ difference: Double, for name: String) {
        worst.withLock { worst in
            if difference > worst {
                worst = difference
                print("agreement: worst mean absolute difference so far \(difference) (\(name))")
            }
        }
    }
}
