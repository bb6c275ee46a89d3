// CSV files read as pandas' `read_csv` reads them with its defaults: the C tokenizer's state
// machine (RFC 4180 quoting with doubled quotes, `\n`, `\r\n` and `\r` line ends, blank and
// whitespace-only lines skipped, a UTF-8 byte-order mark dropped), the header on the first
// line, short rows padded with missing values, and a first data row longer than the header
// turning its leading fields into the index. Works on bytes; fields are decoded only on demand.

import FoundationEssentials
import Glibc

// MARK: - Errors

/// A CSV file that could not be read or does not have the expected content.
public struct CSVError: Error, CustomStringConvertible, Sendable, Equatable {
    /// Why the file was rejected.
    public enum Reason: Sendable, Equatable {
        /// The file does not exist.
        case fileNotFound
        /// The operating system refused to read it (its message).
        case unreadable(String)
        /// The file holds no header (empty, or only blank lines): pandas' "No columns to parse".
        case noColumns
        /// The bytes are not UTF-8 (Python's strict decoder rejects them).
        case invalidUTF8
        /// A quoted field is still open at the end of the file.
        case unterminatedQuote
        /// A row has more fields than the rows before it.
        case tooManyFields(expected: Int, found: Int)
        /// The header lacks a column the reader needs.
        case missingColumn(String)
        /// A value the reader needs is missing (empty, or one of pandas' missing-value markers).
        case missingValue(column: String)
        /// A value that must be a number is not one (or is not finite, or is too large).
        case notANumber(column: String, value: String)
    }

    /// The file.
    public let path: String
    /// The 1-based physical line where the problem lies, when it is known.
    public let line: Int?
    /// What is wrong.
    public let reason: Reason

    /// An error about `path` (at `line`, when known).
    public init(path: String, line: Int? = nil, reason: Reason) {
        self.path = path
        self.line = line
        self.reason = reason
    }

    public var description: String {
        let location = line.map { "\(path), line \($0)" } ?? path
        let why: String
        switch reason {
        case .fileNotFound: why = "no such file"
        case .unreadable(let message): why = "cannot read the file: \(message)"
        case .noColumns: why = "no header row (the file is empty)"
        case .invalidUTF8: why = "the bytes are not valid UTF-8"
        case .unterminatedQuote: why = "a quoted field starting here is not closed before the end of the file"
        case .tooManyFields(let expected, let found): why = "expected \(expected) fields, saw \(found)"
        case .missingColumn(let name): why = "the header has no column \"\(name)\""
        case .missingValue(let column): why = "the \"\(column)\" value is missing"
        case .notANumber(let column, let value): why = "the \"\(column)\" value \"\(value)\" is not a finite number"
        }
        return "reading CSV file \(location): \(why)"
    }
}

// MARK: - Table

/// A CSV file split into a header and rows of fields, as pandas' tokenizer splits it.
///
/// Every row has one field per header column (short rows are padded with empty fields, which
/// pandas reads as missing). Fields are byte ranges of an internal buffer of unquoted content.
public struct CSVTable: Sendable {
    /// The file the table came from (used in error messages).
    public let path: String
    /// The column names of the header row.
    public let columnNames: [String]
    /// The number of data rows.
    public let rowCount: Int

    private let content: [UInt8]
    /// Where the data rows' content starts in `content` (after the header's fields).
    private let dataContentStart: Int
    /// End offsets in `content` of the fields of all rows, `rawFieldsPerRow` per row; a field
    /// starts where the previous one ends.
    private let fieldEnds: [Int]
    private let rawFieldsPerRow: Int
    /// Leading fields of every row that pandas takes as the index (the first data row had that
    /// many more fields than the header).
    private let indexFieldCount: Int
    /// The physical line on which each row starts.
    private let rowLines: [Int]

    // MARK: Reading

    /// Reads and splits the file at `path`.
    public static func read(contentsOf path: String) throws -> CSVTable {
        let bytes = try readFileBytes(path)
        return try bytes.withUnsafeBytes { try parse($0, path: path) }
    }

