import FoundationEssentials
import Torch

/// Everything a training run is told: the reference's options (same names and defaults, see
/// `milnce train --help`) and ours.
public struct TrainingConfiguration: Sendable {
    // MARK: Data
    /// The train CSV (`--train_csv`, column `video_path`).
    public var trainCSV = "csv/howto100m_videos.csv"
    /// The folder of the training videos (`--video_path`).
    public var videoRoot = ""
    /// A store made by `milnce prepare` to read the training videos from, instead of `videoRoot`.
    public var videoStore = ""
    /// The folder of the per-video caption CSVs (`--caption_root`).
    public var captionRoot = ""
    /// The caption index file (default: `captions.index` in the checkpoint folder).
    public var captionIndexPath: String?
    /// The word-vector matrix (`--word2vec_path`).
    public var wordVectorsPath = "data/word2vec.pth"
    /// The word dictionary (`--token_to_word_path`).
    public var dictionaryPath = "data/dict.npy"

    // MARK: Folders
    /// `--checkpoint_root`.
    public var checkpointRoot = "checkpoint"
    /// `--checkpoint_dir`: the checkpoint folder under the root, and the run's name.
    public var checkpointDir = ""
    /// `--log_root`.
    public var logRoot = "log"

    // MARK: Optimisation
    /// `--optimizer`.
    public var optimizer: OptimizerKind = .adam
    /// `--lr`.
    public var learningRate = 0.001
    /// `--momentum` (SGD).
    public var momentum = 0.9
    /// `--warmup_steps`.
    public var warmupSteps = 5000
    /// `--epochs`.
    public var epochs = 300
    /// Clips per step on each node, split across its processes (the reference's Note 1).
    public var batchSize = 256
    /// `--weight_init`.
    public var weightInit: WeightInitialization = .uniform
    /// `--num_candidates`: captions per clip (K of MIL-NCE).
    public var numCandidates = 1
    /// `--num_class`: the joint embedding's dimension.
    public var embeddingDimension = 512

    // MARK: Clips
    /// `--num_frames`.
    public var numFrames = 16
    /// `--video_size`.
    public var videoSize = 224
    /// `--fps`.
    public var fps = 5.0
    /// `--crop_only 1`: random crops without scaling.
    public var cropOnly = true
    /// `--centercrop 1`.
    public var centerCrop = false
    /// `--random_flip 1`.
    public var randomFlip = true
    /// `--min_time`: the shortest clip around a caption, in seconds.
    public var minTime = 5.0
    /// `--max_words`.
    public var maxWords = 20

    // MARK: Machinery
    /// `--num_thread_reader`: decoding threads of a node.
    public var numThreadReader = 20
    /// `--pin_memory`.
    public var pinMemory = false
    /// `--cudnn_benchmark 1`.
    public var cudnnBenchmark = false
    /// `--seed`.
    public var seed = 1
    /// `--resume`: continue from the newest checkpoint that loads.
    public var resume = false
    /// `--pretrain_cnn_path`: initial weights.
    public var pretrainCNNPath = ""
    /// `--n_display`: log every this many batches.
    public var nDisplay = 10
    /// `--verbose 1`: echo the log on the terminal.
    public var verbose = true
    /// The device (nil: this rank's GPU when there is one, else the CPU).
    public var device: Device?
    /// `--precision`.
    public var precision: Precision = .fp32
    /// `--channels_last`.
    public var channelsLast = false
    /// `--save_every_steps` (0: only after epochs).
    public var saveEverySteps = 0
    /// `--micro_batches`.
    public var microBatches = 1
    /// `--keep_checkpoints`.
    public var keepCheckpoints = 10
    /// `--dist-backend` (NCCL falls back to Gloo on the CPU).
    public var distributedBackend: DistributedBackend = .nccl
    /// `--dist_timeout`.
    public var distributedTimeoutSeconds = 600.0
    /// Whether to write TensorBoard events (`--no_tensorboard` clears it).
    public var tensorboard = true
    /// libtorch CPU threads of this process (nil: the cores divided among the node's processes).
    public var cpuThreads: Int?
    /// Check every this many steps that all ranks hold identical parameters (0: never).
    public var replicaCheckSteps = 0
    /// Stop after this many optimiser steps in this process (0: run to the end); for short trials.
    public var maxSteps = 0
    /// The epoch to start at when not resuming (the reference's `--start-epoch`).
    public var startEpoch = 0

    // MARK: Evaluation during training
    /// `--evaluate`.
    public var evaluate = false
    /// `--eval_video_root`.
    public var evalVideoRoot = ""
    /// `--eval_csv`.
    public var evalCSV = "csv/validation_youcook.csv"
    /// Evaluate every this many epochs (nil: the reference's schedule, every
    /// max(1, total batch / 512) epochs); a run that evaluates also evaluates its final model.
    public var evaluateEveryEpochs: Int?
    /// `--num_windows_test`.
    public var numWindowsTest = 4
    /// `--batch_size_val`.
    public var batchSizeVal = 32

    /// The reference's defaults.
    public init() {}

    /// `<checkpoint_root>/<checkpoint_dir>`.
    public var checkpointFolder: URL {
        URL(fileURLWithPath: checkpointRoot).appendingPathComponent(checkpointDir)
    }

