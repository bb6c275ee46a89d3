import Foundation
import TestSupport
import Testing
@testable import Video

/// The process's resident memory in bytes (`/proc/self/statm`), or `nil` off Linux.
func residentBytes() -> Int? {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return nil }
    let fields = text.split(separator: " ")
    guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}

/// Decodes many clips and measures how much resident memory grows. It runs in a process of its
/// own (an exit test), so that the other tests' allocations do not blur the measurement.
enum ClipLoop {
    /// The largest growth accepted over 500 clips: leaking one small decoded picture per clip
    /// would exceed it several times over.
    static let allowedGrowth = 12 * 1_048_576

    /// Encodes a small video, decodes 60 clips to warm up, then 500 more; returns the growth in bytes.
    static func measureGrowth() throws -> Int {
        let ffmpeg = try FFmpegCommand()
        let folder = try TestEnvironment.temporaryDirectory("resources")
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("small.mp4")
        let encoded = try runProcess(ffmpeg.executable, [
            "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=128x96:rate=25", "-t", "3",
            "-c:v", "libx264", "-preset", "veryfast", "-g", "10", "-pix_fmt", "yuv420p", url.path])
        guard encoded.status == 0 else { throw TestSupportError("encoding failed: \(encoded.standardError)") }
        let missing = folder.appendingPathComponent("nothing.mp4")
        var decoded = 0
        func decodeClips(_ count: Int) throws {
            let shared = try VideoReader(url: url)
            for index in 0..<count {
                let request = ClipRequest(startSeconds: Double(index % 5) * 0.5, frameCount: 6, framesPerSecond: 10,
                                          size: 48, cropping: index % 2 == 0 ? .scaledSquare : .window,
                                          cropOffset: CropOffset(horizontal: Double(index % 7) / 6, vertical: 0.3),
                                          flipped: index % 3 == 0)
                // Half the clips on a fresh reader (open, decode, free), half on a reused one.
                let clip = index % 2 == 0 ? try VideoReader(url: url).clip(request) : try shared.clip(request)
                decoded += clip.decodedFrameCount
                if index % 50 == 0 { _ = try? VideoReader(url: missing) } // failures free what they opened
            }
        }
        try decodeClips(60) // allocator pools and caches reach their working size
        guard let before = residentBytes() else { throw TestSupportError("/proc/self/statm is not readable") }
        try decodeClips(500)
        guard let after = residentBytes() else { throw TestSupportError("/proc/self/statm is not readable") }
        guard decoded > 560 * 3 else { throw TestSupportError("only \(decoded) frames were decoded") }
        print("resources: resident memory \(before / 1_048_576) MiB before, \(after / 1_048_576) MiB after 500 clips")
        return after - before
    }
}

@Suite("Resources")
struct ResourceTests {
    @Test("500 clips in a loop do not grow resident memory")
    func noGrowth() async throws {
        guard residentBytes() != nil else { try TestEnvironment.skipOrFail("/proc/self/statm is not available") }
        _ = try TestVideos.ffmpeg()
        let result = await #expect(processExitsWith: .success, observing: [\.standardOutputContent]) {
            do {
                let growth = try ClipLoop.measureGrowth()
                print("resources: grew by \(growth / 1024) KiB")
                exit(growth < ClipLoop.allowedGrowth ? EXIT_SUCCESS : EXIT_FAILURE)
            } catch {
                print("resources: \(error)")
                exit(EXIT_FAILURE)
            }
        }
        if let result {
            print(String(decoding: result.standardOutputContent, as: UTF8.self))
        }
    }
}