    /// Splits the CSV text `bytes`; `path` names it in errors.
    public static func parse(_ bytes: UnsafeRawBufferPointer, path: String) throws -> CSVTable {
        if let invalid = PythonUnicode.firstInvalidUTF8Offset(bytes) {
            throw CSVError(path: path, line: physicalLine(in: bytes, atByteOffset: invalid), reason: .invalidUTF8)
        }
        var tokenizer = CSVTokenizer(bytes: bytes)
        do {
            try tokenizer.run()
        } catch let failure as CSVTokenizer.Failure {
            switch failure {
            case .unterminatedQuote(let line):
                throw CSVError(path: path, line: line, reason: .unterminatedQuote)
            case .tooManyFields(let line, let expected, let found):
                throw CSVError(path: path, line: line, reason: .tooManyFields(expected: expected, found: found))
            }
        }
        guard let headerEnds = tokenizer.headerFieldEnds else {
            throw CSVError(path: path, reason: .noColumns)
        }
        var names: [String] = []
        names.reserveCapacity(headerEnds.count)
        var start = 0
        for end in headerEnds {
            names.append(String(decoding: tokenizer.content[start..<end], as: UTF8.self))
            start = end
        }
        let rawCount = tokenizer.dataFieldsPerRow ?? headerEnds.count
        return CSVTable(path: path, columnNames: names, rowCount: tokenizer.rowLines.count,
                        content: tokenizer.content, dataContentStart: start, fieldEnds: tokenizer.dataFieldEnds,
                        rawFieldsPerRow: rawCount, indexFieldCount: max(0, rawCount - headerEnds.count),
                        rowLines: tokenizer.rowLines)
    }

    private init(path: String, columnNames: [String], rowCount: Int, content: [UInt8], dataContentStart: Int,
                 fieldEnds: [Int], rawFieldsPerRow: Int, indexFieldCount: Int, rowLines: [Int]) {
        self.path = path
        self.columnNames = columnNames
        self.rowCount = rowCount
        self.content = content
        self.dataContentStart = dataContentStart
        self.fieldEnds = fieldEnds
        self.rawFieldsPerRow = rawFieldsPerRow
        self.indexFieldCount = indexFieldCount
        self.rowLines = rowLines
    }

    // MARK: Access

    /// The position of the first column called `name` (pandas renames later duplicates).
    public func column(named name: String) throws -> Int {
        guard let index = columnNames.firstIndex(of: name) else {
            throw CSVError(path: path, line: 1, reason: .missingColumn(name))
        }
        return index
    }

    /// The 1-based physical line on which data row `row` starts (0 when out of range).
    public func lineNumber(ofRow row: Int) -> Int {
        guard row >= 0 && row < rowCount else { return 0 }
        return rowLines[row]
    }

    /// Calls `body` with the unquoted bytes of the field at `row` and `column` (empty for a
    /// padded field, or when either is out of range).
    public func withField<R>(row: Int, column: Int, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let range = fieldRange(row: row, column: column)
        return try content.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[range])) }
    }

    /// The field at `row` and `column` as text (empty when either is out of range).
    public func string(row: Int, column: Int) -> String {
        String(decoding: content[fieldRange(row: row, column: column)], as: UTF8.self)
    }

    /// The value pandas reads for the field: nil when it is missing (empty, padded, or one of
    /// pandas' missing-value markers such as `NA` or `null`), else the text.
    public func value(row: Int, column: Int) -> String? {
        withField(row: row, column: column) { PandasValues.isMissing($0) } ? nil : string(row: row, column: column)
    }

    private func fieldRange(row: Int, column: Int) -> Range<Int> {
        guard row >= 0, row < rowCount, column >= 0, column < columnNames.count else { return 0..<0 }
        let position = row * rawFieldsPerRow + indexFieldCount + column
        guard position < fieldEnds.count else { return 0..<0 }
        let start = position == 0 ? dataContentStart : fieldEnds[position - 1]
        return start..<fieldEnds[position]
    }
}

// MARK: - Line numbers

/// The 1-based physical line of the byte at `offset` (`\n`, `\r\n` and a lone `\r` end a line).
func physicalLine(in bytes: UnsafeRawBufferPointer, atByteOffset offset: Int) -> Int {
    var line = 1
    var index = 0
    let end = min(offset, bytes.count)
    while index < end {
        let byte = bytes[index]
        if byte == 0x0A {
            line += 1
        } else if byte == 0x0D && (index + 1 >= bytes.count || bytes[index + 1] != 0x0A) {
            line += 1
        }
        index += 1
    }
    return line
}

// MARK: - Tokenizer

/// pandas' C tokenizer (`tokenize_bytes`) for the default dialect: delimiter `,`, quote `"`
/// doubled inside quotes, no escape or comment character, blank lines skipped, any of `\n`,
/// `\r\n`, `\r` ending a line. The states and their transitions are pandas' own, including its
/// quirks (text after a closing quote joins the field; a `,` right after a skipped `\r`-ended
/// blank line is dropped, and comes back when blanks and then content follow it, because a line
/// of blanks followed by content is re-read from just after the previous line break).
struct CSVTokenizer {
    enum Failure: Error {
        case unterminatedQuote(line: Int)
        case tooManyFields(line: Int, expected: Int, found: Int)
    }

    private enum State {
        case startRecord, startField, inField, inQuotedField, quoteInQuotedField
        case eatCarriageReturn, eatCarriageReturnInBlankLine, whitespaceLine
    }

