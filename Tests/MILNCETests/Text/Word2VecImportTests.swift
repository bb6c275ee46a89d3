import Foundation
import Testing
import TestSupport
import Torch
import TorchFiles
@testable import MILNCE

// MARK: - Round trips

@Suite struct Word2VecImportRoundTripTests {
    static let contents = VectorFileContents(
        words: ["the", "cat", "sat", "on", "mat", "é", "New_York", "naïve", "日本", "don't"],
        vectors: VectorFileContents.generated(count: 10, dimension: 7, seed: 3).vectors)

    /// Every layout, plain and gzip: the system's own readers get back the words and the exact
    /// vectors, with a zero padding row.
    @Test(arguments: VectorFileLayout.allCases, [false, true])
    func importsEveryLayout(layout: VectorFileLayout, compressed: Bool) throws {
        let folder = try TestEnvironment.temporaryDirectory("w2v")
        defer { try? FileManager.default.removeItem(at: folder) }
        let contents = Self.contents
        var bytes = contents.bytes(layout)
        if compressed { bytes = storedGzip(bytes) }
        let file = try writeFile(bytes, named: "vectors", in: folder)
        let output = folder.appendingPathComponent("out")
        let report = try Word2VecImporter(options: Word2VecImportOptions(vocabularyLimit: nil))
            .importFile(at: file, into: output)

        #expect(report.statistics.format == (layout.isBinary ? .binary : .text))
        #expect(report.statistics.isCompressed == compressed)
        #expect(report.statistics.headerWordCount == (layout.hasHeader ? contents.words.count : nil))
        #expect(report.statistics.dimension == 7)
        #expect(report.statistics.wordsRead == 10)
        #expect(report.statistics.wordsKept == 10)
        #expect(report.statistics.readToEnd)
        #expect(report.statistics.bytesRead == contents.bytes(layout).count)
        #expect(report.dictionaryURL.lastPathComponent == "dict.npy")
        #expect(report.matrixURL.lastPathComponent == "word2vec.pth")

        let words = try WordFiles.loadDictionary(from: report.dictionaryURL)
        #expect(words.map(codePoints) == contents.stringWords.map(codePoints))
        let matrix = try WordFiles.loadMatrix(from: report.matrixURL)
        #expect(matrix.shape == [11, 7])
        let values = try matrix.toArray(of: Float.self)
        let expected = [Float](repeating: 0, count: 7) + contents.vectors.flatMap { $0 }
        #expect(values.map(\.bitPattern) == expected.map(\.bitPattern))
    }

    /// Explicit formats read the same as detection; Windows line endings and tabs are separators.
    @Test func explicitFormatsAndTextVariants() throws {
        let folder = try TestEnvironment.temporaryDirectory("w2v")
        defer { try? FileManager.default.removeItem(at: folder) }
        let contents = Self.contents
        let binary = try writeFile(contents.bytes(.binaryPacked), named: "b", in: folder)
        let text = try writeFile(contents.bytes(.textWithHeader), named: "t", in: folder)
        var crlf = Array(String(decoding: contents.bytes(.textWithoutHeader), as: UTF8.self)
            .replacingOccurrences(of: "\n", with: "\r\n").replacingOccurrences(of: " ", with: "\t").utf8)
        crlf += Array("\r\n\r\n".utf8) // blank lines at the end are skipped
        let windows = try writeFile(crlf, named: "w", in: folder)
        for (file, format) in [(binary, Word2VecFormat.binary), (text, .text), (windows, .text)] {
            let vectors = try Word2VecImporter(options: Word2VecImportOptions(format: format, vocabularyLimit: nil))
                .read(from: file)
            #expect(vectors.statistics.format == format)
            #expect(vectors.words.map(codePoints) == contents.stringWords.map(codePoints))
            #expect((0..<10).map { vectors.vector(ofWordAt: $0) ?? [] } == contents.vectors)
        }
    }

    /// GloVe's few words with spaces in them: the fields before the last `dimension` numbers.
    @Test func textWordsWithSpaces() throws {
        let folder = try TestEnvironment.temporaryDirectory("w2v")
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = try writeFile(Array("the 1 2\n. . . 3 4\nat name 5 6\n".utf8), named: "glove.txt", in: folder)
        let vectors = try Word2VecImporter(options: Word2VecImportOptions(vocabularyLimit: nil)).read(from: file)
        #expect(vectors.words == ["the", ". . .", "at name"])
        #expect(vectors.vector(ofWordAt: 2) == [5, 6])
    }

    /// Progress reports rise to the file's size (the compressed size for gzip).
    @Test func progressReachesTheFileSize() throws {
        let folder = try TestEnvironment.temporaryDirectory("w2v")
        defer { try? FileManager.default.removeItem(at: folder) }
        let bytes = storedGzip(VectorFileContents.generated(count: 20_000, dimension: 16, seed: 5).bytes(.binaryPacked))
        let file = try writeFile(bytes, named: "v.bin.gz", in: folder)
        var reports: [(Int, Int)] = []
        _ = try Word2VecImporter(options: Word2VecImportOptions(vocabularyLimit: nil)).read(from: file) {
            reports.append(($0, $1))
        }
        #expect(reports.count > 2)
        #expect(reports.allSatisfy { $0.1 == bytes.count })
        #expect(zip(reports, reports.dropFirst()).allSatisfy { $0.0 <= $1.0 })
        #expect(reports.last?.0 == bytes.count)
    }
}

