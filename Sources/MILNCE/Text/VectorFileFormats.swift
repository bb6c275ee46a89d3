// The two word2vec file formats, read record by record from an `InputWindow`:
//
// binary (word2vec's C tool, `-binary 1`; gensim `binary=True`): the header line
// "<count> <dimension>\n", then per word its bytes up to a space and `dimension` little-endian
// float32 values; a newline may separate records (the C tool writes one, gensim does not).
//
// text (word2vec `-binary 0`, fastText `.vec`, GloVe `.txt`): an optional header line
// "<count> <dimension>", then one line per word: the word and `dimension` numbers, separated by
// spaces or tabs. Without a header (GloVe), the first line's field count gives the dimension.

import FoundationEssentials
import Glibc

// MARK: - Layout

/// The format of a word-vector file.
public enum Word2VecFormat: String, Sendable, CaseIterable {
    /// Decide from the content: a text file when the first record after the header reads as a
    /// line of numbers, or when there is no header line; binary otherwise.
    case automatic = "auto"
    /// word2vec's binary format.
    case binary
    /// One word and its numbers per line (word2vec text, fastText `.vec`, GloVe `.txt`).
    case text
}

/// Bounds that keep a corrupt or foreign file from being read as absurd records.
struct VectorFileLimits {
    /// The largest dimension accepted.
    var largestDimension: Int
    /// The longest word accepted, in bytes.
    var largestWordByteCount: Int
    /// The longest header line looked for, in bytes.
    var headerLineLimit = 1024

    /// The longest text line accepted for `dimension` numbers: the longest word and 64 bytes
    /// per number (far more than any float needs), and slack.
    func lineLimit(dimension: Int) -> Int {
        largestWordByteCount + dimension * 64 + 1024
    }

    /// The longest binary record for `dimension`: the longest word, its space, the vector.
    func binaryRecordLimit(dimension: Int) -> Int {
        largestWordByteCount + 1 + dimension * 4
    }

    /// The window size that every record and line of any accepted dimension fits in.
    var windowLimit: Int {
        max(lineLimit(dimension: largestDimension), binaryRecordLimit(dimension: largestDimension), headerLineLimit) + 2
    }
}

/// What the start of a file says about the rest.
struct VectorFileLayout: Equatable {
    /// `.binary` or `.text`.
    var format: Word2VecFormat
    /// The header's word count, when the file has a header.
    var headerWordCount: Int?
    /// The number of components of every vector.
    var dimension: Int
}

/// One record of a file; its buffers are valid only during the call that receives it.
struct VectorRecord {
    /// The word's bytes, as stored.
    var word: UnsafeRawBufferPointer
    /// The vector as little-endian float32 values.
    var vector: UnsafeRawBufferPointer
    /// The offset of the record's first byte in the file's data.
    var offset: Int
    /// The record's 1-based line in a text file.
    var line: Int?
}

// MARK: - Reading

/// Reads word-vector files record by record.
struct VectorFileReader {
    let window: InputWindow
    let limits: VectorFileLimits
    /// The layout found by `readLayout`.
    private(set) var layout = VectorFileLayout(format: .text, headerWordCount: nil, dimension: 0)
    /// The lines consumed so far (text).
    private var linesConsumed = 0
    /// The text line being looked at: its length and whether a newline ends it.
    private var currentLine: (length: Int, terminated: Bool) = (0, false)
    private var fields: [Range<Int>] = []

    init(window: InputWindow, limits: VectorFileLimits) {
        self.window = window
        self.limits = limits
    }

    /// Reads the header (when there is one) and decides the format, leaving the window at the
    /// first record.
    mutating func readLayout(format requested: Word2VecFormat) throws -> VectorFileLayout {
        try window.fill(atLeast: 1)
        if window.count == 0 { throw VectorFileFailure(.emptyFile, at: 0) }
        let firstLine: (length: Int, terminated: Bool)?
        do {
            let limit = requested == .binary ? limits.headerLineLimit : limits.lineLimit(dimension: limits.largestDimension)
            firstLine = try window.nextLine(limit: limit, line: 1)
        } catch let failure as VectorFileFailure where requested == .binary {
            guard case .lineTooLong = failure.reason else { throw failure }
            let start = UnsafeRawBufferPointer(rebasing: window.bytes.prefix(limits.headerLineLimit))
            throw VectorFileFailure(.badHeader(excerpt(start)), at: 0, line: 1)
        }
        guard let (length, terminated) = firstLine else { throw VectorFileFailure(.emptyFile, at: 0) }
        let line = UnsafeRawBufferPointer(rebasing: window.bytes[..<length])
        if let (count, dimension) = VectorFileReader.header(line) {
            try checkDimension(dimension, line: 1)
            window.consume(length + (terminated ? 1 : 0))
            linesConsumed = 1
            var format = requested
            if format == .automatic { format = try recordsLookLikeText(dimension: dimension) ? .text : .binary }
            layout = VectorFileLayout(format: format, headerWordCount: count, dimension: dimension)
            return layout
        }
        if requested == .binary {
            throw VectorFileFailure(.badHeader(excerpt(line)), at: 0, line: 1)
        }
        // A header-less text file: the first line is a record, and its fields give the dimension.
        VectorFileReader.splitFields(line, into: &fields)
        if fields.isEmpty { throw VectorFileFailure(.badHeader(excerpt(line)), at: 0, line: 1) }
        try checkDimension(fields.count - 1, line: 1)
        layout = VectorFileLayout(format: .text, headerWordCount: nil, dimension: fields.count - 1)
        return layout
    }

