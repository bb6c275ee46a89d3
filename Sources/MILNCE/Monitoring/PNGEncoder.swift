// MARK: - Errors

/// Why an image could not be encoded.
public enum PNGEncodingError: Error, CustomStringConvertible, Equatable {
    /// The size is zero, negative or beyond PNG's limits.
    case invalidSize(width: Int, height: Int)
    /// The pixel buffer does not hold `width × height × 3` bytes.
    case pixelCountMismatch(byteCount: Int, width: Int, height: Int)

    /// What failed, on what, and why.
    public var description: String {
        switch self {
        case let .invalidSize(width, height):
            return "encoding a PNG: the size \(width) x \(height) is not a valid PNG size"
        case let .pixelCountMismatch(byteCount, width, height):
            return "encoding a PNG: \(byteCount) bytes are not \(width) x \(height) RGB pixels"
        }
    }
}

// MARK: - PNG

/// Encodes RGB24 images as PNG: 8-bit truecolour, no interlacing, every scanline with filter
/// type 0, one `IDAT` chunk holding a zlib stream.
public enum PNGEncoder {
    /// How the zlib stream is compressed.
    public enum Compression: Sendable {
        /// Stored (uncompressed) deflate blocks.
        case stored
        /// One deflate block with the fixed Huffman codes and LZ77 matches.
        case fixedHuffman
    }

    /// The PNG file of an image.
    public static func encode(_ image: RGBImage, compression: Compression = .fixedHuffman) throws -> [UInt8] {
        try encode(rgb: image.pixels, width: image.width, height: image.height, compression: compression)
    }

    /// The PNG file of `height` rows of `width` RGB pixels (row-major, three bytes each).
    public static func encode(rgb pixels: [UInt8], width: Int, height: Int,
                              compression: Compression = .fixedHuffman) throws -> [UInt8] {
        guard width > 0, height > 0, width <= Int(Int32.max) / 4, height <= Int(Int32.max) else {
            throw PNGEncodingError.invalidSize(width: width, height: height)
        }
        let (count, overflow) = width.multipliedReportingOverflow(by: height * 3)
        guard !overflow, count == pixels.count else {
            throw PNGEncodingError.pixelCountMismatch(byteCount: pixels.count, width: width, height: height)
        }
        // Scanlines, each preceded by its filter type (0: none).
        let stride = width * 3
        var scanlines = [UInt8]()
        scanlines.reserveCapacity(height * (stride + 1))
        for row in 0..<height {
            scanlines.append(0)
            scanlines.append(contentsOf: pixels[(row * stride)..<((row + 1) * stride)])
        }

        var file: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        var header: [UInt8] = []
        appendBigEndian(UInt32(width), to: &header)
        appendBigEndian(UInt32(height), to: &header)
        header += [8, 2, 0, 0, 0] // bit depth, truecolour, deflate, adaptive filtering, no interlace
        appendChunk("IHDR", header, to: &file)
        appendChunk("IDAT", Zlib.compress(scanlines, compression: compression), to: &file)
        appendChunk("IEND", [], to: &file)
        return file
    }

    private static func appendChunk(_ type: String, _ data: [UInt8], to file: inout [UInt8]) {
        let typeBytes = Array(type.utf8)
        appendBigEndian(UInt32(data.count), to: &file)
        file += typeBytes
        file += data
        appendBigEndian(CRC32.checksum(data, continuing: CRC32.checksum(typeBytes)), to: &file)
    }

    static func appendBigEndian(_ value: UInt32, to bytes: inout [UInt8]) {
        bytes += [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
    }
}

// MARK: - zlib

/// A minimal zlib (RFC 1950) and deflate (RFC 1951) compressor.
enum Zlib {
    /// The zlib stream of `data`: header, deflate blocks, Adler-32.
    static func compress(_ data: [UInt8], compression: PNGEncoder.Compression) -> [UInt8] {
        var output: [UInt8] = [0x78, 0x01] // 32 KiB window, no dictionary; (0x78 << 8 | 0x01) % 31 == 0
        switch compression {
        case .stored: output += Deflate.stored(data)
        case .fixedHuffman: output += Deflate.fixedHuffman(data)
        }
        PNGEncoder.appendBigEndian(Adler32.checksum(data), to: &output)
        return output
    }
}

/// Deflate encoders: stored blocks, and one fixed-Huffman block with greedy LZ77 matching.
enum Deflate {
    /// Stored blocks of at most 65,535 bytes.
    static func stored(_ data: [UInt8]) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(data.count + data.count / 65535 * 5 + 5)
        var start = 0
        repeat {
            let end = min(start + 65535, data.count)
            let final: UInt8 = end == data.count ? 1 : 0
            let length = UInt16(end - start)
            output += [final, UInt8(length & 0xFF), UInt8(length >> 8), UInt8(~length & 0xFF), UInt8(~length >> 8)]
            output += data[start..<end]
            start = end
        } while start < data.count
        return output
    }

