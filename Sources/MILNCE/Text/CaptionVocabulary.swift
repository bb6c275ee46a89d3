// The words that occur in a caption corpus, split exactly as training splits captions (the
// reference's `[\w']+`, optionally after `str.lower()`), so that a word-vector import can keep
// only the words training will ever look up. Reading them from caption files is in
// Data/CaptionCorpus.swift.

import FoundationEssentials

// MARK: - Caption vocabulary

/// The set of words of a caption corpus (caption CSV files with columns start, end, text).
///
/// Words are compared by their UTF-8 bytes (code points), as the tokenizer compares them.
public struct CaptionVocabulary: Sendable {
    /// A caption file that could not be read; it adds no words.
    public struct Failure: Sendable, Equatable {
        /// The file.
        public let path: String
        /// Why it was rejected.
        public let message: String
    }

    /// Whether captions were lowercased (Python's `str.lower()`) before splitting.
    public let lowercased: Bool
    /// The number of caption files read (failures included).
    public let fileCount: Int
    /// The number of captions read.
    public let captionCount: Int
    /// The caption files that could not be read.
    public let failures: [Failure]
    private let words: WordSet

    /// The number of distinct words.
    public var wordCount: Int { words.count }

    /// The distinct words, in the order they were first met (for tests and reports).
    public var allWords: [String] { words.words }

    /// The words of `sentences`, split as the tokenizer splits them.
    public init(sentences: [String], lowercased: Bool = false) {
        var words = WordSet()
        var scratch: [UInt8] = []
        for sentence in sentences {
            var sentence = sentence
            sentence.withUTF8 { CaptionVocabulary.addWords(of: UnsafeRawBufferPointer($0), lowercased: lowercased,
                                                           to: &words, scratch: &scratch) }
        }
        self.init(words: words, lowercased: lowercased, fileCount: 0, captionCount: sentences.count, failures: [])
    }

    /// A vocabulary of `words` read from `fileCount` files.
    init(words: WordSet, lowercased: Bool, fileCount: Int, captionCount: Int, failures: [Failure]) {
        self.words = words
        self.lowercased = lowercased
        self.fileCount = fileCount
        self.captionCount = captionCount
        self.failures = failures
    }

    /// Whether `word` occurs in the captions (exact code points).
    public func contains(_ word: String) -> Bool { words.contains(word) }

    /// Whether the UTF-8 `word` occurs in the captions.
    func contains(utf8 word: UnsafeRawBufferPointer) -> Bool { words.contains(word) }

    /// Adds the words of the UTF-8 `text`, split as the tokenizer splits a sentence.
    static func addWords(of text: UnsafeRawBufferPointer, lowercased: Bool, to words: inout WordSet,
                         scratch: inout [UInt8]) {
        func split(_ bytes: UnsafeRawBufferPointer) {
            PythonUnicode.forEachWord(in: bytes) { range in
                words.insert(UnsafeRawBufferPointer(rebasing: bytes[range]))
                return true
            }
        }
        if lowercased {
            scratch.removeAll(keepingCapacity: true)
            PythonUnicode.lowercaseUTF8(text, into: &scratch)
            scratch.withUnsafeBytes { split($0) }
        } else {
            split(text)
        }
    }
}
