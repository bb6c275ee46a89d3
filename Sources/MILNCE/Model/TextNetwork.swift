import Torch

/// The text network (`text_module`): frozen word2vec embedding, `fc1` (300 → 2048), ReLU, max over
/// the words, `fc2` (2048 → 512). Padding tokens (0) take part in the max, as in the reference.
public final class SentenceEmbedding: Module {
    let wordEmbedding: Embedding
    let fc1: Linear
    let fc2: Linear

    /// A text network over `wordVectors` (`vocabulary x 300`, row 0 the padding token), frozen.
    public init(wordVectors: Tensor, embeddingDimension: Int = 512, hiddenDimension: Int = 2048,
                generator: Generator? = nil) throws {
        wordEmbedding = try Embedding(pretrained: wordVectors, frozen: true)
        fc1 = try Linear(wordVectors.shape[1], hiddenDimension, generator: generator)
        fc2 = try Linear(hiddenDimension, embeddingDimension, generator: generator)
        super.init()
        register(child: wordEmbedding, as: "word_embd")
        register(child: fc1, as: "fc1")
        register(child: fc2, as: "fc2")
    }

    /// A text network with a randomly initialised (still frozen) embedding of the given size.
    public convenience init(vocabularySize: Int, wordDimension: Int = 300, embeddingDimension: Int = 512,
                            generator: Generator? = nil) throws {
        let vectors = try Tensor.empty([vocabularySize, wordDimension]).normalInPlace(generator: generator)
        try self.init(wordVectors: vectors, embeddingDimension: embeddingDimension, generator: generator)
    }

    /// Rows of the word-vector matrix.
    public var vocabularySize: Int { wordEmbedding.weight.shape[0] }

    /// Embeds `N x maxWords` int64 token rows to `N x 512`.
    public func callAsFunction(_ tokens: Tensor) throws -> Tensor {
        guard tokens.rank == 2, tokens.dtype == .int64 else {
            throw ModelError.badInput("token batch must be a 2-d int64 tensor, got \(tokens.dtype) \(tokens.shape)")
        }
        let words = try withoutGrad { try wordEmbedding(tokens) }
        let hidden = try fc1(words).reluInPlace()
        return try fc2(hidden.max(1).values)
    }
}

/// The MIL-NCE model: S3D-G and the text network under one state_dict, as the reference's `S3D`
/// module (video layers at the top level, the text network under `text_module`).
public final class MILNCEModel: Module {
    /// The video network.
    public let video: S3DG
    /// The text network.
    public let text: SentenceEmbedding

    public init(video: S3DG, text: SentenceEmbedding) {
        self.video = video
        self.text = text
        super.init()
        for (name, child) in video.children { register(child: child, as: name) }
        register(child: text, as: "text_module")
    }

}