    /// Calls `body` with every record until it returns false or the data ends; returns whether
    /// the data ended (false when `body` stopped the reading). Checks the header's count when
    /// the data ends.
    mutating func forEachRecord(_ body: (VectorRecord) throws -> Bool) throws -> Bool {
        var records = 0
        let vector = UnsafeMutableRawBufferPointer.allocate(byteCount: layout.dimension * 4, alignment: 16)
        defer { vector.deallocate() }
        while true {
            let record: VectorRecord?
            switch layout.format {
            case .binary: record = try nextBinaryRecord(index: records)
            default: record = try nextTextRecord(index: records, vector: vector)
            }
            guard let record else { break }
            records += 1
            let proceed = try body(record)
            switch layout.format {
            case .binary:
                window.consume(record.offset + record.word.count + 1 + layout.dimension * 4 - window.offset)
            default:
                consumeLine()
            }
            if !proceed { return false }
        }
        if let count = layout.headerWordCount, records < count {
            throw VectorFileFailure(.fewerWordsThanHeader(headerCount: count, found: records), at: window.offset,
                                    line: layout.format == .text ? linesConsumed + 1 : nil)
        }
        return true
    }

    // MARK: Header

    /// The header `"<count> <dimension>"` (two runs of decimal digits), or nil.
    static func header(_ line: UnsafeRawBufferPointer) -> (count: Int, dimension: Int)? {
        var fields: [Range<Int>] = []
        splitFields(line, into: &fields)
        guard fields.count == 2 else { return nil }
        var numbers: [Int] = []
        for field in fields {
            guard field.count <= 18 else { return nil }
            var value = 0
            for byte in line[field] {
                guard byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") else { return nil }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
            }
            numbers.append(value)
        }
        return (numbers[0], numbers[1])
    }

    private func checkDimension(_ dimension: Int, line: Int) throws {
        if dimension <= 0 { throw VectorFileFailure(.zeroDimension, at: 0, line: line) }
        if dimension > limits.largestDimension {
            throw VectorFileFailure(.dimensionTooLarge(dimension, limit: limits.largestDimension), at: 0, line: line)
        }
    }

    /// Whether the line after the header reads as a word and `dimension` numbers.
    private mutating func recordsLookLikeText(dimension: Int) throws -> Bool {
        let limit = limits.lineLimit(dimension: dimension)
        try window.fill(atLeast: limit + 1)
        let available = UnsafeRawBufferPointer(rebasing: window.bytes.prefix(limit + 1))
        if available.isEmpty { return true }
        let length: Int
        if let newline = available.firstIndex(of: 0x0A) {
            length = newline
        } else if window.sourceEnded && available.count <= limit {
            length = available.count
        } else {
            return false
        }
        let line = UnsafeRawBufferPointer(rebasing: available[..<length])
        VectorFileReader.splitFields(line, into: &fields)
        let count = fields.count
        guard count >= dimension + 1 else { return false }
        if count > dimension + 1, VectorFileReader.parseNumber(UnsafeRawBufferPointer(rebasing: line[fields[1]])) != .invalid { return false }
        for field in fields[(count - dimension)...] where VectorFileReader.parseNumber(UnsafeRawBufferPointer(rebasing: line[field])) == .invalid {
            return false
        }
        return true
    }

    // MARK: Binary records

