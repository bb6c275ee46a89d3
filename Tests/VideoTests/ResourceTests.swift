import Foundation
import Testing
@testable import Video

/// The process's resident memory in bytes (`/proc/self/statm`), or `nil` off Linux.
func residentBytes() -> Int? {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return nil }
    let fields = text.split(separator: " ")
    guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}

@Suite("Resources")
struct ResourceTests {
    @Test("500 clips in a loop do not grow resident memory")
    func noGrowth() throws {
        guard residentBytes() != nil else { try TestVideos.skipOrFail("/proc/self/statm is not available") }
        let video = try TestVideos.named("tiny-short-gop.mp4")
        let bad = try TestVideos.named("vp9.webm").url.deletingLastPathComponent().appendingPathComponent("nothing.mp4")
        var decoded = 0
        func decodeClips(_ count: Int) throws {
            let shared = try VideoReader(url: video.url)
            for index in 0..<count {
                let request = ClipRequest(startSeconds: Double(index % 5) * 0.5, frameCount: 6, framesPerSecond: 10,
                                          size: 48, cropping: index % 2 == 0 ? .scaledSquare : .window,
                                          cropOffset: CropOffset(horizontal: Double(index % 7) / 6, vertical: 0.3),
                                          flipped: index % 3 == 0)
                // Half the clips on a fresh reader (open, decode, free), half on a reused one.
                let clip = index % 2 == 0 ? try VideoReader(url: video.url).clip(request) : try shared.clip(request)
                decoded += clip.decodedFrameCount
                if index % 50 == 0 { _ = try? VideoReader(url: bad) } // failures free what they opened
            }
        }
        try decodeClips(60) // warm-up: allocator pools and caches reach their working size
        let before = try #require(residentBytes())
        try decodeClips(500)
        let after = try #require(residentBytes())
        let growth = after - before
        print("resources: resident memory \(before / 1_048_576) MiB before, \(after / 1_048_576) MiB after 500 clips")
        #expect(decoded > 500 * 3)
        #expect(growth < 12 * 1_048_576, "resident memory grew by \(growth / 1024) KiB")
    }
}
