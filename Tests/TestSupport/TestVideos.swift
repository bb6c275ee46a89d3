import Foundation
import Video

/// Small videos written at test time, each with its own colours and motion so that a network
/// tells them apart.
public enum TestVideos {
    /// Writes a `width x height` MPEG-4 video of `seconds` at `framesPerSecond`; `seed` picks its
    /// colours and motion. The container follows the extension (`.mp4`, `.mkv`, `.avi`).
    public static func write(to url: URL, seconds: Double, framesPerSecond: Double = 10, width: Int = 64,
                             height: Int = 48, seed: Int) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let writer = try VideoWriter(url: url, width: width, height: height, framesPerSecond: framesPerSecond,
                                     codec: .mpeg4, keyframeInterval: 12)
        for frame in 0..<Int((seconds * framesPerSecond).rounded()) {
            var pixels = [UInt8](repeating: 0, count: width * height * 3)
            for y in 0..<height {
                for x in 0..<width {
                    let offset = (y * width + x) * 3
                    pixels[offset] = UInt8(truncatingIfNeeded: x * (3 + seed % 5) + frame * (4 + seed) + seed * 37)
                    pixels[offset + 1] = UInt8(truncatingIfNeeded: y * (2 + seed % 3) * 3 + seed * 71 - frame * 2)
                    pixels[offset + 2] = UInt8(truncatingIfNeeded: (x + y) * (seed % 4) + frame * 9 + seed * 13)
                }
            }
            try writer.append(rgb: pixels)
        }
        try writer.finish()
    }
}