    private func nextBinaryRecord(index: Int) throws -> VectorRecord? {
        // Newlines between records.
        while true {
            if try window.count == 0 && !window.fill(atLeast: 1) { return nil }
            guard let first = window.bytes.first, first == 0x0A else { break }
            window.consume(1)
        }
        let offset = window.offset
        if let count = layout.headerWordCount, index >= count {
            throw VectorFileFailure(.moreWordsThanHeader(headerCount: count), at: offset)
        }
        let vectorBytes = layout.dimension * 4
        let wordSearch = limits.largestWordByteCount + 1
        try window.fill(atLeast: wordSearch + vectorBytes)
        let bytes = window.bytes
        let searched = UnsafeRawBufferPointer(rebasing: bytes.prefix(wordSearch))
        let space = searched.firstIndex(of: 0x20)
        // A control byte says more about misaligned records than a missing space does.
        let word = UnsafeRawBufferPointer(rebasing: searched[..<(space ?? searched.count)])
        if let control = word.first(where: { $0 < 0x20 || $0 == 0x7F }) {
            throw VectorFileFailure(.controlByteInWord(control), at: offset)
        }
        guard let space else {
            if bytes.count < wordSearch && window.sourceEnded { throw VectorFileFailure(.endsInsideWord, at: offset) }
            throw VectorFileFailure(.wordTooLong(limit: limits.largestWordByteCount), at: offset)
        }
        let found = bytes.count - space - 1
        guard found >= vectorBytes else {
            throw VectorFileFailure(.truncatedVector(word: excerpt(word), foundBytes: found, expectedBytes: vectorBytes),
                                    at: offset)
        }
        let vector = UnsafeRawBufferPointer(rebasing: bytes[(space + 1) ..< (space + 1 + vectorBytes)])
        for component in 0..<layout.dimension {
            let bits = UInt32(littleEndian: vector.loadUnaligned(fromByteOffset: component * 4, as: UInt32.self))
            if bits & 0x7F80_0000 == 0x7F80_0000 {
                throw VectorFileFailure(.nonFiniteValue("\(Float(bitPattern: bits))"),
                                        at: offset + space + 1 + component * 4)
            }
        }
        return VectorRecord(word: word, vector: vector, offset: offset, line: nil)
    }

    // MARK: Text records

    private mutating func nextTextRecord(index: Int, vector: UnsafeMutableRawBufferPointer) throws -> VectorRecord? {
        let dimension = layout.dimension
        let limit = limits.lineLimit(dimension: dimension)
        while true {
            let lineNumber = linesConsumed + 1
            guard let (length, terminated) = try window.nextLine(limit: limit, line: lineNumber) else { return nil }
            currentLine = (length, terminated)
            let offset = window.offset
            let line = UnsafeRawBufferPointer(rebasing: window.bytes[..<length])
            VectorFileReader.splitFields(line, into: &fields)
            if fields.isEmpty {
                consumeLine()
                continue
            }
            if let count = layout.headerWordCount, index >= count {
                throw VectorFileFailure(.moreWordsThanHeader(headerCount: count), at: offset, line: lineNumber)
            }
            let count = fields.count
            guard count >= dimension + 1 else {
                throw VectorFileFailure(.wrongFieldCount(expected: dimension + 1, found: count), at: offset, line: lineNumber)
            }
            // More fields: a word with spaces in it (GloVe has a few), unless the second field is
            // a number, which means more numbers than the dimension.
            if count > dimension + 1, VectorFileReader.parseNumber(UnsafeRawBufferPointer(rebasing: line[fields[1]])) != .invalid {
                throw VectorFileFailure(.wrongFieldCount(expected: dimension + 1, found: count), at: offset, line: lineNumber)
            }
            let firstNumber = count - dimension
            for component in 0..<dimension {
                let field = fields[firstNumber + component]
                let text = UnsafeRawBufferPointer(rebasing: line[field])
                switch VectorFileReader.parseNumber(text) {
                case .value(let value):
                    vector.storeBytes(of: value.bitPattern.littleEndian, toByteOffset: component * 4, as: UInt32.self)
                case .nonFinite:
                    throw VectorFileFailure(.nonFiniteValue(excerpt(text)), at: offset + field.lowerBound, line: lineNumber)
                case .invalid:
                    throw VectorFileFailure(.notANumber(excerpt(text)), at: offset + field.lowerBound, line: lineNumber)
                }
            }
            let word = UnsafeRawBufferPointer(rebasing: line[fields[0].lowerBound ..< fields[firstNumber - 1].upperBound])
            return VectorRecord(word: word, vector: UnsafeRawBufferPointer(vector), offset: offset, line: lineNumber)
        }
    }

    /// Consumes the current line and its `\n`.
    private mutating func consumeLine() {
        window.consume(currentLine.length + (currentLine.terminated ? 1 : 0))
        linesConsumed += 1
    }

    // MARK: Fields and numbers

    /// The ranges of the fields of `line`: runs of bytes other than space, tab and carriage return.
    static func splitFields(_ line: UnsafeRawBufferPointer, into fields: inout [Range<Int>]) {
        fields.removeAll(keepingCapacity: true)
        var start = -1
        for index in 0..<line.count {
            let byte = line[index]
            if byte == 0x20 || byte == 0x09 || byte == 0x0D {
                if start >= 0 {
                    fields.append(start..<index)
                    start = -1
                }
            } else if start < 0 {
                start = index
            }
        }
        if start >= 0 { fields.append(start..<line.count) }
    }

