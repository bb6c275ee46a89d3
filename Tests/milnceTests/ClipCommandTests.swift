import Foundation
import MILNCE
import Synchronization
import TestSupport
import Testing
import Video
@testable import milnce

// MARK: - Test videos

/// A video written at test time: moving coloured texture, so that every crop, flip and instant
/// gives different pixels.
enum ClipTestVideo {
    static let shared = Result { try make() }

    static func url() throws -> URL { try shared.get() }

    private static func make() throws -> URL {
        let folder = try TestEnvironment.sharedTemporaryDirectory("clip")
        let url = folder.appendingPathComponent("texture.mp4")
        let width = 320, height = 240
        let writer = try VideoWriter(url: url, width: width, height: height, framesPerSecond: 25, codec: .h264,
                                     keyframeInterval: 30)
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for frame in 0..<100 {
            for y in 0..<height {
                for x in 0..<width {
                    let offset = (y * width + x) * 3
                    pixels[offset] = UInt8(truncatingIfNeeded: x + 2 * frame)
                    pixels[offset + 1] = UInt8(truncatingIfNeeded: 3 * y - frame)
                    pixels[offset + 2] = UInt8(truncatingIfNeeded: ((x / 8) ^ (y / 8)) * 16 + frame)
                }
            }
            try writer.append(rgb: pixels)
        }
        try writer.finish()
        return url
    }

    /// The `ffmpeg` command (an oracle: a failure, naming how to install it, when it is missing).
    static func ffmpeg() throws -> FFmpegCommand {
        do {
            return try FFmpegCommand()
        } catch {
            throw TestEnvironment.missingOracle("the ffmpeg command")
        }
    }
}

// MARK: - Tests

