import ArgumentParser
import FoundationEssentials
import MILNCE
import POSIX
import Torch

/// `milnce demo`: the whole system on a laptop-class CPU in minutes.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Generate a small dataset, train on the CPU, evaluate zero-shot retrieval, plot.",
        discussion: """
        1. `milnce synth`: coloured shapes moving, growing and fading, with captions that say so, \
        narration that does not, and a held-out set in YouCook2's layout.
        2. `milnce train`: the real S3D-G and text network with MIL-NCE, at a small input size, \
        evaluating zero-shot retrieval on the held-out set as it goes.
        3. The final R@1, R@5, R@10 and median rank beside chance, a checkpoint, TensorBoard logs \
        and a plot of the loss and metrics (training.png).
        Everything goes under --output; a dataset already there with the same settings is reused.
        """
    )

    @Option(help: "The folder for the dataset, checkpoints and logs.")
    var output = "demo"
    @Option(help: "Seed of the dataset and of training.")
    var seed = 0
    @Option(help: "Training videos.")
    var videos = 300
    @Option(name: .customLong("eval_videos"), help: "Held-out videos.")
    var evaluationVideos = 32
    @Option(help: "Training epochs.")
    var epochs = 16
    @Option(name: .customLong("num_frames"), help: "Frames per clip.")
    var numFrames = 8
    @Option(name: .customLong("video_size"), help: "Side of the square clips (and of the generated videos).")
    var videoSize = 64
    @Option(help: "Frames per second of clips.")
    var fps = 4.0
    @Option(name: .customLong("batch_size"), help: "Clips per training step.")
    var batchSize = 16
    @Option(help: "Learning rate.")
    var lr = 0.001
    @Option(name: .customLong("warmup_steps"), help: "Batches of warmup.")
    var warmupSteps = 20
    @Option(name: .customLong("eval_every"), help: "Evaluate on the held-out set every N epochs.")
    var evalEvery = 4
    @Option(name: .customLong("num_thread_reader"), help: "Decoding threads.")
    var numThreadReader = 2
    @OptionGroup var deviceOptions: DeviceOptions

    func validate() throws {
        for (value, flag) in [(videos, "--videos"), (evaluationVideos, "--eval_videos"), (epochs, "--epochs"),
                              (numFrames, "--num_frames"), (videoSize, "--video_size"), (batchSize, "--batch_size"),
                              (evalEvery, "--eval_every"), (numThreadReader, "--num_thread_reader")] where value < 1 {
            throw ValidationError("\(flag) must be at least 1")
        }
        guard videoSize % 2 == 0, videoSize >= 32 else { throw ValidationError("--video_size must be even and at least 32") }
        guard numFrames >= 8 else { throw ValidationError("--num_frames must be at least 8 (S3D-G reduces time 8-fold)") }
    }

    func run() throws {
        let start = ContinuousClock.now
        deviceOptions.applyTF32()
        let root = URL(fileURLWithPath: output)
        let layout = try prepareDataset(in: root.appendingPathComponent("data"))
        let description = try readDescription(layout)

        var c = TrainingConfiguration()
        c.trainCSV = layout.trainList.path
        c.videoRoot = layout.videoRoot.path
        c.captionRoot = layout.captionRoot.path
        c.wordVectorsPath = layout.wordVectors.path
        c.dictionaryPath = layout.dictionary.path
        c.checkpointRoot = root.appendingPathComponent("checkpoint").path
        c.checkpointDir = "demo"
        c.logRoot = root.appendingPathComponent("log").path
        c.epochs = epochs
        c.batchSize = batchSize
        c.learningRate = lr
        c.warmupSteps = warmupSteps
        c.numCandidates = 1
        c.numFrames = numFrames
        c.videoSize = videoSize
        c.fps = fps
        c.randomFlip = false
        c.numThreadReader = numThreadReader
        c.nDisplay = max(1, (videos / batchSize) / 2)
        c.seed = seed
        c.evaluate = true
        c.evalVideoRoot = layout.evaluationRoot.path
        c.evalCSV = layout.evaluationCSV.path
        c.numWindowsTest = 1
        c.evaluateEveryEpochs = evalEvery
        c.cpuThreads = deviceOptions.threads
        c.device = deviceOptions.device == nil ? .cpu : try deviceOptions.resolve()

        print("training S3D-G (\(numFrames) frames of \(videoSize)x\(videoSize) at \(fps) fps) and the text network"
              + " on \(videos) videos for \(epochs) epochs on \(c.device!)")
        let trainer = Trainer(configuration: c, world: .single)
        let evaluation = try YouCook2TrainingEvaluation(
            csv: layout.evaluationCSV, videoRoot: layout.evaluationRoot,
            tokenizer: Tokenizer(words: try WordFiles.loadDictionary(from: layout.dictionary)),
            options: EvaluationRunOptions(
                clips: EvaluationClipSettings(windowCount: 1, frameCount: numFrames, framesPerSecond: fps, size: videoSize),
                batchSize: 32, readerThreads: numThreadReader))
        trainer.evaluation = { model, device, group, _ in try evaluation.evaluate(model: model, device: device, group: group) }
        let summary = try trainer.run()

        let chance = description.chance
        print("\nZero-shot retrieval on the \(chance.queries) held-out clips (text → video):")
        print("            R@1      R@5      R@10     median rank")
        let metrics = summary.lastEvaluation ?? [:]
        print(String(cFormat: "  model   %6.2f%%  %6.2f%%  %6.2f%%   %6.1f", 100 * (metrics["R1"] ?? .nan),
                     100 * (metrics["R5"] ?? .nan), 100 * (metrics["R10"] ?? .nan), metrics["MR"] ?? .nan))
        print(String(cFormat: "  chance  %6.2f%%  %6.2f%%  %6.2f%%   %6.1f", 100 * chance.r1, 100 * chance.r5,
                     100 * chance.r10, chance.medianRank))
        if let r1 = metrics["R1"] {
            print(String(cFormat: "  R@1 is %.1f times chance", r1 / chance.r1))
        }
        struct Results: Encodable {
            var metrics: [String: Double], chance: [String: Double]
            var seed: Int, epochs: Int, steps: Int, seconds: Double
        }
        let results = Results(metrics: metrics,
                              chance: ["R1": chance.r1, "R5": chance.r5, "R10": chance.r10, "MR": chance.medianRank],
                              seed: seed, epochs: epochs, steps: summary.stepsTaken, seconds: start.elapsedSeconds)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let resultsFile = root.appendingPathComponent("results.json")
        try encoder.encode(results).write(to: resultsFile)
        print("\nresults    \(resultsFile.path)")
        if let checkpoint = summary.lastCheckpoint { print("checkpoint \(checkpoint.path)") }
        print("plot       \(c.logFolder.appendingPathComponent("training.png").path)")
        print("TensorBoard: tensorboard --logdir \(c.logFolder.path)")
        print("done in \(formatDuration(start.elapsedSeconds))")
    }

    func readDescription(_ layout: SyntheticDatasetLayout) throws -> SyntheticDatasetDescription {
        try SyntheticDatasetDescription.decoder.decode(SyntheticDatasetDescription.self,
                                                       from: Data(contentsOf: layout.metadata))
    }

    /// Generates the dataset unless one with the same settings is already there.
    func prepareDataset(in folder: URL) throws -> SyntheticDatasetLayout {
        let options = SyntheticDatasetOptions(trainingVideoCount: videos, evaluationVideoCount: evaluationVideos,
                                              frameSize: videoSize, seed: UInt64(seed))
        let layout = SyntheticDatasetLayout(root: folder)
        if let existing = try? readDescription(layout), existing.seed == options.seed,
           existing.settings.trainingVideos == videos, existing.settings.evaluationVideos == evaluationVideos,
           existing.settings.frameSize == videoSize, existing.settings.videoSeconds == options.videoSeconds {
            print("reusing the dataset in \(folder.path)")
            return layout
        }
        print("generating \(videos) training and \(evaluationVideos) held-out videos in \(folder.path)")
        let progress = ProgressDisplay("synth", total: videos + evaluationVideos)
        _ = try SyntheticDataset.generate(options: options, in: folder, replacingContents: true) { progress.update($0.videosDone) }
        progress.finish()
        return layout
    }
}