    /// A text field read as a number.
    enum ParsedNumber: Equatable {
        /// A finite float32: the decimal value rounded to float64, then to float32, as NumPy's
        /// `np.float32(float(text))`.
        case value(Float)
        /// `inf`, `nan`, or a value beyond float32's range.
        case nonFinite
        /// Not a number.
        case invalid
    }

    /// Parses a decimal number (`[+-]digits[.digits][(e|E)[+-]digits]`, with at least one
    /// mantissa digit); `inf` and `nan` are non-finite. Numbers of at most 19 significant digits
    /// whose value is an exact integer times a power of ten up to 10^22 take the exact fast path
    /// (one correctly rounded float64 operation, as `strtod` rounds); others go to `strtod`.
    static func parseNumber(_ field: UnsafeRawBufferPointer) -> ParsedNumber {
        let count = field.count
        guard count > 0, count <= 512 else { return .invalid }
        let zero = UInt8(ascii: "0")
        var index = 0
        var negative = false
        if field[0] == UInt8(ascii: "-") || field[0] == UInt8(ascii: "+") {
            negative = field[0] == UInt8(ascii: "-")
            index = 1
        }
        var mantissa: UInt64 = 0
        var significantDigits = 0
        var mantissaDigits = 0
        var decimalExponent = 0
        var truncated = false
        var afterPoint = false
        while index < count {
            let byte = field[index]
            if byte == UInt8(ascii: ".") {
                if afterPoint { return .invalid }
                afterPoint = true
            } else if byte >= zero && byte <= zero + 9 {
                mantissaDigits += 1
                let digit = UInt64(byte - zero)
                if mantissa == 0 && digit == 0 {
                    if afterPoint { decimalExponent -= 1 }
                } else if significantDigits < 19 {
                    mantissa = mantissa * 10 + digit
                    significantDigits += 1
                    if afterPoint { decimalExponent -= 1 }
                } else {
                    truncated = true
                    if !afterPoint { decimalExponent += 1 }
                }
            } else {
                break
            }
            index += 1
        }
        if mantissaDigits == 0 {
            return index == (negative || field[0] == UInt8(ascii: "+") ? 1 : 0) && isNonFiniteName(field) ? .nonFinite : .invalid
        }
        if index < count && (field[index] == UInt8(ascii: "e") || field[index] == UInt8(ascii: "E")) {
            index += 1
            var exponentNegative = false
            if index < count && (field[index] == UInt8(ascii: "-") || field[index] == UInt8(ascii: "+")) {
                exponentNegative = field[index] == UInt8(ascii: "-")
                index += 1
            }
            var exponent = 0
            var exponentDigits = 0
            while index < count, field[index] >= zero && field[index] <= zero + 9 {
                if exponent < 100_000 { exponent = exponent * 10 + Int(field[index] - zero) }
                exponentDigits += 1
                index += 1
            }
            if exponentDigits == 0 { return .invalid }
            decimalExponent += exponentNegative ? -exponent : exponent
        }
        if index != count { return .invalid }
        if mantissa == 0 && !truncated { return .value(negative ? -0.0 : 0.0) }
        if !truncated && mantissa <= 1 << 53 && decimalExponent >= -22 && decimalExponent <= 22 {
            let magnitude = decimalExponent >= 0 ? Double(mantissa) * exactPowersOfTen[decimalExponent]
                : Double(mantissa) / exactPowersOfTen[-decimalExponent]
            let single = Float(negative ? -magnitude : magnitude)
            return single.isFinite ? .value(single) : .nonFinite
        }
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: count + 1) { buffer -> ParsedNumber in
            guard let base = buffer.baseAddress, let source = field.baseAddress else { return .invalid }
            UnsafeMutableRawPointer(base).copyMemory(from: source, byteCount: count)
            base[count] = 0
            var end: UnsafeMutablePointer<CChar>? = nil
            let value = strtod(base, &end)
            guard let end, end == base + count else { return .invalid }
            let single = Float(value)
            return single.isFinite ? .value(single) : .nonFinite
        }
    }

    /// 10^0 ... 10^22, every one exact in float64.
    private static let exactPowersOfTen: [Double] = (0...22).map { exponent in
        (0..<exponent).reduce(1.0) { value, _ in value * 10 }
    }

    /// `inf`, `infinity` or `nan`, in any case, with an optional sign.
    private static func isNonFiniteName(_ field: UnsafeRawBufferPointer) -> Bool {
        var text = String(decoding: field, as: UTF8.self).lowercased()
        if text.hasPrefix("+") || text.hasPrefix("-") { text.removeFirst() }
        return text == "inf" || text == "infinity" || text == "nan"
    }
}