    // Lengths 3...258 and distances 1...32768 as (code, extra bits, base) per RFC 1951 3.2.5.
    private static let lengthBases: [Int] = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31,
                                             35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258]
    private static let lengthExtraBits: [Int] = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2,
                                                 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
    private static let distanceBases: [Int] = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193,
                                               257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145,
                                               8193, 12289, 16385, 24577]
    private static let distanceExtraBits: [Int] = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6,
                                                   7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13]

    private static let windowSize = 32768
    private static let minimumMatch = 3
    private static let maximumMatch = 258
    private static let hashBits = 15
    private static let maximumChain = 32

    /// One final block with the fixed Huffman codes.
    static func fixedHuffman(_ data: [UInt8]) -> [UInt8] {
        var writer = BitWriter()
        writer.write(1, bitCount: 1) // final block
        writer.write(1, bitCount: 2) // fixed Huffman codes
        data.withUnsafeBufferPointer { input in
            let count = input.count
            var head = [Int32](repeating: -1, count: 1 << hashBits)
            var previous = [Int32](repeating: -1, count: windowSize)
            head.withUnsafeMutableBufferPointer { head in
                previous.withUnsafeMutableBufferPointer { previous in
                    func hash(at position: Int) -> Int {
                        let value = Int(input[position]) << 10 ^ Int(input[position + 1]) << 5 ^ Int(input[position + 2])
                        return ((value &* 2_654_435_761) >> 7) & ((1 << hashBits) - 1)
                    }
                    func insert(_ position: Int) {
                        guard position + minimumMatch <= count else { return }
                        let key = hash(at: position)
                        previous[position & (windowSize - 1)] = head[key]
                        head[key] = Int32(position)
                    }
                    var position = 0
                    while position < count {
                        var bestLength = 0
                        var bestDistance = 0
                        if position + minimumMatch <= count {
                            var candidate = Int(head[hash(at: position)])
                            var chain = 0
                            let limit = min(maximumMatch, count - position)
                            while candidate >= 0, position - candidate <= windowSize, chain < maximumChain {
                                if input[candidate + bestLength] == input[position + bestLength] || bestLength == 0 {
                                    var length = 0
                                    while length < limit, input[candidate + length] == input[position + length] {
                                        length += 1
                                    }
                                    if length > bestLength {
                                        bestLength = length
                                        bestDistance = position - candidate
                                        if length == limit { break }
                                    }
                                }
                                let next = Int(previous[candidate & (windowSize - 1)])
                                guard next < candidate else { break }
                                candidate = next
                                chain += 1
                            }
                        }
                        if bestLength >= minimumMatch {
                            writeLength(bestLength, to: &writer)
                            writeDistance(bestDistance, to: &writer)
                            for offset in 0..<bestLength { insert(position + offset) }
                            position += bestLength
                        } else {
                            writeSymbol(Int(input[position]), to: &writer)
                            insert(position)
                            position += 1
                        }
                    }
                }
            }
        }
        writeSymbol(256, to: &writer) // end of block
        return writer.finish()
    }

    /// Writes a literal/length symbol (0...287) with its fixed Huffman code.
    private static func writeSymbol(_ symbol: Int, to writer: inout BitWriter) {
        switch symbol {
        case 0...143: writer.writeHuffman(0x30 + symbol, bitCount: 8)
        case 144...255: writer.writeHuffman(0x190 + symbol - 144, bitCount: 9)
        case 256...279: writer.writeHuffman(symbol - 256, bitCount: 7)
        default: writer.writeHuffman(0xC0 + symbol - 280, bitCount: 8)
        }
    }

    private static func writeLength(_ length: Int, to writer: inout BitWriter) {
        var code = lengthBases.count - 1
        while lengthBases[code] > length { code -= 1 }
        writeSymbol(257 + code, to: &writer)
        writer.write(UInt64(length - lengthBases[code]), bitCount: lengthExtraBits[code])
    }

    private static func writeDistance(_ distance: Int, to writer: inout BitWriter) {
        var code = distanceBases.count - 1
        while distanceBases[code] > distance { code -= 1 }
        writer.writeHuffman(code, bitCount: 5)
        writer.write(UInt64(distance - distanceBases[code]), bitCount: distanceExtraBits[code])
    }
}

/// Packs bit fields least-significant bit first, as deflate requires.
struct BitWriter {
    private var bytes: [UInt8] = []
    private var accumulator: UInt64 = 0
    private var bitCount = 0

    /// Writes the low `bitCount` bits of `value`, least significant first.
    mutating func write(_ value: UInt64, bitCount count: Int) {
        guard count > 0 else { return }
        accumulator |= (value & ((1 << UInt64(count)) - 1)) << UInt64(bitCount)
        bitCount += count
        while bitCount >= 8 {
            bytes.append(UInt8(accumulator & 0xFF))
            accumulator >>= 8
            bitCount -= 8
        }
    }

    /// Writes a Huffman code, most significant bit first.
    mutating func writeHuffman(_ code: Int, bitCount count: Int) {
        var reversed: UInt64 = 0
        for bit in 0..<count { reversed |= UInt64((code >> bit) & 1) << UInt64(count - 1 - bit) }
        write(reversed, bitCount: count)
    }

    /// The bytes written, the last one padded with zero bits.
    mutating func finish() -> [UInt8] {
        if bitCount > 0 {
            bytes.append(UInt8(accumulator & 0xFF))
            accumulator = 0
            bitCount = 0
        }
        return bytes
    }
}
