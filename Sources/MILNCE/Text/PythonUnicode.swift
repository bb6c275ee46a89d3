// Python's view of Unicode text, as the reference's tokenizer sees it: strings are sequences of
// code points (not grapheme clusters), `\w` in a `str` pattern is a code point that is
// alphanumeric in Python's sense or `_`, and `str.lower()` applies the full lowercase mapping
// with the Final_Sigma rule.

// MARK: - Character classes

/// Python's character classes and case mapping for `str`, working on code points and UTF-8 bytes.
///
/// Comparison is by code point, as in Python: unlike Swift's `String ==`, no canonical
/// equivalence is applied (a precomposed "é" and "e" + U+0301 are different words).
public enum PythonUnicode {
    /// Whether `scalar` matches `\w` in a Python `str` pattern: `str.isalnum()` (general category
    /// L*, or a numeric value: decimal, digit or numeric) or the underscore.
    public static func isWordCharacter(_ scalar: Unicode.Scalar) -> Bool {
        isWordCharacter(scalar.value)
    }

    /// `isWordCharacter` on a raw code point; values that are not scalars are not word characters.
    @inline(__always)
    static func isWordCharacter(_ value: UInt32) -> Bool {
        if value < 0x80 { return asciiWordTable[Int(value)] }
        if value < 0x10000 {
            let word = basicPlaneWordBits[Int(value >> 6)]
            return word & (1 << UInt64(value & 63)) != 0
        }
        return computeIsWordCharacter(value)
    }

