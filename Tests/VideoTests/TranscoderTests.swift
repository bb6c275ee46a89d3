import Foundation
import TestSupport
import Testing
@testable import Video

/// The PSNR of two equally long byte arrays, in dB (infinite when equal).
func peakSignalToNoise(_ a: [UInt8], _ b: [UInt8]) -> Double {
    guard a.count == b.count, !a.isEmpty else { return -.infinity }
    var sum = 0.0
    for index in 0..<a.count {
        let difference = Double(Int(a[index]) - Int(b[index]))
        sum += difference * difference
    }
    return sum == 0 ? .infinity : 10 * log10(255 * 255 / (sum / Double(a.count)))
}

/// A reader over bytes held by an array (what a shard's mapping is to the store).
final class ByteOwner {
    let bytes: UnsafeMutableRawBufferPointer
    init(_ array: [UInt8]) {
        bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: max(array.count, 1), alignment: 16)
        bytes.copyBytes(from: array)
    }
    deinit { bytes.deallocate() }
    func reader(count: Int, probing: StreamProbing = .containerHeaderOnly) throws -> VideoReader {
        try VideoReader(bytes: UnsafeRawBufferPointer(rebasing: bytes[0..<count]), keepingAlive: self, name: "member.mp4",
                        format: "mp4", probing: probing)
    }
}

extension TranscodedVideo {
    func reader(probing: StreamProbing = .containerHeaderOnly) throws -> VideoReader {
        try ByteOwner(bytes).reader(count: bytes.count, probing: probing)
    }
}

@Suite("Transcoder")
struct TranscoderTests {
    /// Options that never scale the test videos (their short sides are at most 320).
    static let unscaled = TranscodingOptions(shortSide: 320)

    @Test("output sizes: the short side brought down to 256, never up, even sides")
    func outputSizes() {
        let options = TranscodingOptions()
        let cases: [(Int, Int, Int, Int)] = [(640, 360, 456, 256), (360, 640, 256, 456), (1920, 1080, 456, 256),
                                             (1280, 720, 456, 256), (320, 240, 320, 240), (177, 131, 176, 130),
                                             (256, 256, 256, 256), (300, 257, 298, 256), (4000, 258, 3968, 256)]
        for (width, height, expectedWidth, expectedHeight) in cases {
            let size = options.outputSize(width: width, height: height)
            #expect(size.width == expectedWidth && size.height == expectedHeight, "\(width)×\(height) gave \(size)")
        }
    }

    @Test("bad options are named")
    func badOptions() {
        #expect(TranscodingOptions().problems.isEmpty)
        #expect(TranscodingOptions(framesPerSecond: 0, keyframeInterval: 5).problems.count == 1)
        #expect(TranscodingOptions(framesPerSecond: 8).keyframeInterval == 8)
        #expect(TranscodingOptions(shortSide: 255).problems.count == 1)
        #expect(TranscodingOptions(keyframeInterval: 0).problems.count == 1)
        #expect(TranscodingOptions(preset: "quick").problems.first?.contains("veryfast") == true)
        #expect(TranscodingOptions(tune: "fast").problems.count == 1)
        #expect(throws: VideoError.self) { try VideoTranscoder(options: TranscodingOptions(constantRateFactor: 60)) }
    }

