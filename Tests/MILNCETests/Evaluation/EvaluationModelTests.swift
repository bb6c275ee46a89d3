import Foundation
@testable import MILNCE
import Testing
import TestSupport
import Torch
import TorchFiles

@Suite("Evaluation model files")
struct EvaluationModelTests {
    @Test("the dictionary is looked for by flag, beside the checkpoint, beside the word vectors, then data/dict.npy")
    func dictionaryLookup() throws {
        let scratch = try TestEnvironment.temporaryDirectory("dictionary")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let models = scratch.appendingPathComponent("models")
        let words = scratch.appendingPathComponent("words")
        try FileManager.default.createDirectory(at: models, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: words, withIntermediateDirectories: true)
        let checkpoint = models.appendingPathComponent("s3d_howto100m.pth")
        let vectors = words.appendingPathComponent("word2vec.pth")

        #expect(EvaluationModelFiles.dictionaryCandidates(explicit: nil, checkpoint: checkpoint, wordVectors: vectors)
                == [models.appendingPathComponent("dict.npy"), models.appendingPathComponent("s3d_dict.npy"),
                    words.appendingPathComponent("dict.npy"), URL(fileURLWithPath: "data/dict.npy")])
        #expect {
            try EvaluationModelFiles.dictionary(explicit: nil, checkpoint: checkpoint, wordVectors: vectors)
        } throws: { error in
            "\(error)".contains("--token_to_word_path") && "\(error)".contains(models.appendingPathComponent("s3d_dict.npy").path)
        }

        try NumPyFile.save(.strings(["Cut", "onion"], shape: [2]), to: words.appendingPathComponent("dict.npy"))
        #expect(try EvaluationModelFiles.dictionary(explicit: nil, checkpoint: checkpoint, wordVectors: vectors)
                == words.appendingPathComponent("dict.npy"))
        try NumPyFile.save(.strings(["cut", "the", "onion"], shape: [3]), to: models.appendingPathComponent("s3d_dict.npy"))
        let (tokenizer, path) = try EvaluationModelFiles.tokenizer(explicit: nil, checkpoint: checkpoint, wordVectors: vectors,
                                                                   lowercased: true)
        #expect(path == models.appendingPathComponent("s3d_dict.npy"))
        #expect(tokenizer.tokens(of: "Cut THE Onion!", maxWords: 4) == [1, 2, 3, 0])

        let explicit = scratch.appendingPathComponent("elsewhere.npy")
        #expect(throws: EvaluationError.self) {
            try EvaluationModelFiles.dictionary(explicit: explicit, checkpoint: checkpoint, wordVectors: vectors)
        }
    }

    @Test("a checkpoint without a text network takes the word2vec matrix; the video network loads alone")
    func checkpointWithoutTextNetwork() throws {
        let scratch = try TestEnvironment.temporaryDirectory("checkpoint")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let model = try EvaluationFixtures.randomModel(words: ["a", "b", "c"], seed: 3)
        let videoOnly = try model.stateDict().filter { !$0.name.hasPrefix("text_module.word_embd") }
            .map { (name: $0.name, tensor: try $0.tensor.record()) }
        let checkpoint = scratch.appendingPathComponent("model.pth")
        try TorchFile.save(.stateDict(videoOnly), to: checkpoint)

        #expect {
            try EvaluationModelFiles.model(checkpoint: checkpoint, wordVectors: nil, device: .cpu)
        } throws: { error in
            "\(error)".contains("--word2vec_path") && "\(error)".contains(checkpoint.path)
        }
        let vectors = scratch.appendingPathComponent("word2vec.npy")
        let matrix = (0..<(4 * 16)).map { Float($0 % 7) - 3 }
        try EmbeddingFiles.writeMatrix(matrix, rows: 4, columns: 16, to: vectors)
        let loaded = try EvaluationModelFiles.model(checkpoint: checkpoint, wordVectors: vectors, device: .cpu)
        #expect(loaded.text.vocabularySize == 4)
        #expect(loaded.children.allSatisfy { !$0.module.isTraining })

        let network = try EvaluationModelFiles.videoNetwork(checkpoint: checkpoint, device: .cpu)
        let input = try Tensor.rand([1, 3, 8, 32, 32], generator: try Generator(seed: 1))
        let (expected, ours) = try withoutGrad { (try model.video(input).toArray(of: Float.self),
                                                  try network(input).toArray(of: Float.self)) }
        #expect(ours == expected)
    }
}