// MARK: - Python reads the output as the reference does

@Suite struct Word2VecImportPythonTests {
    /// `torch.load(weights_only=True)` and `np.load` read the outputs, and they equal what a
    /// plain-Python reader gets from the original file (gzip by Python's zlib included).
    @Test func pythonLoadsTheOutputsAsTheOriginalFile() throws {
        try TestEnvironment.requireOracle("numpy", "torch")
        let folder = try TestEnvironment.temporaryDirectory("w2v-python")
        defer { try? FileManager.default.removeItem(at: folder) }
        var random = SeededGenerator(seed: 11)
        let words = ["the", "cat", "é", "日本", "naïve", "New_York", "don't", "x"]
        let vectors = words.map { _ in (0..<5).map { _ in Float(Double(random.next() % 2_000_001) / 1e6 - 1) } }
        let contents = VectorFileContents(words: words, vectors: vectors)
        struct Case: Encodable {
            var file: String
            var output: String
            var binary: Bool
            var header: Bool
        }
        var cases: [Case] = []
        for layout in VectorFileLayout.allCases {
            for compression in ["plain", "stored-gzip", "python-gzip"] {
                let name = "\(layout.rawValue)-\(compression)"
                let plain = contents.bytes(layout)
                let file = folder.appendingPathComponent(name)
                switch compression {
                case "plain": try Data(plain).write(to: file)
                case "stored-gzip": try Data(storedGzip(plain)).write(to: file)
                default:
                    try Data(plain).write(to: file)
                    try runPython("import gzip, sys; d = open(sys.argv[1], 'rb').read(); open(sys.argv[1], 'wb').write(gzip.compress(d, 6))",
                                  arguments: [file.path])
                }
                let output = folder.appendingPathComponent("out-\(name)")
                let report = try Word2VecImporter(options: Word2VecImportOptions(vocabularyLimit: nil))
                    .importFile(at: file, into: output)
                #expect(report.statistics.isCompressed == (compression != "plain"))
                cases.append(Case(file: file.path, output: output.path, binary: layout.isBinary, header: layout.hasHeader))
            }
        }
        let script = """
        import gzip, json, sys
        import numpy as np, torch
        def read_original(path, binary, header):
            data = open(path, 'rb').read()
            if data[:2] == b'\\x1f\\x8b':
                data = gzip.decompress(data)
            words, vectors = [], []
            if binary:
                end = data.index(b'\\n')
                count, dim = map(int, data[:end].split())
                pos = end + 1
                for _ in range(count):
                    while data[pos:pos + 1] == b'\\n':
                        pos += 1
                    space = data.index(b' ', pos)
                    words.append(data[pos:space].decode('utf-8'))
                    vectors.append(np.frombuffer(data[space + 1:space + 1 + 4 * dim], dtype='<f4'))
                    pos = space + 1 + 4 * dim
            else:
                lines = data.decode('utf-8').splitlines()
                if header:
                    lines = lines[1:]
                for line in lines:
                    parts = line.split()
                    words.append(parts[0])
                    vectors.append(np.array([np.float32(float(x)) for x in parts[1:]], dtype=np.float32))
            return words, np.stack(vectors)
        problems = []
        for case in json.load(open(sys.argv[1])):
            words, vectors = read_original(case['file'], case['binary'], case['header'])
            matrix = torch.load(case['output'] + '/word2vec.pth', weights_only=True)
            dictionary = np.load(case['output'] + '/dict.npy')
            if not isinstance(matrix, torch.Tensor) or matrix.dtype != torch.float32:
                problems.append(case['file'] + ': matrix type ' + str(type(matrix)))
                continue
            if tuple(matrix.shape) != (len(words) + 1, vectors.shape[1]):
                problems.append(case['file'] + ': shape ' + str(list(matrix.shape)))
                continue
            if dictionary.dtype.kind != 'U' or list(dictionary) != words:
                problems.append(case['file'] + ': dictionary ' + str([str(w) for w in dictionary]))
            if not bool((matrix[0] == 0).all()):
                problems.append(case['file'] + ': padding row')
            if not np.array_equal(matrix[1:].numpy(), vectors):
                problems.append(case['file'] + ': vectors')
        print(json.dumps({'cases': len(json.load(open(sys.argv[1]))), 'problems': problems}))
        """
        struct Answer: Decodable {
            var cases: Int
            var problems: [String]
        }
        let answer: Answer = try PythonOracle.run(script, input: cases)
        #expect(answer.cases == 12)
        #expect(answer.problems.isEmpty, "\(answer.problems)")
    }