    @Test("every test video: the store holds the frames `ffmpeg -vf fps=5` gives; clips agree with the raw path's",
          arguments: ["h264-bt709.mkv", "vp9.webm", "mpeg4.avi", "h264-audio.mov", "odd-size.webm", "portrait.mp4",
                      "full-range-mjpeg.mkv", "tiny-short-gop.mp4", "rotated-90.mp4", "rotated-180.mp4",
                      "rotated-270.mov", "variable-rate.mkv", "bikes.mp4", "carphone_pristine.mp4"])
    func wholeVideoAgrees(_ name: String) throws {
        let video = try TestVideos.named(name)
        let transcoded = try VideoTranscoder(options: Self.unscaled).transcode(video.url)
        let raw = try VideoReader(url: video.url)
        let upright = raw.rotationDegrees % 180 == 90 ? (raw.height, raw.width) : (raw.width, raw.height)
        #expect(transcoded.width == upright.0 & ~1 && transcoded.height == upright.1 & ~1)
        // The oracle: the whole video through `ffmpeg`'s fps filter (no seek), top-left squares.
        let side = min(transcoded.width, transcoded.height)
        let ffmpeg = try TestVideos.ffmpeg().executable
        let folder = try TestEnvironment.temporaryDirectory("transcoder")
        defer { try? FileManager.default.removeItem(at: folder) }
        let output = folder.appendingPathComponent("frames.rgb")
        let result = try runProcess(ffmpeg, ["-nostdin", "-v", "error", "-i", video.url.path, "-an", "-filter_complex",
                                             "[0]fps=fps=5,crop=\(side):\(side):0:0", "-pix_fmt", "rgb24", "-f", "rawvideo",
                                             output.path])
        #expect(result.status == 0, "ffmpeg failed: \(result.standardError)")
        let frameBytes = side * side * 3
        let oracle = [UInt8](try Data(contentsOf: output))
        let stored = try transcoded.reader().allFrames(size: side, cropping: .window,
                                                        cropOffset: CropOffset(horizontal: 0, vertical: 0))
        #expect(stored.frameCount == transcoded.frameCount)
        #expect(transcoded.frameCount * frameBytes == oracle.count, "\(transcoded.frameCount) frames, ffmpeg gives \(oracle.count / frameBytes)")
        var psnr: [Double] = []
        for index in 0..<min(stored.frameCount, oracle.count / frameBytes) {
            psnr.append(peakSignalToNoise(try #require(stored.frame(index)).pixels,
                                          Array(oracle[(index * frameBytes)..<((index + 1) * frameBytes)])))
        }
        // Clips cut from the middle by the raw path and from the store, by the same requests.
        let storeReader = try transcoded.reader()
        for start in stride(from: 1.0, to: max(1, raw.durationSeconds - 1), by: 1) {
            let clip = ClipRequest(startSeconds: start, frameCount: 4, framesPerSecond: 5, size: (side / 2) & ~1,
                                   cropOffset: CropOffset(horizontal: 0.2, vertical: 0.7), flipped: start == 2)
            psnr.append(peakSignalToNoise(try storeReader.clip(clip).pixels, try raw.clip(clip).pixels))
        }
        let worst = psnr.min() ?? -.infinity
        print("\(name): \(transcoded.frameCount) frames \(transcoded.width)×\(transcoded.height), "
              + "\(transcoded.bytes.count) bytes, worst PSNR \(worst) dB over \(psnr.count) frames and clips")
        #expect(worst >= 30, "\(name): a frame differs by PSNR \(worst) dB")
    }

    @Test("the same video twice, in parallel: byte-identical files")
    func deterministic() async throws {
        let video = try TestVideos.named("h264-bt709.mkv")
        let options = TranscodingOptions(shortSide: 128)
        async let first = Task.detached { try VideoTranscoder(options: options).transcode(video.url).bytes }.value
        async let second = Task.detached { try VideoTranscoder(options: options).transcode(video.url).bytes }.value
        let (a, b) = try await (first, second)
        #expect(!a.isEmpty)
        #expect(a == b)
        let third = try VideoTranscoder(options: options).transcode(video.url).bytes
        #expect(a == third)
    }

    @Test("keyframes exactly every keyframe interval; no audio; the declared rate and size")
    func structure() throws {
        let video = try TestVideos.named("h264-audio.mov")
        let options = TranscodingOptions(framesPerSecond: 5, shortSide: 128, keyframeInterval: 4)
        let transcoded = try VideoTranscoder(options: options).transcode(video.url)
        let folder = try TestEnvironment.temporaryDirectory("transcoder")
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("member.mp4")
        try Data(transcoded.bytes).write(to: file)
        let ffprobe = try TestVideos.ffmpeg().executable.deletingLastPathComponent().appendingPathComponent("ffprobe")
        let streams = try runProcess(ffprobe, ["-v", "error", "-show_entries", "stream=codec_type,codec_name,width,height,avg_frame_rate,nb_frames",
                                               "-of", "csv=p=0", file.path])
        #expect(streams.status == 0, "ffprobe failed: \(streams.standardError)")
        let lines = streams.standardOutput.split(separator: "\n")
        #expect(lines.count == 1, "one stream expected: \(streams.standardOutput)")
        #expect(lines.first == "h264,video,170,128,5/1,\(transcoded.frameCount)")
        let frames = try runProcess(ffprobe, ["-v", "error", "-select_streams", "v", "-show_entries", "frame=key_frame,pict_type",
                                              "-of", "csv=p=0", file.path])
        let keys = frames.standardOutput.split(separator: "\n").map { $0.hasPrefix("1") }
        #expect(keys.count == transcoded.frameCount)
        #expect(keys.enumerated().allSatisfy { $0.element == ($0.offset % 4 == 0) })
        #expect(!frames.standardOutput.contains(",B"))
    }

