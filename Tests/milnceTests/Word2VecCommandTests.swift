import Foundation
import MILNCE
import Testing
import TestSupport
@testable import milnce

// MARK: - Parsing

@Suite struct Word2VecCommandParsingTests {
    @Test func defaults() throws {
        let command = try Word2VecImportCommand.parse(["GoogleNews-vectors-negative300.bin.gz", "--output", "w2v"])
        #expect(command.file == "GoogleNews-vectors-negative300.bin.gz")
        #expect(command.output == "w2v")
        #expect(command.vocab == .words(66_249))
        #expect(command.captions == nil)
        #expect(!command.lowercase)
        #expect(command.format == .automatic)
        #expect(!command.wholeFile)
        let options = command.importOptions
        #expect(options.vocabularyLimit == 66_249)
        #expect(options.format == .automatic)
        #expect(!options.readsWholeFile)
        #expect(options.captions == nil)
    }

    @Test func everyOption() throws {
        let command = try Word2VecImportCommand.parse(["v.txt", "--output", "out", "--vocab", "all", "--captions", "caps",
                                                       "--lowercase", "--format", "text", "--whole-file"])
        #expect(command.vocab == .all)
        #expect(command.captions == "caps")
        #expect(command.lowercase)
        #expect(command.format == .text)
        #expect(command.wholeFile)
        #expect(command.importOptions.vocabularyLimit == nil)
        #expect(command.importOptions.format == .text)
        #expect(command.importOptions.readsWholeFile)
        #expect(try Word2VecImportCommand.parse(["v", "--output", "o", "--vocab", "12"]).importOptions.vocabularyLimit == 12)
        #expect(try Word2VecImportCommand.parse(["v", "--output", "o", "--vocab", "ALL"]).vocab == .all)
        #expect(try Word2VecImportCommand.parse(["v", "--output", "o", "--format", "binary"]).format == .binary)
        #expect(try Word2VecImportCommand.parse(["v", "--output", "o", "--format", "auto"]).format == .automatic)
    }

    static let invalidArguments: [[String]] = [
        ["v.bin"],                                               // no --output
        ["--output", "o"],                                       // no file
        ["v.bin", "--output", "o", "--vocab", "0"],
        ["v.bin", "--output", "o", "--vocab", "-3"],
        ["v.bin", "--output", "o", "--vocab", "many"],
        ["v.bin", "--output", "o", "--format", "xml"],
        ["v.bin", "--output", "o", "--lowercase"],               // --lowercase without --captions
        ["v.bin", "--output", "o", "--unknown"],
    ]

    @Test(arguments: invalidArguments)
    func invalidArgumentsAreRejected(_ arguments: [String]) {
        #expect(throws: (any Error).self) { _ = try Word2VecImportCommand.parse(arguments) }
    }

    @Test func theRootCommandReachesImport() throws {
        let command = try MILNCECommand.parseAsRoot(["word2vec", "import", "v.bin", "--output", "o", "--vocab", "5"])
        let importCommand = try #require(command as? Word2VecImportCommand)
        #expect(importCommand.importOptions.vocabularyLimit == 5)
    }

    @Test func helpSaysWhereFilesComeFromAndHowToUseThem() {
        let help = Word2VecImportCommand.helpMessage(columns: 200)
        #expect(help.contains("GoogleNews-vectors-negative300.bin.gz"))
        #expect(help.contains("--word2vec_path DIR/word2vec.pth --token_to_word_path DIR/dict.npy"))
        #expect(help.contains("66,250"))
    }
}

// MARK: - Running

