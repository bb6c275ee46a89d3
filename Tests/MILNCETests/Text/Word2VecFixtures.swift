import Foundation
import Testing
import TestSupport

// MARK: - Word-vector files for tests

/// The ways a word-vector file can be laid out.
enum VectorFileLayout: String, CaseIterable, CustomTestStringConvertible, Sendable, Encodable {
    /// word2vec's C tool: a newline after every record.
    case binaryWithNewlines
    /// gensim: records back to back.
    case binaryPacked
    /// word2vec text or fastText `.vec`: a header line, then one record per line.
    case textWithHeader
    /// GloVe: no header.
    case textWithoutHeader

    var isBinary: Bool { self == .binaryWithNewlines || self == .binaryPacked }
    var hasHeader: Bool { self != .textWithoutHeader }
    var testDescription: String { rawValue }
}

/// Words (as raw bytes, so that invalid UTF-8 can be written) and their vectors, written in any
/// layout.
struct VectorFileContents {
    var words: [[UInt8]]
    var vectors: [[Float]]
    var dimension: Int

    /// Valid UTF-8 words and their vectors.
    init(words: [String], vectors: [[Float]]) {
        self.init(rawWords: words.map { Array($0.utf8) }, vectors: vectors)
    }

    init(rawWords: [[UInt8]], vectors: [[Float]]) {
        words = rawWords
        self.vectors = vectors
        dimension = vectors.first?.count ?? 0
    }

    /// `count` words `w0`, `w1`, ... with vectors of small multiples of 1/1024 (exact in decimal
    /// text and in float32).
    static func generated(count: Int, dimension: Int, seed: UInt64, prefix: String = "w") -> VectorFileContents {
        var random = SeededGenerator(seed: seed)
        let vectors = (0..<count).map { _ in
            (0..<dimension).map { _ in Float(Int(random.next() % 8193) - 4096) / 1024 }
        }
        return VectorFileContents(words: (0..<count).map { "\(prefix)\($0)" }, vectors: vectors)
    }

    /// The file's bytes; `headerCount` and `headerDimension` replace the true header values (to
    /// write lying headers).
    func bytes(_ layout: VectorFileLayout, headerCount: Int? = nil, headerDimension: Int? = nil) -> [UInt8] {
        var bytes: [UInt8] = []
        if layout.hasHeader {
            bytes += Array("\(headerCount ?? words.count) \(headerDimension ?? dimension)\n".utf8)
        }
        for (word, vector) in zip(words, vectors) {
            bytes += word
            if layout.isBinary {
                bytes.append(0x20)
                for value in vector { bytes += littleEndianBytes(value) }
                if layout == .binaryWithNewlines { bytes.append(0x0A) }
            } else {
                for value in vector { bytes += Array(" \(value)".utf8) }
                // word2vec's C tool and fastText end each line with a space; GloVe does not.
                if layout.hasHeader { bytes.append(0x20) }
                bytes.append(0x0A)
            }
        }
        return bytes
    }

    /// The words that are valid UTF-8, as strings.
    var stringWords: [String] { words.map { String(decoding: $0, as: UTF8.self) } }
}

/// The little-endian bytes of a float32.
func littleEndianBytes(_ value: Float) -> [UInt8] {
    withUnsafeBytes(of: value.bitPattern.littleEndian) { Array($0) }
}

/// The float32 values of little-endian bytes.
func floats(fromLittleEndian bytes: [UInt8]) -> [Float] {
    stride(from: 0, to: bytes.count - bytes.count % 4, by: 4).map { offset in
        Float(bitPattern: UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8
            | UInt32(bytes[offset + 2]) << 16 | UInt32(bytes[offset + 3]) << 24)
    }
}

// MARK: - gzip without compression

/// A gzip member holding `bytes` in stored (uncompressed) deflate blocks, with its CRC-32 and
/// size: a valid gzip file made without zlib.
func storedGzip(_ bytes: [UInt8]) -> [UInt8] {
    var output: [UInt8] = [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 3]
    var start = 0
    repeat {
        let end = min(bytes.count, start + 65_535)
        let length = UInt16(end - start)
        output.append(end == bytes.count ? 1 : 0) // BFINAL, BTYPE 00
        output += [UInt8(length & 0xFF), UInt8(length >> 8), UInt8(~length & 0xFF), UInt8(~length >> 8)]
        output += bytes[start..<end]
        start = end
    } while start < bytes.count
    output += littleEndian32(crc32(bytes))
    output += littleEndian32(UInt32(truncatingIfNeeded: bytes.count))
    return output
}

private func littleEndian32(_ value: UInt32) -> [UInt8] {
    [UInt8(value & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value >> 16 & 0xFF), UInt8(value >> 24)]
}

// MARK: - Helpers

/// Writes `bytes` to a new file in `folder`.
@discardableResult
func writeFile(_ bytes: [UInt8], named name: String, in folder: URL) throws -> URL {
    let url = folder.appendingPathComponent(name)
    try Data(bytes).write(to: url)
    return url
}
