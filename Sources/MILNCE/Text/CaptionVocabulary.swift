// The words that occur in a caption corpus, split exactly as training splits captions (the
// reference's `[\w']+`, optionally after `str.lower()`), so that a word-vector import can keep
// only the words training will ever look up.

import Dispatch
import FoundationEssentials
import POSIX
import Synchronization

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

    private init(words: WordSet, lowercased: Bool, fileCount: Int, captionCount: Int, failures: [Failure]) {
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

    // MARK: Collecting from files

    /// Reads the caption CSV file at `url`, or every `.csv` file under the folder at `url`
    /// (recursively, hidden files skipped), on all cores. Files that cannot be parsed are
    /// skipped and listed in `failures`; `progress` receives (files done, files in all).
    ///
    /// - Throws: `Word2VecImportError` when the path does not exist, holds no `.csv` file, or
    ///   none of its files can be read.
    public static func collect(from url: URL, lowercased: Bool = false,
                               progress: (@Sendable (_ filesDone: Int, _ fileCount: Int) -> Void)? = nil) throws
        -> CaptionVocabulary {
        let operation = "collecting the words of the captions in"
        var isDirectory = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw Word2VecImportError(path: url.path, operation: operation, reason: .fileNotFound)
        }
        let files = isDirectory ? try captionFiles(under: url, operation: operation) : [url.path]
        guard !files.isEmpty else { throw Word2VecImportError(path: url.path, operation: operation, reason: .noCaptionFiles) }

        let workerCount = max(1, min(ProcessInfo.processInfo.activeProcessorCount, files.count))
        let results = CollectionResults(workerCount: workerCount)
        DispatchQueue.concurrentPerform(iterations: workerCount) { worker in
            var words = WordSet()
            var failures: [(Int, Failure)] = []
            var captions = 0
            var scratch: [UInt8] = []
            for fileIndex in stride(from: worker, to: files.count, by: workerCount) {
                do {
                    let file = try CaptionFile.read(contentsOf: files[fileIndex])
                    for caption in 0..<file.count {
                        try file.withTextUTF8(at: caption) {
                            addWords(of: $0, lowercased: lowercased, to: &words, scratch: &scratch)
                        }
                    }
                    captions += file.count
                } catch {
                    failures.append((fileIndex, Failure(path: files[fileIndex], message: "\(error)")))
                }
                let done = results.fileFinished()
                progress?(done, files.count)
            }
            results.store(worker: worker, words: words, failures: failures, captions: captions)
        }
        var words = WordSet()
        var failures: [(Int, Failure)] = []
        var captions = 0
        for part in results.parts {
            words.formUnion(part.words)
            failures += part.failures
            captions += part.captions
        }
        failures.sort { $0.0 < $1.0 }
        if failures.count == files.count, let first = failures.first {
            throw Word2VecImportError(path: url.path, operation: operation,
                                      reason: .captionFilesUnreadable(count: files.count, firstFailure: first.1.message))
        }
        return CaptionVocabulary(words: words, lowercased: lowercased, fileCount: files.count, captionCount: captions,
                                 failures: failures.map(\.1))
    }

    /// The `.csv` files under `folder`, sorted by path.
    private static func captionFiles(under folder: URL, operation: String) throws -> [String] {
        guard let files = regularFiles(under: folder.path) else {
            throw Word2VecImportError(path: folder.path, operation: operation, reason: .unreadable("cannot list the folder"))
        }
        return files.filter { URL(fileURLWithPath: $0).pathExtension.lowercased() == "csv" }.sorted()
    }

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

/// What the workers of `collect` found, gathered under a lock.
private final class CollectionResults: Sendable {
    struct Part {
        var words = WordSet()
        var failures: [(Int, CaptionVocabulary.Failure)] = []
        var captions = 0
    }

    private struct Gathered {
        var filesDone = 0
        var parts: [Part]
    }
    private let gathered: Mutex<Gathered>

    init(workerCount: Int) {
        gathered = Mutex(Gathered(parts: [Part](repeating: Part(), count: workerCount)))
    }

    /// Each worker's part, once all have stored theirs.
    var parts: [Part] { gathered.withLock { $0.parts } }

    /// Counts one more file done; returns the count.
    func fileFinished() -> Int {
        gathered.withLock { gathered in
            gathered.filesDone += 1
            return gathered.filesDone
        }
    }

    func store(worker: Int, words: WordSet, failures: [(Int, CaptionVocabulary.Failure)], captions: Int) {
        gathered.withLock { $0.parts[worker] = Part(words: words, failures: failures, captions: captions) }
    }
}
