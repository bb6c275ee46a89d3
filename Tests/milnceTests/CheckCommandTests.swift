import ArgumentParser
import Foundation
import MILNCE
import Testing
import TestSupport
import Torch
import TorchFiles
@testable import milnce

/// `milnce check` as a user runs it: the binary on the public golden fixture on the CPU, and on
/// copies of it with some expected tensors changed. What passes or fails is decided by the
/// fixture's own tensors, read here with the file reader, never by the command under test.
@Suite(.serialized) struct CheckCommandTests {
    /// The golden fixture (`MILNCE_GOLDEN_DIR`, else `../shared/golden/s3d-plain`); skipped when
    /// absent, a failure under CI.
    static func fixtureFolder() throws -> URL {
        let environment = ProcessInfo.processInfo.environment
        let folder = environment["MILNCE_GOLDEN_DIR"].flatMap { $0.isEmpty ? nil : URL(fileURLWithPath: $0) }
            ?? TestEnvironment.sharedDirectory.appendingPathComponent("golden/s3d-plain")
        try TestEnvironment.requireFixture(folder.appendingPathComponent("meta.json"), what: "the golden fixture")
        return folder
    }

    /// The names of the fixture's expected tensors (every tensor of io.pth but the inputs).
    static func expectedNames(_ folder: URL) throws -> [String] {
        try loadNamedTensors(from: folder.appendingPathComponent("io.pth")).map(\.name).filter { $0 != "video" && $0 != "text" }
    }

    /// The JSON report's lines by name.
    static func reportLines(_ url: URL) throws -> [String: [String: Any]] {
        let object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let lines = try #require(object["lines"] as? [[String: Any]])
        return Dictionary(lines.map { ($0["name"] as? String ?? "", $0) }, uniquingKeysWith: { a, _ in a })
    }