    /// The run's name in logs: the checkpoint folder's name, as the reference names its log file.
    public var runName: String { checkpointDir.isEmpty ? "milnce" : checkpointDir }

    /// `<log_root>/<checkpoint_dir>.txt`, the reference's text log.
    public var logFile: URL { URL(fileURLWithPath: logRoot).appendingPathComponent(runName + ".txt") }

    /// `<log_root>/<checkpoint_dir>/`: TensorBoard events and the training plot.
    public var logFolder: URL { URL(fileURLWithPath: logRoot).appendingPathComponent(runName) }

    // MARK: Validation

    /// Checks options, paths and the device before any work starts; every problem at once.
    ///
    /// The contents of the input files (the dictionary against the word vectors, the clip
    /// settings against the videos) are checked next, by `TrainingPreflight`, still before the
    /// caption index is built.
    public func validate() throws {
        let problems = pathProblems() + numberProblems() + deviceProblems()
        if !problems.isEmpty {
            throw TrainingError.invalidConfiguration("cannot start training:\n  " + problems.joined(separator: "\n  "))
        }
    }

    func pathProblems() -> [String] {
        var problems: [String] = []
        let files = FileManager.default
        func requireFile(_ path: String, _ flag: String) {
            var isFolder: Bool = false
            if path.isEmpty { problems.append("\(flag) is required") }
            else if !files.fileExists(atPath: path, isDirectory: &isFolder) { problems.append("\(flag) \(path): no such file") }
            else if isFolder { problems.append("\(flag) \(path): a folder, not a file") }
        }
        func requireFolder(_ path: String, _ flag: String) {
            var isFolder: Bool = false
            if path.isEmpty { problems.append("\(flag) is required") }
            else if !files.fileExists(atPath: path, isDirectory: &isFolder) || !isFolder {
                problems.append("\(flag) \(path): no such folder")
            }
        }
        requireFile(trainCSV, "--train_csv")
        if videoStore.isEmpty { requireFolder(videoRoot, "--video_path") } else { requireFolder(videoStore, "--video_store") }
        if !videoStore.isEmpty && !videoRoot.isEmpty { problems.append("give --video_path or --video_store, not both") }
        requireFolder(captionRoot, "--caption_root")
        requireFile(wordVectorsPath, "--word2vec_path")
        requireFile(dictionaryPath, "--token_to_word_path")
        if files.fileExists(atPath: wordVectorsPath) && files.fileExists(atPath: dictionaryPath) {
            // The dictionary against its word vectors (shapes only: cheap), with the other problems.
            do {
                try WordFiles.checkTrainingFiles(wordVectors: URL(fileURLWithPath: wordVectorsPath),
                                                 dictionary: URL(fileURLWithPath: dictionaryPath))
            } catch { problems.append("\(error)") }
        }
        if !pretrainCNNPath.isEmpty { requireFile(pretrainCNNPath, "--pretrain_cnn_path") }
        if evaluate {
            requireFolder(evalVideoRoot, "--eval_video_root")
            requireFile(evalCSV, "--eval_csv")
        }
        return problems
    }

    func numberProblems() -> [String] {
        var problems: [String] = []
        for (value, flag) in [(batchSize, "--batch_size"), (epochs, "--epochs"), (numCandidates, "--num_candidates"),
                              (numFrames, "--num_frames"), (videoSize, "--video_size"), (numThreadReader, "--num_thread_reader"),
                              (nDisplay, "--n_display"), (maxWords, "--max_words"), (microBatches, "--micro_batches"),
                              (keepCheckpoints, "--keep_checkpoints"), (embeddingDimension, "--num_class")] where value < 1 {
            problems.append("\(flag) must be at least 1, got \(value)")
        }
        for (value, flag) in [(warmupSteps, "--warmup_steps"), (saveEverySteps, "--save_every_steps"),
                              (maxSteps, "--max_steps"), (replicaCheckSteps, "--replica_check_steps"),
                              (startEpoch, "--start-epoch")] where value < 0 {
            problems.append("\(flag) must not be negative, got \(value)")
        }
        if !(learningRate > 0) || !learningRate.isFinite { problems.append("--lr must be a positive number, got \(learningRate)") }
        if !(fps > 0) || !fps.isFinite { problems.append("--fps must be a positive number, got \(fps)") }
        if !(minTime >= 0) || !minTime.isFinite { problems.append("--min_time must not be negative, got \(minTime)") }
        if !(distributedTimeoutSeconds > 0) { problems.append("--dist_timeout must be positive, got \(distributedTimeoutSeconds)") }
        if let cpuThreads, cpuThreads < 1 { problems.append("--threads must be at least 1, got \(cpuThreads)") }
        if startEpoch > 0, epochs > 0, startEpoch >= epochs {
            problems.append("--start-epoch \(startEpoch) leaves nothing to train in --epochs \(epochs)")
        }
        return problems
    }

    func deviceProblems() -> [String] {
        guard let device, case .cuda(let index) = device else { return [] }
        let count = Runtime.cudaDeviceCount
        guard index >= count else { return [] }
        return [count == 0
            ? "the device \(device) (--device, --gpu): this machine has no CUDA device (or this build of libtorch has "
                + "no CUDA); use --device cpu"
            : "the device \(device) (--device, --gpu): this machine has \(count) CUDA device(s), cuda:0 to cuda:\(count - 1)"]
    }
}