    /// The text network end to end: tokens from `Tokenizer(words:)` over the imported
    /// dictionary, embedding rows equal to the file's vectors, and `SentenceEmbedding` equal to
    /// the same computation in PyTorch from the original (gzip) file.
    @Test func sentenceEmbeddingMatchesPythonFromTheOriginalFile() throws {
        try TestEnvironment.requireOracle("numpy", "torch")
        let folder = try TestEnvironment.temporaryDirectory("w2v-network")
        defer { try? FileManager.default.removeItem(at: folder) }
        var random = SeededGenerator(seed: 21)
        let vocabulary = ["the", "a", "cut", "onion", "into", "pieces", "add", "salt", "pan", "oil", "don't", "stir",
                          "Stir", "é", "New_York", "heat", "water", "boil", "pasta", "garlic", "rare", "word"]
        let vectors = vocabulary.map { _ in (0..<300).map { _ in Float(Double(random.next() % 2_000_001) / 1e6 - 1) } }
        let contents = VectorFileContents(words: vocabulary, vectors: vectors)
        let file = folder.appendingPathComponent("vectors.bin.gz")
        try Data(contents.bytes(.binaryWithNewlines)).write(to: file)
        try runPython("import gzip, sys; d = open(sys.argv[1], 'rb').read(); open(sys.argv[1], 'wb').write(gzip.compress(d))",
                      arguments: [file.path])
        let keep = 20 // "rare" and "word" fall outside the vocabulary
        let output = folder.appendingPathComponent("out")
        let report = try Word2VecImporter(options: Word2VecImportOptions(vocabularyLimit: keep))
            .importFile(at: file, into: output)
        #expect(report.statistics.wordsKept == keep)
        #expect(!report.statistics.readToEnd)

        let dictionary = try WordFiles.loadDictionary(from: report.dictionaryURL)
        let matrix = try WordFiles.loadMatrix(from: report.matrixURL)
        let sentences = ["Cut the onion into pieces, then add salt.", "stir the pasta; don't boil", "rare word é New_York",
                         "nothing known here", "the the the the the the the the the the the the the the the the the oil",
                         "Stir garlic in oil and heat the pan with water"]
        let maxWords = 16
        let tokenizer = Tokenizer(words: dictionary)
        let tokens = tokenizer.tokens(of: sentences, maxWords: maxWords)
        let matrixValues = try matrix.toArray(of: Float.self)
        for token in tokens where token > 0 {
            let row = Array(matrixValues[Int(token) * 300 ..< Int(token + 1) * 300])
            #expect(row == vectors[Int(token) - 1], "token \(token)")
        }
        #expect(tokens.contains(0) && tokens.contains(Int64(vocabulary.firstIndex(of: "New_York")! + 1)))

        let network = try SentenceEmbedding(wordVectors: matrix, generator: try Generator(seed: 5))
        let embedded = try network(try Tensor(tokens, shape: [sentences.count, maxWords]))
        let swiftOutput = try embedded.toArray(of: Float.self)
        let weights = network.stateDict().filter { $0.name.hasPrefix("fc") }
        let weightsFile = folder.appendingPathComponent("fc.pth")
        try TorchFile.save(.stateDict(try weights.map { (name: $0.name, tensor: try $0.tensor.record()) }), to: weightsFile)

        struct Input: Encodable {
            var file: String
            var weights: String
            var keep: Int
            var sentences: [String]
            var maxWords: Int
        }
        let script = """
        import gzip, json, re, sys
        import numpy as np, torch
        inp = json.load(open(sys.argv[1]))
        data = gzip.decompress(open(inp['file'], 'rb').read())
        end = data.index(b'\\n')
        count, dim = map(int, data[:end].split())
        pos, words, vectors = end + 1, [], []
        for _ in range(count):
            while data[pos:pos + 1] == b'\\n':
                pos += 1
            space = data.index(b' ', pos)
            words.append(data[pos:space].decode('utf-8'))
            vectors.append(np.frombuffer(data[space + 1:space + 1 + 4 * dim], dtype='<f4'))
            pos = space + 1 + 4 * dim
        words, vectors = words[:inp['keep']], vectors[:inp['keep']]
        table = torch.from_numpy(np.concatenate([np.zeros((1, dim), np.float32), np.stack(vectors)]))
        token_of = {w: i + 1 for i, w in enumerate(words)}
        rows = []
        for s in inp['sentences']:
            ids = [token_of[w] for w in re.findall(r"[\\w']+", s) if w in token_of][:inp['maxWords']]
            rows.append(ids + [0] * (inp['maxWords'] - len(ids)))
        tokens = torch.tensor(rows, dtype=torch.long)
        w = torch.load(inp['weights'], weights_only=True)
        x = torch.nn.functional.embedding(tokens, table)
        x = torch.relu(x @ w['fc1.weight'].T + w['fc1.bias'])
        x = x.max(dim=1)[0] @ w['fc2.weight'].T + w['fc2.bias']
        print(json.dumps({'tokens': tokens.flatten().tolist(), 'output': x.flatten().tolist()}))
        """
        struct Answer: Decodable {
            var tokens: [Int64]
            var output: [Double]
        }
        let answer: Answer = try PythonOracle.run(script, input: Input(file: file.path, weights: weightsFile.path, keep: keep,
                                                                       sentences: sentences, maxWords: maxWords))
        #expect(answer.tokens == tokens)
        try #require(answer.output.count == swiftOutput.count)
        let scale = answer.output.map(abs).max() ?? 1
        let largestDifference = zip(answer.output, swiftOutput).map { abs($0 - Double($1)) }.max() ?? 0
        #expect(largestDifference <= 1e-5 * max(1, scale), "largest difference \(largestDifference) at scale \(scale)")
    }
}

// MARK: - Selection

@Suite struct Word2VecSelectionTests {
    /// A file with invalid words and repeats between valid ones.
    static let mixed = VectorFileContents(
        rawWords: [Array("the".utf8), [0xC3, 0x28], Array("cat".utf8), Array("the".utf8), [0xFF],
                   Array("sat".utf8), Array("cat".utf8), Array("on".utf8), Array("mat".utf8), Array("dog".utf8)],
        vectors: VectorFileContents.generated(count: 10, dimension: 3, seed: 9).vectors)

