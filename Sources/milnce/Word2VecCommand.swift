import ArgumentParser
import FoundationEssentials
import MILNCE
import POSIX
import Synchronization

// MARK: - milnce word2vec

/// `milnce word2vec`: the word vectors of the text network.
struct Word2VecCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "word2vec",
        abstract: "Word vectors for the text network.",
        subcommands: [Word2VecImportCommand.self]
    )
}

// MARK: - milnce word2vec import

/// `milnce word2vec import FILE --output DIR`: published word vectors into `dict.npy` and
/// `word2vec.pth`, the reference's layout.
struct Word2VecImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Convert published word vectors (word2vec .bin, fastText .vec, GloVe .txt; plain or gzip) into dict.npy and word2vec.pth.",
        discussion: """
        The reference's word2vec.zip (its dict.npy and word2vec.pth) can no longer be downloaded, \
        but the vectors it was made from still can: word2vec's GoogleNews-vectors-negative300.bin.gz \
        (3 million words and phrases x 300 dimensions, 1.6 GB compressed, 3.6 GB uncompressed; \
        Google's original release, mirrored widely, e.g. on Kaggle and Hugging Face). Text-format \
        vectors work too: fastText's wiki-news-300d-1M.vec and crawl-300d-2M.vec, GloVe's \
        glove.6B.300d.txt and glove.840B.300d.txt (unzip the .zip downloads first). The reference's \
        text network uses 300 dimensions.

        This writes, into the --output folder, the reference's layout: dict.npy (the kept words; \
        word i has token i + 1) and word2vec.pth (a float32 tensor of (words + 1) x dimension whose \
        row 0, the padding token, is zero). Both this system and the reference read them:

          --word2vec_path DIR/word2vec.pth --token_to_word_path DIR/dict.npy

        Formats: binary word2vec (a header "<count> <dimension>", then each word, a space and its \
        float32 values) and text (one word and its numbers per line, with that header or, as in \
        GloVe, without). A gzip-compressed file is read directly, detected from its content, not \
        its name. --format auto tells binary from text by the content.

        Selection: words are taken in file order (word2vec and fastText list words by descending \
        frequency): the first --vocab words (default 66,249, so that with the padding row the \
        matrix has the reference's 66,250 rows), counting only words that occur in the --captions \
        corpus when given. Words that are not valid UTF-8 are skipped and counted (some published files \
        have a few); a repeated word keeps its first vector. Reading stops once the vocabulary is \
        complete (seconds, even for the Google file); --whole-file reads and checks the rest.
        """
    )

    @Argument(help: "The word-vector file: binary (.bin) or text (.txt, .vec), plain or gzip-compressed.")
    var file: String

    @Option(help: "The folder to write dict.npy and word2vec.pth into (created when missing; existing files are replaced).")
    var output: String

    @Option(help: "How many words to keep: a number, or 'all'.")
    var vocab: VocabularyLimit = .words(Word2VecImportOptions.referenceVocabularyLimit)

    @Option(help: "Keep only words that occur in these captions: a caption CSV file (columns start,end,text) or a folder of them (searched recursively), split into words as training splits them.")
    var captions: String?

    @Flag(help: "Lowercase the captions (Python's str.lower()) before splitting them, as the pretrained-model release's tokenizer does; training, like the reference's, does not, so use this only for a lowercasing tokenizer. The file's words are compared as they are.")
    var lowercase = false

    @Option(help: "The file's format: auto, binary or text.")
    var format: Word2VecFormat = .automatic

    @Flag(name: .customLong("whole-file"), help: "Read and check the whole file even after the vocabulary is complete.")
    var wholeFile = false

    func validate() throws {
        if lowercase && captions == nil {
            throw ValidationError("--lowercase applies to the words of --captions; give --captions too")
        }
    }

    /// The importer's options, without the caption vocabulary (read in `run`).
    var importOptions: Word2VecImportOptions {
        var options = Word2VecImportOptions(format: format, readsWholeFile: wholeFile)
        switch vocab {
        case .words(let count): options.vocabularyLimit = count
        case .all: options.vocabularyLimit = nil
        }
        return options
    }

    func run() throws {
        let start = ContinuousClock.now
        var options = importOptions
        if let captions {
            let display = LazyProgress(title: "Reading captions (files)")
            let vocabulary = try CaptionVocabulary.collect(from: URL(fileURLWithPath: captions), lowercased: lowercase) {
                display.update($0, total: $1)
            }
            display.finish()
            printCaptionSummary(vocabulary, path: captions)
            options.captions = vocabulary
        }
        let mebibyte = 1 << 20
        let display = LazyProgress(title: "Reading \(URL(fileURLWithPath: file).lastPathComponent) (MiB)")
        let report = try Word2VecImporter(options: options).importFile(
            at: URL(fileURLWithPath: file), into: URL(fileURLWithPath: output)
        ) { done, total in
            // Small files finish before a display would help.
            if total >= 64 * mebibyte { display.update(done / mebibyte, total: (total + mebibyte - 1) / mebibyte) }
        }
        display.finish()
        print(Word2VecImportCommand.summary(of: report, file: file, seconds: start.elapsedSeconds))
    }

    private func printCaptionSummary(_ vocabulary: CaptionVocabulary, path: String) {
        print("Captions: \(grouped(vocabulary.wordCount)) distinct words in \(grouped(vocabulary.captionCount)) captions "
              + "of \(grouped(vocabulary.fileCount)) files\(vocabulary.lowercased ? " (lowercased)" : "")")
        if !vocabulary.failures.isEmpty {
            var warning = "warning: \(vocabulary.failures.count) of the caption files under \(path) could not be read and were skipped:\n"
            for failure in vocabulary.failures.prefix(5) { warning += "  \(failure.message)\n" }
            if vocabulary.failures.count > 5 { warning += "  ...\n" }
            FileOutput.standardError.print(warning)
        }
    }

    // MARK: Summary

    /// The lines printed after an import: what was read, kept and skipped, where the files are,
    /// and how to use them.
    static func summary(of report: Word2VecImportReport, file: String, seconds: Double) -> String {
        let s = report.statistics
        var format = s.format.rawValue
        if s.isCompressed { format += ", gzip" }
        var lines = ["Imported \(grouped(s.wordsKept)) words x \(s.dimension) dimensions from \(file) (\(format))"]
        var read = "  words read:  \(grouped(s.wordsRead))"
        if let count = s.headerWordCount { read += " of the header's \(grouped(count))" }
        lines.append(read)
        lines.append("  kept:        \(grouped(s.wordsKept))")
        var skipped = ["\(grouped(s.invalidWords)) invalid (empty, not UTF-8, or with NUL)"]
        if let first = s.invalidWordOffsets.first { skipped[0] += ", the first at byte \(first)" }
        skipped.append("\(grouped(s.duplicateWords)) repeated")
        if s.wordsNotInCaptions > 0 { skipped.append("\(grouped(s.wordsNotInCaptions)) not in the captions") }
        if s.wordsBeyondLimit > 0 { skipped.append("\(grouped(s.wordsBeyondLimit)) beyond --vocab") }
        lines.append("  skipped:     " + skipped.joined(separator: ", "))
        let data = (s.bytesRead < 1 << 20 ? "\(grouped(s.bytesRead)) bytes" : formatBytes(s.bytesRead))
            + (s.isCompressed ? " of decompressed data" : "")
        lines.append("  read:        \(data) "
                     + (s.readToEnd ? "(the whole file)" : "(stopped once the vocabulary was complete; --whole-file reads the rest)"))
        lines.append("  dictionary:  \(report.dictionaryURL.path)")
        lines.append("  matrix:      \(report.matrixURL.path) (\(grouped(s.wordsKept + 1)) x \(s.dimension) float32, row 0 = padding)")
        lines.append("  time:        \(formatDuration(seconds))")
        if s.dimension != 300 {
            lines.append("note: the reference's text network (and its released weights) use 300 dimensions; these vectors have \(s.dimension), "
                         + "so milnce train refuses them")
        }
        lines.append("Use with: --word2vec_path \(report.matrixURL.path) --token_to_word_path \(report.dictionaryURL.path)")
        return lines.joined(separator: "\n")
    }
}