@Suite struct ClipCommandTests {
    @Test func parsingGivesTheReferenceDefaults() throws {
        let command = try ClipCommand.parse(["video.mp4"])
        #expect(command.video == "video.mp4")
        let request = command.request
        #expect(request.startSeconds == 0)
        #expect(request.frameCount == 16)
        #expect(request.framesPerSecond == 5)
        #expect(request.durationSeconds == 16.0 / 5 + 0.1)
        #expect(request.size == 224)
        #expect(request.cropping == .window)
        #expect(!request.flipped)
        // Random offsets drawn from the seed, different for another seed; centred on request.
        var random = SplitMix64(seed: 0)
        let horizontal = random.uniformDouble()
        #expect(request.cropOffset == CropOffset(horizontal: horizontal, vertical: random.uniformDouble()))
        let reseeded = try ClipCommand.parse(["video.mp4", "--seed", "9"]).request
        #expect(reseeded.cropOffset != request.cropOffset)

        let other = try ClipCommand.parse(["v.mkv", "--start", "2.5", "--duration", "1.25", "--fps", "10",
                                           "--num_frames", "8", "--size", "112", "--crop_only", "0",
                                           "--centercrop", "1", "--flip", "--output", "out.PNG"]).request
        #expect(other == ClipRequest(startSeconds: 2.5, frameCount: 8, framesPerSecond: 10, size: 112,
                                     cropping: .scaledSquare, cropOffset: .centered, flipped: true, durationSeconds: 1.25))
    }

    @Test(arguments: [
        ["--fps", "0"], ["--fps=-5"], ["--fps", "nan"], ["--fps", "inf"], ["--fps", "five"],
        ["--num_frames", "0"], ["--num_frames=-1"], ["--num_frames", "2.5"], ["--size", "0"], ["--size", "20000"],
        ["--start=-1"], ["--start", "nan"], ["--duration", "0"], ["--duration", "inf"],
        ["--crop_only", "2"], ["--centercrop=-1"], ["--seed=-3"], ["--output", "clip.jpg"], ["--output", "clip"],
        ["--num_frames", "1000000", "--size", "4096"], ["--num_frames", "16", "--fps", "1e-300"],
    ])
    func badNumbersAreRejectedWhenParsing(arguments: [String]) {
        #expect(throws: (any Error).self) { try ClipCommand.parse(["video.mp4"] + arguments) }
    }

    @Test(arguments: [
        ["--start", "1"],
        ["--start", "0.5", "--seed", "3", "--flip"],
        ["--start", "2", "--crop_only", "0", "--centercrop", "1", "--size", "96"],
        ["--start", "1.7", "--fps", "7.5", "--num_frames", "5", "--size", "64", "--crop_only", "0", "--seed", "11"],
        ["--start", "3", "--size", "128"], // the window runs past the end: padded
        ["--start", "0", "--duration", "0.3", "--size", "160", "--centercrop", "1"],
    ])
    func rawOutputEqualsTheFFmpegCommandsFrames(arguments: [String]) throws {
        let video = try ClipTestVideo.url()
        let ffmpeg = try ClipTestVideo.ffmpeg()
        let output = try TestEnvironment.temporaryDirectory("clip-out").appendingPathComponent("clip.rgb")
        defer { try? FileManager.default.removeItem(at: output.deletingLastPathComponent()) }
        let command = try ClipCommand.parse([video.path] + arguments + ["--output", output.path])
        let lines = try command.decodeAndWrite()

        let written = try [UInt8](Data(contentsOf: output))
        let reference = try ffmpeg.clip(command.request, of: video)
        #expect(written.count == command.numFrames * command.size * command.size * 3)
        let identical = written == reference.packedPixels
        #expect(identical, "the .rgb file differs from ffmpeg's frames")
        let report = lines.joined(separator: "\n")
        #expect(report.contains("decoded \(reference.decodedFrameCount) of \(command.numFrames) frames, "
                                + "padded \(command.numFrames - reference.decodedFrameCount) black"))
        #expect(report.contains(command.flip ? "mirrored left to right" : "not mirrored"))
        #expect(report.contains(String(format: "(%.4f, %.4f)", command.request.cropOffset.horizontal,
                                       command.request.cropOffset.vertical)))
    }

    @Test func pngOutputDecodesToTheContactSheet() throws {
        let video = try ClipTestVideo.url()
        let ffmpeg = try ClipTestVideo.ffmpeg()
        let folder = try TestEnvironment.temporaryDirectory("clip-out")
        defer { try? FileManager.default.removeItem(at: folder) }
        let output = folder.appendingPathComponent("sheet.png")
        let command = try ClipCommand.parse([video.path, "--start", "1", "--num_frames", "11", "--size", "48",
                                             "--seed", "5", "--flip", "--output", output.path])
        _ = try command.decodeAndWrite()

        let clip = try ffmpeg.clip(command.request, of: video)
        let sheet = try #require(RGBImage.contactSheet(of: clip))
        #expect(sheet.width == 8 * 48 + 7 * 2 && sheet.height == 2 * 48 + 2)
        // Decoded by the ffmpeg program, not by our own code.
        let raw = folder.appendingPathComponent("sheet.rgb")
        let converted = try runProcess(ffmpeg.executable, ["-nostdin", "-v", "error", "-y", "-i", output.path,
                                                           "-f", "rawvideo", "-pix_fmt", "rgb24", raw.path])
        #expect(converted.status == 0, "\(converted.standardError)")
        let identical = try [UInt8](Data(contentsOf: raw)) == sheet.pixels
        #expect(identical, "the PNG does not hold the contact sheet")
        let probe = try runProcess(URL(fileURLWithPath: ffmpeg.executable.deletingLastPathComponent().path + "/ffprobe"),
                                   ["-v", "error", "-show_entries", "stream=width,height", "-of", "csv=p=0", output.path])
        if probe.status == 0 {
            #expect(probe.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines) == "\(sheet.width),\(sheet.height)")
        }
    }

    /// A window past the end of the 4 s video gives a black clip, and the report says why in words.
    @Test func aClipPastTheEndSaysWhyItHasNoFrame() throws {
        let video = try ClipTestVideo.url()
        let lines = try ClipCommand.parse([video.path, "--start", "9", "--num_frames", "4", "--size", "32"])
            .decodeAndWrite()
        let report = lines.joined(separator: "\n")
        #expect(report.contains("decoded 0 of 4 frames, padded 4 black"), "\(report)")
        #expect(report.contains("no frame of the video: the clip starts at 9 s, after the video's last frame"), "\(report)")
    }

    @Test func badInputGivesErrorsThatNameTheFile() throws {
        let video = try ClipTestVideo.url()
        let folder = try TestEnvironment.temporaryDirectory("clip-out")
        defer { try? FileManager.default.removeItem(at: folder) }

        let missing = folder.appendingPathComponent("missing.mp4").path
        #expect(throws: VideoError.fileNotFound(path: missing)) {
            try ClipCommand.parse([missing]).decodeAndWrite()
        }
        #expect(throws: VideoError.self) { try ClipCommand.parse([folder.path]).decodeAndWrite() }
        let notAVideo = folder.appendingPathComponent("notes.mp4")
        try Data("not a video at all".utf8).write(to: notAVideo)
        #expect(throws: VideoError.self) { try ClipCommand.parse([notAVideo.path]).decodeAndWrite() }

        // A crop larger than the 320×240 frames.
        do {
            _ = try ClipCommand.parse([video.path, "--size", "256"]).decodeAndWrite()
            Issue.record("a 256-pixel crop of 240-pixel frames was accepted")
        } catch let error as ClipCommandError {
            #expect("\(error)".contains(video.path))
            #expect("\(error)".contains("256×256"))
            #expect("\(error)".contains("320×240"))
        }
        // Scaling the largest square fits any size.
        #expect(try ClipCommand.parse([video.path, "--size", "256", "--crop_only", "0", "--num_frames", "2"])
            .decodeAndWrite().contains { $0.contains("scaled to 256×256") })

        // An output folder that does not exist is reported before decoding.
        let output = folder.appendingPathComponent("absent/clip.png").path
        do {
            _ = try ClipCommand.parse([video.path, "--output", output]).decodeAndWrite()
            Issue.record("writing into a missing folder succeeded")
        } catch let error as ClipCommandError {
            #expect("\(error)".contains(folder.appendingPathComponent("absent").path))
        }
        #expect(!FileManager.default.fileExists(atPath: output))
    }
}
