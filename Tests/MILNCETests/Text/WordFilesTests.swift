import Foundation
@testable import MILNCE
import Testing
import TestSupport
import Torch
import TorchFiles

@Suite("Word files")
struct WordFilesTests {
    /// Writes a `rows x columns` word2vec matrix and a dictionary of `words` words.
    private func write(rows: Int, columns: Int, words: Int, in folder: URL) throws -> (vectors: URL, dictionary: URL) {
        let vectors = folder.appendingPathComponent("word2vec.pth")
        let dictionary = folder.appendingPathComponent("dict.npy")
        let values = [Float](repeating: 0.5, count: rows * columns)
        let bytes = values.withUnsafeBytes { [UInt8]($0) }
        try TorchFile.save(.tensor(TensorRecord(contiguousBytes: bytes, elementType: .float32, shape: [rows, columns])),
                           to: vectors)
        try NumPyFile.save(.strings((0..<words).map { "word\($0)" }, shape: [words]), to: dictionary)
        return (vectors, dictionary)
    }

    @Test("a matrix fits a dictionary with one row per word plus the padding row, 300 wide")
    func matrixAgainstDictionary() throws {
        let folder = try TestEnvironment.temporaryDirectory("word-files")
        defer { try? FileManager.default.removeItem(at: folder) }

        var files = try write(rows: 31, columns: 300, words: 30, in: folder)
        try WordFiles.checkTrainingFiles(wordVectors: files.vectors, dictionary: files.dictionary)

        files = try write(rows: 28, columns: 300, words: 30, in: folder)
        #expect {
            try WordFiles.checkTrainingFiles(wordVectors: files.vectors, dictionary: files.dictionary)
        } throws: { error in
            guard let error = error as? WordFilesError else { return false }
            let message = "\(error)"
            return error.problem == .tooFewRows && message.contains(files.vectors.path) && message.contains("28 x 300")
                && message.contains(files.dictionary.path) && message.contains("30 words") && message.contains("31 rows")
                && message.contains("tokens 28 to 30") && message.contains("milnce word2vec import")
        }

        files = try write(rows: 40, columns: 300, words: 30, in: folder)
        #expect {
            try WordFiles.checkTrainingFiles(wordVectors: files.vectors, dictionary: files.dictionary)
        } throws: { error in
            (error as? WordFilesError)?.problem == .tooManyRows && "\(error)".contains("40 x 300")
        }

        files = try write(rows: 31, columns: 299, words: 30, in: folder)
        #expect {
            try WordFiles.checkTrainingFiles(wordVectors: files.vectors, dictionary: files.dictionary)
        } throws: { error in
            (error as? WordFilesError)?.problem == .wrongDimension(expected: 300)
                && "\(error)".contains("31 x 299") && "\(error)".contains("takes 300")
        }
        // Without a required width (a checkpoint's own embedding) any width fits.
        try WordFiles.check(rows: 31, columns: 16, vectors: "the word embedding", wordCount: 30, dictionary: "dict.npy",
                            expectedColumns: nil)
    }

    @Test("training reports word vectors that do not fit the dictionary with its other flags, before any work")
    func trainingChecksTheWordFiles() throws {
        let folder = try TestEnvironment.temporaryDirectory("word-files-training")
        defer { try? FileManager.default.removeItem(at: folder) }
        let files = try write(rows: 28, columns: 300, words: 30, in: folder)
        var configuration = TrainingConfiguration()
        configuration.wordVectorsPath = files.vectors.path
        configuration.dictionaryPath = files.dictionary.path
        #expect { try configuration.validate() } throws: { error in
            "\(error)".contains("\(files.vectors.path) (28 x 300) and the dictionary \(files.dictionary.path) (30 words) "
                              + "do not belong together")
        }
    }

    @Test("inspect prints the word embedding's real shape")
    func inspectShowsTheEmbeddingShape() throws {
        let folder = try TestEnvironment.temporaryDirectory("inspect-embedding")
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("text.pth")
        let values = [Float](repeating: 0, count: 28 * 299)
        let bytes = values.withUnsafeBytes { [UInt8]($0) }
        try TorchFile.save(.stateDict([("text_module.word_embd.weight",
                                        try TensorRecord(contiguousBytes: bytes, elementType: .float32, shape: [28, 299]))]),
                           to: file)
        let summary = try ModelCheckpoint.load(from: file).summary(path: file.path)
        #expect(summary.contains("word embedding 28 x 299"), "\(summary)")
        #expect(!summary.contains("x 300"), "\(summary)")
    }
}