@Suite struct Word2VecCommandRunTests {
    /// The command end to end in this process: files written, loadable, summary printed.
    @Test func importWritesLoadableFiles() throws {
        let folder = try TestEnvironment.temporaryDirectory("w2v-command")
        defer { try? FileManager.default.removeItem(at: folder) }
        let words = (0..<30).map { "word\($0)" }
        let file = folder.appendingPathComponent("vectors.bin.gz")
        try Data(storedGzip(binaryVectorFile(words: words, dimension: 4))).write(to: file)
        try "start,end,text\n0,1,WORD3 and word7 then word29\n".write(to: folder.appendingPathComponent("c.csv"),
                                                                       atomically: true, encoding: .utf8)
        let output = folder.appendingPathComponent("out")
        let command = try Word2VecImportCommand.parse([file.path, "--output", output.path, "--captions",
                                                       folder.appendingPathComponent("c.csv").path, "--lowercase"])
        try command.run()
        let dictionary = try WordFiles.loadDictionary(from: output.appendingPathComponent("dict.npy"))
        #expect(dictionary == ["word3", "word7", "word29"])
        let matrix = try WordFiles.loadMatrix(from: output.appendingPathComponent("word2vec.pth"))
        #expect(matrix.shape == [4, 4])
        let values = try matrix.toArray(of: Float.self)
        #expect(Array(values[0..<4]) == [0, 0, 0, 0])
        #expect(Array(values[4..<8]) == vector(ofRecord: 3, dimension: 4))
        #expect(Array(values[12..<16]) == vector(ofRecord: 29, dimension: 4))
    }

    @Test func summaryReportsCountsPathsAndUsage() throws {
        let folder = try TestEnvironment.temporaryDirectory("w2v-summary")
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("v.bin")
        var bytes = binaryVectorFile(words: ["a", "b", "a", "c"], dimension: 2)
        bytes[4 + 2 + 8] = 0xFF // the second word "b" becomes invalid UTF-8
        try Data(bytes).write(to: file)
        let report = try Word2VecImporter(options: Word2VecImportOptions(vocabularyLimit: nil))
            .importFile(at: file, into: folder.appendingPathComponent("out"))
        let summary = Word2VecImportCommand.summary(of: report, file: file.path, seconds: 1)
        #expect(summary.contains("Imported 2 words x 2 dimensions"))
        #expect(summary.contains("words read:  4 of the header's 4"))
        #expect(summary.contains("1 invalid (empty, not UTF-8, or with NUL), the first at byte 14, 1 repeated"))
        #expect(summary.contains("(3 x 2 float32, row 0 = padding)"))
        #expect(summary.contains("--word2vec_path \(report.matrixURL.path) --token_to_word_path \(report.dictionaryURL.path)"))
        #expect(summary.contains("300 dimensions"))
    }
}

// MARK: - Streaming

@Suite struct Word2VecStreamingTests {
    /// A gzip file of 300,000 words x 64 dimensions (about 80 MB decompressed) imports with the
    /// peak resident memory of a file holding only the kept words: the file is streamed, never
    /// held. Measured on the `milnce` executable in child processes (`wait4`'s peak resident
    /// size), apart from this test process and its parallel tests.
    @Test func largeFilesStreamWithBoundedMemory() throws {
        let executable = try milnceExecutable()
        let folder = try TestEnvironment.temporaryDirectory("w2v-stream")
        defer { try? FileManager.default.removeItem(at: folder) }
        let count = 300_000, dimension = 64
        let words = (0..<count).map { "w\($0)" }
        let keptIndices = Array(stride(from: 299, to: count, by: 300)) // 1,000 words, the last one included
        let big = storedGzip(binaryVectorFile(words: words, dimension: dimension))
        let small = storedGzip(binaryVectorFile(words: keptIndices.map { words[$0] }, dimension: dimension,
                                                recordNumbers: keptIndices))
        let bigFile = folder.appendingPathComponent("big.bin.gz")
        let smallFile = folder.appendingPathComponent("small.bin.gz")
        try Data(big).write(to: bigFile)
        try Data(small).write(to: smallFile)
        let captions = folder.appendingPathComponent("captions.csv")
        try ("start,end,text\n" + keptIndices.map { "0,1,\(words[$0])\n" }.joined()).write(to: captions, atomically: true,
                                                                                            encoding: .utf8)
        func run(_ file: URL, _ name: String) throws -> Int {
            let output = folder.appendingPathComponent(name)
            let result = try spawnMeasuringPeakMemory(executable, ["word2vec", "import", file.path, "--output", output.path,
                                                                   "--captions", captions.path], log: folder.appendingPathComponent("\(name).log"))
            #expect(result.status == 0, "\(result.output)")
            #expect(result.output.contains("kept:        1,000"), "\(result.output)")
            #expect(result.output.contains("(the whole file)"), "\(result.output)")
            return result.peakResidentBytes
        }
        let smallPeak = try run(smallFile, "small")
        let bigPeak = try run(bigFile, "big")
        let decompressed = binaryVectorFileSize(words: words, dimension: dimension)
        #expect(decompressed > 75_000_000)
        let growth = bigPeak - smallPeak
        #expect(growth < 16 << 20, "peak resident memory grew by \(growth >> 10) KiB for a \(decompressed >> 20) MiB file")

        // Both outputs hold the same words and vectors.
        let bigWords = try WordFiles.loadDictionary(from: folder.appendingPathComponent("big/dict.npy"))
        let smallWords = try WordFiles.loadDictionary(from: folder.appendingPathComponent("small/dict.npy"))
        #expect(bigWords == smallWords && bigWords.count == 1000 && bigWords.last == "w299999")
        let bigMatrix = try WordFiles.loadMatrix(from: folder.appendingPathComponent("big/word2vec.pth")).toArray(of: Float.self)
        let smallMatrix = try WordFiles.loadMatrix(from: folder.appendingPathComponent("small/word2vec.pth")).toArray(of: Float.self)
        #expect(bigMatrix == smallMatrix)
    }
}

