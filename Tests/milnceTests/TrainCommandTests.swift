import ArgumentParser
import Foundation
import MILNCE
import Synchronization
import Testing
import TestSupport
import Torch
import TorchFiles
@testable import milnce

/// A tiny generated dataset shared by the training tests (made once per test process).
enum TrainingFixture {
    /// The dataset once made; the lock is held while it is made, so it is made once.
    private static let made = Mutex<SyntheticDatasetLayout?>(nil)

    /// 12 training videos of 12 s at 32 px, 1 held-out video.
    static func dataset() throws -> SyntheticDatasetLayout {
        try made.withLock { made in
            if let made { return made }
            let folder = try TestEnvironment.temporaryDirectory("train-data")
            let options = SyntheticDatasetOptions(trainingVideoCount: 12, evaluationVideoCount: 1, videoSeconds: 14,
                                                  eventsPerVideo: 2, frameSize: 32, framesPerSecond: 8, seed: 3)
            try SyntheticDataset.generate(options: options, in: folder)
            let layout = SyntheticDatasetLayout(root: folder)
            made = layout
            return layout
        }
    }

    /// `milnce train` arguments for the fixture: 8 frames of 32 px, 2 candidates.
    static func arguments(_ layout: SyntheticDatasetLayout, run folder: URL, name: String, batch: Int = 4,
                          epochs: Int = 2) -> [String] {
        ["train", "--train_csv", layout.trainList.path, "--video_path", layout.videoRoot.path,
         "--caption_root", layout.captionRoot.path, "--word2vec_path", layout.wordVectors.path,
         "--token_to_word_path", layout.dictionary.path, "--checkpoint_root", folder.appendingPathComponent("checkpoint").path,
         "--log_root", folder.appendingPathComponent("log").path, "--checkpoint_dir", name,
         "--num_frames", "8", "--video_size", "32", "--fps", "4", "--num_candidates", "2", "--batch_size", "\(batch)",
         "--epochs", "\(epochs)", "--warmup_steps", "2", "--n_display", "1", "--num_thread_reader", "1",
         "--threads", "1", "--random_flip", "0", "--verbose", "0"]
    }

    static func launch(_ arguments: [String], environment: [String: String] = [:], log: URL) throws -> Process {
        let process = Process()
        process.executableURL = try milnceExecutable()
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        return process
    }

    /// Starts two ranks of `arguments` as torchrun would (RANK, WORLD_SIZE, MASTER_ADDR/PORT),
    /// logging to `rank0.log` and `rank1.log` in `logs`.
    static func launchRanks(_ arguments: [String], logs: URL) throws -> [Process] {
        let port = try WorkerLauncher.freePort()
        return try (0..<2).map { rank in
            let environment = ["RANK": "\(rank)", "WORLD_SIZE": "2", "LOCAL_RANK": "\(rank)", "LOCAL_WORLD_SIZE": "2",
                               "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "\(port)"]
            return try launch(arguments, environment: environment, log: logs.appendingPathComponent("rank\(rank).log"))
        }
    }

    static func run(_ arguments: [String], environment: [String: String] = [:], log: URL) throws -> (status: Int32, output: String) {
        let process = try launch(arguments, environment: environment, log: log)
        process.waitUntilExit()
        return (process.terminationStatus, (try? String(contentsOf: log, encoding: .utf8)) ?? "")
    }

    /// The model tensors of a checkpoint.
    static func stateDict(_ url: URL) throws -> [String: Tensor] {
        try ModelCheckpoint.load(from: url).tensorsByName
    }

    /// Largest relative difference between the tensors of two state dicts with the same keys.
    static func largestDifference(_ a: [String: Tensor], _ b: [String: Tensor]) throws -> Double {
        #expect(Set(a.keys) == Set(b.keys))
        var largest = 0.0
        for (name, value) in a {
            guard let other = b[name] else { continue }
            let x = try value.to(.float64), y = try other.to(.float64)
            let scale = max(try y.abs().max().item(), 1e-12)
            largest = max(largest, try (x - y).abs().max().item() / scale)
        }
        return largest
    }

    static func waitUntil(timeout: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition() { return true }
            Thread.sleep(forTimeInterval: 0.1)
        }
        return condition()
    }
}

@Suite(.serialized) struct TrainCommandTests {
    @Test func theSeedREADMECommandParses() throws {
        let command = try TrainCommand.parse([
            "--n_display=1", "--multiprocessing-distributed", "--batch_size=256", "--num_thread_reader=40",
            "--cudnn_benchmark=1", "--pin_memory", "--checkpoint_dir=milnce", "--num_candidates=4", "--resume",
            "--lr=0.001", "--warmup_steps=10000", "--epochs=300", "--caption_root=path_to_howto_csv",
            "--video_path=path_to_howto_videos",
        ])
        let c = try command.trainingConfiguration()
        #expect(command.multiprocessingDistributed)
        #expect(c.nDisplay == 1 && c.batchSize == 256 && c.numThreadReader == 40 && c.cudnnBenchmark && c.pinMemory)
        #expect(c.checkpointDir == "milnce" && c.numCandidates == 4 && c.resume && c.learningRate == 0.001)
        #expect(c.warmupSteps == 10000 && c.epochs == 300 && c.captionRoot == "path_to_howto_csv")
        #expect(c.videoRoot == "path_to_howto_videos")
        // The reference's defaults.
        let defaults = try TrainCommand.parse([]).trainingConfiguration()
        #expect(defaults.optimizer == .adam && defaults.momentum == 0.9 && defaults.numFrames == 16)
        #expect(defaults.videoSize == 224 && defaults.fps == 5 && defaults.cropOnly && !defaults.centerCrop)
        #expect(defaults.randomFlip && defaults.minTime == 5 && defaults.seed == 1 && defaults.batchSize == 256)
        #expect(defaults.warmupSteps == 5000 && defaults.epochs == 300 && defaults.numThreadReader == 20)
        #expect(try TrainCommand.parse(["--momemtum", "0.5"]).momentum == 0.5)
        #expect(try TrainCommand.parse(["--learning-rate", "0.1"]).lr == 0.1)
        #expect(try TrainCommand.parse(["-e"]).evaluate)
    }

