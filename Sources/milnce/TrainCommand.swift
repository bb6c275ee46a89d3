import ArgumentParser
import Dispatch
import FoundationEssentials
import Glibc
import MILNCE
import POSIX
import Synchronization
import Torch

/// `milnce train`: MIL-NCE training with the reference's command line.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train S3D-G and the text network with MIL-NCE on HowTo100M-style data.",
        discussion: """
        The reference's command line works as written with `milnce train` in place of \
        `python main_distributed.py`, for example:

          milnce train --n_display=1 --multiprocessing-distributed --batch_size=256 \\
            --num_thread_reader=40 --cudnn_benchmark=1 --pin_memory --checkpoint_dir=milnce \\
            --num_candidates=4 --resume --lr=0.001 --warmup_steps=10000 --epochs=300 \\
            --caption_root=path_to_howto_csv --video_path=path_to_howto_videos

        The world of processes comes from the flags (--world-size, --rank, --dist-url), from torchrun \
        (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT; launch with `torchrun --no-python \
        milnce train ...`), or from SLURM (SLURM_NPROCS, SLURM_PROCID, SLURM_LOCALID, SLURM_JOBID). \
        --batch_size is the batch of a node, split across its processes. Checkpoints \
        (<checkpoint_root>/<checkpoint_dir>/epochNNNN.pth.tar) load in PyTorch with \
        torch.load(weights_only=True); the log is <log_root>/<checkpoint_dir>.txt, TensorBoard events \
        and a plot of the curves are in <log_root>/<checkpoint_dir>/.
        """
    )

    // MARK: Data (reference flags)
    @Option(name: .customLong("train_csv"), help: "CSV of training videos (column video_path).")
    var trainCSV = "csv/howto100m_videos.csv"
    @Option(name: .customLong("video_path"), help: "Folder of the training videos.")
    var videoPath = ""
    @Option(name: .customLong("video_store"),
            help: "A store made by `milnce prepare` to read the training videos from, in place of --video_path.")
    var videoStore = ""
    @Option(name: .customLong("caption_root"), help: "Folder of the per-video caption CSVs (start,end,text).")
    var captionRoot = ""
    @Option(name: .customLong("word2vec_path"), help: "The word2vec matrix (torch.save'd tensor or .npy).")
    var word2vecPath = "data/word2vec.pth"
    @Option(name: .customLong("token_to_word_path"), help: "The word dictionary dict.npy (word i is token i+1).")
    var tokenToWordPath = "data/dict.npy"
    @Option(name: .customLong("checkpoint_root"), help: "Root folder of checkpoints.")
    var checkpointRoot = "checkpoint"
    @Option(name: .customLong("checkpoint_dir"), help: "Checkpoint folder (under --checkpoint_root) and run name.")
    var checkpointDir = ""
    @Option(name: .customLong("log_root"), help: "Root folder of logs.")
    var logRoot = "log"
    @Option(name: .customLong("eval_video_root"), help: "YouCook2 videos for --evaluate.")
    var evalVideoRoot = ""
    @Option(name: .customLong("pretrain_cnn_path"), help: "Initial weights (any checkpoint layout).")
    var pretrainCNNPath = ""

    // MARK: Optimisation (reference flags)
    @Option(help: "adam or sgd.")
    var optimizer: OptimizerKind = .adam
    @Option(name: [.customLong("lr"), .customLong("learning-rate")], help: "Initial learning rate.")
    var lr = 0.001
    @Option(name: [.customLong("momemtum"), .customLong("momentum")], help: "SGD momentum.")
    var momentum = 0.9
    @Option(name: .customLong("warmup_steps"), help: "Batches of linear warmup before the cosine decay.")
    var warmupSteps = 5000
    @Option(help: "Number of epochs (one epoch = one sample per training video).")
    var epochs = 300
    @Option(name: .customLong("start-epoch"), help: "Epoch to start at (when not resuming).")
    var startEpoch = 0
    @Option(name: .customLong("batch_size"), help: "Total batch of a node, split across its GPUs.")
    var batchSize = 256
    @Option(name: .customLong("batch_size_val"), help: "Evaluation batch (per node).")
    var batchSizeVal = 32
    @Option(name: .customLong("num_candidates"), help: "Candidate captions per clip (K of MIL-NCE).")
    var numCandidates = 1
    @Option(name: .customLong("num_class"), help: "Embedding dimension.")
    var numClass = 512
    @Option(name: .customLong("weight_init"), help: "uniform (PyTorch defaults) or kaiming_normal.")
    var weightInit: WeightInitialization = .uniform

    // MARK: Clips (reference flags)
    @Option(name: .customLong("num_frames"), help: "Frames per clip.")
    var numFrames = 16
    @Option(name: .customLong("video_size"), help: "Side of the square clip.")
    var videoSize = 224
    @Option(help: "Frames per second of clips.")
    var fps = 5.0
    @Option(name: .customLong("crop_only"), help: "1: random crop without scaling; 0: largest square scaled.")
    var cropOnly = 1
    @Option(help: "1: centre crops.")
    var centercrop = 0
    @Option(name: .customLong("random_flip"), help: "1: mirror half of the clips.")
    var randomFlip = 1
    @Option(name: .customLong("min_time"), help: "Minimum clip span in seconds around a caption.")
    var minTime = 5.0
    @Option(name: .customLong("max_words"), help: "Words per caption (truncated or zero-padded).")
    var maxWords = 20
    @Option(name: .customLong("num_windows_test"), help: "Windows per clip in evaluation.")
    var numWindowsTest = 4

    // MARK: Machinery (reference flags)
    @Option(name: .customLong("num_thread_reader"), help: "Decoding threads per node.")
    var numThreadReader = 20
    @Flag(name: .customLong("pin_memory"), help: "Page-locked batches for faster copies to the GPU.")
    var pinMemory = false
    @Option(name: .customLong("cudnn_benchmark"), help: "1: let cuDNN pick the fastest algorithms.")
    var cudnnBenchmark = 0
    @Option(name: .customLong("n_display"), help: "Log every this many batches.")
    var nDisplay = 10
    @Option(help: "1: print the log to the terminal.")
    var verbose = 1
    @Option(help: "Seed of initialisation and of every data choice.")
    var seed = 1
    @Flag(help: "Resume from the newest checkpoint in the checkpoint folder.")
    var resume = false
    @Flag(name: [.customShort("e"), .customLong("evaluate")], help: "Zero-shot YouCook2 retrieval during training.")
    var evaluate = false
    @Option(name: .customLong("eval_csv"), help: "YouCook2 validation CSV for --evaluate.")
    var evalCSV = "csv/validation_youcook.csv"

    // MARK: Distributed (reference flags)
    @Option(name: .customLong("world-size"), help: "Number of processes (or nodes with --multiprocessing-distributed).")
    var worldSize = -1
    @Option(help: "This process's (or node's) rank.")
    var rank = -1
    @Option(name: .customLong("dist-url"), help: "tcp://HOST:PORT, file:///PATH or env:// (MASTER_ADDR, MASTER_PORT).")
    var distURL: String?
    @Option(name: .customLong("dist-file"), help: "Shared file for the SLURM rendezvous (.<job id> appended).")
    var distFile = "dist-file"
    @Option(name: .customLong("dist-backend"), help: "nccl (GPUs) or gloo (CPUs).")
    var distBackend: DistributedBackend = .nccl
    @Option(help: "GPU to use (single process).")
    var gpu: Int?
    @Flag(name: .customLong("multiprocessing-distributed"), help: "One worker process per local GPU.")
    var multiprocessingDistributed = false

    // MARK: New options
    @Option(help: "fp32, or bf16 autocast (CUDA).")
    var precision: Precision = .fp32
    @Flag(name: .customLong("channels_last"), help: "channels_last_3d layout for clips and convolutions (CUDA).")
    var channelsLast = false
    @Option(name: .customLong("save_every_steps"), help: "Also checkpoint every N steps (0: only after epochs).")
    var saveEverySteps = 0
    @Option(name: .customLong("keep_checkpoints"), help: "Newest checkpoints kept.")
    var keepCheckpoints = 10
    @Option(name: .customLong("micro_batches"), help: "Forward passes per step, each with its own BatchNorm statistics (emulates that many GPUs).")
    var microBatches = 1
    @Option(name: .customLong("caption_index"), help: "Caption index file (built when missing; default: in the checkpoint folder).")
    var captionIndex: String?
    @Option(name: .customLong("dist_timeout"), help: "Seconds before a collective gives up on a silent rank.")
    var distTimeout = 600.0
    @Option(name: .customLong("replica_check_steps"), help: "Check every N steps that all ranks hold identical weights (0: never).")
    var replicaCheckSteps = 0
    @Option(name: .customLong("max_steps"), help: "Stop after N steps of this run, with a checkpoint (0: no limit).")
    var maxSteps = 0
    @Flag(name: .customLong("no_tensorboard"), help: "Write no TensorBoard events.")
    var noTensorboard = false
    @OptionGroup var deviceOptions: DeviceOptions

    func validate() throws {
        for (value, flag) in [(cropOnly, "--crop_only"), (centercrop, "--centercrop"), (randomFlip, "--random_flip"),
                              (cudnnBenchmark, "--cudnn_benchmark"), (verbose, "--verbose")] where value != 0 && value != 1 {
            throw ValidationError("\(flag) must be 0 or 1")
        }
        if startEpoch < 0 { throw ValidationError("--start-epoch must not be negative") }
    }

    /// The library configuration these flags describe.
    func trainingConfiguration() throws -> TrainingConfiguration {
        var c = TrainingConfiguration()
        c.trainCSV = trainCSV
        c.videoRoot = videoPath
        c.videoStore = videoStore
        c.captionRoot = captionRoot
        c.captionIndexPath = captionIndex
        c.wordVectorsPath = word2vecPath
        c.dictionaryPath = tokenToWordPath
        c.checkpointRoot = checkpointRoot
        c.checkpointDir = checkpointDir
        c.logRoot = logRoot
        c.optimizer = optimizer
        c.learningRate = lr
        c.momentum = momentum
        c.warmupSteps = warmupSteps
        c.epochs = epochs
        c.batchSize = batchSize
        c.weightInit = weightInit
        c.numCandidates = numCandidates
        c.embeddingDimension = numClass
        c.numFrames = numFrames
        c.videoSize = videoSize
        c.fps = fps
        c.cropOnly = cropOnly == 1
        c.centerCrop = centercrop == 1
        c.randomFlip = randomFlip == 1
        c.minTime = minTime
        c.maxWords = maxWords
        c.numThreadReader = numThreadReader
        c.pinMemory = pinMemory
        c.cudnnBenchmark = cudnnBenchmark == 1
        c.seed = seed
        c.resume = resume
        c.pretrainCNNPath = pretrainCNNPath
        c.nDisplay = nDisplay
        c.verbose = verbose == 1
        c.precision = precision
        c.channelsLast = channelsLast
        c.saveEverySteps = saveEverySteps
        c.microBatches = microBatches
        c.keepCheckpoints = keepCheckpoints
        c.distributedBackend = distBackend
        c.distributedTimeoutSeconds = distTimeout
        c.tensorboard = !noTensorboard
        c.maxSteps = maxSteps
        c.replicaCheckSteps = replicaCheckSteps
        c.evaluate = evaluate
        c.evalVideoRoot = evalVideoRoot
        c.evalCSV = evalCSV
        c.numWindowsTest = numWindowsTest
        c.batchSizeVal = batchSizeVal
        c.cpuThreads = deviceOptions.threads
        if let gpu { c.device = .cuda(gpu) } else if deviceOptions.device != nil { c.device = try deviceOptions.resolve() }
        return c
    }

    func run() throws {
        let environment = ProcessInfo.processInfo.environment
        deviceOptions.applyTF32()
        var configuration = try trainingConfiguration()
        let node = try DistributedWorld.resolve(environment: environment, worldSizeFlag: worldSize, rankFlag: rank,
                                                distURL: distURL, distFile: distFile)
        if multiprocessingDistributed {
            let workers = max(1, Runtime.cudaDeviceCount)
            if let index = environment["MILNCE_WORKER_INDEX"].flatMap(Int.init) {
                var world = node.worker(index, of: workers)
                if world.isDistributed, world.rendezvous == .none, let host = environment["MASTER_ADDR"],
                   let port = environment["MASTER_PORT"].flatMap(Int.init) {
                    world.rendezvous = .tcp(host: host, port: port)
                }
                if Runtime.isCUDAAvailable, configuration.device == nil { configuration.device = .cuda(index) }
                try train(configuration, world: world, processesPerNode: workers)
            } else if workers == 1 {
                if !Runtime.isCUDAAvailable {
                    print("--multiprocessing-distributed: no GPU on this machine; one worker on the CPU")
                }
                try train(configuration, world: node.worker(0, of: 1), processesPerNode: 1)
            } else {
                try WorkerLauncher.launch(workers: workers, node: node)
            }
            return
        }
        try train(configuration, world: node, processesPerNode: Self.processesPerNode(environment))
    }

    /// Processes sharing a node's batch: torchrun's LOCAL_WORLD_SIZE, SLURM's tasks per node, else 1.
    static func processesPerNode(_ environment: [String: String]) -> Int {
        if let local = environment["LOCAL_WORLD_SIZE"].flatMap(Int.init), local > 0 { return local }
        if let tasks = environment["SLURM_NTASKS_PER_NODE"]?.prefix(while: \.isNumber), let count = Int(tasks), count > 0 {
            return count
        }
        return 1
    }

    func train(_ configuration: TrainingConfiguration, world: DistributedWorld, processesPerNode: Int) throws {
        StopSignals.install()
        var configuration = configuration
        if startEpoch > 0 && !configuration.resume { configuration.startEpoch = startEpoch }
        let trainer = Trainer(configuration: configuration, world: world, processesPerNode: processesPerNode)
        if configuration.evaluate {
            let c = configuration
            let evaluation = try YouCook2TrainingEvaluation(
                csv: URL(fileURLWithPath: c.evalCSV), videoRoot: URL(fileURLWithPath: c.evalVideoRoot),
                tokenizer: Tokenizer(words: try WordFiles.loadDictionary(from: URL(fileURLWithPath: c.dictionaryPath))),
                options: EvaluationRunOptions(
                    clips: EvaluationClipSettings(windowCount: c.numWindowsTest, frameCount: c.numFrames,
                                                  framesPerSecond: c.fps, size: c.videoSize),
                    batchSize: max(1, c.batchSizeVal / processesPerNode),
                    readerThreads: max(1, c.numThreadReader / processesPerNode)))
            trainer.evaluation = { model, device, group, _ in try evaluation.evaluate(model: model, device: device, group: group) }
        }
        let summary = try trainer.run()
        if world.rank == 0 {
            print("training \(summary.end == .completed ? "finished" : "stopped"): \(summary.stepsTaken) steps"
                  + (summary.finalLoss.map { String(cFormat: ", last loss %.4f", $0) } ?? "")
                  + (summary.lastCheckpoint.map { ", checkpoint \($0.path)" } ?? "")
                  + ", \(summary.skippedSamples) samples skipped")
        }
        try Self.finish(summary)
    }

    /// Lists the log files that could not be written, and sets the exit status: 143 (SIGTERM,
    /// SIGUSR1) or 130 (SIGINT) for a run stopped by a signal, else 3 when log files could not be
    /// written (training itself went to its end), else 0.
    static func finish(_ summary: TrainingSummary) throws {
        if !summary.logWriteFailures.isEmpty {
            print("the run's log files are incomplete (the checkpoints are not affected):\n"
                  + summary.logWriteFailures.map { "  \($0)" }.joined(separator: "\n"))
        }
        if case .signal(let request) = summary.end { throw ExitCode(request.exitStatus) }
        if !summary.logWriteFailures.isEmpty { throw ExitCode(Self.incompleteLogsStatus) }
    }

    /// The exit status of a run that trained to its end but could not write all of its logs.
    static let incompleteLogsStatus: Int32 = 3
}

