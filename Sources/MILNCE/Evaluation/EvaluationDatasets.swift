// The reference's evaluation sets read from their CSV files: YouCook2 validation clips, the
// MSR-VTT test pairs and the HMDB-51 videos with their splits. Values are read as pandas reads
// them and printed as Python's `str()` prints them, so paths and captions are the reference's.

import FoundationEssentials

// MARK: - Retrieval items

/// The stretch of a video whose windows are evaluated.
public enum EvaluationTimeRange: Sendable, Equatable {
    /// From `startSeconds` to `endSeconds` (a YouCook2 clip).
    case seconds(start: Double, end: Double)
    /// From 0 to the duration the container declares (an MSR-VTT video, or any video embedded).
    case wholeVideo
}

/// One text-video pair of a retrieval evaluation: the caption and the clip it describes.
public struct RetrievalItem: Sendable, Equatable {
    /// The 0-based CSV data row.
    public var row: Int
    /// The video id.
    public var videoID: String
    /// The caption, as the reference's tokenizer sees it (`str()` of the CSV value).
    public var text: String
    /// The files that may hold the video, in the order they are tried (the first that exists
    /// is used).
    public var candidatePaths: [URL]
    /// The stretch of the video whose windows are embedded.
    public var timeRange: EvaluationTimeRange

    /// Creates an item.
    public init(row: Int, videoID: String, text: String, candidatePaths: [URL], timeRange: EvaluationTimeRange) {
        self.row = row
        self.videoID = videoID
        self.text = text
        self.candidatePaths = candidatePaths
        self.timeRange = timeRange
    }
}

/// The two zero-shot text-to-video retrieval benchmarks.
public enum RetrievalBenchmark: String, Sendable, Codable, CaseIterable {
    /// YouCook2 validation clips (`validation_youcook.csv`).
    case youcook2
    /// The MSR-VTT test pairs of the paper (`msrvtt_test.csv`).
    case msrvtt

    /// The benchmark's name for people.
    public var displayName: String {
        switch self {
        case .youcook2: return "YouCook2"
        case .msrvtt: return "MSR-VTT"
        }
    }

    /// The CSV file's name in the reference's `csv/` folder.
    public var csvFileName: String {
        switch self {
        case .youcook2: return "validation_youcook.csv"
        case .msrvtt: return "msrvtt_test.csv"
        }
    }

    /// The items of the benchmark's CSV file, with videos under `videoRoot`.
    public func items(csv: URL, videoRoot: URL) throws -> [RetrievalItem] {
        switch self {
        case .youcook2: return try YouCook2Dataset.items(csv: csv, videoRoot: videoRoot)
        case .msrvtt: return try MSRVTTDataset.items(csv: csv, videoRoot: videoRoot)
        }
    }
}

// MARK: - YouCook2

/// YouCook2's validation clips (`validation_youcook.csv`: `end,start,task,text,video_id`).
public enum YouCook2Dataset {
    /// The video file extensions tried, in order.
    public static let videoExtensions = ["mp4", "mkv", "webm"]

    /// The clips of the CSV file: a clip's video is `<videoRoot>/validation/<task>/<video_id>`
    /// with the first of `.mp4`, `.mkv`, `.webm` that exists; its stretch runs from `int(start)`
    /// to `int(end)` seconds; its caption is `text`.
    ///
    /// - Throws: `CSVError` when the file is unreadable or lacks a column, and
    ///   `EvaluationError.badDataset` when a start or end is missing or not a number.
    public static func items(csv: URL, videoRoot: URL) throws -> [RetrievalItem] {
        let table = try CSVTable.read(contentsOf: csv.path)
        let startColumn = try table.column(named: "start")
        let endColumn = try table.column(named: "end")
        let tasks = try table.pythonStrings(ofColumn: "task")
        let texts = try table.pythonStrings(ofColumn: "text")
        let videoIDs = try table.pythonStrings(ofColumn: "video_id")
        let validation = videoRoot.appendingPathComponent("validation")
        var items: [RetrievalItem] = []
        items.reserveCapacity(table.rowCount)
        for row in 0..<table.rowCount {
            let start = try table.integerSeconds(row: row, column: startColumn, name: "start")
            let end = try table.integerSeconds(row: row, column: endColumn, name: "end")
            let folder = validation.appendingPathComponent(tasks[row])
            let candidates = videoExtensions.map { folder.appendingPathComponent(videoIDs[row] + "." + $0) }
            items.append(RetrievalItem(row: row, videoID: videoIDs[row], text: texts[row], candidatePaths: candidates,
                                       timeRange: .seconds(start: Double(start), end: Double(end))))
        }
        return items
    }
}

