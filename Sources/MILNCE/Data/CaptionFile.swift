// One video's caption file (`<caption root>/<video id>.csv`, columns `start,end,text`), read as
// the reference reads it with `pd.read_csv`: times as float64, texts as Python's `str()` of the
// values pandas inferred (an empty text is "nan").

import FoundationEssentials

// MARK: - Caption lists

/// An ordered list of captions: start and end times in seconds, and UTF-8 text.
///
/// Implemented by a parsed caption file and by one video's captions in a `CaptionIndex`; the
/// clip sampler works on either. Accessors throw when the storage behind them is corrupt.
public protocol CaptionList {
    /// The number of captions.
    var count: Int { get }
    /// The start time of caption `index` in seconds.
    func startSeconds(at index: Int) throws -> Double
    /// The end time of caption `index` in seconds.
    func endSeconds(at index: Int) throws -> Double
    /// Calls `body` with the UTF-8 text of caption `index`.
    func withTextUTF8<R>(at index: Int, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R
}

extension CaptionList {
    /// The text of caption `index`.
    public func text(at index: Int) throws -> String {
        try withTextUTF8(at: index) { String(decoding: $0, as: UTF8.self) }
    }
}

/// A caption index outside `0 ..< count`.
public struct CaptionRangeError: Error, CustomStringConvertible, Sendable {
    /// The requested caption.
    public let index: Int
    /// The number of captions.
    public let count: Int

    public var description: String { "reading caption \(index) of a list of \(count) captions: out of range" }
}

// MARK: - Caption file

/// The captions of one video, parsed from its CSV file.
public struct CaptionFile: CaptionList, Sendable {
    /// The largest magnitude accepted for a time: beyond it float64 no longer holds every
    /// integer, and the sampler's integer conversions would be meaningless.
    public static let largestSeconds = 9_007_199_254_740_992.0

    /// The file the captions came from.
    public let path: String
    /// Start times in seconds, as pandas reads them (float64).
    public let startTimes: [Double]
    /// End times in seconds.
    public let endTimes: [Double]
    private let textBytes: [UInt8]
    /// `textEnds[i]` is where caption i's text ends in `textBytes`; it starts where the previous
    /// one ends.
    private let textEnds: [Int]

    /// The number of captions.
    public var count: Int { startTimes.count }

    /// Reads and parses the caption file at `path`.
    public static func read(contentsOf path: String) throws -> CaptionFile {
        let bytes = try readFileBytes(path)
        return try bytes.withUnsafeBytes { try parse($0, path: path) }
    }

    /// Parses caption CSV text. Throws a `CSVError` for a file that is not CSV, lacks a column
    /// `start`, `end` or `text`, or has a start or end that is missing or not a finite number.
    public static func parse(_ bytes: UnsafeRawBufferPointer, path: String) throws -> CaptionFile {
        let table = try CSVTable.parse(bytes, path: path)
        let startColumn = try table.column(named: "start")
        let endColumn = try table.column(named: "end")
        let textColumn = try table.column(named: "text")
        let rows = table.rowCount
        var starts: [Double] = []
        var ends: [Double] = []
        starts.reserveCapacity(rows)
        ends.reserveCapacity(rows)
        for row in 0..<rows {
            starts.append(try seconds(table, row: row, column: startColumn, name: "start"))
            ends.append(try seconds(table, row: row, column: endColumn, name: "end"))
        }
        var texts: [UInt8] = []
        var textEnds: [Int] = []
        textEnds.reserveCapacity(rows)
        PandasValues.columnTexts(count: rows, field: { row, body in
            table.withField(row: row, column: textColumn, body)
        }, append: { text in
            switch text {
            case .field(let row):
                table.withField(row: row, column: textColumn) { texts.append(contentsOf: $0) }
            case .literal(let literal):
                texts.append(contentsOf: literal.utf8)
            }
            textEnds.append(texts.count)
        })
        return CaptionFile(path: path, startTimes: starts, endTimes: ends, textBytes: texts, textEnds: textEnds)
    }

    /// A caption list made from values (for tests and tools).
    public init(path: String = "", startTimes: [Double], endTimes: [Double], texts: [String]) {
        var bytes: [UInt8] = []
        var ends: [Int] = []
        for text in texts {
            bytes.append(contentsOf: text.utf8)
            ends.append(bytes.count)
        }
        let count = min(startTimes.count, endTimes.count, texts.count)
        self.init(path: path, startTimes: Array(startTimes.prefix(count)), endTimes: Array(endTimes.prefix(count)),
                  textBytes: bytes, textEnds: Array(ends.prefix(count)))
    }

    /// A caption list from its stored parts: `textEnds[i]` is where caption i's text ends in `textBytes`.
    init(path: String, startTimes: [Double], endTimes: [Double], textBytes: [UInt8], textEnds: [Int]) {
        self.path = path
        self.startTimes = startTimes
        self.endTimes = endTimes
        self.textBytes = textBytes
        self.textEnds = textEnds
    }

    private static func seconds(_ table: CSVTable, row: Int, column: Int, name: String) throws -> Double {
        try table.withField(row: row, column: column) { bytes in
            if PandasValues.isMissing(bytes) {
                throw CSVError(path: table.path, line: table.lineNumber(ofRow: row), reason: .missingValue(column: name))
            }
            guard let value = PandasValues.number(bytes)?.doubleValue, value.isFinite,
                  abs(value) < largestSeconds else {
                throw CSVError(path: table.path, line: table.lineNumber(ofRow: row),
                               reason: .notANumber(column: name, value: String(decoding: bytes, as: UTF8.self)))
            }
            return value
        }
    }

    // MARK: CaptionList

    /// The start time of caption `index` in seconds; throws when it is out of range.
    public func startSeconds(at index: Int) throws -> Double {
        guard index >= 0 && index < count else { throw CaptionRangeError(index: index, count: count) }
        return startTimes[index]
    }

    /// The end time of caption `index` in seconds; throws when it is out of range.
    public func endSeconds(at index: Int) throws -> Double {
        guard index >= 0 && index < count else { throw CaptionRangeError(index: index, count: count) }
        return endTimes[index]
    }

    /// Calls `body` with the UTF-8 text of caption `index`; throws when it is out of range.
    public func withTextUTF8<R>(at index: Int, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard index >= 0 && index < count && index < textEnds.count else {
            throw CaptionRangeError(index: index, count: count)
        }
        let start = index == 0 ? 0 : textEnds[index - 1]
        return try textBytes.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[start..<textEnds[index]])) }
    }

    /// The UTF-8 bytes of every caption's text, one after another, and where each one ends.
    var textStorage: (bytes: [UInt8], ends: [Int]) { (textBytes, textEnds) }
}
