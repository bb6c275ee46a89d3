import ArgumentParser
import FoundationEssentials
import MILNCE
import Torch

/// `milnce`: train and evaluate MIL-NCE video-text models.
@main
struct MILNCECommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "milnce",
        abstract: "Learn video and text representations from instructional videos with MIL-NCE (S3D-G + word2vec).",
        discussion: "Run `milnce <command> --help` for each command's options.",
        version: "0.1.0 (libtorch \(Runtime.torchVersion))",
        subcommands: [DemoCommand.self, SynthCommand.self, PrepareCommand.self, TrainCommand.self, EvalCommand.self, EmbedCommand.self, RetrievalCommand.self,
                      ClipCommand.self, InspectCommand.self, Word2VecCommand.self, BenchCommand.self, CheckCommand.self]
    )
}

/// Options shared by commands that run the network.
struct DeviceOptions: ParsableArguments {
    @Option(help: "Device: cpu, cuda or cuda:N (default: cuda:0 when a GPU is present, else cpu).")
    var device: String?

    @Option(help: "CPU threads for libtorch (default: all cores).")
    var threads: Int?

    @Option(help: ArgumentHelp("1: allow TensorFloat-32 in CUDA convolutions and matrix products; 0: forbid it "
                               + "(default: PyTorch's, TF32 convolutions on and matrix products off).", valueName: "0|1"))
    var tf32: Int?

    func validate() throws {
        if let device, Device(device) == nil {
            throw ValidationError("--device must be cpu, cuda or cuda:N, got '\(device)'")
        }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        if let tf32, tf32 != 0 && tf32 != 1 { throw ValidationError("--tf32 must be 0 or 1, got \(tf32)") }
    }

    /// Applies `--tf32` to this process (nothing when absent: PyTorch's defaults stay).
    func applyTF32() {
        Runtime.setTF32(tf32.map { $0 == 1 })
    }

    /// The device to use; fails clearly when CUDA is asked for and absent. Applies `--threads` and `--tf32`.
    func resolve() throws -> Device {
        if let threads { Runtime.threadCount = threads }
        applyTF32()
        guard let device else { return .best }
        let chosen = Device(device)!
        if case .cuda(let index) = chosen, index >= Runtime.cudaDeviceCount {
            throw ValidationError("--device \(device): this machine has \(Runtime.cudaDeviceCount) CUDA device(s)")
        }
        return chosen
    }
}
