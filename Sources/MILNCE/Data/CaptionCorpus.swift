// Collecting a caption vocabulary from caption CSV files: the words of a caption corpus as the
// training data path reads it (CaptionFile), for a word-vector import to keep.

import Dispatch
import FoundationEssentials
import POSIX
import Synchronization

extension CaptionVocabulary {
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
