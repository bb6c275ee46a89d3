import Foundation
import MILNCE
import Testing
import TestSupport

/// Decodes a PNG twice: with PIL, and by hand (chunk CRCs with `zlib.crc32`, the image data with
/// `zlib.decompress`, which checks Adler-32, filter type 0 on every row). Writes PIL's RGB bytes
/// to the output path and prints what it found.
private let decodeScript = """
import json, struct, sys, zlib
from PIL import Image

path, output = sys.argv[1:3]
data = open(path, 'rb').read()
assert data[:8] == b'\\x89PNG\\r\\n\\x1a\\n', 'signature'
position, chunks, idat = 8, [], b''
while position < len(data):
    length, kind = struct.unpack('>I4s', data[position:position + 8])
    body = data[position + 8:position + 8 + length]
    crc, = struct.unpack('>I', data[position + 8 + length:position + 12 + length])
    assert crc == zlib.crc32(kind + body), 'CRC of ' + kind.decode()
    chunks.append(kind.decode())
    if kind == b'IDAT':
        idat += body
    position += 12 + length
width, height, depth, colour, compression, filtering, interlace = struct.unpack('>IIBBBBB', data[16:29])
raw = zlib.decompress(idat)
stride = width * 3 + 1
assert len(raw) == height * stride, 'scanline bytes'
filters = set(raw[row * stride] for row in range(height))
manual = b''.join(raw[row * stride + 1:(row + 1) * stride] for row in range(height))

image = Image.open(path)
image.load()
pixels = image.convert('RGB').tobytes()
assert pixels == manual, 'PIL and zlib disagree'
open(output, 'wb').write(pixels)
print(json.dumps({'chunks': chunks, 'mode': image.mode, 'size': list(image.size), 'depth': depth,
                  'colour': colour, 'filters': sorted(filters), 'compressed': len(idat)}))
"""

/// Decodes `png` in Python and returns what it reported and the decoded RGB bytes.
func decodePNGWithPython(_ png: [UInt8]) throws -> (report: [String: Any], pixels: [UInt8]) {
    let directory = try TestEnvironment.temporaryDirectory("png")
    defer { try? FileManager.default.removeItem(at: directory) }
    let input = directory.appendingPathComponent("image.png")
    let output = directory.appendingPathComponent("pixels.rgb")
    try Data(png).write(to: input)
    let report = try #require(try EvaluationOracle.json(decodeScript, arguments: [input.path, output.path]) as? [String: Any])
    return (report, [UInt8](try Data(contentsOf: output)))
}

/// A generated test image.
private struct ImageCase: CustomTestStringConvertible, Sendable {
    var name: String
    var width: Int
    var height: Int
    var compression: PNGEncoder.Compression

    var testDescription: String { "\(name) \(width)x\(height) \(compression)" }

    func make() -> RGBImage {
        var image = RGBImage(width: width, height: height, background: RGBColor(red: 250, green: 250, blue: 250))
        var random = EvaluationTestRandom(seed: UInt64(width * 7919 + height))
        for y in 0..<height {
            for x in 0..<width {
                switch name {
                case "noise":
                    image.set(x: x, y: y, to: RGBColor(red: .random(in: 0...255, using: &random),
                                                       green: .random(in: 0...255, using: &random),
                                                       blue: .random(in: 0...255, using: &random)))
                case "gradient":
                    image.set(x: x, y: y, to: RGBColor(red: UInt8(x * 255 / max(width - 1, 1)),
                                                       green: UInt8(y * 255 / max(height - 1, 1)), blue: 128))
                default:
                    // Stripes and flat areas: long matches at many distances.
                    if (x / 7 + y / 5) % 3 == 0 { image.set(x: x, y: y, to: RGBColor(red: 200, green: 30, blue: 40)) }
                }
            }
        }
        return image
    }
}

private let imageCases: [ImageCase] = [
    ImageCase(name: "noise", width: 61, height: 37, compression: .fixedHuffman),
    ImageCase(name: "noise", width: 61, height: 37, compression: .stored),
    ImageCase(name: "gradient", width: 256, height: 130, compression: .fixedHuffman),
    ImageCase(name: "stripes", width: 700, height: 90, compression: .fixedHuffman),
    ImageCase(name: "stripes", width: 300, height: 250, compression: .stored),
    ImageCase(name: "flat", width: 1, height: 1, compression: .fixedHuffman),
    ImageCase(name: "flat", width: 1, height: 1, compression: .stored),
    // Wider than deflate's 32 KiB window, so rows cannot match the row above.
    ImageCase(name: "stripes", width: 11000, height: 3, compression: .fixedHuffman),
]

@Suite("PNG encoder")
struct PNGEncoderTests {
    @Test("PIL and zlib decode the exact pixels", arguments: imageCases)
    fileprivate func decodesExactly(_ testCase: ImageCase) throws {
        let image = testCase.make()
        let png = try PNGEncoder.encode(image, compression: testCase.compression)
        let (report, pixels) = try decodePNGWithPython(png)
        #expect(report["chunks"] as? [String] == ["IHDR", "IDAT", "IEND"])
        #expect(report["mode"] as? String == "RGB")
        #expect(report["size"] as? [Int] == [testCase.width, testCase.height])
        #expect(report["filters"] as? [Int] == [0])
        #expect(pixels == image.pixels)
        if testCase.name == "stripes", testCase.compression == .fixedHuffman {
            // Repetitive images compress (rows carry no filter, so gradients do not).
            #expect((report["compressed"] as? Int ?? .max) < image.pixels.count / 4)
        }
    }

    @Test("rejects impossible sizes and short buffers")
    func errors() {
        #expect(throws: PNGEncodingError.invalidSize(width: 0, height: 3)) {
            try PNGEncoder.encode(rgb: [], width: 0, height: 3)
        }
        #expect(throws: PNGEncodingError.pixelCountMismatch(byteCount: 5, width: 2, height: 1)) {
            try PNGEncoder.encode(rgb: [1, 2, 3, 4, 5], width: 2, height: 1)
        }
        #expect(throws: PNGEncodingError.self) {
            try PNGEncoder.encode(rgb: [], width: Int.max / 2, height: Int.max / 2)
        }
    }
}