    @Test func typedOptionsParseFromTheReferencesSpellings() throws {
        let c = try TrainCommand.parse(["--optimizer", "sgd", "--weight_init", "kaiming_normal", "--dist-backend", "gloo",
                                        "--precision", "bf16"]).trainingConfiguration()
        #expect(c.optimizer == .sgd && c.weightInit == .kaimingNormal)
        #expect(c.distributedBackend == .gloo && c.precision == .bf16)
        let defaults = try TrainCommand.parse([]).trainingConfiguration()
        #expect(defaults.weightInit == .uniform && defaults.distributedBackend == .nccl && defaults.precision == .fp32)
    }

    @Test(arguments: [["--precision", "fp16"], ["--crop_only", "2"], ["--random_flip=-1"], ["--start-epoch=-1"],
                      ["--optimizer", "rmsprop"], ["--weight_init", "xavier"], ["--dist-backend", "mpi"],
                      ["--optimizer", "Adam"]])
    func badFlagsAreRejected(_ arguments: [String]) {
        #expect(throws: (any Error).self) { try TrainCommand.parse(arguments) }
    }

    @Test func missingPathsAreReportedTogetherBeforeAnyWork() throws {
        var c = TrainingConfiguration()
        c.trainCSV = "/nonexistent/train.csv"
        c.videoRoot = "/nonexistent/videos"
        c.captionRoot = ""
        c.batchSize = 0
        c.maxSteps = -1
        c.device = .cuda(Runtime.cudaDeviceCount)
        do {
            try c.validate()
            Issue.record("validation passed")
        } catch {
            let message = "\(error)"
            for expected in ["--train_csv /nonexistent/train.csv", "--video_path /nonexistent/videos",
                             "--caption_root is required", "--batch_size", "--max_steps",
                             "device cuda:\(Runtime.cudaDeviceCount) (--device, --gpu)"] {
                #expect(message.contains(expected), "\(expected) missing from: \(message)")
            }
        }
    }

    /// Inputs that cannot train are reported before any work starts: before the caption index
    /// (an hour on HowTo100M) is built.
    enum BadInput: String, CaseIterable {
        case oddCropSize, tooFewWordVectors, tooManyWordVectors, numericDictionary, absentGPU
    }

