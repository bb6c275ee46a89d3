import ArgumentParser
import FoundationEssentials
import MILNCE
import Torch

/// `milnce bench`: throughput and memory figures.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure the model, a training step or the data loader.",
        subcommands: [BenchModel.self, BenchTrain.self, BenchLoader.self]
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
        abstract: "Clips per second of a full training step (copy, forward, loss, backward, Adam)."
    )
    @OptionGroup var options: NetworkBenchmarkOptions

    func run() throws {
        let c = try options.configuration()
        print(options.header(c))
        printFigures(try ModelBenchmark(c).runTrainingStep())
    }
}