    /// The code points matched by `[\w']+`, applied to `text` as `re.findall` does.
    public static func findWords(in text: String) -> [String] {
        var words: [String] = []
        Array(text.utf8).withUnsafeBytes { bytes in
            forEachWord(in: bytes) { range in
                words.append(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self))
                return true
            }
        }
        return words
    }

    /// Python's `str.lower()`: the full lowercase mapping of every code point, with U+03A3 GREEK
    /// CAPITAL LETTER SIGMA becoming final sigma (U+03C2) in the Final_Sigma context.
    public static func lowercased(_ text: String) -> String {
        let bytes = Array(text.utf8)
        var output: [UInt8] = []
        bytes.withUnsafeBytes { lowercaseUTF8($0, into: &output) }
        return String(decoding: output, as: UTF8.self)
    }

    // MARK: Word splitting on UTF-8

    /// Calls `body` with the byte range of every maximal run of `[\w']` code points, in order,
    /// until it returns false. Invalid UTF-8 bytes count as separators (they never form a word).
    @inline(__always)
    static func forEachWord(in bytes: UnsafeRawBufferPointer, _ body: (Range<Int>) -> Bool) {
        let count = bytes.count
        var index = 0
        var wordStart = -1
        let asciiTable = asciiWordOrApostropheBits
        while index < count {
            let byte = bytes[index]
            let inWord: Bool
            let length: Int
            if byte < 0x80 {
                inWord = (byte < 64 ? asciiTable.low >> UInt64(byte) : asciiTable.high >> UInt64(byte - 64)) & 1 != 0
                length = 1
            } else {
                let (value, scalarLength) = decodeScalar(bytes, at: index)
                inWord = value != invalidScalar && isWordCharacter(value)
                length = scalarLength
            }
            if inWord {
                if wordStart < 0 { wordStart = index }
            } else if wordStart >= 0 {
                if !body(wordStart..<index) { return }
                wordStart = -1
            }
            index += length
        }
        if wordStart >= 0 { _ = body(wordStart..<count) }
    }

    // MARK: Lowercasing on UTF-8

    /// Appends `str.lower()` of the UTF-8 text `bytes` to `output` (invalid bytes become U+FFFD).
    static func lowercaseUTF8(_ bytes: UnsafeRawBufferPointer, into output: inout [UInt8]) {
        output.reserveCapacity(output.count + bytes.count)
        var isASCII = true
        for byte in bytes where byte >= 0x80 { isASCII = false; break }
        if isASCII {
            for byte in bytes {
                output.append(byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte)
            }
            return
        }
        var scalars: [UInt32] = []
        scalars.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            let (value, length) = decodeScalar(bytes, at: index)
            scalars.append(value == invalidScalar ? 0xFFFD : value)
            index += length
        }
        for position in scalars.indices {
            let value = scalars[position]
            if value < 0x80 {
                let byte = UInt8(value)
                output.append(byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte)
            } else if value == 0x3A3 {
                appendUTF8(isFinalSigma(scalars, at: position) ? 0x3C2 : 0x3C3, to: &output)
            } else if let scalar = Unicode.Scalar(value) {
                let mapping = scalar.properties.lowercaseMapping
                output.append(contentsOf: mapping.utf8)
            }
        }
    }

    /// Python's `handle_capital_sigma`: a cased letter before (skipping case-ignorable code
    /// points), and no cased letter after (skipping case-ignorable code points).
    private static func isFinalSigma(_ scalars: [UInt32], at position: Int) -> Bool {
        var before = position - 1
        while before >= 0, properties(scalars[before])?.isCaseIgnorable == true { before -= 1 }
        guard before >= 0, properties(scalars[before])?.isCased == true else { return false }
        var after = position + 1
        while after < scalars.count, properties(scalars[after])?.isCaseIgnorable == true { after += 1 }
        return after == scalars.count || properties(scalars[after])?.isCased != true
    }

    private static func properties(_ value: UInt32) -> Unicode.Scalar.Properties? {
        Unicode.Scalar(value)?.properties
    }

    // MARK: UTF-8 coding

    /// Marks a byte sequence that is not valid UTF-8.
    static let invalidScalar: UInt32 = 0xFFFF_FFFF

    /// Decodes one code point at `index` (which must be in range): the value and its byte length,
    /// or `invalidScalar` and 1 for an ill-formed sequence (overlong, surrogate, out of range,
    /// truncated), as Python's strict UTF-8 decoder would reject it.
    @inline(__always)
    static func decodeScalar(_ bytes: UnsafeRawBufferPointer, at index: Int) -> (UInt32, Int) {
        let first = UInt32(bytes[index])
        if first < 0x80 { return (first, 1) }
        let remaining = bytes.count - index
        @inline(__always) func continuation(_ offset: Int) -> UInt32? {
            guard offset < remaining else { return nil }
            let byte = UInt32(bytes[index + offset])
            return byte & 0xC0 == 0x80 ? byte & 0x3F : nil
        }
        if first >= 0xC2 && first <= 0xDF {
            guard let b1 = continuation(1) else { return (invalidScalar, 1) }
            return ((first & 0x1F) << 6 | b1, 2)
        }
        if first >= 0xE0 && first <= 0xEF {
            guard let b1 = continuation(1), let b2 = continuation(2) else { return (invalidScalar, 1) }
            let value = (first & 0x0F) << 12 | b1 << 6 | b2
            if value < 0x800 || (value >= 0xD800 && value <= 0xDFFF) { return (invalidScalar, 1) }
            return (value, 3)
        }
        if first >= 0xF0 && first <= 0xF4 {
            guard let b1 = continuation(1), let b2 = continuation(2), let b3 = continuation(3) else {
                return (invalidScalar, 1)
            }
            let value = (first & 0x07) << 18 | b1 << 12 | b2 << 6 | b3
            if value < 0x10000 || value > 0x10FFFF { return (invalidScalar, 1) }
            return (value, 4)
        }
        return (invalidScalar, 1)
    }

    /// The offset of the first byte that is not part of well-formed UTF-8 (what Python's strict
    /// decoder rejects), or nil when all of `bytes` is valid.
    static func firstInvalidUTF8Offset(_ bytes: UnsafeRawBufferPointer) -> Int? {
        var index = 0
        let count = bytes.count
        while index < count {
            // Eight ASCII bytes at a time.
            if index + 8 <= count,
               bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self) & 0x8080_8080_8080_8080 == 0 {
                index += 8
                continue
            }
            let (value, length) = decodeScalar(bytes, at: index)
            if value == invalidScalar { return index }
            index += length
        }
        return nil
    }

    /// Appends the UTF-8 encoding of a scalar value.
    static func appendUTF8(_ value: UInt32, to output: inout [UInt8]) {
        switch value {
        case ..<0x80:
            output.append(UInt8(value))
        case ..<0x800:
            output.append(UInt8(0xC0 | value >> 6))
            output.append(UInt8(0x80 | value & 0x3F))
        case ..<0x10000:
            output.append(UInt8(0xE0 | value >> 12))
            output.append(UInt8(0x80 | (value >> 6) & 0x3F))
            output.append(UInt8(0x80 | value & 0x3F))
        default:
            output.append(UInt8(0xF0 | value >> 18))
            output.append(UInt8(0x80 | (value >> 12) & 0x3F))
            output.append(UInt8(0x80 | (value >> 6) & 0x3F))
            output.append(UInt8(0x80 | value & 0x3F))
        }
    }

    // MARK: Tables

    private static func computeIsWordCharacter(_ value: UInt32) -> Bool {
        if value == 0x5F { return true }
        guard let scalar = Unicode.Scalar(value) else { return false }
        let properties = scalar.properties
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            return true
        default:
            return properties.numericType != nil
        }
    }

    private static let asciiWordTable: [Bool] = (0..<128).map { computeIsWordCharacter(UInt32($0)) }

    /// `[\w']` for ASCII, one bit per byte value (0..<64, 64..<128).
    private static let asciiWordOrApostropheBits: (low: UInt64, high: UInt64) = {
        var bits: (low: UInt64, high: UInt64) = (0, 0)
        for byte in 0..<128 where computeIsWordCharacter(UInt32(byte)) || byte == 0x27 {
            if byte < 64 { bits.low |= 1 << UInt64(byte) } else { bits.high |= 1 << UInt64(byte - 64) }
        }
        return bits
    }()

    /// One bit per code point of the Basic Multilingual Plane.
    private static let basicPlaneWordBits: [UInt64] = {
        var bits = [UInt64](repeating: 0, count: 0x10000 / 64)
        for value in 0..<UInt32(0x10000) where computeIsWordCharacter(value) {
            bits[Int(value >> 6)] |= 1 << UInt64(value & 63)
        }
        return bits
    }()
}
