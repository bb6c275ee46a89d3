import ArgumentParser
import FoundationEssentials
import MILNCE
import POSIX
import Torch

/// `milnce check`: runs a golden fixture through this build on a device, to trust a new machine.
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check this build on this machine against a golden fixture of the reference PyTorch implementation.",
        discussion: """
        Runs the fixture's model (state_dict.pth, word2vec.pth) on its input (io.pth) in evaluation mode \
        (mixed_5c features, video and text embeddings) and for one training-mode forward and backward \
        (embeddings, MIL-NCE loss, the gradients the fixture records, the BatchNorm buffers after it), and \
        prints each tensor's error against the fixture beside its tolerance, PASS or FAIL per line and \
        overall. Every size comes from the fixture's meta.json. Exit status 0 when every tensor passes, 1 \
        when any misses, 2 when the fixture cannot be used. Needs no Python.

        \(GoldenCheck.Tolerances.justification)

        On a new GPU machine: `milnce check --golden DIR --device cuda --tf32 0` (the strict fp32 check), \
        then `--precision bf16` (the precision of fast training).
        """
    )

    @Option(help: "The golden fixture folder (meta.json, state_dict.pth, word2vec.pth, io.pth).")
    var golden: String

    @Option(help: "fp32, or bf16 (autocast, as training runs it).")
    var precision = "fp32"

    @Option(help: "Also write the report as JSON to this file.")
    var json: String?

    @OptionGroup var device: DeviceOptions

    func validate() throws {
        guard Precision(rawValue: precision) != nil else {
            throw ValidationError("--precision must be fp32 or bf16, got '\(precision)'")
        }
    }

    func run() throws {
        let device = try self.device.resolve()
        let fixture: GoldenFixture
        let report: GoldenCheck.Report
        do {
            fixture = try GoldenFixture(contentsOf: URL(fileURLWithPath: golden))
            let meta = fixture.meta
            print("milnce check: golden fixture \(golden) (batch \(meta.batch), \(meta.frames)x\(meta.size)x\(meta.size), "
                  + "\(meta.numCandidates) captions per clip, \(meta.vocab) words\(meta.torch.map { ", made by PyTorch \($0)" } ?? ""))")
            print("on \(device), \(precision), \(Runtime.tf32Description), libtorch \(Runtime.torchVersion), "
                  + "\(Runtime.threadCount) CPU threads")
            report = try GoldenCheck(fixture: fixture, device: device, precision: Precision(rawValue: precision)!).run()
        } catch let error as GoldenFixtureError {
            FileOutput.standardError.print("milnce check: \(error)\n")
            throw ExitCode(2)
        }
        printTable(report)
        if let json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf",
                                                                          nan: "nan")
            try encoder.encode(report).write(to: URL(fileURLWithPath: json))
        }
        if !report.passed { throw ExitCode(1) }
    }

    private func printTable(_ report: GoldenCheck.Report) {
        func pad(_ text: String, _ width: Int) -> String { text + String(repeating: " ", count: max(0, width - text.count)) }
        func number(_ value: Double) -> String { value.isFinite ? String(cFormat: "%10.2e", value) : "  not finite" }
        print("")
        print(pad("part", 20) + pad("tensor", 52) + "rel. error   tolerance  result")
        for line in report.lines {
            let name = line.part == .trainingLoss ? line.name + " (absolute)" : line.name
            let result = line.isJudged ? (line.passed ? "PASS" : "FAIL") : (line.passed ? "finite (not judged)" : "FAIL (not finite)")
            print(pad(line.part.rawValue, 20) + pad(name, 52) + number(line.error) + "  "
                  + (line.tolerance.map { number($0) } ?? "         -") + "  " + result)
        }
        print("")
        if let reason = report.unjudgedReason {
            print("note: training-mode tensors are reported, not judged, in this precision: \(reason).")
        }
        let judged = report.lines.filter(\.isJudged)
        let failed = report.lines.filter { !$0.passed }
        let verdict = report.passed ? "PASS" : "FAIL"
        print("\(verdict): \(judged.filter(\.passed).count) of \(judged.count) judged tensors within tolerance"
              + String(cFormat: " (largest error / tolerance %.3g)", report.largestRatio)
              + (judged.count < report.lines.count ? "; \(report.lines.count - judged.count) reported only" : "")
              + (failed.isEmpty ? "" : "; failed: " + failed.map(\.name).joined(separator: ", ")))
    }
}
