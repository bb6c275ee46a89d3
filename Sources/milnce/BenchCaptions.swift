import ArgumentParser
import FoundationEssentials
import MILNCE
import MILNCEBenchmarks
import POSIX

/// `milnce bench captions`: how long keeping the caption index current takes.
struct BenchCaptions: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "captions",
        abstract: "Time the caption index's check that its caption files are unchanged, and its update.",
        discussion: """
        Writes --videos caption files (10 captions each) into a folder under --folder (default: the system's \
        temporary folder; removed afterwards), builds their index, times the up-to-date check (every caption file \
        stat'ed) with each --threads count, then rewrites 1% of the files and times the update. Run it with \
        --folder on the file system that holds your captions (a cluster file system answers stat far slower than \
        a local disk) to see what training's start will cost there.
        """
    )

    @Option(help: "Caption files to generate.")
    var videos = 100_000

    @Option(help: "The folder to generate them in (a new subfolder is made and removed).")
    var folder: String?

    @Option(help: "Thread counts of the check, comma-separated.")
    var threads = "1,8,32"

    func validate() throws {
        guard videos >= 1 else { throw ValidationError("--videos must be at least 1") }
        guard threadCounts.count > 0, threadCounts.allSatisfy({ $0 >= 1 }) else {
            throw ValidationError("--threads must list positive numbers, like 1,8,32")
        }
    }

    private var threadCounts: [Int] { threads.split(separator: ",").compactMap { Int($0.trimmingWhitespace()) } }

    func run() throws {
        let parent = URL(fileURLWithPath: folder ?? FileManager.default.temporaryDirectory.path)
        let root = parent.appendingPathComponent("milnce-bench-captions-\(ProcessInfo.processInfo.processIdentifier)")
        let captions = root.appendingPathComponent("captions")
        try FileManager.default.createDirectory(at: captions, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let progress = ProgressDisplay("writing caption files", total: videos)
        var paths: [String] = []
        for video in 0..<videos {
            let id = String(cFormat: "v%08ld", video)
            paths.append(id + ".mp4")
            let text = "start,end,text\n" + (0..<10).map { "\($0 * 4).5,\($0 * 4 + 3),step \($0) of video \(video)\n" }.joined()
            try Data(text.utf8).write(to: captions.appendingPathComponent(id + ".csv"))
            if video % 1000 == 0 { progress.update(video) }
        }
        progress.finish()
        let result = try CaptionIndex.benchmarkFreshness(
            trainList: TrainList(videoPaths: paths), captionRoot: captions.path,
            indexPath: root.appendingPathComponent("captions.index").path, threadCounts: threadCounts,
            changedFiles: max(1, videos / 100))
        print("caption files in \(captions.path)")
        print(result)
    }
}
