import Foundation
import TestSupport
import Testing
@testable import Video

/// What `ffprobe` says about a video.
struct ProbeResult {
    var durationSeconds: Double?
    var framesPerSecond: Double
    var width: Int
    var height: Int
    var codecName: String
    /// The display matrix's rotation (ffprobe's `rotation` side data), 0 when there is none.
    var rotationDegrees: Int

    /// Runs `ffprobe` (beside the `ffmpeg` program) on `url`.
    static func probe(_ url: URL) throws -> ProbeResult {
        let ffprobe = try TestVideos.ffmpeg().executable.deletingLastPathComponent().appendingPathComponent("ffprobe")
        guard FileManager.default.isExecutableFile(atPath: ffprobe.path) else {
            throw TestEnvironment.missingOracle("the ffprobe command (beside ffmpeg)")
        }
        let result = try runProcess(ffprobe, [
            "-v", "error", "-select_streams", "v:0", "-of", "json",
            "-show_entries", "format=duration:stream=codec_name,width,height,avg_frame_rate,r_frame_rate:stream_side_data=rotation",
            url.path])
        guard result.status == 0,
              let json = try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any],
              let streams = json["streams"] as? [[String: Any]], let stream = streams.first else {
            throw TestSupportError("ffprobe failed on \(url.path): \(result.standardError)")
        }
        func rate(_ text: Any?) -> Double {
            let parts = (text as? String ?? "0/0").split(separator: "/").compactMap { Double($0) }
            guard parts.count == 2, parts[1] != 0 else { return 0 }
            return parts[0] / parts[1]
        }
        let average = rate(stream["avg_frame_rate"])
        let format = json["format"] as? [String: Any]
        return ProbeResult(
            durationSeconds: (format?["duration"] as? String).flatMap(Double.init),
            framesPerSecond: average > 0 ? average : rate(stream["r_frame_rate"]),
            width: stream["width"] as? Int ?? 0, height: stream["height"] as? Int ?? 0,
            codecName: stream["codec_name"] as? String ?? "",
            rotationDegrees: ((stream["side_data_list"] as? [[String: Any]])?.compactMap { $0["rotation"] as? Int }.first) ?? 0)
    }
}

@Suite("Probing")
struct ProbingTests {
    static let videos = ["bikes.mp4", "bigbuckbunny.mp4", "carphone_pristine.mp4"] + TestVideos.recipes.map(\.name)

    @Test("duration, frame rate, size and codec agree with ffprobe", arguments: videos)
    func agreesWithFFprobe(_ name: String) throws {
        let video = try TestVideos.named(name)
        let expected = try ProbeResult.probe(video.url)
        let reader = try VideoReader(url: video.url)
        // ffprobe prints the duration with six decimals.
        let duration = try #require(expected.durationSeconds)
        #expect(abs(reader.durationSeconds - duration) <= 0.000_001, "\(reader.durationSeconds) vs \(duration)")
        #expect(abs(reader.framesPerSecond - expected.framesPerSecond) <= 1e-9)
        #expect(reader.width == expected.width)
        #expect(reader.height == expected.height)
        #expect(reader.codecName == expected.codecName)
        #expect(reader.rotationDegrees == ((expected.rotationDegrees % 360) + 360) % 360)
        #expect(reader.rotationDegrees != 0 || TestVideos.recipes.first { $0.name == name }?.rotation == nil)
    }
}
