import Foundation
import MILNCE
import Testing
import TestSupport
@testable import milnce

/// A shortened `milnce demo`: the pieces fit end to end, the loss falls and zero-shot retrieval on
/// the held-out set beats chance.
@Suite struct DemoCommandTests {
    @Test func aShortDemoLearnsAndBeatsChance() throws {
        let folder = try TestEnvironment.temporaryDirectory("demo")
        defer { try? FileManager.default.removeItem(at: folder) }
        let demo = try DemoCommand.parse(["--output", folder.path, "--videos", "96", "--eval_videos", "16",
                                          "--epochs", "8", "--eval_every", "4", "--threads", "2"])
        try demo.run()

        let results = try #require(try JSONSerialization.jsonObject(
            with: Data(contentsOf: folder.appendingPathComponent("results.json"))) as? [String: Any])
        let metrics = try #require(results["metrics"] as? [String: Double])
        let chance = try #require(results["chance"] as? [String: Double])
        print("short demo: \(metrics), chance \(chance)")
        #expect(metrics["evaluated"] == 64)
        #expect(try #require(metrics["MR"]) < 0.75 * (try #require(chance["MR"])))
        #expect(try #require(metrics["R10"]) > 1.5 * (try #require(chance["R10"])))
        #expect(try #require(metrics["R1"]) >= (try #require(chance["R1"])))

        // The reference's log lines: the loss of the last epoch is below that of the first.
        let log = try String(contentsOf: folder.appendingPathComponent("log/demo.txt"), encoding: .utf8)
        var losses: [Int: [Double]] = [:]
        for line in log.split(separator: "\n") where line.hasPrefix("Epoch ") && line.contains("Training loss: ") {
            let epoch = Int(line.dropFirst(6).prefix { $0.isNumber })!
            let value = Double(line.split(separator: "Training loss: ")[1].prefix { $0 != "," })!
            losses[epoch, default: []].append(value)
        }
        let mean = { (values: [Double]) in values.reduce(0, +) / Double(values.count) }
        let first = mean(try #require(losses[1])), last = mean(try #require(losses[8]))
        print("mean loss: epoch 1 \(first), epoch 8 \(last)")
        #expect(last < 0.95 * first)

        // What the demo promises to leave behind.
        for file in ["checkpoint/demo/epoch0008.pth.tar", "log/demo/training.png", "data/dataset.json"] {
            #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent(file).path), "\(file)")
        }
        let events = try FileManager.default.contentsOfDirectory(atPath: folder.appendingPathComponent("log/demo").path)
        #expect(events.contains { $0.hasPrefix("events.out.tfevents.") })
    }
}
