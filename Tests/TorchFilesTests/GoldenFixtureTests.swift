import Foundation
import Testing
import TestSupport
@testable import TorchFiles

/// The golden fixture's checkpoints (`../shared/golden/s3d-plain`), written by the reference
/// PyTorch system, load with every key, dtype, shape and value right.
@Suite("The golden fixture's checkpoints")
struct GoldenFixtureTests {
    /// For each file given, prints every tensor's dtype, shape, CRC-32 of its contiguous bytes,
    /// sum, sum of magnitudes and first element bit patterns, in the file's order.
    static let summaryScript = #"""
import json, sys, zlib
import torch

def bits(t):
    t = t.detach().contiguous().reshape(-1)[:4]
    if t.dtype == torch.float32: t = t.view(torch.int32)
    return t.tolist()

def summary(t):
    flat = t.detach().contiguous().reshape(-1)
    return {"dtype": str(t.dtype).replace("torch.", ""), "shape": list(t.shape),
            "crc32": zlib.crc32(flat.view(torch.uint8).numpy().tobytes()),
            "sum": flat.double().sum().item(), "magnitude": flat.double().abs().sum().item(), "first": bits(t)}

result = []
for path in sys.argv[1:]:
    value = torch.load(path, weights_only=True)
    items = value.items() if isinstance(value, dict) else [("", value)]
    result.append([[name, summary(t)] for name, t in items])
print(json.dumps(result))
"""#

    /// Compares Swift's tensors with Python's summaries, returning the differences.
    private func differences(_ tensors: [(name: String, tensor: TensorRecord)], _ summaries: [[Any]]) throws -> [String] {
        var problems: [String] = []
        guard tensors.count == summaries.count else { return ["\(tensors.count) tensors vs Python's \(summaries.count)"] }
        for ((name, tensor), entry) in zip(tensors, summaries) {
            guard entry.count == 2, let pythonName = entry[0] as? String, let summary = entry[1] as? [String: Any] else {
                problems.append("bad summary for \(name)")
                continue
            }
            if name != pythonName { problems.append("name \(name) vs \(pythonName)") }
            if tensor.elementType.rawValue != summary["dtype"] as? String { problems.append("\(name): dtype \(tensor.elementType)") }
            if tensor.shape != (summary["shape"] as? [Int]) { problems.append("\(name): shape \(tensor.shape)") }
            let bytes = try tensor.contiguousBytes()
            if Int(CRC32.checksum(bytes)) != summary["crc32"] as? Int { problems.append("\(name): CRC-32 of the elements differs") }
            let sum = try self.sum(tensor)
            let magnitude = summary["magnitude"] as? Double ?? 0
            if let expected = summary["sum"] as? Double, abs(sum - expected) > 1e-9 * max(magnitude, 1) {
                problems.append("\(name): sum \(sum) vs \(expected)")
            }
            let first = try TensorRecord(storage: tensor.storage, shape: [min(4, tensor.elementCount)],
                                         strides: [1], storageOffset: tensor.storageOffset)
            if try elementBits(first) != (summary["first"] as? [Int]) {
                problems.append("\(name): first elements differ")
            }
        }
        return problems
    }

    /// The sum of the elements of a float32 or int64 tensor, in `Double`.
    private func sum(_ tensor: TensorRecord) throws -> Double {
        let bytes = try tensor.contiguousBytes()
        return bytes.withUnsafeBytes { buffer in
            var total = 0.0
            if tensor.elementType == .float32 {
                for value in buffer.bindMemory(to: Float.self) { total += Double(value) }
            } else {
                for value in buffer.bindMemory(to: Int64.self) { total += Double(value) }
            }
            return total
        }
    }

    @Test("state_dict.pth matches keys.txt; it, io.pth and word2vec.pth hold the values Python reads")
    func goldenCheckpoints() throws {
        let folder = try requireGoldenFixture()
        try requirePython()
        let stateDictURL = folder.appendingPathComponent("state_dict.pth")
        let ioURL = folder.appendingPathComponent("io.pth")
        let word2vecURL = folder.appendingPathComponent("word2vec.pth")

        let clock = ContinuousClock()
        let start = clock.now
        let stateDictValue = try TorchFile.load(contentsOf: stateDictURL)
        print("state_dict.pth (\(try Data(contentsOf: stateDictURL).count) bytes) loaded in \(clock.now - start)")
        let stateDict = try #require(stateDictValue.asTensorDictionary)
        guard case .dict(_, ordered: true) = stateDictValue else {
            Issue.record("state_dict.pth does not hold an OrderedDict")
            return
        }

        // keys.txt: "name dtype AxBxC" (or "scalar"), one tensor a line, in state_dict order.
        let lines = try String(contentsOf: folder.appendingPathComponent("keys.txt"), encoding: .utf8)
            .split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        #expect(stateDict.count == lines.count)
        for ((name, tensor), line) in zip(stateDict, lines) where line.count == 3 {
            let shape = line[2] == "scalar" ? [] : line[2].split(separator: "x").compactMap { Int($0) }
            #expect(name == line[0] && tensor.elementType.rawValue == line[1] && tensor.shape == shape,
                    "\(name) \(tensor.elementType) \(tensor.shape) vs keys.txt \(line)")
        }

        let io = try #require(try TorchFile.load(contentsOf: ioURL).asTensorDictionary)
        let word2vec = try #require(try TorchFile.load(contentsOf: word2vecURL).asTensor)
        let summaries = try #require(try pythonJSON(GoldenFixtureTests.summaryScript,
                                                    arguments: [stateDictURL.path, ioURL.path, word2vecURL.path]) as? [[[Any]]])
        #expect(summaries.count == 3)
        for (tensors, (file, summary)) in zip([stateDict, io, [("", word2vec)]], zip(["state_dict", "io", "word2vec"], summaries)) {
            let problems = try differences(tensors, summary)
            #expect(problems.isEmpty, "\(file).pth: \(problems.count) differences, first: \(problems.prefix(5))")
        }
    }
}