    let bytes: UnsafeRawBufferPointer
    /// Unquoted field content, header first.
    private(set) var content: [UInt8] = []
    private(set) var headerFieldEnds: [Int]?
    private(set) var dataFieldEnds: [Int] = []
    /// Fields per data row after padding (the longer of the header and the first data row).
    private(set) var dataFieldsPerRow: Int?
    private(set) var rowLines: [Int] = []

    private var recordFieldEnds: [Int] = []
    private var recordLine = 1

    // Where the scan is: the byte, its line, the state, the start of a line of blanks (re-read
    // when content follows) and the line an open quote began on.
    private var index = 0
    private var line = 1
    private var state = State.startRecord
    private var lineStartIndex = 0
    private var quoteLine = 1
    /// The first byte after a byte-order mark.
    private var dataStart = 0

    private static let newline: UInt8 = 0x0A, carriageReturn: UInt8 = 0x0D, comma: UInt8 = 0x2C
    private static let quote: UInt8 = 0x22, space: UInt8 = 0x20, tab: UInt8 = 0x09

    /// What a state did with the byte at `index`.
    private enum Step {
        /// It took the byte: the scan moves past it, counting a line break.
        case consumed
        /// The next state reads the same byte again.
        case reread
        /// It took several bytes at once (none of them a line break it has not counted), or goes
        /// back: the scan goes on at this index.
        case continueAt(Int)
    }

    init(bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
        content.reserveCapacity(bytes.count)
    }

    mutating func run() throws {
        let count = bytes.count
        if count >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF { index = 3 }
        dataStart = index
        lineStartIndex = index
        while index < count {
            let byte = bytes[index]
            switch try step(byte) {
            case .consumed:
                if endsLine(byte, at: index) { line += 1 }
                index += 1
            case .reread:
                break
            case .continueAt(let next):
                index = next
            }
        }
        try finish()
    }

    /// Whether `byte` at `position` ends a line: `\n`, or a `\r` not followed by `\n`.
    private func endsLine(_ byte: UInt8, at position: Int) -> Bool {
        byte == Self.newline
            || (byte == Self.carriageReturn && (position + 1 >= bytes.count || bytes[position + 1] != Self.newline))
    }

    private mutating func step(_ byte: UInt8) throws -> Step {
        switch state {
        case .startRecord: return startRecord(byte)
        case .whitespaceLine: return whitespaceLine(byte)
        case .startField: return try startField(byte)
        case .inField: return try inField(byte)
        case .inQuotedField: return inQuotedField(byte)
        case .quoteInQuotedField: return try quoteInQuotedField(byte)
        case .eatCarriageReturn: return try eatCarriageReturn(byte)
        case .eatCarriageReturnInBlankLine:
            state = .startRecord
            return byte != Self.newline && byte != Self.comma ? .reread : .consumed
        }
    }

    private mutating func startRecord(_ byte: UInt8) -> Step {
        if byte == Self.newline {
            // Blank line: skipped.
        } else if byte == Self.carriageReturn {
            state = .eatCarriageReturnInBlankLine
        } else if byte == Self.space || byte == Self.tab {
            // Where the line is re-read from if content follows: just after the previous line
            // break, as pandas backtracks (a `,` dropped after a `\r`-ended blank line comes back).
            var start = index
            while start > dataStart, bytes[start - 1] != Self.newline, bytes[start - 1] != Self.carriageReturn {
                start -= 1
            }
            lineStartIndex = start
            state = .whitespaceLine
        } else {
            recordLine = line
            state = .startField
            return .reread
        }
        return .consumed
    }

    private mutating func whitespaceLine(_ byte: UInt8) -> Step {
        if byte == Self.newline {
            state = .startRecord
        } else if byte == Self.carriageReturn {
            state = .eatCarriageReturnInBlankLine
        } else if byte != Self.space && byte != Self.tab {
            // Content after blanks: the line is read again from its start as a record.
            recordLine = line
            state = .startField
            return .continueAt(lineStartIndex)
        }
        return .consumed
    }

    /// The end of a field at a line break or comma, for the states where one ends it.
    private mutating func endFieldAt(_ byte: UInt8) throws -> Bool {
        switch byte {
        case Self.newline:
            endField()
            try endLine()
            state = .startRecord
        case Self.carriageReturn:
            endField()
            state = .eatCarriageReturn
        case Self.comma:
            endField()
            state = .startField
        default:
            return false
        }
        return true
    }

    private mutating func startField(_ byte: UInt8) throws -> Step {
        if try endFieldAt(byte) { return .consumed }
        if byte == Self.quote {
            quoteLine = line
            state = .inQuotedField
        } else {
            content.append(byte)
            state = .inField
        }
        return .consumed
    }

