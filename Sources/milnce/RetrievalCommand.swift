import ArgumentParser
import FoundationEssentials
import MILNCE
import Torch

/// `milnce retrieval --text T.npy --video V.npy`: retrieval metrics of two embedding matrices.
struct RetrievalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retrieval",
        abstract: "Text-to-video retrieval metrics of T @ Vᵀ, where row i of T matches row i of V.",
        discussion: """
        The metrics are the reference's compute_metrics: R@1, R@5, R@10 (fractions of queries whose match \
        ranks first, in the top 5, in the top 10) and the median rank. V may have more rows than T \
        (distractor videos); never fewer. A row holding NaN or an infinity is an error that names the rows.
        """
    )

    @Option(help: "The text embeddings (.npy, N x D).")
    var text: String

    @Option(help: "The video embeddings (.npy, M x D, M >= N).")
    var video: String

    @Option(help: "Write the metrics as JSON here.")
    var output: String?

    /// What `--output` holds.
    struct Report: Codable {
        var text: String
        var video: String
        var queries: Int
        var videos: Int
        var metrics: RetrievalMetrics
    }

    func run() throws {
        let textMatrix = try EmbeddingFiles.readMatrix(from: URL(fileURLWithPath: text))
        let videoMatrix = try EmbeddingFiles.readMatrix(from: URL(fileURLWithPath: video))
        guard textMatrix.shape[1] == videoMatrix.shape[1] else {
            throw EvaluationError.badEmbeddingFile(
                path: video, reason: "its rows have \(videoMatrix.shape[1]) values, the text rows of \(text) have \(textMatrix.shape[1])")
        }
        guard textMatrix.shape[0] <= videoMatrix.shape[0] else {
            throw EvaluationError.badEmbeddingFile(
                path: video, reason: "it has \(videoMatrix.shape[0]) rows, fewer than the \(textMatrix.shape[0]) queries of \(text)")
        }
        try EmbeddingFiles.requireFinite(textMatrix, what: "the text embeddings \(text)")
        try EmbeddingFiles.requireFinite(videoMatrix, what: "the video embeddings \(video)")
        let metrics = try RetrievalShare.metrics(text: textMatrix, video: videoMatrix)
        let report = Report(text: text, video: video, queries: textMatrix.shape[0], videos: videoMatrix.shape[0],
                            metrics: metrics)
        if let output { try EvaluationReportWriter.write(report, to: URL(fileURLWithPath: output)) }
        print("\(report.queries) queries against \(report.videos) videos")
        print("R@1 \(percent(metrics.r1)) - R@5 \(percent(metrics.r5)) - R@10 \(percent(metrics.r10)) - Median R \(metrics.medianRank)")
    }
}
