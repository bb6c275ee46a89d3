// The typed failures of importing word vectors: every one says what was being done, to which
// file, where in it (byte offset, and line for the text format), and why.

import FoundationEssentials

// MARK: - Errors

/// A word-vector file that could not be imported, or an output that could not be written.
///
/// Byte offsets count from the start of the file's data; for a gzip-compressed file they count in
/// the decompressed data (`inputIsCompressed` says so), since that is where the records are.
public struct Word2VecImportError: Error, CustomStringConvertible, Sendable, Equatable {
    /// Why the import failed.
    public enum Reason: Sendable, Equatable {
        /// The file does not exist.
        case fileNotFound
        /// The operating system refused to open or read it (its message).
        case unreadable(String)
        /// The file holds no bytes (after decompression, when compressed).
        case emptyFile
        /// The file is compressed or archived in a way the importer does not read (its name:
        /// "zip", "bzip2", "xz", "zstd"); the message says how to unpack it.
        case unsupportedCompression(String)
        /// zlib rejected the gzip data (its message) at this byte of the compressed file.
        case corruptCompression(String, compressedOffset: Int)
        /// The gzip data ends before its end-of-stream marker: the download is incomplete.
        case truncatedCompression
        /// Bytes that are not another gzip member follow the end of the gzip data, at this byte of
        /// the compressed file.
        case trailingDataAfterCompression(compressedOffset: Int)
        /// The first line is not the header `"<count> <dimension>"` the format requires (the line,
        /// shortened).
        case badHeader(String)
        /// The vectors would have no components: the header says dimension 0, or a header-less
        /// text file's first line holds a word and no numbers.
        case zeroDimension
        /// The dimension is larger than the importer's limit (a misread or corrupt header).
        case dimensionTooLarge(Int, limit: Int)
        /// A text line is longer than any line of this dimension could be (in bytes).
        case lineTooLong(limit: Int)
        /// A binary record's word runs past the longest word allowed (in bytes) without the
        /// space that ends it.
        case wordTooLong(limit: Int)
        /// A binary record's word holds an ASCII control byte: the records are misaligned (the
        /// header's dimension is wrong, or the file is not binary word2vec).
        case controlByteInWord(UInt8)
        /// The file ends inside a binary record's word (before the space that ends it).
        case endsInsideWord
        /// The file ends inside a binary record's vector: `foundBytes` of `expectedBytes`.
        case truncatedVector(word: String, foundBytes: Int, expectedBytes: Int)
        /// A text line holds a number of fields other than the word and `dimension` numbers.
        case wrongFieldCount(expected: Int, found: Int)
        /// A text field that must be a number is not one (the field, shortened).
        case notANumber(String)
        /// A vector component is infinite or NaN (or too large for float32).
        case nonFiniteValue(String)
        /// The file holds more records than the header's count.
        case moreWordsThanHeader(headerCount: Int)
        /// The file ends after fewer records than the header's count.
        case fewerWordsThanHeader(headerCount: Int, found: Int)
        /// The selection kept no word at all (why, in words).
        case noWordsKept(String)
        /// The caption path holds no `.csv` file.
        case noCaptionFiles
        /// No caption file could be read: how many were tried, and the first failure.
        case captionFilesUnreadable(count: Int, firstFailure: String)
        /// The output folder or a file in it could not be written (the reason).
        case outputUnwritable(String)
    }

    /// The file concerned (the word-vector file, the caption path, or the output folder).
    public let path: String
    /// What was being done, e.g. `"importing word vectors from"`.
    public let operation: String
    /// The byte offset of the problem in the file's (decompressed) data, when it has one.
    public let byteOffset: Int?
    /// The 1-based line of the problem, for the text format.
    public let line: Int?
    /// Whether the file is gzip-compressed, so that `byteOffset` counts decompressed bytes.
    public let inputIsCompressed: Bool
    /// What is wrong.
    public let reason: Reason

    /// An error about `path`, found while doing `operation`.
    public init(path: String, operation: String, byteOffset: Int? = nil, line: Int? = nil,
                inputIsCompressed: Bool = false, reason: Reason) {
        self.path = path
        self.operation = operation
        self.byteOffset = byteOffset
        self.line = line
        self.inputIsCompressed = inputIsCompressed
        self.reason = reason
    }