    @Test(arguments: BadInput.allCases)
    func badInputsAreReportedBeforeTheCaptionIndexIsBuilt(_ input: BadInput) throws {
        let data = try TrainingFixture.dataset()
        let folder = try TestEnvironment.temporaryDirectory("early-\(input.rawValue)")
        defer { try? FileManager.default.removeItem(at: folder) }
        var arguments = TrainingFixture.arguments(data, run: folder, name: "early")
        func replace(_ flag: String, _ value: String) { arguments[arguments.firstIndex(of: flag)! + 1] = value }
        let expected: [String]
        switch input {
        case .oddCropSize:
            replace("--video_size", "31")
            expected = ["--video_size 31", "even"]
        case .tooFewWordVectors, .tooManyWordVectors:
            let words = try WordFiles.loadDictionary(from: data.dictionary).count
            let vectors = try WordFiles.loadMatrix(from: data.wordVectors)
            let rows = input == .tooFewWordVectors ? words : words + 2
            let changed = input == .tooFewWordVectors ? try vectors.narrow(0, start: 0, length: rows)
                : try Tensor.cat([vectors, vectors.narrow(0, start: 0, length: 1)], dimension: 0)
            let file = folder.appendingPathComponent("word2vec.pth")
            try TorchFile.save(.tensor(changed.contiguous().record()), to: file)
            replace("--word2vec_path", file.path)
            expected = ["(\(rows) x 300)", "(\(words) words)", "\(words + 1) rows", "cannot start training"]
        case .numericDictionary:
            let file = folder.appendingPathComponent("dict.npy")
            try NumPyFile.save(.numeric(try Tensor([Float](repeating: 1, count: 4)).record()), to: file)
            replace("--token_to_word_path", file.path)
            expected = ["dict.npy", "strings"]
        case .absentGPU:
            arguments += ["--gpu", "\(Runtime.cudaDeviceCount + 3)"]
            expected = ["cuda:\(Runtime.cudaDeviceCount + 3)", "CUDA device"]
        }
        let result = try TrainingFixture.run(arguments, log: folder.appendingPathComponent("early.log"))
        #expect(result.status != 0)
        for text in expected { #expect(result.output.contains(text), "\(text) missing from: \(result.output.suffix(800))") }
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("checkpoint/early/captions.index").path),
                "the caption index was built first: \(result.output.suffix(800))")
    }

    /// A checkpoint folder carries what using the model needs: the dictionary beside the
    /// checkpoints (so `embed` and `eval` work from anywhere), and the clip settings in each
    /// checkpoint, readable by `torch.load(weights_only=True)`.
    @Test func checkpointsCarryTheirDictionaryAndClipSettings() throws {
        let data = try TrainingFixture.dataset()
        let folder = try TestEnvironment.temporaryDirectory("carried")
        defer { try? FileManager.default.removeItem(at: folder) }
        let result = try TrainingFixture.run(TrainingFixture.arguments(data, run: folder, name: "carried")
                                                + ["--max_steps", "1"], log: folder.appendingPathComponent("train.log"))
        #expect(result.status == 0, "\(result.output.suffix(600))")
        // Another dictionary is refused where checkpoints trained with this one are.
        var words = try WordFiles.loadDictionary(from: data.dictionary)
        words[0] = "changed"
        let other = folder.appendingPathComponent("other-dict.npy")
        try NumPyFile.save(.strings(words, shape: [words.count]), to: other)
        var arguments = TrainingFixture.arguments(data, run: folder, name: "carried") + ["--max_steps", "1"]
        arguments[arguments.firstIndex(of: "--token_to_word_path")! + 1] = other.path
        let refused = try TrainingFixture.run(arguments, log: folder.appendingPathComponent("refused.log"))
        #expect(refused.status != 0)
        #expect(refused.output.contains("trained with another dictionary"), "\(refused.output.suffix(600))")

        let moved = folder.appendingPathComponent("elsewhere")
        try FileManager.default.moveItem(at: folder.appendingPathComponent("checkpoint/carried"), to: moved)
        #expect(try Data(contentsOf: moved.appendingPathComponent("dict.npy")) == (try Data(contentsOf: data.dictionary)))
        let checkpoint = try #require(TrainingCheckpoint.list(in: moved).last)

        let sentences = folder.appendingPathComponent("sentences.txt")
        try "a red circle grows\nthe square fades\n".write(to: sentences, atomically: true, encoding: .utf8)
        let embedded = try TrainingFixture.run(
            ["embed", "sentences", sentences.path, "--output", folder.appendingPathComponent("s.npy").path,
             "--pretrain_cnn_path", checkpoint.path, "--threads", "1"], log: folder.appendingPathComponent("embed.log"))
        #expect(embedded.status == 0, "\(embedded.output.suffix(600))")

        let run = try CommandFixtures.python("""
        import sys, torch
        run = torch.load(sys.argv[1], weights_only=True)['milnce']['run']
        print(run['num_frames'], run['video_size'], run['fps'], run['crop_only'], run['centercrop'], run['random_flip'],
              run['min_time'], run['max_words'], run['dictionary'], run['dictionary_words'])
        """, [checkpoint.path])
        #expect(run.trimmingCharacters(in: .whitespacesAndNewlines) == "8 32 4.0 True False False 5.0 20 dict.npy \(words.count)")
    }

    /// Two ranks over Gloo hold identical weights after every step, and end where one process
    /// with the same total batch in two micro-batches ends.
    @Test func twoRanksEqualOneProcessWithTheSameTotalBatch() throws {
        let data = try TrainingFixture.dataset()
        let folder = try TestEnvironment.temporaryDirectory("two-ranks")
        defer { try? FileManager.default.removeItem(at: folder) }
        let ranks = try TrainingFixture.launchRanks(
            TrainingFixture.arguments(data, run: folder, name: "two") + ["--replica_check_steps", "1"], logs: folder)
        for rank in ranks { rank.waitUntilExit() }
        let logs = try (0..<2).map { try String(contentsOf: folder.appendingPathComponent("rank\($0).log"), encoding: .utf8) }
        #expect(ranks.allSatisfy { $0.terminationStatus == 0 }, "\(logs)")
        let single = try TrainingFixture.run(TrainingFixture.arguments(data, run: folder, name: "one") + ["--micro_batches", "2"],
                                             log: folder.appendingPathComponent("one.log"))
        #expect(single.status == 0, "\(single.output)")

        let text = try String(contentsOf: folder.appendingPathComponent("log/two.txt"), encoding: .utf8)
        #expect(text.contains("step 6: the 2 replicas are identical"))
        let checkpoints = folder.appendingPathComponent("checkpoint")
        let distributed = try TrainingFixture.stateDict(checkpoints.appendingPathComponent("two/epoch0002.pth.tar"))
        let alone = try TrainingFixture.stateDict(checkpoints.appendingPathComponent("one/epoch0002.pth.tar"))
        let difference = try TrainingFixture.largestDifference(distributed, alone)
        print("two ranks vs one process with two micro-batches: largest relative difference \(difference)")
        #expect(difference <= 1e-5)
    }

    /// A run killed with SIGKILL and resumed ends with the same weights, bit for bit, as a run
    /// that was never stopped; its checkpoints load in PyTorch into the reference's model,
    /// optimiser and schedule; its TensorBoard events read in TensorBoard.
    @Test func killedAndResumedEqualsUninterrupted() throws {
        let data = try TrainingFixture.dataset()
        let folder = try TestEnvironment.temporaryDirectory("resume")
        defer { try? FileManager.default.removeItem(at: folder) }
        let steady = try TrainingFixture.run(TrainingFixture.arguments(data, run: folder, name: "steady", epochs: 3),
                                             log: folder.appendingPathComponent("steady.log"))
        #expect(steady.status == 0, "\(steady.output)")

        let arguments = TrainingFixture.arguments(data, run: folder, name: "killed", epochs: 3) + ["--save_every_steps", "1"]
        let killedFolder = folder.appendingPathComponent("checkpoint/killed")
        let victim = try TrainingFixture.launch(arguments, log: folder.appendingPathComponent("killed.log"))
        let reached = TrainingFixture.waitUntil(timeout: 300) {
            TrainingCheckpoint.list(in: killedFolder).contains { $0.lastPathComponent.hasPrefix("epoch0001.step") }
        }
        kill(victim.processIdentifier, SIGKILL)
        victim.waitUntilExit()
        #expect(reached, "no mid-epoch checkpoint appeared")
        #expect(victim.terminationReason == .uncaughtSignal)
        #expect(!FileManager.default.fileExists(atPath: killedFolder.appendingPathComponent("epoch0003.pth.tar").path))
        // A kill during a save leaves at most a temporary file, never a broken checkpoint.
        for checkpoint in TrainingCheckpoint.list(in: killedFolder) {
            #expect(throws: Never.self) { _ = try ModelCheckpoint.load(from: checkpoint) }
        }

        let resumed = try TrainingFixture.run(arguments + ["--resume"], log: folder.appendingPathComponent("resumed.log"))
        #expect(resumed.status == 0, "\(resumed.output)")
        let log = try String(contentsOf: folder.appendingPathComponent("log/killed.txt"), encoding: .utf8)
        #expect(log.contains("=> loaded checkpoint"))
        let a = try TrainingFixture.stateDict(folder.appendingPathComponent("checkpoint/steady/epoch0003.pth.tar"))
        let b = try TrainingFixture.stateDict(killedFolder.appendingPathComponent("epoch0003.pth.tar"))
        #expect(try TrainingFixture.largestDifference(a, b) == 0)
        #expect(TrainingCheckpoint.list(in: killedFolder).count <= 10)

        try TestEnvironment.requireOracle("torch", "tensorboard")
        let vocabulary = try WordFiles.loadDictionary(from: data.dictionary).count + 1
        try runPython("""
        import sys, torch
        sys.path.insert(0, sys.argv[1])
        from reference_model import S3D
        checkpoint = torch.load(sys.argv[2], weights_only=True)
        assert checkpoint['epoch'] == 3, checkpoint['epoch']
        net = S3D(512, vocab=int(sys.argv[3]))
        net.load_state_dict({k[len('module.'):]: v for k, v in checkpoint['state_dict'].items()})
        optimizer = torch.optim.Adam(net.parameters(), 0.001)
        optimizer.load_state_dict(checkpoint['optimizer'])
        assert len(optimizer.state) == len([p for p in net.parameters() if p.requires_grad])
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
        scheduler.load_state_dict(checkpoint['scheduler'])
        assert scheduler.last_epoch == checkpoint['milnce']['global_step'], (scheduler.last_epoch, checkpoint['milnce'])
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
        events = EventAccumulator(sys.argv[4]); events.Reload()
        tags = events.Tags()['scalars']
        for tag in ['train/loss', 'train/learning_rate', 'train/clips_per_second', 'train/data_wait_fraction']:
            assert tag in tags, (tag, tags)
        assert len(events.Scalars('train/loss')) == 9, len(events.Scalars('train/loss'))
        """, arguments: [TestEnvironment.packageRoot.appendingPathComponent("bench").path,
                         folder.appendingPathComponent("checkpoint/steady/epoch0003.pth.tar").path, "\(vocabulary)",
                         folder.appendingPathComponent("log/steady").path])
    }

    /// When a rank dies, the other stops with a message instead of hanging.
    @Test func aDeadRankStopsTheOthers() throws {
        let data = try TrainingFixture.dataset()
        let folder = try TestEnvironment.temporaryDirectory("dead-rank")
        defer { try? FileManager.default.removeItem(at: folder) }
        let ranks = try TrainingFixture.launchRanks(
            TrainingFixture.arguments(data, run: folder, name: "dead", epochs: 50) + ["--dist_timeout", "60"], logs: folder)
        let started = TrainingFixture.waitUntil(timeout: 300) {
            ((try? String(contentsOf: folder.appendingPathComponent("log/dead.txt"), encoding: .utf8)) ?? "").contains("Epoch 1,")
        }
        #expect(started)
        kill(ranks[1].processIdentifier, SIGKILL)
        let killedAt = Date()
        let stopped = TrainingFixture.waitUntil(timeout: 90) { !ranks[0].isRunning }
        if !stopped { ranks[0].terminate() }
        ranks[0].waitUntilExit()
        let output = try String(contentsOf: folder.appendingPathComponent("rank0.log"), encoding: .utf8)
        #expect(stopped, "rank 0 was still running 90 s after rank 1 died")
        #expect(ranks[0].terminationStatus != 0)
        #expect(output.contains("another rank has probably died"), "\(output.suffix(600))")
        print("rank 0 stopped \(Date().timeIntervalSince(killedAt)) s after rank 1 was killed")
    }

    /// Rank 0 builds the caption index alone, here for longer than `--dist_timeout` (one caption
    /// file is a named pipe that stays silent for 20 s); the other rank waits for it without
    /// timing out, and both train.
    @Test func aSlowCaptionIndexOnRankZeroDoesNotTimeOutTheOthers() throws {
        let data = try TrainingFixture.dataset()
        let folder = try TestEnvironment.temporaryDirectory("slow-index")
        defer { try? FileManager.default.removeItem(at: folder) }
        let captions = folder.appendingPathComponent("captions")
        try FileManager.default.copyItem(at: data.captionRoot, to: captions)
        let files = try FileManager.default.contentsOfDirectory(atPath: captions.path).filter { $0.hasSuffix(".csv") }.sorted()
        let slow = captions.appendingPathComponent(try #require(files.first)).path
        let content = try Data(contentsOf: URL(fileURLWithPath: slow))
        try FileManager.default.removeItem(atPath: slow)
        try #require(mkfifo(slow, 0o644) == 0, "cannot make a named pipe at \(slow)")
        let delay = 20.0
        let fed = Mutex(false)
        Thread.detachNewThread {
            usleep(useconds_t(delay * 1_000_000))
            let deadline = Date().addingTimeInterval(240)
            while Date() < deadline {
                let descriptor = open(slow, O_WRONLY | O_NONBLOCK)  // fails until rank 0 opens it to read
                if descriptor >= 0 {
                    _ = fcntl(descriptor, F_SETFL, 0)
                    _ = content.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
                    close(descriptor)
                    fed.withLock { $0 = true }
                    return
                }
                usleep(100_000)
            }
        }
        var arguments = TrainingFixture.arguments(data, run: folder, name: "slow", epochs: 1) + ["--dist_timeout", "8"]
        let root = try #require(arguments.firstIndex(of: "--caption_root"))
        arguments[root + 1] = captions.path
        let started = Date()
        let ranks = try TrainingFixture.launchRanks(arguments, logs: folder)
        for rank in ranks { rank.waitUntilExit() }
        let logs = try (0..<2).map { try String(contentsOf: folder.appendingPathComponent("rank\($0).log"), encoding: .utf8) }
        #expect(fed.withLock { $0 }, "rank 0 never read the slow caption file")
        #expect(Date().timeIntervalSince(started) >= delay)
        #expect(ranks.allSatisfy { $0.terminationStatus == 0 }, "\(logs.map { $0.suffix(800) })")
    }

    @Test func aRankAloneGivesUpAfterTheTimeoutWithAReason() throws {
        let data = try TrainingFixture.dataset()
        let folder = try TestEnvironment.temporaryDirectory("alone")
        defer { try? FileManager.default.removeItem(at: folder) }
        let port = try WorkerLauncher.freePort()
        let started = Date()
        let result = try TrainingFixture.run(
            TrainingFixture.arguments(data, run: folder, name: "alone")
                + ["--world-size", "2", "--rank", "0", "--dist-url", "tcp://127.0.0.1:\(port)", "--dist_timeout", "3"],
            log: folder.appendingPathComponent("alone.log"))
        #expect(result.status != 0)
        #expect(result.output.contains("the 2 ranks did not all join"), "\(result.output.suffix(600))")
        #expect(Date().timeIntervalSince(started) < 60)
    }

    /// A non-finite loss stops the run with the step number and writes no checkpoint.
    @Test func aNonFiniteLossStopsTheRun() throws {
        let data = try TrainingFixture.dataset()
        let folder = try TestEnvironment.temporaryDirectory("nan")
        defer { try? FileManager.default.removeItem(at: folder) }
        let vectors = try WordFiles.loadMatrix(from: data.wordVectors)
        let poisoned = try vectors * Double.nan
        let file = folder.appendingPathComponent("word2vec.pth")
        try TorchFile.save(.tensor(poisoned.record()), to: file)
        var arguments = TrainingFixture.arguments(data, run: folder, name: "nan")
        arguments[arguments.firstIndex(of: "--word2vec_path")! + 1] = file.path
        let result = try TrainingFixture.run(arguments, log: folder.appendingPathComponent("nan.log"))
        #expect(result.status != 0)
        #expect(result.output.contains("the loss is nan at step 0"), "\(result.output.suffix(400))")
        #expect(TrainingCheckpoint.list(in: folder.appendingPathComponent("checkpoint/nan")).isEmpty)
    }

    /// `--resume` skips a damaged newest checkpoint (empty, truncated), saying which and why,
    /// continues from the newest that loads, and ends where an uninterrupted run ends; the
    /// temporary file of an unfinished save is removed at start, with a message.
    @Test func resumeFallsBackToTheNewestCheckpointThatLoads() throws {
        let data = try TrainingFixture.dataset()
        let folder = try TestEnvironment.temporaryDirectory("damaged")
        defer { try? FileManager.default.removeItem(at: folder) }
        let arguments = TrainingFixture.arguments(data, run: folder, name: "damaged")
        let first = try TrainingFixture.run(arguments, log: folder.appendingPathComponent("first.log"))
        #expect(first.status == 0, "\(first.output.suffix(600))")
        let checkpoints = folder.appendingPathComponent("checkpoint/damaged")
        let complete = try TrainingFixture.stateDict(checkpoints.appendingPathComponent("epoch0002.pth.tar"))

        let second = checkpoints.appendingPathComponent("epoch0002.pth.tar")
        let bytes = try Data(contentsOf: second)
        try bytes.prefix(bytes.count / 2).write(to: second)
        try Data().write(to: checkpoints.appendingPathComponent("epoch0003.pth.tar"))
        let leftover = checkpoints.appendingPathComponent(".epoch0003.pth.tar.5C1A8D2E.partial")
        try Data(repeating: 7, count: 100).write(to: leftover)

        let resumed = try TrainingFixture.run(arguments + ["--resume", "--epochs", "2"],
                                              log: folder.appendingPathComponent("resumed.log"))
        #expect(resumed.status == 0, "\(resumed.output.suffix(800))")
        for name in ["epoch0003.pth.tar", "epoch0002.pth.tar"] {
            #expect(resumed.output.contains("skipping checkpoint '\(checkpoints.appendingPathComponent(name).path)'"),
                    "\(resumed.output.prefix(2000))")
        }
        let log = try String(contentsOf: folder.appendingPathComponent("log/damaged.txt"), encoding: .utf8)
        #expect(log.contains("loaded checkpoint '\(checkpoints.appendingPathComponent("epoch0001.pth.tar").path)'"))
        #expect(log.contains("removed '\(leftover.path)'"), "\(log)")
        #expect(!FileManager.default.fileExists(atPath: leftover.path))
        let again = try TrainingFixture.stateDict(second)
        #expect(try TrainingFixture.largestDifference(complete, again) == 0)

        // With no checkpoint that loads, --resume stops with the list instead of starting afresh.
        for checkpoint in TrainingCheckpoint.list(in: checkpoints) { try Data("damaged".utf8).write(to: checkpoint) }
        let hopeless = try TrainingFixture.run(arguments + ["--resume"], log: folder.appendingPathComponent("hopeless.log"))
        #expect(hopeless.status != 0)
        #expect(hopeless.output.contains("none of the 3 checkpoints in \(checkpoints.path) can be loaded"),
                "\(hopeless.output.suffix(800))")
    }

    /// Waits until the run's text log shows a training step, so that a signal arrives mid-training.
    static func waitForSteps(in folder: URL, name: String) -> Bool {
        TrainingFixture.waitUntil(timeout: 300) {
            ((try? String(contentsOf: folder.appendingPathComponent("log/\(name).txt"), encoding: .utf8)) ?? "")
                .contains("Training loss")
        }
    }

    /// The steps a run's text log shows (`--n_display 1`: one line per step).
    static func stepLines(in folder: URL, name: String) throws -> Int {
        try String(contentsOf: folder.appendingPathComponent("log/\(name).txt"), encoding: .utf8)
            .split(separator: "\n").filter { $0.hasPrefix("Epoch ") && $0.contains("Training loss") }.count
    }

    /// SIGTERM and SIGUSR1 (a scheduler's preemption) save a checkpoint at the next step boundary,
    /// say where it is and how to resume, and exit with 143; SIGINT stops without saving and says so.
    @Test(arguments: [SIGTERM, SIGUSR1, SIGINT])
    func aStopSignalEndsTheRunAtAStepBoundary(_ signal: Int32) throws {
        let data = try TrainingFixture.dataset()
        let folder = try TestEnvironment.temporaryDirectory("signal")
        defer { try? FileManager.default.removeItem(at: folder) }
        let process = try TrainingFixture.launch(TrainingFixture.arguments(data, run: folder, name: "stopped", epochs: 50),
                                                 log: folder.appendingPathComponent("stopped.log"))
        let started = Self.waitForSteps(in: folder, name: "stopped")
        kill(process.processIdentifier, signal)
        let ended = TrainingFixture.waitUntil(timeout: 120) { !process.isRunning }
        if !ended { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        let output = try String(contentsOf: folder.appendingPathComponent("stopped.log"), encoding: .utf8)
        #expect(started && ended, "\(output.suffix(800))")
        #expect(process.terminationReason == .exit, "killed by the signal: \(output.suffix(800))")
        let steps = try Self.stepLines(in: folder, name: "stopped")
        let checkpoints = TrainingCheckpoint.list(in: folder.appendingPathComponent("checkpoint/stopped"))
        if signal == SIGINT {
            #expect(process.terminationStatus == 130)
            #expect(output.contains("stopped by SIGINT") && output.contains("without saving a checkpoint"),
                    "\(output.suffix(800))")
            // Only epochs completed before the signal are saved, never the stopping point.
            if let newest = checkpoints.last {
                #expect(try ModelCheckpoint.load(from: newest).contents?["milnce"]?["global_step"]?.asInt ?? steps < steps)
            }
        } else {
            let name = signal == SIGTERM ? "SIGTERM" : "SIGUSR1"
            #expect(process.terminationStatus == 143)
            let newest = try #require(checkpoints.last, "no checkpoint: \(output.suffix(800))")
            #expect(output.contains("stopped by \(name)") && output.contains("saved checkpoint '\(newest.path)'")
                    && output.contains("--resume"), "\(output.suffix(800))")
            let saved = try ModelCheckpoint.load(from: newest)
            #expect(saved.contents?["milnce"]?["global_step"]?.asInt == steps, "the checkpoint claims what was trained")
        }
    }

    /// A signal to one rank stops both after the same step; rank 0 saves the checkpoint.
    @Test func ranksAgreeOnWhereToStop() throws {
        let data = try TrainingFixture.dataset()
        let folder = try TestEnvironment.temporaryDirectory("signal-ranks")
        defer { try? FileManager.default.removeItem(at: folder) }
        let ranks = try TrainingFixture.launchRanks(TrainingFixture.arguments(data, run: folder, name: "agreed", epochs: 50),
                                                    logs: folder)
        let started = Self.waitForSteps(in: folder, name: "agreed")
        kill(ranks[1].processIdentifier, SIGTERM)
        let ended = TrainingFixture.waitUntil(timeout: 120) { !ranks[0].isRunning && !ranks[1].isRunning }
        for rank in ranks where rank.isRunning { kill(rank.processIdentifier, SIGKILL) }
        for rank in ranks { rank.waitUntilExit() }
        let logs = try (0..<2).map { try String(contentsOf: folder.appendingPathComponent("rank\($0).log"), encoding: .utf8) }
        #expect(started && ended, "\(logs.map { $0.suffix(600) })")
        #expect(ranks.map(\.terminationReason) == [.exit, .exit] && ranks.map(\.terminationStatus) == [143, 143],
                "\(logs.map { $0.suffix(600) })")
        let newest = try #require(TrainingCheckpoint.list(in: folder.appendingPathComponent("checkpoint/agreed")).last)
        let saved = try ModelCheckpoint.load(from: newest)
        // Rank 0 writes one line per step; every rank took as many steps as the checkpoint records.
        #expect(saved.contents?["milnce"]?["global_step"]?.asInt == (try Self.stepLines(in: folder, name: "agreed")))
        #expect(logs[0].contains("stopped by SIGTERM"), "\(logs[0].suffix(600))")
    }

    /// With its log folder on a full file system (a 4 KiB tmpfs, filled, in a mount namespace of
    /// its own), a run trains to the end and keeps its checkpoints, says at once that the text log
    /// and the TensorBoard events cannot be written, says it again at the end, and exits with 3.
    @Test func logWriteFailuresAreReportedAndSetTheExitStatus() throws {
        let data = try TrainingFixture.dataset()
        let folder = try TestEnvironment.temporaryDirectory("full-log")
        defer { try? FileManager.default.removeItem(at: folder) }
        let logRoot = folder.appendingPathComponent("log")
        try FileManager.default.createDirectory(at: logRoot, withIntermediateDirectories: true)
        let unshare = URL(fileURLWithPath: "/usr/bin/unshare")
        guard FileManager.default.isExecutableFile(atPath: unshare.path) else {
            throw TestSupportError("this test needs util-linux's unshare (apt-get install util-linux)")
        }
        let process = Process()
        process.executableURL = unshare
        process.arguments = ["--map-root-user", "--mount", "sh", "-c",
                             #"mount -t tmpfs -o size=4k tmpfs "$1" || exit 97; head -c 65536 /dev/zero > "$1/filler" 2>/dev/null; shift; exec "$@""#,
                             "sh", logRoot.path, try milnceExecutable().path]
            + TrainingFixture.arguments(data, run: folder, name: "full")
        let output = folder.appendingPathComponent("full.out")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        let handle = try FileHandle(forWritingTo: output)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        process.waitUntilExit()
        let text = try String(contentsOf: output, encoding: .utf8)
        if process.terminationStatus == 97 {
            throw TestSupportError("cannot mount a tmpfs in a new mount and user namespace (needs unprivileged user "
                                   + "namespaces: sysctl kernel.unprivileged_userns_clone=1): \(text)")
        }
        #expect(process.terminationStatus == 3, "\(text.suffix(1200))")
        let logFile = logRoot.appendingPathComponent("full.txt").path
        #expect(text.contains("warning: cannot write the text log \(logFile)"), "\(text.prefix(1500))")
        #expect(text.contains("No space left on device"), "\(text.prefix(1500))")
        #expect(text.contains("warning: cannot write the TensorBoard events"), "\(text.prefix(1500))")
        let summary = try #require(text.range(of: "training finished").map { String(text[$0.lowerBound...]) }, "\(text)")
        #expect(summary.contains("write") && summary.contains("of the text log \(logFile) failed"), "\(summary)")
        #expect(summary.contains("of the TensorBoard events"), "\(summary)")
        #expect(FileManager.default.fileExists(
            atPath: folder.appendingPathComponent("checkpoint/full/epoch0002.pth.tar").path))
    }

    /// An epoch whose batches end early (here: a batch too large to allocate, 4 clips of 10^8
    /// frames) stops the run with the loader's reason, and no checkpoint claims the epoch.
    @Test func anEpochWhoseDataFailsStopsTheRunWithoutACheckpoint() throws {
        let data = try TrainingFixture.dataset()
        let folder = try TestEnvironment.temporaryDirectory("failed-epoch")
        defer { try? FileManager.default.removeItem(at: folder) }
        var arguments = TrainingFixture.arguments(data, run: folder, name: "failed")
        arguments[arguments.firstIndex(of: "--num_frames")! + 1] = "100000000"
        let result = try TrainingFixture.run(arguments, log: folder.appendingPathComponent("failed.log"))
        #expect(result.status != 0)
        #expect(result.output.contains("epoch 1 stopped after 0 of its 3 batches"), "\(result.output.suffix(800))")
        #expect(result.output.contains("No checkpoint claims this epoch"), "\(result.output.suffix(800))")
        #expect(TrainingCheckpoint.list(in: folder.appendingPathComponent("checkpoint/failed")).isEmpty)
    }

    /// Clips that the video fills only in part (a caption at its very end) are padded with black
    /// frames, as the reference pads them, and the epoch summary counts them.
    @Test func paddedClipsAreCountedInTheEpochSummary() throws {
        let data = try TrainingFixture.dataset()
        let folder = try TestEnvironment.temporaryDirectory("padded")
        defer { try? FileManager.default.removeItem(at: folder) }
        // Every caption covers the last second of its 14 s video: the 2 s clip (8 frames at 4 fps)
        // decoded from 13 s holds 4 frames of the video and 4 of padding.
        let captions = folder.appendingPathComponent("captions")
        try FileManager.default.createDirectory(at: captions, withIntermediateDirectories: true)
        for file in try FileManager.default.contentsOfDirectory(atPath: data.captionRoot.path) where file.hasSuffix(".csv") {
            try "start,end,text\n13,14,a red circle grows\n".write(to: captions.appendingPathComponent(file),
                                                                     atomically: true, encoding: .utf8)
        }
        var arguments = TrainingFixture.arguments(data, run: folder, name: "padded", epochs: 1)
        arguments[arguments.firstIndex(of: "--caption_root")! + 1] = captions.path
        arguments += ["--min_time", "1"]
        let result = try TrainingFixture.run(arguments, log: folder.appendingPathComponent("padded.log"))
        #expect(result.status == 0, "\(result.output.suffix(800))")
        let log = try String(contentsOf: folder.appendingPathComponent("log/padded.txt"), encoding: .utf8)
        // 12 videos in batches of 4: every clip of the epoch is padded.
        #expect(log.contains("Epoch 1 finished: 0 samples skipped on rank 0, 12 clips padded with black frames"),
                "\(log.suffix(800))")
    }

    /// `--max_steps N` takes exactly N steps and ends with a checkpoint of where it stopped, also
    /// when the limit falls on an epoch's last batch, and with one batch per epoch.
    @Test(arguments: [(batch: 4, steps: 3, checkpoint: "epoch0001.pth.tar"),
                      (batch: 12, steps: 1, checkpoint: "epoch0001.pth.tar"),
                      (batch: 4, steps: 2, checkpoint: "epoch0000.step00000002.pth.tar")])
    func maxStepsTakesExactlyThatManySteps(batch: Int, steps: Int, checkpoint: String) throws {
        let data = try TrainingFixture.dataset()
        let folder = try TestEnvironment.temporaryDirectory("max-steps")
        defer { try? FileManager.default.removeItem(at: folder) }
        let arguments = TrainingFixture.arguments(data, run: folder, name: "limited", batch: batch, epochs: 3)
            + ["--max_steps", "\(steps)"]
        let result = try TrainingFixture.run(arguments, log: folder.appendingPathComponent("limited.log"))
        #expect(result.status == 0, "\(result.output.suffix(600))")
        let log = try String(contentsOf: folder.appendingPathComponent("log/limited.txt"), encoding: .utf8)
        let stepLines = log.split(separator: "\n").filter { $0.hasPrefix("Epoch ") && $0.contains("Training loss") }
        #expect(stepLines.count == steps, "\(log)")
        let saved = TrainingCheckpoint.list(in: folder.appendingPathComponent("checkpoint/limited")).map(\.lastPathComponent)
        #expect(saved.last == checkpoint, "\(saved)")
        let newest = try ModelCheckpoint.load(from: folder.appendingPathComponent("checkpoint/limited/\(checkpoint)"))
        #expect(newest.contents?["milnce"]?["global_step"]?.asInt == steps)
    }

    @Test func aBatchWithNoLoadableSampleStopsTheRun() throws {
        let data = try TrainingFixture.dataset()
        let folder = try TestEnvironment.temporaryDirectory("no-samples")
        defer { try? FileManager.default.removeItem(at: folder) }
        var arguments = TrainingFixture.arguments(data, run: folder, name: "empty")
        // Every video is missing: substitutes fail too, and a batch of blank clips must not train.
        arguments[arguments.firstIndex(of: "--video_path")! + 1] = folder.path
        let result = try TrainingFixture.run(arguments, log: folder.appendingPathComponent("empty.log"))
        #expect(result.status != 0)
        #expect(result.output.contains("no sample of batch 0 could be loaded"), "\(result.output.suffix(400))")
        #expect(result.output.contains("train_0"), "the last failure names its video: \(result.output.suffix(400))")
        #expect(TrainingCheckpoint.list(in: folder.appendingPathComponent("checkpoint/empty")).isEmpty)
    }
}