// MARK: - MSR-VTT

/// The MSR-VTT test pairs (`msrvtt_test.csv`: `key,vid_key,video_id,sentence`).
public enum MSRVTTDataset {
    /// The pairs of the CSV file: the video is `<videoRoot>/<video_id>.mp4`, evaluated over its
    /// whole duration; the caption is `sentence`.
    ///
    /// - Throws: `CSVError` when the file is unreadable or lacks a column.
    public static func items(csv: URL, videoRoot: URL) throws -> [RetrievalItem] {
        let table = try CSVTable.read(contentsOf: csv.path)
        let videoIDs = try table.pythonStrings(ofColumn: "video_id")
        let sentences = try table.pythonStrings(ofColumn: "sentence")
        return (0..<table.rowCount).map { row in
            RetrievalItem(row: row, videoID: videoIDs[row], text: sentences[row],
                          candidatePaths: [videoRoot.appendingPathComponent(videoIDs[row] + ".mp4")],
                          timeRange: .wholeVideo)
        }
    }
}

// MARK: - HMDB-51

/// One HMDB-51 video: its class and its role in each of the three splits.
public struct HMDBVideo: Sendable, Equatable {
    /// The 0-based CSV data row.
    public var row: Int
    /// The file name (`video_id`).
    public var videoID: String
    /// The class name: the CSV label without its last five characters (`brush_hair_test` →
    /// `brush_hair`).
    public var className: String
    /// The role in split 1, 2 and 3.
    public var splits: [SplitRole]
    /// The file: `<videoRoot>/<className>/<videoID>`.
    public var path: URL

    /// Creates a video entry.
    public init(row: Int, videoID: String, className: String, splits: [SplitRole], path: URL) {
        self.row = row
        self.videoID = videoID
        self.className = className
        self.splits = splits
        self.path = path
    }
}

/// A row of the HMDB-51 CSV file that is left out of the evaluation, and why.
public struct HMDBSkippedRow: Sendable, Codable, Equatable {
    /// The 0-based CSV data row.
    public var row: Int
    /// The line of the file it starts on.
    public var line: Int
    /// Its label.
    public var label: String

    /// Creates a record.
    public init(row: Int, line: Int, label: String) {
        self.row = row
        self.line = line
        self.label = label
    }
}

/// What the HMDB-51 CSV file holds: the videos evaluated, and the rows left out.
public struct HMDBDatasetRows: Sendable {
    /// The CSV file.
    public var path: String
    /// The videos, in file order.
    public var videos: [HMDBVideo]
    /// The rows whose label lacks the `_test` suffix.
    public var skippedRows: [HMDBSkippedRow]

    /// One sentence on the rows left out, or nil when there are none.
    public var skippedRowsDescription: String? {
        guard let first = skippedRows.first else { return nil }
        let count = skippedRows.count
        return "\(path): \(count) of \(count + videos.count) \(count == 1 ? "row is" : "rows are") left out: "
            + "\(count == 1 ? "its label does" : "their labels do") not end in '\(HMDBDataset.labelSuffix)', the suffix "
            + "the reference removes to name the class folder (first: line \(first.line), label '\(first.label)'); "
            + "write the label of class C as 'C\(HMDBDataset.labelSuffix)' to evaluate \(count == 1 ? "it" : "them")"
    }
}

/// HMDB-51 with the three standard splits (`hmdb51.csv`: `video_id,label,split1,split2,split3`).
public enum HMDBDataset {
    /// The split columns, in order.
    public static let splitColumns = ["split1", "split2", "split3"]
    /// The suffix every label of the reference's CSV file carries (`brush_hair_test`).
    public static let labelSuffix = "_test"

