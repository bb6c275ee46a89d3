import ArgumentParser
import FoundationEssentials
import MILNCE

/// `milnce inspect FILE`: what a checkpoint holds.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Print what a checkpoint holds: layout, keys, dtypes, shapes, parameter count.",
        discussion: """
        Reads any model file: the released s3d_howto100m.pth (zip or legacy format), the reference's \
        epochNNNN.pth.tar training checkpoints, ours, a bare state_dict, or a .safetensors file.
        """
    )

    @Argument(help: "The checkpoint file.")
    var file: String

    func run() throws {
        let checkpoint = try ModelCheckpoint.load(from: URL(fileURLWithPath: file))
        print(checkpoint.summary(path: file))
    }
}