    private func read(_ contents: VectorFileContents, _ layout: VectorFileLayout = .binaryPacked,
                      _ options: Word2VecImportOptions) throws -> ImportedWordVectors {
        try read(bytes: contents.bytes(layout), options)
    }

    private func read(bytes: [UInt8], _ options: Word2VecImportOptions) throws -> ImportedWordVectors {
        let folder = try TestEnvironment.temporaryDirectory("w2v")
        defer { try? FileManager.default.removeItem(at: folder) }
        return try Word2VecImporter(options: options).read(from: try writeFile(bytes, named: "v", in: folder))
    }

    /// The first N valid words in file order; invalid UTF-8 skipped and counted; a repeat keeps
    /// the first vector; reading stops once N words are kept.
    @Test func vocabularyLimitKeepsTheFirstValidWords() throws {
        let vectors = try read(Self.mixed, .binaryPacked, Word2VecImportOptions(vocabularyLimit: 4))
        #expect(vectors.words == ["the", "cat", "sat", "on"])
        #expect(vectors.vector(ofWordAt: 0) == Self.mixed.vectors[0])
        #expect(vectors.vector(ofWordAt: 1) == Self.mixed.vectors[2])
        #expect(vectors.vector(ofWordAt: 3) == Self.mixed.vectors[7])
        let statistics = vectors.statistics
        #expect(statistics.wordsRead == 8)
        #expect(statistics.invalidWords == 2)
        var recordOffsets: [Int] = []
        var position = "10 3\n".utf8.count
        for word in Self.mixed.words {
            recordOffsets.append(position)
            position += word.count + 1 + 12
        }
        #expect(statistics.invalidWordOffsets == [recordOffsets[1], recordOffsets[4]])
        #expect(statistics.duplicateWords == 2)
        #expect(!statistics.readToEnd)
        #expect(statistics.bytesRead < Self.mixed.bytes(.binaryPacked).count)
    }