    @Test func thePublicFixturePassesOnTheCPU() throws {
        let folder = try Self.fixtureFolder()
        let scratch = try TestEnvironment.temporaryDirectory("check")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let json = scratch.appendingPathComponent("report.json")
        let result = try runProcess(try milnceExecutable(), ["check", "--golden", folder.path, "--device", "cpu", "--json", json.path])
        let output = result.standardOutput + result.standardError
        #expect(result.status == 0, "\(output)")
        // PyTorch's defaults, read back from libtorch by the command.
        #expect(output.contains("on cpu, fp32, TF32 convolutions on, matrix products off"), "\(output)")

        let names = try Self.expectedNames(folder)
        let lines = try Self.reportLines(json)
        #expect(Set(lines.keys) == Set(names), "every expected tensor of the fixture is compared")
        for name in names {
            let line = try #require(lines[name])
            let error = try #require(line["error"] as? Double, "\(name): \(line)")
            let tolerance = try #require(line["tolerance"] as? Double, "\(name) is judged in fp32")
            #expect(error <= tolerance, "\(name)")
            if name.hasPrefix("eval_") { #expect(tolerance == 1e-5) }
            #expect(output.contains(name), "\(name) is printed")
        }
        #expect(output.contains("PASS: \(names.count) of \(names.count) judged tensors within tolerance"), "\(output)")
        #expect(!output.contains("FAIL"))
    }

    /// A copy of the fixture whose io.pth has three expected tensors moved beyond their tolerances.
    @Test func aPerturbedFixtureFailsAndNamesTheTensors() throws {
        let folder = try Self.fixtureFolder()
        let copy = try TestEnvironment.temporaryDirectory("check-perturbed")
        defer { try? FileManager.default.removeItem(at: copy) }
        for name in ["state_dict.pth", "word2vec.pth", "dict.npy", "meta.json"] {
            try FileManager.default.createSymbolicLink(at: copy.appendingPathComponent(name),
                                                       withDestinationURL: folder.appendingPathComponent(name))
        }
        let changes: [String: (Tensor) throws -> Tensor] = [
            "eval_video_embd": { try $0 * 1.001 },            // relative error 1e-3 > 1e-5
            "grad.fc.weight": { try $0 * 1.5 },               // 0.5 > 1e-1
            "train_loss": { try $0 + 0.01 },                  // 1e-2 > 5e-4
        ]
        let records = try loadNamedTensors(from: folder.appendingPathComponent("io.pth")).map { name, tensor in
            (name: name, tensor: try (changes[name]?(tensor) ?? tensor).record())
        }
        try TorchFile.save(.stateDict(records), to: copy.appendingPathComponent("io.pth"))

        let json = copy.appendingPathComponent("report.json")
        let result = try runProcess(try milnceExecutable(),
                                    ["check", "--golden", copy.path, "--device", "cpu", "--tf32", "0", "--json", json.path])
        let output = result.standardOutput + result.standardError
        #expect(result.status == 1, "\(output)")
        #expect(output.contains("TF32 convolutions off, matrix products off"), "--tf32 0 is applied: \(output)")
        let lines = try Self.reportLines(json)
        for name in try Self.expectedNames(folder) {
            let line = try #require(lines[name])
            let error = try #require(line["error"] as? Double), tolerance = try #require(line["tolerance"] as? Double)
            #expect((error <= tolerance) == (changes[name] == nil), "\(name): error \(error), tolerance \(tolerance)")
            let printed = try #require(output.split(separator: "\n").first { $0.contains(" \(name) ") || $0.contains(" \(name)  ") })
            #expect(printed.hasSuffix(changes[name] == nil ? "PASS" : "FAIL"), "\(printed)")
        }
        let verdict = try #require(output.split(separator: "\n").last { $0.hasPrefix("FAIL:") }, "\(output)")
        for name in changes.keys { #expect(verdict.contains(name), "\(verdict)") }
    }

    @Test func anUnusableFixtureIsExplained() throws {
        let folder = try Self.fixtureFolder()
        let empty = try TestEnvironment.temporaryDirectory("check-empty")
        defer { try? FileManager.default.removeItem(at: empty) }
        var result = try runProcess(try milnceExecutable(), ["check", "--golden", empty.path, "--device", "cpu"])
        #expect(result.status == 2)
        #expect(result.standardError.contains("has no meta.json"), "\(result.standardError)")

        // meta.json that disagrees with io.pth.
        for name in ["state_dict.pth", "word2vec.pth", "io.pth"] {
            try FileManager.default.createSymbolicLink(at: empty.appendingPathComponent(name),
                                                       withDestinationURL: folder.appendingPathComponent(name))
        }
        var meta = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("meta.json")))
                                as? [String: Any])
        meta["batch"] = (meta["batch"] as? Int ?? 0) + 1
        try JSONSerialization.data(withJSONObject: meta).write(to: empty.appendingPathComponent("meta.json"))
        result = try runProcess(try milnceExecutable(), ["check", "--golden", empty.path, "--device", "cpu"])
        #expect(result.status == 2)
        #expect(result.standardError.contains("io.pth's video has shape"), "\(result.standardError)")
    }

    @Test func tf32IsAnOptionOfEveryCommandThatRunsTheNetwork() throws {
        #expect(try TrainCommand.parse(["--tf32", "0"]).deviceOptions.tf32 == 0)
        let evaluationInputs = ["--eval_video_root", "videos", "--pretrain_cnn_path", "model.pth"]
        #expect(try EvalYouCook.parse(evaluationInputs + ["--tf32", "1"]).device.tf32 == 1)
        #expect(try EvalHMDB.parse(evaluationInputs + ["--tf32", "0"]).device.tf32 == 0)
        let embedInputs = ["input", "--output", "out.npy", "--pretrain_cnn_path", "model.pth"]
        #expect(try EmbedVideos.parse(embedInputs + ["--tf32", "0"]).device.tf32 == 0)
        #expect(try EmbedSentences.parse(embedInputs + ["--tf32", "1"]).device.tf32 == 1)
        #expect(try BenchTrain.parse(["--tf32", "0"]).options.device.tf32 == 0)
        #expect(try BenchModel.parse(["--tf32", "1"]).options.device.tf32 == 1)
        #expect(try CheckCommand.parse(["--golden", "x", "--tf32", "0"]).device.tf32 == 0)
        #expect(try TrainCommand.parse([]).deviceOptions.tf32 == nil, "absent: PyTorch's defaults")
        #expect(throws: (any Error).self) { try TrainCommand.parse(["--tf32", "2"]) }
        #expect(throws: (any Error).self) { try CheckCommand.parse(["--golden", "x", "--precision", "fp16"]) }
    }
}
