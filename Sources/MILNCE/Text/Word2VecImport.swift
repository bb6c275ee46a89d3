// Importing word vectors from the files users can still download (word2vec's
// GoogleNews-vectors-negative300.bin(.gz), fastText .vec, GloVe .txt) into the reference's
// layout: `dict.npy` (the kept words; word i has token i + 1) and `word2vec.pth` (a float32
// `(words + 1) x dimension` tensor whose row 0, the padding token, is zero).

import FoundationEssentials
import POSIX
import TorchFiles

// MARK: - Options

/// What to keep from a word-vector file, and how to read it.
public struct Word2VecImportOptions: Sendable {
    /// The reference's vocabulary: 66,249 words, so that with the padding row the matrix has the
    /// reference's 66,250 rows.
    public static let referenceVocabularyLimit = 66_249

    /// The file's format; `.automatic` decides from the content.
    public var format: Word2VecFormat
    /// Keep at most this many words: the first ones of the file (word2vec files list words by
    /// descending frequency, so these are the most frequent). Nil keeps every selected word.
    public var vocabularyLimit: Int?
    /// When set, keep only words that occur in these captions (with `vocabularyLimit`: the first
    /// words, in file order, that occur in them).
    public var captions: CaptionVocabulary?
    /// Read (and check) the whole file even once `vocabularyLimit` words are kept. Without it the
    /// reading stops there, which makes the 3.6 GB Google file a matter of seconds, but leaves the
    /// rest of the file (and the header's word count) unchecked.
    public var readsWholeFile: Bool
    /// The largest dimension accepted: a larger header is treated as corrupt.
    public var largestDimension: Int
    /// The longest word accepted, in bytes.
    public var largestWordByteCount: Int

    /// Options; the defaults keep the reference's vocabulary size from any format.
    public init(format: Word2VecFormat = .automatic, vocabularyLimit: Int? = referenceVocabularyLimit,
                captions: CaptionVocabulary? = nil, readsWholeFile: Bool = false,
                largestDimension: Int = 65_536, largestWordByteCount: Int = 10_000) {
        self.format = format
        self.vocabularyLimit = vocabularyLimit
        self.captions = captions
        self.readsWholeFile = readsWholeFile
        self.largestDimension = largestDimension
        self.largestWordByteCount = largestWordByteCount
    }
}

// MARK: - Results

/// What an import read, kept and skipped.
public struct Word2VecImportStatistics: Sendable, Equatable {
    /// The format read: `.binary` or `.text`.
    public var format: Word2VecFormat
    /// Whether the file was gzip-compressed.
    public var isCompressed: Bool
    /// The word count of the file's header, when it has one.
    public var headerWordCount: Int?
    /// The number of components of each vector.
    public var dimension: Int
    /// Records read.
    public var wordsRead = 0
    /// Words kept (the dictionary's size; the matrix has one more row).
    public var wordsKept = 0
    /// Words skipped because they cannot be a dictionary entry: empty, not valid UTF-8, or
    /// holding a NUL character (NumPy would cut it there).
    public var invalidWords = 0
    /// The byte offsets of the first few invalid words, for the report.
    public var invalidWordOffsets: [Int] = []
    /// Later occurrences of a kept word, skipped (the first occurrence wins).
    public var duplicateWords = 0
    /// Words skipped because they do not occur in the captions.
    public var wordsNotInCaptions = 0
    /// Words read after the vocabulary limit was reached (only when reading the whole file).
    public var wordsBeyondLimit = 0
    /// Whether the whole file was read; false when reading stopped once the kept words were
    /// complete.
    public var readToEnd = false
    /// Bytes of data read (decompressed, for a compressed file).
    public var bytesRead = 0
    /// The size of the file on disk.
    public var fileBytes = 0
}

/// The kept words and their vectors, in memory, in the reference's layout.
public struct ImportedWordVectors: Sendable {
    /// The kept words in file order; word i has token i + 1.
    public let words: [String]
    /// The number of components of each vector.
    public let dimension: Int
    /// The matrix `(words.count + 1) x dimension` as little-endian float32 bytes, row 0 zero.
    public let matrixBytes: [UInt8]
    /// What the import read, kept and skipped.
    public let statistics: Word2VecImportStatistics