    /// Reading the whole file counts the words beyond the limit and checks the header's count.
    @Test func wholeFileReadingCountsWordsBeyondTheLimit() throws {
        let vectors = try read(Self.mixed, .textWithHeader, Word2VecImportOptions(vocabularyLimit: 4, readsWholeFile: true))
        #expect(vectors.words == ["the", "cat", "sat", "on"])
        #expect(vectors.statistics.wordsRead == 10)
        #expect(vectors.statistics.wordsBeyondLimit == 2)
        #expect(vectors.statistics.readToEnd)

        // A header promising more words than the file holds: found when reading the whole
        // file, unread when reading stops after the kept words.
        let lying = VectorFileContents(words: ["a", "b"], vectors: [[1], [2]]).bytes(.binaryPacked, headerCount: 5)
        #expect { _ = try read(bytes: lying, Word2VecImportOptions(vocabularyLimit: 1, readsWholeFile: true)) } throws: { error in
            (error as? Word2VecImportError)?.reason == .fewerWordsThanHeader(headerCount: 5, found: 2)
        }
        #expect(try read(bytes: lying, Word2VecImportOptions(vocabularyLimit: 1)).words == ["a"])
    }

    /// Words with NUL are skipped in text files (NumPy would cut them there).
    @Test func textWordsWithNulAreSkipped() throws {
        let contents = VectorFileContents(rawWords: [Array("a".utf8), [0x62, 0x00, 0x63], Array("d".utf8)],
                                          vectors: [[1, 2], [3, 4], [5, 6]])
        let vectors = try read(contents, .textWithoutHeader, Word2VecImportOptions(vocabularyLimit: nil))
        #expect(vectors.words == ["a", "d"])
        #expect(vectors.statistics.invalidWords == 1)
    }

    /// Caption corpora: a folder searched recursively (CSV files only, hidden ones skipped, an
    /// unreadable one listed), words split as training splits them, with and without lowercasing.
    @Test func captionCorpusSelectsWordsInFileOrder() throws {
        let folder = try TestEnvironment.temporaryDirectory("w2v-captions")
        defer { try? FileManager.default.removeItem(at: folder) }
        let captions = folder.appendingPathComponent("captions")
        try FileManager.default.createDirectory(at: captions.appendingPathComponent("nested/deeper"), withIntermediateDirectories: true)
        try "start,end,text\n0,1,The cat sat on the mat.\n1,2,\"Don't stir, it's hot\"\n"
            .write(to: captions.appendingPathComponent("a.csv"), atomically: true, encoding: .utf8)
        try "start,end,text\n0,1,New_York pasta\n".write(to: captions.appendingPathComponent("nested/deeper/b.CSV"),
                                                         atomically: true, encoding: .utf8)
        try "start,end,text\n0,1,zebra\n".write(to: captions.appendingPathComponent(".hidden.csv"), atomically: true, encoding: .utf8)
        try "start,end,text\n0,1,yak\n".write(to: captions.appendingPathComponent("notes.txt"), atomically: true, encoding: .utf8)
        try "start,end\n0,1\n".write(to: captions.appendingPathComponent("nested/broken.csv"), atomically: true, encoding: .utf8)

        let vocabulary = try CaptionVocabulary.collect(from: captions)
        #expect(vocabulary.fileCount == 3)
        #expect(vocabulary.failures.map { URL(fileURLWithPath: $0.path).lastPathComponent } == ["broken.csv"])
        #expect(vocabulary.captionCount == 3)
        #expect(Set(vocabulary.allWords) == ["The", "cat", "sat", "on", "the", "mat", "Don't", "stir", "it's", "hot",
                                              "New_York", "pasta"])
        let lowered = try CaptionVocabulary.collect(from: captions, lowercased: true)
        #expect(lowered.contains("the") && lowered.contains("don't") && lowered.contains("new_york"))
        #expect(!lowered.contains("The") && !lowered.contains("zebra") && !lowered.contains("yak"))

        let file = VectorFileContents.generated(count: 12, dimension: 2, seed: 4)
        let words = ["dog", "the", "The", "mat.", "cat", "stir", "new_york", "New_York", "don't", "mat", "hot", "pasta"]
        let contents = VectorFileContents(words: words, vectors: file.vectors)
        let cased = try read(contents, .textWithHeader, Word2VecImportOptions(vocabularyLimit: nil, captions: vocabulary))
        #expect(cased.words == ["the", "The", "cat", "stir", "New_York", "mat", "hot", "pasta"])
        #expect(cased.statistics.wordsNotInCaptions == 4)
        #expect(cased.vector(ofWordAt: 4) == file.vectors[7])
        let limited = try read(contents, .textWithHeader, Word2VecImportOptions(vocabularyLimit: 3, captions: vocabulary))
        #expect(limited.words == ["the", "The", "cat"])
        let lowercased = try read(contents, .textWithHeader, Word2VecImportOptions(vocabularyLimit: nil, captions: lowered))
        #expect(lowercased.words == ["the", "cat", "stir", "new_york", "don't", "mat", "hot", "pasta"])

        // A single CSV file as the corpus.
        let single = try CaptionVocabulary.collect(from: captions.appendingPathComponent("nested/deeper/b.CSV"))
        #expect(Set(single.allWords) == ["New_York", "pasta"])
    }

    /// Code points, not canonical equivalence: decomposed Hangul jamo in the captions do not
    /// select the precomposed syllable (which Swift's `==` would call equal).
    @Test func captionWordsCompareByCodePoint() throws {
        let vocabulary = CaptionVocabulary(sentences: ["\u{1100}\u{1161} lait"])
        let contents = VectorFileContents(words: ["\u{AC00}", "\u{1100}\u{1161}", "lait"], vectors: [[1], [2], [3]])
        let vectors = try read(contents, .binaryWithNewlines, Word2VecImportOptions(vocabularyLimit: nil, captions: vocabulary))
        #expect(vectors.words.map(codePoints) == [[0x1100, 0x1161], [0x6C, 0x61, 0x69, 0x74]])
        #expect(vectors.vector(ofWordAt: 0) == [2])
    }

    /// Nothing kept, a missing corpus, a corpus without CSV files, a corpus of unreadable files.
    @Test func emptySelectionsAndCorporaFail() throws {
        let folder = try TestEnvironment.temporaryDirectory("w2v-empty")
        defer { try? FileManager.default.removeItem(at: folder) }
        let contents = VectorFileContents(words: ["alpha", "beta"], vectors: [[1], [2]])
        let unrelated = CaptionVocabulary(sentences: ["gamma delta"])
        #expect { _ = try read(contents, .binaryPacked, Word2VecImportOptions(captions: unrelated)) } throws: { error in
            guard let error = error as? Word2VecImportError, case .noWordsKept = error.reason else { return false }
            return error.description.contains("captions")
        }
        #expect { _ = try read(contents, .binaryPacked, Word2VecImportOptions(vocabularyLimit: 0)) } throws: { error in
            guard let error = error as? Word2VecImportError, case .noWordsKept = error.reason else { return false }
            return true
        }
        #expect { _ = try CaptionVocabulary.collect(from: folder.appendingPathComponent("missing")) } throws: { error in
            (error as? Word2VecImportError)?.reason == .fileNotFound
        }
        #expect { _ = try CaptionVocabulary.collect(from: folder) } throws: { error in
            (error as? Word2VecImportError)?.reason == .noCaptionFiles
        }
        try "no header here".write(to: folder.appendingPathComponent("x.csv"), atomically: true, encoding: .utf8)
        #expect { _ = try CaptionVocabulary.collect(from: folder) } throws: { error in
            guard let error = error as? Word2VecImportError, case .captionFilesUnreadable(1, _) = error.reason else { return false }
            return true
        }
    }
}

// MARK: - Malformed input

/// A malformed file and the error it must give.
struct MalformedVectorFile: CustomTestStringConvertible, Sendable {
    var name: String
    var bytes: [UInt8]
    var format: Word2VecFormat = .automatic
    var reason: Word2VecImportError.Reason
    var byteOffset: Int?
    var line: Int?
    var testDescription: String { name }

    /// Two words, dimension 3: binary packed records are "a " + 12 bytes (offset 4) and
    /// "bb " + 12 bytes (offset 18); with newlines "bb" starts at 19 and the file ends at 35.
    static let two = VectorFileContents(words: ["a", "bb"], vectors: [[1, 2, 3], [4, 5, 6]])

