import ArgumentParser
import FoundationEssentials
import MILNCE
import POSIX
import Video

/// `milnce synth --output DIR`: a generated instructional-video dataset in HowTo100M's layout.
struct SynthCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synth",
        abstract: "Generate a small instructional-video dataset whose captions describe what happens on screen.",
        discussion: """
        The videos show coloured shapes (red, green, blue, yellow, purple, orange; circle, square, \
        triangle, cross) over muted plain or textured backgrounds. In each video a few events of 5 \
        or 6 seconds happen one after another: a shape moves left, right, up or down, grows, \
        shrinks, appears (fades in) or disappears (fades out). Each event has a caption spanning \
        its seconds ("now the red square slides to the left"); narration unrelated to the screen \
        ("thanks for watching") fills some of the gaps, as in HowTo100M's speech.

        Written under --output:
          train.csv                   the training videos' list (video_path)
          videos/<id>.mp4             the training videos (HowTo100M's layout)
          captions/<id>.csv           their captions (start,end,text)
          eval/youcook.csv            the held-out clips, in YouCook2's columns;
                                      each clip shows a different event
          eval/validation/<task>/     the held-out videos (<id>.mp4)
          dict.npy, word2vec.pth      the vocabulary and its word vectors
          README.txt, dataset.json    what was made, the seed, chance levels

        The same seed gives the same files. Training crops clips without scaling, so generate at \
        the size you train at (--size). Left and right are mirror images: random flips in \
        training make them indistinguishable. A caption's neighbours describe other events, so \
        one candidate per clip (num_candidates 1) learns fastest.
        """
    )

    @Option(help: "The folder to write the dataset into (created if missing).")
    var output: String

    @Option(help: "Training videos.")
    var videos = 300

    @Option(name: .customLong("eval_videos"), help: "Held-out videos (their events are the evaluation clips).")
    var evaluationVideos = 32

    @Option(help: "Seconds per video.")
    var seconds = 32

    @Option(help: "Events per video.")
    var events = 4

    @Option(help: "The side of the square frames, in pixels (even).")
    var size = 64

    @Option(help: "Frames per second.")
    var fps = 10.0

    @Option(help: "The seed; the same seed gives the same files.")
    var seed: UInt64 = 0

    @Option(help: "The video codec: h264, mpeg4 or vp9.")
    var codec = "h264"

    @Option(help: "Still shapes on screen for a whole video besides the event shapes.")
    var bystanders = 0

    @Option(help: "The chance (0...1) that a gap of 2 s or more holds a narration caption.")
    var narration = 0.5

    @Option(help: "Videos made at once (default: one per core).")
    var workers: Int?

    @Flag(help: "Replace the generator's files in a folder that is not empty.")
    var force = false

    var options: SyntheticDatasetOptions {
        SyntheticDatasetOptions(trainingVideoCount: videos, evaluationVideoCount: evaluationVideos,
                                videoSeconds: seconds, eventsPerVideo: events, frameSize: size, framesPerSecond: fps,
                                seed: seed, codec: VideoCodec(rawValue: codec) ?? .h264,
                                bystandersPerVideo: bystanders, narrationProbability: narration)
    }

    func validate() throws {
        guard VideoCodec(rawValue: codec) != nil else {
            throw ValidationError("--codec must be h264, mpeg4 or vp9, not '\(codec)'")
        }
        if let workers, workers < 1 { throw ValidationError("--workers must be at least 1") }
        do {
            try options.validate()
        } catch let error as SyntheticDatasetError {
            throw ValidationError(error.description)
        }
    }

    func run() throws {
        let options = options
        let started = ContinuousClock.now
        let total = options.trainingVideoCount + options.evaluationVideoCount
        let display = ProgressDisplay("synth", total: total, plainInterval: 5)
        let summary = try SyntheticDataset.generate(
            options: options, in: URL(fileURLWithPath: output), replacingContents: force,
            workers: workers ?? ProcessInfo.processInfo.activeProcessorCount,
            progress: { progress in
                // The last video is reported by `finish()`.
                if progress.videosDone < progress.videoCount { display.update(progress.videosDone) }
            })
        let elapsed = started.elapsedSeconds
        display.finish()
        print(SynthCommand.report(summary, seconds: elapsed))
    }

    /// The summary printed at the end.
    static func report(_ summary: SyntheticDatasetSummary, seconds: Double) -> String {
        let layout = summary.layout
        let metadata = summary.metadata
        let counts = metadata.counts
        let chance = metadata.chance
        let settings = metadata.settings
        func percent(_ value: Double) -> String { String(cFormat: "%.2f%%", value * 100) }
        let megabytes = String(cFormat: "%.1f MB", Double(summary.videoBytes) / 1_000_000)
        return """
        Wrote a synthetic dataset to \(layout.root.path) in \(String(cFormat: "%.1f", seconds)) s (seed \(metadata.seed)):
          training:  \(counts.trainingVideos) videos of \(settings.videoSeconds) s, \(settings.frameSize)x\(settings.frameSize) \
        at \(settings.framesPerSecond) fps (\(metadata.encoder)), \(counts.trainingCaptions) captions \
        (\(counts.eventCaptions) events, \(counts.narrationCaptions) narration)
                     \(layout.trainList.path)
                     videos \(layout.videoRoot.path), captions \(layout.captionRoot.path)
          held out:  \(counts.evaluationClips) clips of \(counts.evaluationVideos) videos, each a different event
                     \(layout.evaluationCSV.path) (videos under \(layout.evaluationRoot.path))
          words:     \(counts.vocabularyWords) words, \(counts.wordVectorDimension)-d vectors
                     \(layout.dictionary.path), \(layout.wordVectors.path)
          videos:    \(megabytes) in all
          chance on the held-out clips: R@1 \(percent(chance.r1)), R@5 \(percent(chance.r5)), \
        R@10 \(percent(chance.r10)), median rank \(chance.medianRank)
        """
    }
}