// MARK: - Helpers

/// The vector of record `number`: distinct per record and exact in float32.
func vector(ofRecord number: Int, dimension: Int) -> [Float] {
    (0..<dimension).map { Float(number % 4096) / 16 + Float($0) }
}

/// A binary word2vec file (packed records) whose record i has `vector(ofRecord:)` of
/// `recordNumbers[i]` (default i).
func binaryVectorFile(words: [String], dimension: Int, recordNumbers: [Int]? = nil) -> [UInt8] {
    let header = Array("\(words.count) \(dimension)\n".utf8)
    var bytes = [UInt8](repeating: 0, count: binaryVectorFileSize(words: words, dimension: dimension))
    bytes.withUnsafeMutableBytes { output in
        let base = output.baseAddress!
        header.withUnsafeBytes { base.copyMemory(from: $0.baseAddress!, byteCount: header.count) }
        var position = header.count
        for (index, word) in words.enumerated() {
            var word = word
            word.withUTF8 { utf8 in
                base.advanced(by: position).copyMemory(from: utf8.baseAddress!, byteCount: utf8.count)
                position += utf8.count
            }
            base.storeBytes(of: 0x20, toByteOffset: position, as: UInt8.self)
            position += 1
            let first = Float((recordNumbers?[index] ?? index) % 4096) / 16
            for component in 0..<dimension {
                base.storeBytes(of: (first + Float(component)).bitPattern.littleEndian, toByteOffset: position, as: UInt32.self)
                position += 4
            }
        }
    }
    return bytes
}

/// The size of `binaryVectorFile(words:dimension:)`.
func binaryVectorFileSize(words: [String], dimension: Int) -> Int {
    "\(words.count) \(dimension)\n".utf8.count + words.reduce(0) { $0 + $1.utf8.count + 1 + dimension * 4 }
}

/// A gzip member of stored deflate blocks (no compression), with its CRC-32 and size.
func storedGzip(_ bytes: [UInt8]) -> [UInt8] {
    var output: [UInt8] = [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 3]
    output.reserveCapacity(bytes.count + bytes.count / 65_535 * 5 + 32)
    var start = 0
    repeat {
        let end = min(bytes.count, start + 65_535)
        let length = UInt16(end - start)
        output.append(end == bytes.count ? 1 : 0)
        output += [UInt8(length & 0xFF), UInt8(length >> 8), UInt8(~length & 0xFF), UInt8(~length >> 8)]
        output += bytes[start..<end]
        start = end
    } while start < bytes.count
    for value in [crc32(bytes), UInt32(truncatingIfNeeded: bytes.count)] {
        output += [UInt8(value & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value >> 16 & 0xFF), UInt8(value >> 24)]
    }
    return output
}

/// The built `milnce` executable: beside this test bundle, or in the package's `.build/debug`.
func milnceExecutable() throws -> URL {
    let candidates = [
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("milnce"),
        TestEnvironment.packageRoot.appendingPathComponent(".build/debug/milnce"),
    ]
    if let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) { return found }
    try TestEnvironment.skipOrFail("the milnce executable is not built (looked at \(candidates.map(\.path)))")
}