    static let all: [MalformedVectorFile] = [
        .init(name: "empty file", bytes: [], reason: .emptyFile, byteOffset: 0),
        .init(name: "binary: header is not numbers", bytes: Array("two three\na ".utf8), format: .binary,
              reason: .badHeader("two three"), byteOffset: 0, line: 1),
        .init(name: "binary: header with one number", bytes: Array("2\na ".utf8) + littleEndianBytes(1), format: .binary,
              reason: .badHeader("2"), byteOffset: 0, line: 1),
        .init(name: "binary: no header line", bytes: [UInt8](repeating: 0x41, count: 5000), format: .binary,
              reason: .badHeader(String(repeating: "A", count: 40) + "..."), byteOffset: 0, line: 1),
        .init(name: "dimension 0", bytes: Array("2 0\na \nb \n".utf8), reason: .zeroDimension, byteOffset: 0, line: 1),
        .init(name: "absurd dimension", bytes: Array("2 1000000000\na ".utf8),
              reason: .dimensionTooLarge(1_000_000_000, limit: 65_536), byteOffset: 0, line: 1),
        .init(name: "binary: truncated vector", bytes: Array(two.bytes(.binaryPacked).prefix(18 + 3 + 5)),
              reason: .truncatedVector(word: "bb", foundBytes: 5, expectedBytes: 12), byteOffset: 18),
        .init(name: "binary: ends inside a word", bytes: Array(two.bytes(.binaryPacked).prefix(19)),
              reason: .endsInsideWord, byteOffset: 18),
        .init(name: "binary: header count too large", bytes: two.bytes(.binaryWithNewlines, headerCount: 3),
              reason: .fewerWordsThanHeader(headerCount: 3, found: 2), byteOffset: 35),
        .init(name: "binary: header count too small", bytes: two.bytes(.binaryWithNewlines, headerCount: 1),
              reason: .moreWordsThanHeader(headerCount: 1), byteOffset: 19),
        .init(name: "binary: header dimension too small", bytes: two.bytes(.binaryWithNewlines, headerDimension: 2),
              format: .binary, reason: .controlByteInWord(0), byteOffset: 14),
        .init(name: "binary: header dimension too large", bytes: two.bytes(.binaryWithNewlines, headerDimension: 4),
              format: .binary, reason: .controlByteInWord(0), byteOffset: 22),
        .init(name: "binary: NaN", bytes: VectorFileContents(words: ["a"], vectors: [[1, .nan, 3]]).bytes(.binaryPacked),
              reason: .nonFiniteValue("nan"), byteOffset: 10),
        .init(name: "binary: infinity", bytes: VectorFileContents(words: ["a"], vectors: [[1, 2, -.infinity]]).bytes(.binaryPacked),
              reason: .nonFiniteValue("-inf"), byteOffset: 14),
        .init(name: "binary: word too long", bytes: Array("1 3\n".utf8) + [UInt8](repeating: 0x61, count: 20_000),
              format: .binary, reason: .wordTooLong(limit: 10_000), byteOffset: 4),
        .init(name: "binary: control byte in a word", bytes: VectorFileContents(words: ["a\tb"], vectors: [[1, 2, 3]]).bytes(.binaryPacked),
              reason: .controlByteInWord(9), byteOffset: 4),
        .init(name: "text: not a number", bytes: Array("2 3\na 1 2 x\nbb 4 5 6\n".utf8), format: .text,
              reason: .notANumber("x"), byteOffset: 10, line: 2),
        .init(name: "text: not a number on a later line (detected as text)", bytes: Array("2 3\na 1 2 3\nbb 4 5 6.6.\n".utf8),
              reason: .notANumber("6.6."), byteOffset: 19, line: 3),
        .init(name: "text: hexadecimal", bytes: Array("a 1 0x10\n".utf8), reason: .notANumber("0x10"), byteOffset: 4, line: 1),
        .init(name: "text: too few fields", bytes: Array("2 3\na 1 2 3\nbb 4 5\n".utf8),
              reason: .wrongFieldCount(expected: 4, found: 3), byteOffset: 12, line: 3),
        .init(name: "text: header dimension smaller than the lines", bytes: Array("2 2\na 1 2 3\nbb 4 5 6\n".utf8), format: .text,
              reason: .wrongFieldCount(expected: 3, found: 4), byteOffset: 4, line: 2),
        .init(name: "text: header count too large", bytes: Array("3 3\na 1 2 3\nbb 4 5 6\n".utf8),
              reason: .fewerWordsThanHeader(headerCount: 3, found: 2), byteOffset: 21, line: 4),
        .init(name: "text: header count too small", bytes: Array("1 3\na 1 2 3\nbb 4 5 6\n".utf8),
              reason: .moreWordsThanHeader(headerCount: 1), byteOffset: 12, line: 3),
        .init(name: "text: infinity", bytes: Array("a 1 inf 3\n".utf8), reason: .nonFiniteValue("inf"), byteOffset: 4, line: 1),
        .init(name: "text: NaN", bytes: Array("2 3\na 1 2 3\nbb 4 nan 6\n".utf8), reason: .nonFiniteValue("nan"), byteOffset: 17, line: 3),
        .init(name: "text: beyond float32", bytes: Array("a 1 1e40 3\n".utf8), reason: .nonFiniteValue("1e40"), byteOffset: 4, line: 1),
        .init(name: "text: a word and no numbers", bytes: Array("hello\nworld 1 2\n".utf8), reason: .zeroDimension, byteOffset: 0, line: 1),
        .init(name: "text: blank first line", bytes: Array("\na 1 2\n".utf8), reason: .badHeader(""), byteOffset: 0, line: 1),
        .init(name: "text: line too long", bytes: Array("1 2\n".utf8) + [UInt8](repeating: 0x61, count: 20_000) + Array(" 1 2\n".utf8),
              format: .text, reason: .lineTooLong(limit: 10_000 + 2 * 64 + 1024), byteOffset: 4, line: 2),
    ]
}

