import FoundationEssentials
import Torch

// MARK: - Sentences

/// Embeds sentences with the text network: tokenized as the reference (`max_words` tokens,
/// unknown words dropped, zero padding), in batches, without gradients.
public struct SentenceEmbedder {
    /// The text network.
    public var network: SentenceEmbedding
    /// The tokenizer of the network's dictionary.
    public var tokenizer: Tokenizer
    /// Where the network runs.
    public var device: Device
    /// Tokens per sentence.
    public var maxWords: Int
    /// Sentences per network call.
    public var batchSize: Int

    /// An embedder; `network` must already be on `device`.
    public init(network: SentenceEmbedding, tokenizer: Tokenizer, device: Device, maxWords: Int = 30,
                batchSize: Int = 512) {
        self.network = network
        self.tokenizer = tokenizer
        self.device = device
        self.maxWords = maxWords
        self.batchSize = batchSize
    }

    /// The token rows of `sentences`, `sentences.count x maxWords`.
    public func tokens(of sentences: [String]) -> [Int64] {
        tokenizer.tokens(of: sentences, maxWords: maxWords)
    }

    /// The embeddings of `sentences`, `sentences.count x D`, on the device.
    ///
    /// - Throws: `EvaluationError.badModelFiles` when the dictionary has more words than the
    ///   network's vocabulary, or a `TorchError`.
    public func embed(_ sentences: [String]) throws -> Tensor {
        guard maxWords >= 1, batchSize >= 1 else {
            throw EvaluationError.invalidSettings("sentences need at least one word and one sentence per batch")
        }
        guard tokenizer.dictionarySize < network.vocabularySize else {
            throw EvaluationError.badModelFiles(
                "the dictionary has \(tokenizer.dictionarySize) words but the text network's embedding only "
                    + "\(network.vocabularySize) rows (tokens 1...\(tokenizer.dictionarySize) and padding 0 need "
                    + "\(tokenizer.dictionarySize + 1)); the dictionary does not belong to this model")
        }
        let dimension = network.fc2.weight.shape.first ?? 0
        guard !sentences.isEmpty else { return try Tensor.zeros([0, dimension], device: device) }
        return try withEvaluationMode(network) {
            try withoutGrad {
                var parts: [Tensor] = []
                for start in stride(from: 0, to: sentences.count, by: batchSize) {
                    let batch = Array(sentences[start..<min(sentences.count, start + batchSize)])
                    let tokens = try Tensor(tokens(of: batch), shape: [batch.count, maxWords]).to(device)
                    parts.append(try network(tokens))
                }
                return parts.count == 1 ? parts[0] : try Tensor.cat(parts, dimension: 0)
            }
        }
    }
}
