import ArgumentParser
import FoundationEssentials
import MILNCE
import MILNCEBenchmarks
import POSIX
import Torch

/// `milnce bench`: throughput and memory figures.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure the model, a training step, the data loader or the caption index's check.",
        subcommands: [BenchModel.self, BenchTrain.self, BenchLoader.self, BenchCaptions.self]
    )
}

/// Options of the network benchmarks.
struct NetworkBenchmarkOptions: ParsableArguments {
    @Option(name: .customLong("batch_size"), help: "Clips per batch.")
    var batchSize = 2
    @Option(name: .customLong("num_frames"), help: "Frames per clip.")
    var frames = 16
    @Option(name: .customLong("video_size"), help: "Height and width of a clip.")
    var size = 112
    @Option(name: .customLong("num_candidates"), help: "Captions per clip.")
    var candidates = 4
    @Option(help: "fp32, or bf16 (autocast).")
    var precision = "fp32"
    @Flag(name: .customLong("channels_last"), help: "Feed clips and convolution weights in channels_last_3d layout.")
    var channelsLast = false
    @Option(help: "Timed iterations (the median is reported).")
    var iterations = 3
    @Option(help: "Untimed iterations first.")
    var warmup = 1
    @OptionGroup var device: DeviceOptions

    func validate() throws {
        guard Precision(rawValue: precision) != nil else { throw ValidationError("--precision must be fp32 or bf16") }
        guard batchSize > 0, frames > 0, size > 0, candidates > 0, iterations > 0, warmup >= 0 else {
            throw ValidationError("sizes and counts must be positive")
        }
    }

    func configuration() throws -> ModelBenchmark.Configuration {
        var c = ModelBenchmark.Configuration()
        c.batchSize = batchSize
        c.frames = frames
        c.size = size
        c.candidates = candidates
        c.precision = Precision(rawValue: precision)!
        c.channelsLast = channelsLast
        c.iterations = iterations
        c.warmupIterations = warmup
        c.device = try device.resolve()
        return c
    }

    func header(_ c: ModelBenchmark.Configuration) -> String {
        "device \(c.device), \(Runtime.threadCount) CPU threads, batch \(c.batchSize), \(c.frames)x\(c.size)x\(c.size), "
            + "\(c.precision.rawValue)\(c.channelsLast ? ", channels_last" : ""), \(Runtime.tf32Description), "
            + "libtorch \(Runtime.torchVersion)"
    }
}

func printFigures(_ figures: ModelBenchmark.Figures) {
    let memory = formatBytes(figures.peakMemoryBytes)
    let name = figures.name + String(repeating: " ", count: max(0, 18 - figures.name.count))
    print(name + String(cFormat: " %9.3f s  %8.2f clips/s  peak memory ", figures.medianSeconds, figures.clipsPerSecond) + memory)
}

struct BenchModel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Forward and forward+backward time and peak memory of S3D-G with the text network and loss."
    )
    @OptionGroup var options: NetworkBenchmarkOptions

    func run() throws {
        let c = try options.configuration()
        print(options.header(c))
        for figures in try ModelBenchmark(c).runModel() { printFigures(figures) }
    }
}

struct BenchTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Clips per second of a full training step (copy, forward, loss, backward, gradient all-reduce, Adam).",
        discussion: """
        With --ranks N, N processes on this machine each step on their own batch of --batch_size and average \
        their gradients (Gloo on the CPU, NCCL on GPUs, one GPU per rank), as training does; clips per second \
        count all ranks' clips, and each rank gets the cores divided by N unless --threads says otherwise. \
        --bucket_mb sets the gradient buckets whose all-reduce starts while backward still runs (0: one \
        all-reduce after backward).
        """
    )
    @OptionGroup var options: NetworkBenchmarkOptions
    @Option(help: "Processes on this machine, each a rank with its own batch.")
    var ranks = 1
    @Option(name: .customLong("bucket_mb"), help: "Gradient bucket size in MiB for the all-reduce during backward (0: after it).")
    var bucketMB = 25.0

    func validate() throws {
        guard ranks >= 1 else { throw ValidationError("--ranks must be at least 1") }
        guard bucketMB >= 0 else { throw ValidationError("--bucket_mb must not be negative") }
    }

    func run() throws {
        let environment = ProcessInfo.processInfo.environment
        if ranks > 1, let rank = environment["MILNCE_BENCH_RANK"].flatMap(Int.init),
           let port = environment["MASTER_PORT"].flatMap(Int.init) {
            return try runRank(rank, port: port)
        }
        var c = try options.configuration()
        c.gradientBucketBytes = Int(bucketMB * 1_048_576)
        if ranks == 1 {
            print(options.header(c))
            printFigures(try ModelBenchmark(c).runTrainingStep().figures)
            return
        }
        if c.device.isCUDA, ranks > Runtime.cudaDeviceCount {
            throw ValidationError("--ranks \(ranks) needs one GPU per rank; this machine has \(Runtime.cudaDeviceCount)")
        }
        try launchRanks()
    }

    /// Starts one process per rank (this command again, with the rank in its environment) and
    /// waits for all; fails if any fails.
    private func launchRanks() throws {
        var environment = ProcessInfo.processInfo.environment
        environment["MASTER_PORT"] = String(try WorkerLauncher.freePort())
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        let children = try (0..<ranks).map { rank in
            var rankEnvironment = environment
            rankEnvironment["MILNCE_BENCH_RANK"] = String(rank)
            return try ChildProcess(executable: executable, arguments: Array(CommandLine.arguments.dropFirst()),
                                    environment: rankEnvironment)
        }
        let statuses = try children.map { try $0.wait() }
        if let failed = statuses.first(where: { $0 != 0 }) {
            throw ValidationError("a rank of the benchmark failed (exit status \(failed)); its error is above")
        }
    }

    /// One rank: joins the others over TCP on this machine and measures.
    private func runRank(_ rank: Int, port: Int) throws {
        var c = try options.configuration()
        c.gradientBucketBytes = Int(bucketMB * 1_048_576)
        if options.device.threads == nil {
            Runtime.threadCount = max(1, ProcessInfo.processInfo.activeProcessorCount / ranks)
        }
        if c.device.isCUDA {
            c.device = .cuda(rank)
            try Runtime.setCurrentDevice(c.device)
        }
        let store = try Store(host: "127.0.0.1", port: port, worldSize: ranks, isServer: rank == 0, timeoutSeconds: 120)
        let group = try ProcessGroup(store: store, rank: rank, size: ranks, backend: c.device.isCUDA ? .nccl : .gloo,
                                     timeoutSeconds: 600)
        if rank == 0 { print(options.header(c) + ", \(ranks) ranks (\(group.backend.rawValue)), all ranks' clips") }
        let (figures, overlapped) = try ModelBenchmark(c).runTrainingStep(group: group)
        if rank == 0 {
            printFigures(figures)
            print(c.gradientBucketBytes == 0 ? "gradient all-reduce: one, after backward"
                  : "gradient all-reduce: \(overlapped) bucket(s) of up to \(String(cFormat: "%g", bucketMB)) MiB started during backward")
        }
    }
}