@Suite struct Word2VecMalformedInputTests {
    /// Every malformed file gives its typed error at the right place, plain and gzip-compressed
    /// (offsets then count in the decompressed data).
    @Test(arguments: MalformedVectorFile.all, [false, true])
    func malformedFilesGiveTypedErrors(_ malformed: MalformedVectorFile, compressed: Bool) throws {
        let folder = try TestEnvironment.temporaryDirectory("w2v-bad")
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = try writeFile(compressed ? storedGzip(malformed.bytes) : malformed.bytes, named: "bad", in: folder)
        let importer = Word2VecImporter(options: Word2VecImportOptions(format: malformed.format, vocabularyLimit: nil))
        do {
            let vectors = try importer.read(from: file)
            Issue.record("imported \(vectors.words.count) words instead of failing")
        } catch let error as Word2VecImportError {
            #expect(error.reason == malformed.reason)
            #expect(error.byteOffset == malformed.byteOffset)
            #expect(error.line == malformed.line)
            #expect(error.inputIsCompressed == compressed)
            #expect(error.path == file.path)
            #expect(error.description.contains(file.path))
            if let offset = malformed.byteOffset { #expect(error.description.contains("byte \(offset)")) }
        }
    }

    /// Compression problems: truncated, corrupt, trailing bytes, other compressors; several
    /// gzip members read as one stream.
    @Test func compressionProblems() throws {
        let folder = try TestEnvironment.temporaryDirectory("w2v-gzip")
        defer { try? FileManager.default.removeItem(at: folder) }
        let contents = VectorFileContents.generated(count: 50, dimension: 4, seed: 2)
        let plain = contents.bytes(.binaryWithNewlines)
        let gzip = storedGzip(plain)
        let importer = Word2VecImporter(options: Word2VecImportOptions(vocabularyLimit: nil))
        func reason(_ bytes: [UInt8]) throws -> Word2VecImportError.Reason? {
            do {
                _ = try importer.read(from: try writeFile(bytes, named: "v.gz", in: folder))
                return nil
            } catch let error as Word2VecImportError {
                return error.reason
            }
        }
        #expect(try reason(Array(gzip.dropLast(10))) == .truncatedCompression)
        var badCRC = gzip
        badCRC[badCRC.count - 6] ^= 0xFF
        #expect(try reason(badCRC) == .corruptCompression("incorrect data check", compressedOffset: gzip.count - 4))
        var badLength = gzip
        badLength[13] ^= 0xFF // NLEN of the first stored block
        if case .corruptCompression(let message, _)? = try reason(badLength) {
            #expect(message.contains("stored block"))
        } else {
            Issue.record("a corrupt stored block length was not reported as corrupt")
        }
        #expect(try reason(gzip + [0x00, 0x01]) == .trailingDataAfterCompression(compressedOffset: gzip.count))
        #expect(try reason(gzip + [0x1F]) == .trailingDataAfterCompression(compressedOffset: gzip.count))
        #expect(try reason([0x50, 0x4B, 0x03, 0x04, 0, 0, 0, 0]) == .unsupportedCompression("zip"))
        #expect(try reason(Array("BZh91AY".utf8)) == .unsupportedCompression("bzip2"))
        #expect(try reason([0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00, 0, 0]) == .unsupportedCompression("xz"))
        #expect(try reason([0x28, 0xB5, 0x2F, 0xFD, 0, 0]) == .unsupportedCompression("zstd"))

        let members = storedGzip(Array(plain.prefix(1000))) + storedGzip(Array(plain.dropFirst(1000)))
        let vectors = try importer.read(from: try writeFile(members, named: "members.gz", in: folder))
        #expect(vectors.words == contents.stringWords)
        #expect(vectors.statistics.bytesRead == plain.count)
    }

    /// Missing files and folders.
    @Test func unreadablePaths() throws {
        let folder = try TestEnvironment.temporaryDirectory("w2v-paths")
        defer { try? FileManager.default.removeItem(at: folder) }
        let importer = Word2VecImporter()
        #expect { _ = try importer.read(from: folder.appendingPathComponent("missing.bin")) } throws: { error in
            (error as? Word2VecImportError)?.reason == .fileNotFound
        }
        #expect { _ = try importer.read(from: folder) } throws: { error in
            guard case .unreadable? = (error as? Word2VecImportError)?.reason else { return false }
            return true
        }
        let file = try writeFile(VectorFileContents.generated(count: 2, dimension: 2, seed: 1).bytes(.binaryPacked),
                                 named: "v.bin", in: folder)
        let blocker = try writeFile([1], named: "not-a-folder", in: folder)
        #expect { _ = try importer.importFile(at: file, into: blocker) } throws: { error in
            guard case .outputUnwritable? = (error as? Word2VecImportError)?.reason else { return false }
            return true
        }
    }

    /// Random damage to valid files (flipped, inserted and deleted bytes, truncation) never
    /// crashes: the import succeeds or throws `Word2VecImportError`.
    @Test func damagedFilesNeverCrash() throws {
        let folder = try TestEnvironment.temporaryDirectory("w2v-fuzz")
        defer { try? FileManager.default.removeItem(at: folder) }
        var random = SeededGenerator(seed: 99)
        let contents = VectorFileContents.generated(count: 12, dimension: 3, seed: 7)
        var outcomes = (succeeded: 0, failed: 0)
        for iteration in 0..<400 {
            let layout = VectorFileLayout.allCases[iteration % 4]
            var bytes = contents.bytes(layout)
            if iteration % 8 >= 4 { bytes = storedGzip(bytes) }
            for _ in 0..<(1 + Int(random.next() % 4)) where !bytes.isEmpty {
                let position = Int(random.next() % UInt64(bytes.count))
                switch random.next() % 4 {
                case 0: bytes[position] ^= UInt8(truncatingIfNeeded: random.next() | 1)
                case 1: bytes.insert(UInt8(truncatingIfNeeded: random.next()), at: position)
                case 2: bytes.remove(at: position)
                default: bytes = Array(bytes.prefix(position))
                }
            }
            let format = [Word2VecFormat.automatic, .binary, .text][Int(random.next() % 3)]
            let file = try writeFile(bytes, named: "fuzz", in: folder)
            do {
                _ = try Word2VecImporter(options: Word2VecImportOptions(format: format, vocabularyLimit: nil)).read(from: file)
                outcomes.succeeded += 1
            } catch is Word2VecImportError {
                outcomes.failed += 1
            }
        }
        #expect(outcomes.succeeded + outcomes.failed == 400)
        #expect(outcomes.failed > 100)
    }
}