/// Starts one worker process per local GPU (`--multiprocessing-distributed`), as the reference's
/// `mp.spawn`: each re-runs this command with `MILNCE_WORKER_INDEX` set. If one fails, the others
/// are stopped and the launcher fails. SIGTERM and SIGUSR1 are passed on to the workers.
enum WorkerLauncher {
    static func launch(workers: Int, node: DistributedWorld) throws {
        var environment = ProcessInfo.processInfo.environment
        if node.rendezvous == .none {
            environment["MASTER_ADDR"] = "127.0.0.1"
            environment["MASTER_PORT"] = String(try freePort())
        }
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        let processes: [ChildProcess] = try (0..<workers).map { index in
            var workerEnvironment = environment
            workerEnvironment["MILNCE_WORKER_INDEX"] = String(index)
            return try ChildProcess(executable: executable.path, arguments: Array(CommandLine.arguments.dropFirst()),
                                    environment: workerEnvironment)
        }
        StopSignals.recordOnly()
        let outcome = FirstFailure()
        let group = DispatchGroup()
        for process in processes {
            group.enter()
            DispatchQueue.global().async {
                let status: Int32
                do { status = try process.wait() } catch {
                    FileOutput.standardError.print("\(error)\n")
                    status = 1
                }
                // A worker that trained to the end but could not write its logs stops no other.
                if status != 0 && outcome.record(status) && status != TrainCommand.incompleteLogsStatus {
                    for other in processes where other.isRunning { other.terminate() }
                }
                group.leave()
            }
        }
        while group.wait(timeout: .now() + .milliseconds(200)) == .timedOut {
            // SIGTERM and SIGUSR1 go to every worker (each saves and stops at the same step). A
            // terminal's SIGINT already reached them all, as the process group's members.
            if let request = StopSignals.takePending(), request != .interrupt {
                for process in processes where process.isRunning {
                    process.terminate(signal: request == .terminate ? SIGTERM : SIGUSR1)
                }
            }
        }
        if let status = outcome.status { throw ExitCode(status) }
    }

    /// The exit status of the first worker to fail.
    private final class FirstFailure: Sendable {
        private let first = Mutex<Int32?>(nil)
        /// The first failure's status.
        var status: Int32? { first.withLock { $0 } }
        /// Records `status` if it is the first failure; returns whether it was.
        func record(_ status: Int32) -> Bool {
            first.withLock { first in
                guard first == nil else { return false }
                first = status
                return true
            }
        }
    }

    /// A TCP port free on this machine now.
    static func freePort() throws -> Int {
        let socketDescriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socketDescriptor >= 0 else { throw ValidationError("cannot open a socket to find a free port") }
        defer { close(socketDescriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socketDescriptor, $0, length) == 0 && getsockname(socketDescriptor, $0, &length) == 0 }
        }
        guard bound else { throw ValidationError("cannot bind a socket to find a free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

// The typed options parse from the reference's spellings (`--optimizer sgd`, `--weight_init
// kaiming_normal`, `--dist-backend gloo`, `--precision bf16`); anything else is refused with the
// list of choices.
extension OptimizerKind: ExpressibleByArgument {}
extension WeightInitialization: ExpressibleByArgument {}
extension DistributedBackend: ExpressibleByArgument {}
extension Precision: ExpressibleByArgument {}
