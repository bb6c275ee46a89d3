import Foundation
import TestSupport
import Testing

@Suite("Resources")
struct ResourceTests {
    /// The largest growth accepted over 500 clips: leaking one small decoded picture per clip
    /// would exceed it several times over.
    static let allowedGrowth = 12 * 1_048_576

    /// Decodes many clips in a process of its own (`MemoryProbe video-clips`), so that the other
    /// tests' allocations do not blur the measurement, and checks how much resident memory grew.
    @Test("500 clips in a loop do not grow resident memory")
    func noGrowth() throws {
        let ffmpeg = try TestVideos.ffmpeg()
        let folder = try TestEnvironment.temporaryDirectory("resources")
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("small.mp4")
        let encoded = try runProcess(ffmpeg.executable, [
            "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=128x96:rate=25", "-t", "3",
            "-c:v", "libx264", "-preset", "veryfast", "-g", "10", "-pix_fmt", "yuv420p", url.path])
        try #require(encoded.status == 0, "encoding failed: \(encoded.standardError)")

        let report = try MemoryProbe.run("video-clips", arguments: [url.path])
        let growth = try report.figure("resident-after") - report.figure("resident-before")
        print("resources: resident memory grew by \(growth / 1024) KiB over 500 clips")
        #expect(try report.figure("decoded-frames") > 560 * 3, "\(report)")
        #expect(growth < ResourceTests.allowedGrowth, "\(report)")
    }
}