// MARK: - Numbers

@Suite struct Word2VecNumberParsingTests {
    /// The reference: C's `strtod` on the whole field, then float32 (NumPy's
    /// `np.float32(float(text))`).
    private func reference(_ text: String) -> VectorFileReader.ParsedNumber {
        text.withCString { start -> VectorFileReader.ParsedNumber in
            var end: UnsafeMutablePointer<CChar>? = nil
            let value = strtod(start, &end)
            guard let end, end == UnsafeMutablePointer(mutating: start) + text.utf8.count else { return .invalid }
            return Float(value).isFinite ? .value(Float(value)) : .nonFinite
        }
    }

    private func parse(_ text: String) -> VectorFileReader.ParsedNumber {
        Array(text.utf8).withUnsafeBytes { VectorFileReader.parseNumber($0) }
    }

    /// Random decimals in every common spelling, and long and extreme ones: bit-identical to
    /// `strtod` then float32.
    @Test func decimalsMatchStrtodBitForBit() {
        var random = SeededGenerator(seed: 17)
        var mismatches: [String] = []
        for iteration in 0..<60_000 {
            let value = Double(bitPattern: random.next() & 0x3FFF_FFFF_FFFF_FFFF) .truncatingRemainder(dividingBy: 1e6)
                * (random.next() % 2 == 0 ? 1 : -1)
            let small = Double(Int64(bitPattern: random.next()) % 2_000_000) / 1e6
            let text: String
            switch iteration % 10 {
            case 0: text = String(format: "%.6f", small)
            case 1: text = String(format: "%.9g", value)
            case 2: text = String(format: "%e", small)
            case 3: text = String(format: "%.17g", value)
            case 4: text = "\(Float(small))"
            case 5: text = String(format: "%.6fe%d", small, Int(random.next() % 90) - 45)
            case 6: // long digit strings, beyond 19 significant digits
                let digits = (0..<(1 + Int(random.next() % 30))).map { _ in String(random.next() % 10) }.joined()
                text = "0.\(digits)e\(Int(random.next() % 80) - 40)"
            case 7: text = (random.next() % 2 == 0 ? "+" : "-") + String(format: "%.3f", small)
            case 8: text = ["1.", ".5", "-.25", "0", "-0", "000123.4500", "1e22", "9007199254740993", "1e-45", "3.4028236e38",
                            "1.17549435e-38", "123456789012345678901234567890", "0.000000000000000000000000000001"][iteration / 10 % 13]
            default: text = "\(Double(Int64(bitPattern: random.next()) % 1_000_000_000))e\(Int(random.next() % 50) - 25)"
            }
            let ours = parse(text), expected = reference(text)
            let same: Bool
            if case .value(let a) = ours, case .value(let b) = expected { same = a.bitPattern == b.bitPattern } else { same = ours == expected }
            if !same { mismatches.append("\(text): \(ours) vs \(expected)") }
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) mismatches: \(mismatches.prefix(10))")
    }

    @Test(arguments: ["", ".", "-", "+", "e5", "1e", "1e+", "1.2.3", "--1", "1-", "0x10", "1,5", "1 ", "abc", "١٢"])
    func nonNumbersAreInvalid(_ text: String) {
        #expect(parse(text) == .invalid)
    }

    @Test(arguments: ["inf", "-inf", "+Infinity", "NaN", "nan", "1e39", "-1e400"])
    func nonFiniteValuesAreNamed(_ text: String) {
        #expect(parse(text) == .nonFinite)
    }
}