    private mutating func inField(_ byte: UInt8) throws -> Step {
        if try endFieldAt(byte) { return .consumed }
        // The rest of the field up to the next special byte, at once.
        var end = index + 1
        while end < bytes.count {
            let next = bytes[end]
            if next == Self.comma || next == Self.newline || next == Self.carriageReturn { break }
            end += 1
        }
        content.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[index..<end]))
        return .continueAt(end)
    }

    private mutating func inQuotedField(_ byte: UInt8) -> Step {
        if byte == Self.quote {
            state = .quoteInQuotedField
            return .consumed
        }
        // Up to the next quote at once, counting the line breaks inside.
        var end = index
        while end < bytes.count {
            let next = bytes[end]
            if next == Self.quote { break }
            if endsLine(next, at: end) { line += 1 }
            end += 1
        }
        content.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[index..<end]))
        return .continueAt(end)
    }

    private mutating func quoteInQuotedField(_ byte: UInt8) throws -> Step {
        if byte == Self.quote {
            content.append(byte)
            state = .inQuotedField
        } else if try !endFieldAt(byte) {
            // Text after a closing quote joins the field, as in pandas.
            content.append(byte)
            state = .inField
        }
        return .consumed
    }

    private mutating func eatCarriageReturn(_ byte: UInt8) throws -> Step {
        try endLine()
        if byte == Self.newline {
            state = .startRecord
        } else if byte == Self.comma {
            recordLine = line
            endField()
            state = .startField
        } else {
            state = .startRecord
            return .reread
        }
        return .consumed
    }

    /// The end of the input: the open field and record end, or an open quote is an error.
    private mutating func finish() throws {
        switch state {
        case .startRecord, .whitespaceLine, .eatCarriageReturnInBlankLine:
            break
        case .inQuotedField:
            throw Failure.unterminatedQuote(line: quoteLine)
        case .inField, .startField, .quoteInQuotedField:
            endField()
            try endLine()
        case .eatCarriageReturn:
            try endLine()
        }
    }

    private mutating func endField() {
        recordFieldEnds.append(content.count)
    }

    /// pandas' `end_line`: the header takes any width; the first data row is padded to the
    /// header's width (or widens the table, its extra leading fields becoming the index); later
    /// rows are padded to that width, and a longer row is an error.
    private mutating func endLine() throws {
        defer { recordFieldEnds.removeAll(keepingCapacity: true) }
        guard headerFieldEnds != nil else {
            headerFieldEnds = recordFieldEnds
            return
        }
        let headerCount = headerFieldEnds?.count ?? 0
        let found = recordFieldEnds.count
        let expected: Int
        if let width = dataFieldsPerRow {
            expected = width
            if found > width { throw Failure.tooManyFields(line: recordLine, expected: width, found: found) }
        } else {
            expected = max(headerCount, found)
            dataFieldsPerRow = expected
        }
        dataFieldEnds.append(contentsOf: recordFieldEnds)
        for _ in found..<expected { dataFieldEnds.append(content.count) }
        rowLines.append(recordLine)
    }
}

// MARK: - Writing

/// `text` as one CSV field: quoted, with its quotes doubled, when it holds a comma, a quote, a
/// line break or outer spaces, so that this parser, Python's `csv` module and pandas all read
/// it back unchanged.
public func csvField(_ text: String) -> String {
    let special = text.contains { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }
    guard special || text.hasPrefix(" ") || text.hasSuffix(" ") else { return text }
    return "\"" + text.replacing("\"", with: "\"\"") + "\""
}

// MARK: - Files

/// The whole content of the file at `path`.
func readFileBytes(_ path: String) throws -> [UInt8] {
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else {
        let code = errno
        throw CSVError(path: path, reason: code == ENOENT ? .fileNotFound : .unreadable(String(cString: strerror(code))))
    }
    defer { close(descriptor) }
    var status = stat()
    guard fstat(descriptor, &status) == 0 else {
        throw CSVError(path: path, reason: .unreadable(String(cString: strerror(errno))))
    }
    if (status.st_mode & S_IFMT) == S_IFDIR {
        throw CSVError(path: path, reason: .unreadable("it is a directory"))
    }
    var bytes = [UInt8](repeating: 0, count: max(0, Int(status.st_size)))
    var filled = 0
    while true {
        if filled == bytes.count { bytes.append(contentsOf: repeatElement(0, count: max(4096, bytes.count))) }
        let got = bytes.withUnsafeMutableBytes { buffer in
            read(descriptor, buffer.baseAddress! + filled, buffer.count - filled)
        }
        if got < 0 {
            if errno == EINTR { continue }
            throw CSVError(path: path, reason: .unreadable(String(cString: strerror(errno))))
        }
        if got == 0 { break }
        filled += got
    }
    bytes.removeLast(bytes.count - filled)
    return bytes
}