// MARK: - Arguments

/// `--vocab`: a positive number of words, or `all`.
enum VocabularyLimit: ExpressibleByArgument, Equatable {
    /// At most this many words.
    case words(Int)
    /// Every selected word.
    case all

    init?(argument: String) {
        if argument.lowercased() == "all" {
            self = .all
        } else if let count = Int(argument), count > 0 {
            self = .words(count)
        } else {
            return nil
        }
    }

    var defaultValueDescription: String {
        switch self {
        case .words(let count): "\(count)"
        case .all: "all"
        }
    }
}

extension Word2VecFormat: ExpressibleByArgument {}

// MARK: - Helpers

/// A progress display created on the first report, when the total is known; callable from any
/// thread.
private final class LazyProgress: Sendable {
    private let title: String
    private let display = Mutex<ProgressDisplay?>(nil)

    init(title: String) { self.title = title }

    func update(_ done: Int, total: Int) {
        let display = display.withLock { display in
            if display == nil { display = ProgressDisplay(title, total: total) }
            return display
        }
        display?.update(done)
    }

    func finish() {
        display.withLock { $0 }?.finish()
    }
}

/// A count with thousands separators: 66,249.
private func grouped(_ value: Int) -> String {
    let digits = String(value.magnitude)
    var result = ""
    for (index, digit) in digits.enumerated() {
        if index > 0 && (digits.count - index) % 3 == 0 { result.append(",") }
        result.append(digit)
    }
    return value < 0 ? "-" + result : result
}
