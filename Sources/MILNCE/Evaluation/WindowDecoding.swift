// Decoding the windows of one evaluation video, exactly as the reference's loaders do: the same
// window starts, the same `ffmpeg` frames (through the in-process reader), the same centred
// square crop scaled to size, the same black padding.

import FoundationEssentials
import Video

// MARK: - Decoded windows

/// The windows of one video, ready for the network: `windowCount x 3 x frameCount x size x size`
/// bytes (`uint8` RGB, channel-major per window).
public struct DecodedWindows: Sendable {
    /// The file the windows came from.
    public var path: URL
    /// Where each window starts: seconds for clips resampled to a frame rate, the first frame's
    /// index for HMDB-51's native-rate windows.
    public var starts: [Double]
    /// How many frames of each window came from the video; the rest are black padding.
    public var decodedFrameCounts: [Int]
    /// The pixels of every window, one after another.
    public var pixels: [UInt8]

    /// The number of windows that hold no decoded frame at all (past the end of the video).
    public var emptyWindowCount: Int { decodedFrameCounts.reduce(0) { $0 + ($1 == 0 ? 1 : 0) } }
}

// MARK: - Decoding

/// The reference's decoding of evaluation windows.
public enum EvaluationDecoding {
    /// The first of `candidates` that is a file.
    ///
    /// - Throws: `EvaluationError.videoNotFound` naming every candidate when none exists.
    public static func existingVideo(among candidates: [URL]) throws -> URL {
        for candidate in candidates {
            var isDirectory = false
            if FileManager.default.fileExists(atPath: candidate.path, isDirectory: &isDirectory), !isDirectory {
                return candidate
            }
        }
        throw EvaluationError.videoNotFound(candidates: candidates.map(\.path))
    }

    /// The clip request of the window starting at `startSeconds`: `num_sec + 0.1` seconds
    /// resampled to the frame rate, the centred largest square scaled to size.
    public static func windowRequest(startSeconds: Double, settings: EvaluationClipSettings) -> ClipRequest {
        ClipRequest(startSeconds: startSeconds, frameCount: settings.frameCount,
                    framesPerSecond: settings.framesPerSecond, size: settings.size, cropping: .scaledSquare,
                    cropOffset: .centered, durationSeconds: settings.windowSeconds + 0.1)
    }

    /// The windows of a retrieval item (YouCook2 or MSR-VTT): `windowCount` windows whose starts
    /// spread from the stretch's start to `end - num_sec - 0.4` (the duration the container
    /// declares is the end of a whole video).
    ///
    /// - Throws: `EvaluationError.videoNotFound` when no candidate file exists, `VideoError`
    ///   when the video cannot be decoded.
    public static func windows(of item: RetrievalItem, settings: EvaluationClipSettings) throws -> DecodedWindows {
        let url = try existingVideo(among: item.candidatePaths)
        let reader = try VideoReader(url: url, threadCount: 1)
        let start: Double
        let end: Double
        switch item.timeRange {
        case .seconds(let first, let last):
            (start, end) = (first, last)
        case .wholeVideo:
            (start, end) = (0, reader.durationSeconds)
        }
        return try windows(of: reader, startSeconds: start, endSeconds: end, settings: settings)
    }

    /// The windows of an opened video between two times.
    static func windows(of reader: VideoReader, startSeconds: Double, endSeconds: Double,
                        settings: EvaluationClipSettings) throws -> DecodedWindows {
        let starts = EvaluationWindows.clipStartSeconds(startSeconds: startSeconds, endSeconds: endSeconds,
                                                        windowSeconds: settings.windowSeconds,
                                                        count: settings.windowCount)
        var pixels: [UInt8] = []
        pixels.reserveCapacity(settings.windowCount * settings.windowByteCount)
        var decoded: [Int] = []
        for start in starts {
            let clip = try reader.clip(windowRequest(startSeconds: start, settings: settings))
            pixels.append(contentsOf: clip.pixels)
            decoded.append(clip.decodedFrameCount)
        }
        return DecodedWindows(path: reader.url, starts: starts, decodedFrameCounts: decoded, pixels: pixels)
    }

    /// The windows of an HMDB-51 video: every frame at the native rate, the centred largest
    /// square scaled to size, padded with black frames to at least `frameCount`, then
    /// `windowCount` windows of `frameCount` consecutive frames starting at
    /// `linspace(0, frames - frameCount, windowCount)` (integer).
    ///
    /// - Throws: `VideoError` when the file is missing or cannot be decoded.
    public static func nativeRateWindows(of url: URL, settings: EvaluationClipSettings) throws -> DecodedWindows {
        let video = try VideoReader(url: url, threadCount: 1).allFrames(size: settings.size, cropping: .scaledSquare,
                                                                        cropOffset: .centered)
        return nativeRateWindows(of: video, path: url, settings: settings)
    }

    /// Cuts the windows out of a whole decoded video (`3 x frames x size x size`).
    static func nativeRateWindows(of video: Clip, path: URL, settings: EvaluationClipSettings) -> DecodedWindows {
        let frames = video.frameCount
        let window = settings.frameCount
        let plane = video.size * video.size
        let starts = EvaluationWindows.frameStarts(videoFrameCount: frames, windowFrames: window,
                                                   count: settings.windowCount)
        var pixels = [UInt8](repeating: 0, count: settings.windowCount * 3 * window * plane)
        var decoded: [Int] = []
        pixels.withUnsafeMutableBufferPointer { output in
            video.pixels.withUnsafeBufferPointer { source in
                for (index, start) in starts.enumerated() {
                    let available = max(0, min(window, frames - start))
                    decoded.append(available)
                    guard available > 0, let sourceBase = source.baseAddress, let outputBase = output.baseAddress else {
                        continue
                    }
                    for channel in 0..<3 {
                        let from = sourceBase + (channel * frames + start) * plane
                        let to = outputBase + ((index * 3 + channel) * window) * plane
                        to.update(from: from, count: available * plane)
                    }
                }
            }
        }
        return DecodedWindows(path: path, starts: starts.map(Double.init), decodedFrameCounts: decoded, pixels: pixels)
    }
}
