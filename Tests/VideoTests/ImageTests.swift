import Foundation
import TestSupport
import Testing
@testable import Video

@Suite("Images and raw frames")
struct ImageTests {
    @Test("a PNG reads back with the same pixels")
    func pngRoundTrip() throws {
        let folder = try TestEnvironment.temporaryDirectory("png")
        defer { try? FileManager.default.removeItem(at: folder) }
        let frame = try #require(syntheticFrames(count: 1, width: 37, height: 23).first)
        let image = try #require(RGBImage(width: 37, height: 23, pixels: frame))
        let url = folder.appendingPathComponent("image.png")
        try image.writePNG(to: url)
        let data = try Data(contentsOf: url)
        #expect(Array(data.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        // FFmpeg reads a PNG as a one-frame video; a window the size of the image is the image.
        let reader = try VideoReader(url: url)
        #expect(reader.width == 37 && reader.height == 23)
        let square = try #require(RGBImage(width: 22, height: 22, pixels: croppedSquare(frame, width: 37, side: 22, x: 0, y: 0)))
        let clip = try reader.allFrames(size: 22, cropping: .window, cropOffset: CropOffset(horizontal: 0, vertical: 0))
        #expect(clip.frameCount == 1)
        #expect(clip.frame(0) == square)
        #expect(throws: VideoError.self) { try image.writePNG(to: folder.appendingPathComponent("no/such/folder.png")) }
    }

    @Test("a contact sheet tiles the clip's frames with separators")
    func contactSheet() throws {
        let size = 5, count = 5
        var pixels = [UInt8](repeating: 0, count: 3 * count * size * size)
        for index in pixels.indices { pixels[index] = UInt8(index % 200) }
        let clip = try #require(Clip(frameCount: count, size: size, decodedFrameCount: count, pixels: pixels))
        #expect(Clip(frameCount: count, size: size + 1, decodedFrameCount: count, pixels: pixels) == nil)
        #expect(Clip(frameCount: count, size: size, decodedFrameCount: count + 1, pixels: pixels) == nil)
        let sheet = try #require(RGBImage.contactSheet(of: clip, columns: 3, separator: 2, separatorGray: 255))
        #expect(sheet.width == 3 * size + 2 * 2)
        #expect(sheet.height == 2 * size + 2)
        for index in 0..<count {
            let frame = try #require(clip.frame(index))
            let left = (index % 3) * (size + 2), top = (index / 3) * (size + 2)
            for y in 0..<size {
                for x in 0..<size {
                    let sheetIndex = ((top + y) * sheet.width + left + x) * 3
                    let frameIndex = (y * size + x) * 3
                    #expect(Array(sheet.pixels[sheetIndex..<sheetIndex + 3]) == Array(frame.pixels[frameIndex..<frameIndex + 3]))
                }
            }
        }
        // The separator column between the first two tiles, and the empty sixth tile, are white.
        let separatorIndex = (0 * sheet.width + size) * 3
        #expect(Array(sheet.pixels[separatorIndex..<separatorIndex + 3]) == [255, 255, 255])
        let emptyIndex = ((size + 2) * sheet.width + 2 * (size + 2)) * 3
        #expect(Array(sheet.pixels[emptyIndex..<emptyIndex + 3]) == [255, 255, 255])
        let empty = try #require(Clip(frameCount: 0, size: 4, decodedFrameCount: 0, pixels: []))
        #expect(RGBImage.contactSheet(of: empty) == nil)
    }

    @Test("the raw .rgb file is byte for byte what ffmpeg writes")
    func rawFile() throws {
        let ffmpeg = try TestVideos.ffmpeg()
        let video = try TestVideos.named("bigbuckbunny.mp4")
        let folder = try TestEnvironment.temporaryDirectory("raw")
        defer { try? FileManager.default.removeItem(at: folder) }
        let request = ClipRequest(startSeconds: 3, frameCount: 6, framesPerSecond: 5, size: 96, cropping: .scaledSquare,
                                  cropOffset: CropOffset(horizontal: 0.2, vertical: 0.5), flipped: true)
        let ours = folder.appendingPathComponent("ours.rgb")
        try VideoReader(url: video.url).clip(request).writeRawRGB(to: ours)
        let theirs = folder.appendingPathComponent("theirs.rgb")
        var arguments = ffmpeg.arguments(for: request, of: video.url)
        arguments[arguments.count - 1] = theirs.path
        arguments.insert(contentsOf: ["-frames:v", "6"], at: arguments.count - 1)
        let result = try runProcess(ffmpeg.executable, arguments)
        #expect(result.status == 0, "\(result.standardError)")
        let ourData = try Data(contentsOf: ours)
        #expect(ourData.count == 6 * 96 * 96 * 3)
        #expect(ourData == (try Data(contentsOf: theirs)))
    }
}

/// The `side`×`side` square at (`x`, `y`) of a packed RGB image `width` pixels wide.
func croppedSquare(_ pixels: [UInt8], width: Int, side: Int, x: Int, y: Int) -> [UInt8] {
    var out: [UInt8] = []
    for row in y..<(y + side) {
        let start = (row * width + x) * 3
        out += pixels[start..<(start + side * 3)]
    }
    return out
}
