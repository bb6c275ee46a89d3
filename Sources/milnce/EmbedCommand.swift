import ArgumentParser
import FoundationEssentials
import MILNCE
import Torch

// MARK: - milnce embed

/// `milnce embed videos|sentences`: embeddings as `.npy` matrices.
struct EmbedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Embed videos or sentences into the joint space (.npy matrices, one row per item).",
        discussion: """
        Each matrix is written with a list of its rows beside it (V.npy → V.txt, one item per line). \
        `milnce retrieval --text T.npy --video V.npy` then scores them.
        """,
        subcommands: [EmbedVideos.self, EmbedSentences.self]
    )
}

/// `milnce embed videos`.
struct EmbedVideos: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "videos",
        abstract: "Embed videos: the mean over --num_windows_test windows spread over each whole video (as MSR-VTT's).",
        discussion: """
        INPUT is a folder (every video file below it, in path order) or a text file listing one video path \
        per line. Videos that are missing or cannot be decoded are reported and left out of the matrix and \
        its list.
        """
    )

    @Argument(help: "A folder of videos, or a file listing video paths (one per line).")
    var input: String

    @Option(help: "The .npy file to write (N x 512, or N x 1024 with --features mixed5c).")
    var output: String

    @Option(name: .customLong("pretrain_cnn_path"), help: "The model file (any checkpoint layout).")
    var checkpoint: String

    @Option(help: "embedding (512-d joint space) or mixed5c (the 1024-d S3D-G feature).")
    var features: String = VideoOutput.embedding.rawValue

    @Option(name: .customLong("video_root"), help: "The folder relative paths in a list file are taken from (default: the working folder).")
    var videoRoot: String?

    @OptionGroup var windows: WindowOptions
    @OptionGroup var device: DeviceOptions

    func validate() throws {
        let names = VideoOutput.allCases.map(\.rawValue)
        guard VideoOutput(rawValue: features) != nil else {
            throw ValidationError("--features must be one of \(names.joined(separator: ", ")), got '\(features)'")
        }
    }

    func run() throws {
        let urls = try EmbeddingInputs.videos(at: URL(fileURLWithPath: input),
                                              root: videoRoot.map { URL(fileURLWithPath: $0) })
        let device = try self.device.resolve()
        let loaded = try ModelCheckpoint.load(from: URL(fileURLWithPath: checkpoint))
        let clips = windows.clips(recorded: loaded.recordedClipSettings)
        let options = windows.runOptions(maxWords: 1, clips: clips.settings)
        try options.validate()
        let network = try EvaluationModelFiles.videoNetwork(loaded, device: device)
        print(clips.description(checkpoint: checkpoint))
        let output = VideoOutput(rawValue: features) ?? .embedding
        let embedder = VideoEmbedder(network: network, device: device, options: options, output: output)
        let progress = ProgressDisplay("embedding videos", total: urls.count)
        let result = try embedder.embed(urls, progress: progress)
        progress.finish("\(result.items.count) embedded")
        printFailures(result.failures, reportPath: nil)
        guard !result.items.isEmpty else {
            throw EvaluationError.nothingEvaluated(what: "the videos of \(input)", failureCount: result.failures.count)
        }
        let matrix = URL(fileURLWithPath: self.output)
        try EmbeddingFiles.write(result.values, to: matrix)
        let list = EmbeddingFiles.listURL(besides: matrix)
        try EmbeddingFiles.writeLines(result.items.map { urls[$0].path }, to: list)
        print("\(result.items.count) of \(urls.count) videos embedded (\(result.values.shape.map(String.init).joined(separator: " x ")))"
              + " → \(matrix.path), rows listed in \(list.path)")
    }
}

/// `milnce embed sentences`.
struct EmbedSentences: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sentences",
        abstract: "Embed sentences (a text file, one per line) with the text network.",
        discussion: """
        Sentences are tokenized as the reference's evaluations (--max_words words, unknown words dropped); \
        a sentence with no known word embeds the all-padding row. The list beside the matrix repeats the sentences.
        """
    )

    @Argument(help: "A text file with one sentence per line.")
    var input: String

    @Option(help: "The .npy file to write (N x 512).")
    var output: String

    @Option(name: .customLong("pretrain_cnn_path"), help: "The model file (any checkpoint layout).")
    var checkpoint: String

    @OptionGroup var text: TextOptions
    @OptionGroup var device: DeviceOptions

    func run() throws {
        let sentences = try EmbeddingInputs.sentences(in: URL(fileURLWithPath: input))
        let checkpointURL = URL(fileURLWithPath: checkpoint)
        let device = try self.device.resolve()
        let loaded = try ModelCheckpoint.load(from: checkpointURL)
        let (tokenizer, dictionary) = try EvaluationModelFiles.tokenizer(
            explicit: text.dictionaryURL, checkpoint: checkpointURL, wordVectors: text.wordVectorsURL,
            lowercased: text.lowercase)
        let model = try EvaluationModelFiles.model(loaded, from: checkpointURL, wordVectors: text.wordVectorsURL,
                                                   dictionary: dictionary, wordCount: tokenizer.dictionarySize,
                                                   device: device)
        let embedder = SentenceEmbedder(network: model.text, tokenizer: tokenizer, device: device, maxWords: text.maxWords)
        let embeddings = try embedder.embed(sentences)
        let matrix = URL(fileURLWithPath: output)
        try EmbeddingFiles.write(embeddings, to: matrix)
        let list = EmbeddingFiles.listURL(besides: matrix)
        try EmbeddingFiles.writeLines(sentences, to: list)
        print("\(sentences.count) sentences embedded with the dictionary \(dictionary.path) → \(matrix.path), "
              + "sentences listed in \(list.path)")
    }
}
