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

    /// Checks options and paths before any work starts; every problem at once.
    public func validate() throws {
        let problems = pathProblems() + numberProblems()
        if !problems.isEmpty {
            throw TrainingError.invalidConfiguration("cannot start training:\n  " + problems.joined(separator: "\n  "))
        }
    }

    func pathProblems() -> [String] {
        var problems: [String] = []
        let files = FileManager.default
        func requireFile(_ path: String, _ flag: String) {
            if path.isEmpty { problems.append("\(flag) is required") }
            else if !files.fileExists(atPath: path) { problems.append("\(flag) \(path): no such file") }
        }
        func requireFolder(_ path: String, _ flag: String) {
            var isFolder: Bool = false
            if path.isEmpty { problems.append("\(flag) is required") }
            else if !files.fileExists(atPath: path, isDirectory: &isFolder) || !isFolder {
                problems.append("\(flag) \(path): no such folder")
            }
        }
        requireFile(trainCSV, "--train_csv")
        requireFolder(videoRoot, "--video_path")
        requireFolder(captionRoot, "--caption_root")
        requireFile(wordVectorsPath, "--word2vec_path")
        requireFile(dictionaryPath, "--token_to_word_path")
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
                              (keepCheckpoints, "--keep_checkpoints")] where value < 1 {
            problems.append("\(flag) must be at least 1, got \(value)")
        }
        if warmupSteps < 0 { problems.append("--warmup_steps must not be negative") }
        if !(learningRate > 0) { problems.append("--lr must be positive") }
        if !(fps > 0) { problems.append("--fps must be positive") }
        if saveEverySteps < 0 { problems.append("--save_every_steps must not be negative") }
        return problems
    }
}