    /// The vector of `words[index]` (row `index + 1` of the matrix), or nil out of range.
    public func vector(ofWordAt index: Int) -> [Float]? {
        guard index >= 0 && index < words.count else { return nil }
        let start = (index + 1) * dimension * 4
        return matrixBytes.withUnsafeBytes { bytes in
            (0..<dimension).map { component in
                Float(bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: start + component * 4,
                                                                            as: UInt32.self)))
            }
        }
    }

    /// The matrix as a tensor record, ready for `TorchFile.save`.
    public func matrixRecord() throws -> TensorRecord {
        try TensorRecord(contiguousBytes: matrixBytes, elementType: .float32, shape: [words.count + 1, dimension])
    }

    /// Writes `dict.npy` and `word2vec.pth` into `directory` (created when missing), each
    /// replacing any file there atomically; returns their URLs.
    ///
    /// - Throws: `Word2VecImportError` (`outputUnwritable`) when the folder or a file cannot be
    ///   written.
    @discardableResult
    public func write(into directory: URL) throws -> (dictionary: URL, matrix: URL) {
        let operation = "writing the imported word vectors to"
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw Word2VecImportError(path: directory.path, operation: operation,
                                      reason: .outputUnwritable(describeSystemError(error)))
        }
        let dictionary = directory.appendingPathComponent(Word2VecImporter.dictionaryFileName)
        let matrix = directory.appendingPathComponent(Word2VecImporter.matrixFileName)
        for (url, save) in [(dictionary, { try NumPyFile.save(.strings(words, shape: [words.count]), to: dictionary) }),
                            (matrix, { try TorchFile.save(.tensor(try matrixRecord()), to: matrix) })] {
            do {
                try save()
            } catch let error as TorchFileError {
                throw Word2VecImportError(path: url.path, operation: operation, reason: .outputUnwritable(error.message))
            }
        }
        return (dictionary, matrix)
    }
}

/// The outcome of importing a file into a folder.
public struct Word2VecImportReport: Sendable {
    /// What the import read, kept and skipped.
    public let statistics: Word2VecImportStatistics
    /// The dictionary written (`dict.npy`).
    public let dictionaryURL: URL
    /// The matrix written (`word2vec.pth`).
    public let matrixURL: URL
    /// Wall-clock seconds of reading and writing.
    public let seconds: Double
}

// MARK: - Importer

/// Reads word2vec binary and text files (plain or gzip-compressed), streaming: memory holds the
/// kept vectors and a window of the file, never the file.
///
/// Selection: records are taken in file order; a word is skipped when it is invalid (empty, not
/// UTF-8, or holding NUL: counted, never fatal, since some published files hold a few such entries),
/// when it does not occur in `options.captions`, or when an earlier record had the same word; it
/// is kept otherwise, until `options.vocabularyLimit` words are kept. Malformed data throws
/// `Word2VecImportError` with the byte offset (and line) of the problem.
public struct Word2VecImporter: Sendable {
    /// The dictionary's file name in the output folder, as the reference names it.
    public static let dictionaryFileName = "dict.npy"
    /// The matrix's file name in the output folder, as the reference names it.
    public static let matrixFileName = "word2vec.pth"

    /// What to keep and how to read.
    public var options: Word2VecImportOptions

    /// An importer with `options`.
    public init(options: Word2VecImportOptions = Word2VecImportOptions()) {
        self.options = options
    }

    /// Reads the kept words and vectors of the file at `url`; `progress` receives (bytes of the
    /// file read, the file's size) as reading advances.
    ///
    /// - Throws: `Word2VecImportError` for an unreadable, corrupt or malformed file, or when no
    ///   word is kept.
    public func read(from url: URL, progress: ((_ bytesRead: Int, _ totalBytes: Int) -> Void)? = nil) throws
        -> ImportedWordVectors {
        let operation = "importing word vectors from"
        let path = url.path
        var compressed = false
        do {
            let file = try FileByteSource(path: path)
            let compression = InputCompression(leadingBytes: try file.leadingBytes(6))
            let source: ByteSource
            switch compression {
            case .none: source = file
            case .gzip:
                compressed = true
                source = try GzipByteSource(file: file)
            case .unsupported(let kind): throw VectorFileFailure(.unsupportedCompression(kind), at: 0)
            }
            return try read(source: source, file: file, compressed: compressed, progress: progress)
        } catch let failure as VectorFileFailure {
            throw Word2VecImportError(path: path, operation: operation, byteOffset: failure.byteOffset, line: failure.line,
                                      inputIsCompressed: compressed, reason: failure.reason)
        }
    }