    /// What was being done, to which file, where, and why, in one sentence.
    public var description: String {
        var text = "\(operation) \(path)"
        var place: [String] = []
        if let byteOffset {
            place.append("byte \(byteOffset)" + (inputIsCompressed ? " of the decompressed data" : ""))
        }
        if let line { place.append("line \(line)") }
        if !place.isEmpty { text += " (at " + place.joined(separator: ", ") + ")" }
        return text + ": " + explanation
    }

    /// The reason in words, with what to do about it where that is known.
    public var explanation: String {
        switch reason {
        case .fileNotFound:
            return "no such file"
        case .unreadable(let message):
            return "cannot read it: \(message)"
        case .emptyFile:
            return "the file is empty"
        case .unsupportedCompression(let kind):
            switch kind {
            case "zip":
                return "this is a zip archive: extract the .bin, .vec or .txt file inside it first (unzip FILE)"
            default:
                return "this file is \(kind)-compressed: decompress it first (only gzip is read directly)"
            }
        case .corruptCompression(let message, let compressedOffset):
            return "the gzip data is corrupt at byte \(compressedOffset) of the compressed file (zlib: \(message)); download the file again"
        case .truncatedCompression:
            return "the gzip data ends before its end marker: the file is incomplete; download it again"
        case .trailingDataAfterCompression(let compressedOffset):
            return "unexpected bytes after the end of the gzip data, at byte \(compressedOffset) of the compressed file"
        case .badHeader(let header):
            return "the first line must be the header \"<word count> <dimension>\", found \"\(header)\""
        case .zeroDimension:
            return "the vectors would have 0 dimensions"
        case .dimensionTooLarge(let dimension, let limit):
            return "dimension \(dimension) is larger than the limit of \(limit): the header is corrupt or this is not a word-vector file"
        case .lineTooLong(let limit):
            return "a line longer than \(limit) bytes: not a text word-vector file of this dimension (is it binary? try --format binary)"
        case .wordTooLong(let limit):
            return "no space ends the word within \(limit) bytes: not a binary word2vec file (is it text? try --format text)"
        case .controlByteInWord(let byte):
            return "the word holds the control byte 0x" + String(byte, radix: 16, uppercase: true)
                + ": the records are misaligned, so the header's dimension is wrong or this is not a binary word2vec file"
        case .endsInsideWord:
            return "the file ends inside a word: it is truncated"
        case .truncatedVector(let word, let found, let expected):
            return "the file ends inside the vector of \"\(word)\" after \(found) of its \(expected) bytes: it is truncated"
        case .wrongFieldCount(let expected, let found):
            return "expected \(expected) fields (a word and \(expected - 1) numbers), found \(found)"
        case .notANumber(let field):
            return "\"\(field)\" is not a number"
        case .nonFiniteValue(let value):
            return "the vector component \(value) is not a finite float32"
        case .moreWordsThanHeader(let count):
            return "more records than the header's count of \(count)"
        case .fewerWordsThanHeader(let count, let found):
            return "the file ends after \(found) records, but the header promises \(count): it is truncated or the header is wrong"
        case .noWordsKept(let why):
            return "no word was kept: \(why)"
        case .noCaptionFiles:
            return "no .csv caption file there"
        case .captionFilesUnreadable(let count, let first):
            return "none of the \(count) caption files could be read; the first failure: \(first)"
        case .outputUnwritable(let message):
            return "cannot write the output: \(message)"
        }
    }
}

// MARK: - Failures inside the readers

/// A failure found while reading, before the importer adds the path and the operation.
struct VectorFileFailure: Error {
    var reason: Word2VecImportError.Reason
    var byteOffset: Int?
    var line: Int?

    init(_ reason: Word2VecImportError.Reason, at byteOffset: Int? = nil, line: Int? = nil) {
        self.reason = reason
        self.byteOffset = byteOffset
        self.line = line
    }
}

/// A short, printable excerpt of bytes for messages (invalid UTF-8 shown as U+FFFD).
func excerpt(_ bytes: UnsafeRawBufferPointer, limit: Int = 40) -> String {
    let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes.prefix(limit)), as: UTF8.self)
    let printable = String(text.unicodeScalars.map { scalar -> Character in
        scalar.value < 0x20 || scalar.value == 0x7F ? "?" : Character(scalar)
    })
    return bytes.count > limit ? printable + "..." : printable
}