    /// The class name of a CSV label: the label without its last five characters, as the
    /// reference's `label[:-5]` (empty for a shorter label).
    public static func className(ofLabel label: String) -> String {
        let scalars = label.unicodeScalars
        guard scalars.count > 5 else { return "" }
        var result = String.UnicodeScalarView()
        result.append(contentsOf: scalars.dropLast(5))
        return String(result)
    }

    /// The videos of the CSV file (see `rows(csv:videoRoot:)`; the rows left out are dropped).
    ///
    /// - Throws: `CSVError` when the file is unreadable or lacks a column.
    public static func videos(csv: URL, videoRoot: URL) throws -> [HMDBVideo] {
        try rows(csv: csv, videoRoot: videoRoot).videos
    }

    /// The videos of the CSV file, and the rows left out: those whose label does not end in
    /// `_test` (the reference's `label[:-5]` would cut the class name itself). A split value of
    /// 1 is training, 2 is test, anything else is unused (as the reference's `s == 1` and `s == 2`).
    ///
    /// - Throws: `CSVError` when the file is unreadable or lacks a column.
    public static func rows(csv: URL, videoRoot: URL) throws -> HMDBDatasetRows {
        let table = try CSVTable.read(contentsOf: csv.path)
        let videoIDs = try table.pythonStrings(ofColumn: "video_id")
        let labels = try table.pythonStrings(ofColumn: "label")
        let splitColumns = try splitColumns.map { try table.column(named: $0) }
        var skipped: [HMDBSkippedRow] = []
        let videos = (0..<table.rowCount).compactMap { row -> HMDBVideo? in
            guard labels[row].hasSuffix(labelSuffix) else {
                skipped.append(HMDBSkippedRow(row: row, line: table.lineNumber(ofRow: row), label: labels[row]))
                return nil
            }
            let className = className(ofLabel: labels[row])
            let splits = splitColumns.map { column -> SplitRole in
                let value = table.withField(row: row, column: column) { PandasValues.number($0)?.doubleValue }
                switch value {
                case 1: return .train
                case 2: return .test
                default: return .unused
                }
            }
            let path = videoRoot.appendingPathComponent(className).appendingPathComponent(videoIDs[row])
            return HMDBVideo(row: row, videoID: videoIDs[row], className: className, splits: splits, path: path)
        }
        return HMDBDatasetRows(path: csv.path, videos: videos, skippedRows: skipped)
    }

    /// The class names in sorted order (scikit-learn's `LabelEncoder`); a video's label index
    /// is its class's position here.
    public static func classNames(of videos: [HMDBVideo]) -> [String] {
        Array(Set(videos.map(\.className))).sorted { $0.unicodeScalars.lexicographicallyPrecedes($1.unicodeScalars) }
    }
}

// MARK: - CSV values

extension CSVTable {
    /// The values of column `name` as Python's `str()` prints what pandas read (`nan` for a
    /// missing value, `7` for an integer column's `007`, the text itself for text columns).
    func pythonStrings(ofColumn name: String) throws -> [String] {
        let column = try column(named: name)
        var texts: [String] = []
        texts.reserveCapacity(rowCount)
        PandasValues.columnTexts(count: rowCount, field: { row, body in
            withField(row: row, column: column, body)
        }, append: { text in
            switch text {
            case .field(let row): texts.append(string(row: row, column: column))
            case .literal(let literal): texts.append(literal)
            }
        })
        return texts
    }

    /// The whole seconds of a time field (`int(value)`: truncated toward zero).
    func integerSeconds(row: Int, column: Int, name: String) throws -> Int {
        try withField(row: row, column: column) { bytes in
            let text = String(decoding: bytes, as: UTF8.self)
            guard !PandasValues.isMissing(bytes) else {
                throw EvaluationError.badDataset(path: path, line: lineNumber(ofRow: row),
                                                 reason: "the \"\(name)\" value is missing")
            }
            guard let value = PandasValues.number(bytes)?.doubleValue, value.isFinite,
                  abs(value) < 1e12 else {
                throw EvaluationError.badDataset(path: path, line: lineNumber(ofRow: row),
                                                 reason: "the \"\(name)\" value \"\(text)\" is not a number of seconds")
            }
            return Int(value.rounded(.towardZero))
        }
    }
}