    /// Reads the file at `url` and writes `dict.npy` and `word2vec.pth` into `directory`.
    ///
    /// - Throws: `Word2VecImportError` as `read(from:progress:)` and `ImportedWordVectors.write(into:)`.
    public func importFile(at url: URL, into directory: URL,
                           progress: ((_ bytesRead: Int, _ totalBytes: Int) -> Void)? = nil) throws -> Word2VecImportReport {
        let start = ContinuousClock.now
        let vectors = try read(from: url, progress: progress)
        let (dictionary, matrix) = try vectors.write(into: directory)
        return Word2VecImportReport(statistics: vectors.statistics, dictionaryURL: dictionary, matrixURL: matrix,
                                    seconds: start.elapsedSeconds)
    }

    // MARK: Reading

    private func read(source: ByteSource, file: FileByteSource, compressed: Bool,
                      progress: ((Int, Int) -> Void)?) throws -> ImportedWordVectors {
        if let limit = options.vocabularyLimit, limit < 1 {
            throw VectorFileFailure(.noWordsKept("the vocabulary limit is \(limit)"))
        }
        let limits = VectorFileLimits(largestDimension: max(1, options.largestDimension),
                                      largestWordByteCount: max(1, options.largestWordByteCount))
        let window = InputWindow(source: source, capacityLimit: limits.windowLimit) {
            progress?(file.bytesRead, file.size)
        }
        var reader = VectorFileReader(window: window, limits: limits)
        let layout = try reader.readLayout(format: options.format)
        var statistics = Word2VecImportStatistics(format: layout.format, isCompressed: compressed,
                                                  headerWordCount: layout.headerWordCount, dimension: layout.dimension)
        statistics.fileBytes = file.size

        let rowBytes = layout.dimension * 4
        // Reserve for the expected rows, but never trust a header for more than 128 MiB: the
        // arrays grow past that as words are actually kept.
        let expectedRows = min(options.vocabularyLimit ?? layout.headerWordCount ?? 0,
                               layout.headerWordCount ?? Int.max, (1 << 27) / rowBytes) + 1
        var words: [String] = []
        words.reserveCapacity(expectedRows)
        var matrix = [UInt8](repeating: 0, count: rowBytes)
        matrix.reserveCapacity(expectedRows * rowBytes)
        var kept = WordSet()
        let limit = options.vocabularyLimit ?? Int.max
        let captions = options.captions

        statistics.readToEnd = try reader.forEachRecord { record in
            statistics.wordsRead += 1
            if words.count >= limit {
                statistics.wordsBeyondLimit += 1
                return true
            }
            let word = record.word
            if word.isEmpty || word.contains(0) || PythonUnicode.firstInvalidUTF8Offset(word) != nil {
                statistics.invalidWords += 1
                if statistics.invalidWordOffsets.count < 10 { statistics.invalidWordOffsets.append(record.offset) }
                return true
            }
            if let captions, !captions.contains(utf8: word) {
                statistics.wordsNotInCaptions += 1
                return true
            }
            if !kept.insert(word) {
                statistics.duplicateWords += 1
                return true
            }
            words.append(String(decoding: word, as: UTF8.self))
            matrix.append(contentsOf: record.vector)
            return words.count < limit || options.readsWholeFile
        }
        statistics.wordsKept = words.count
        statistics.bytesRead = window.offset
        progress?(file.bytesRead, file.size)
        guard !words.isEmpty else {
            let why: String
            if statistics.wordsRead == 0 {
                why = "the file holds no records"
            } else if statistics.wordsRead == statistics.invalidWords {
                why = "none of the \(statistics.wordsRead) words read is valid UTF-8"
            } else if captions != nil {
                why = "none of the \(statistics.wordsRead) words read occurs in the captions"
                    + (captions?.lowercased == true ? "" : " (are the captions cased differently? see --lowercase)")
            } else {
                why = "no valid word among the \(statistics.wordsRead) read"
            }
            throw VectorFileFailure(.noWordsKept(why))
        }
        return ImportedWordVectors(words: words, dimension: layout.dimension, matrixBytes: matrix, statistics: statistics)
    }
}