    @Test("a reader over bytes in memory gives what a reader of the same file gives")
    func memoryReaderAgreesWithFile() throws {
        let video = try TestVideos.named("bikes.mp4")
        let transcoded = try VideoTranscoder(options: TranscodingOptions(shortSide: 256)).transcode(video.url)
        let folder = try TestEnvironment.temporaryDirectory("transcoder")
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("member.mp4")
        try Data(transcoded.bytes).write(to: file)
        let fromFile = try VideoReader(url: file)
        for probing in [StreamProbing.containerHeaderOnly, .decodeFirstFrames] {
            let fromMemory = try transcoded.reader(probing: probing)
            #expect(fromMemory.width == fromFile.width && fromMemory.height == fromFile.height)
            #expect(fromMemory.framesPerSecond == fromFile.framesPerSecond)
            #expect(abs(fromMemory.durationSeconds - fromFile.durationSeconds) < 1e-9)
            #expect(fromMemory.declaredFrameCount == transcoded.frameCount)
            for start in [0.0, 1, 3, 6, 9] {
                for flipped in [false, true] {
                    let request = ClipRequest(startSeconds: start, frameCount: 8, framesPerSecond: 5, size: 112,
                                              cropOffset: CropOffset(horizontal: 0.3, vertical: 0.8), flipped: flipped)
                    #expect(try fromMemory.clip(request) == fromFile.clip(request), "clip at \(start) s differs")
                }
            }
        }
    }

    @Test("quality measured against the encoder's input")
    func measuredQuality() throws {
        let video = try TestVideos.named("carphone_pristine.mp4")
        let good = try VideoTranscoder(options: TranscodingOptions(constantRateFactor: 18), measuresQuality: true).transcode(video.url)
        let poor = try VideoTranscoder(options: TranscodingOptions(constantRateFactor: 40), measuresQuality: true).transcode(video.url)
        let goodQuality = try #require(good.quality)
        let poorQuality = try #require(poor.quality)
        #expect(goodQuality.frames == good.frameCount)
        #expect(goodQuality.lumaPSNR > 35 && goodQuality.lumaPSNR.isFinite)
        #expect(poorQuality.lumaPSNR < goodQuality.lumaPSNR - 5)
        #expect(poor.bytes.count < good.bytes.count)
    }

    @Test("bad inputs are errors naming the file, never crashes")
    func badInputs() throws {
        let folder = try TestEnvironment.temporaryDirectory("transcoder")
        defer { try? FileManager.default.removeItem(at: folder) }
        let empty = folder.appendingPathComponent("empty.mp4")
        try Data().write(to: empty)
        let text = folder.appendingPathComponent("text.mp4")
        try Data("not a video at all".utf8).write(to: text)
        let transcoder = try VideoTranscoder(options: TranscodingOptions())
        for url in [empty, text, folder.appendingPathComponent("missing.mp4")] {
            #expect(throws: VideoError.self) { try transcoder.transcode(url) }
        }
        let garbage = ByteOwner(Array("garbage bytes that are no MP4 file".utf8))
        #expect(throws: VideoError.self) { try garbage.reader(count: 20) }
        // A truncated member: the first half of a real one.
        let whole = try transcoder.transcode(try TestVideos.named("bikes.mp4").url)
        let truncated = ByteOwner(Array(whole.bytes.prefix(whole.bytes.count / 2)))
        do {
            let reader = try truncated.reader(count: whole.bytes.count / 2)
            _ = try reader.clip(ClipRequest(startSeconds: 1, frameCount: 4, size: 64))
        } catch let error as VideoError {
            #expect(error.path == "member.mp4")
        }
    }
}
