import Foundation
import Testing
import TestSupport
@testable import TorchFiles

/// Checkpoints written in Swift, loaded by Python with `torch.load(weights_only=True)` and by
/// Swift again.
@Suite("Saving checkpoints that PyTorch loads")
struct TorchFileSaveTests {
    /// Loads each file given as argument with `torch.load(weights_only=True)` and prints the
    /// descriptions of what it loaded, in order. Each file is also loaded the two ways that rely
    /// on the archive's layout being exactly miniz's (storage offsets computed rather than read
    /// from the zip directory, checked by PyTorch's own debug assertions), except files with
    /// ZIP64 records forced on small entries, which miniz never writes.
    static let loaderScript = pythonDescribe + "\n" + #"""
import torch
import os
from torch.utils.serialization import config
for path in [p for p in sys.argv[1:] if "zip64" not in p]:
    os.environ["TORCH_SERIALIZATION_DEBUG"] = "1"
    torch.load(path, weights_only=True)
    config.load.calculate_storage_offsets = True
    torch.load(path, weights_only=True, mmap=True)
    config.load.calculate_storage_offsets = False
    del os.environ["TORCH_SERIALIZATION_DEBUG"]
print(json.dumps([describe(torch.load(path, weights_only=True)) for path in sys.argv[1:]]))
"""#

    /// A value with everything a checkpoint may hold.
    static func sampleValue() throws -> PickleValue {
        var generator = SeededGenerator(seed: 42)
        let weight = try randomTensor(.float32, shape: [3, 2, 3], using: &generator)
        let tracked = try TensorRecord(contiguousBytes: [7, 0, 0, 0, 0, 0, 0, 0], elementType: .int64, shape: [])
        let stateDict = PickleValue.stateDict([
            ("conv.weight", weight),
            ("conv.bias", try randomTensor(.float32, shape: [3], using: &generator)),
            ("bn.num_batches_tracked", tracked),
        ])
        let dtypes = PickleValue.dict(try ElementType.allCases.map {
            (key: .string($0.rawValue), value: .tensor(try randomTensor($0, shape: [2, 5], using: &generator)))
        })
        let base = try randomTensor(.float32, shape: [4, 6], using: &generator)
        let transposed = try TensorRecord(storage: base.storage, shape: [6, 4], strides: [1, 6])
        let sliced = try TensorRecord(storage: base.storage, shape: [2, 3], strides: [6, 1], storageOffset: 8)
        let parameter = try randomTensor(.float32, shape: [3], using: &generator).with(requiresGrad: true, isParameter: true)
        let ints: [PickleValue] = [0, 1, -1, 255, 256, 65535, 65536, .int(Int(Int32.max)), .int(Int(Int32.min)),
                                   .int(Int(Int32.max) + 1), .int(Int(Int32.min) - 1), .int(Int.max), .int(Int.min)]
        let floats: [PickleValue] = [1.5, -0.0, .float(.infinity), .float(-.infinity), .float(.leastNonzeroMagnitude),
                                     .float(.nan), .float(1.0 / 3.0)]
        let entries: [(key: PickleValue, value: PickleValue)] = [
            (key: "state_dict", value: stateDict),
            (key: "dtypes", value: dtypes),
            (key: "values", value: [
                "ints": .list(ints),
                "big ints": .list([.bigInt(BigInteger.bytes(decimal: "9223372036854775808") ?? []),
                                   .bigInt(BigInteger.bytes(decimal: "-1267650600228229401496703205376") ?? [])]),
                "floats": .tuple(floats),
                "strings": ["", "plain", "héllo wörld ✓ 日本語 🎉", "line\nbreak \"quoted\" \\ back"],
                "none": nil, "true": true, "false": false,
                "bytes": .bytes([0, 255, 97, 98, 128]), "empty bytes": .bytes([]),
                "tuples": .tuple([.tuple([]), .tuple([1]), .tuple([1, 2]), .tuple([1, 2, 3]), .tuple([1, 2, 3, 4])]),
                "long list": .list((0 ..< 2500).map { .int($0) }),
                "nested": [[["a": [nil, .tuple([true, false])]]]],
                .int(3): "an int key", .tuple([1, "t"]): "a tuple key",
                "empty dict": [:], "ordered": .dict([(key: "z", value: 1), (key: "a", value: 2)], ordered: true),
            ]),
            (key: "shared", value: .tensor(base)),
            (key: "transposed", value: .tensor(transposed)),
            (key: "sliced", value: .tensor(sliced)),
            (key: "zero-d", value: .tensor(try randomTensor(.float64, shape: [], using: &generator))),
            (key: "empty", value: .tensor(try randomTensor(.float32, shape: [0, 3], using: &generator))),
            (key: "parameter", value: .tensor(parameter)),
            (key: "requires grad", value: .tensor(try randomTensor(.float32, shape: [2], using: &generator)
                    .with(requiresGrad: true, isParameter: false))),
        ]
        return .dict(entries)
    }

    @Test("what Swift saves, torch.load(weights_only=True) loads as intended, also with ZIP64 records")
    func pythonLoadsWhatSwiftSaves() throws {
        try requirePython()
        let folder = try TestEnvironment.temporaryDirectory("torchfiles-save")
        defer { try? FileManager.default.removeItem(at: folder) }
        let value = try TorchFileSaveTests.sampleValue()
        let plain = folder.appendingPathComponent("swift.pth")
        let zip64 = folder.appendingPathComponent("swift-zip64.pth")
        try TorchFile.save(value, to: plain)
        try TorchFile.save(value, to: zip64, alwaysZip64: true)

        let loaded = try #require(try pythonJSON(TorchFileSaveTests.loaderScript, arguments: [plain.path, zip64.path]) as? [Any])
        #expect(loaded.count == 2)
        for (description, name) in zip(loaded, ["plain", "ZIP64"]) {
            expectMatch(value, description, name)
        }
    }

    @Test("a saved value loads back in Swift unchanged")
    func roundTrip() throws {
        let folder = try TestEnvironment.temporaryDirectory("torchfiles-roundtrip")
        defer { try? FileManager.default.removeItem(at: folder) }
        let value = try TorchFileSaveTests.sampleValue()
        let file = folder.appendingPathComponent("model.pth")
        try TorchFile.save(value, to: file)
        let loaded = try TorchFile.load(contentsOf: file)
        #expect(loaded == value)
        // Views of one storage still share one storage.
        let shared = try #require(loaded["shared"]?.asTensor)
        #expect(loaded["transposed"]?.asTensor?.storage === shared.storage)
        #expect(loaded["sliced"]?.asTensor?.storageOffset == 8)
        // Nothing but the file is left in the folder: the temporary file was renamed into place.
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["model.pth"])
    }

    @Test("the archive is laid out as torch.save lays it out")
    func archiveLayout() throws {
        let folder = try TestEnvironment.temporaryDirectory("torchfiles-layout")
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("weights.pth")
        var generator = SeededGenerator(seed: 1)
        try TorchFile.save(.stateDict([("a", try randomTensor(.float32, shape: [5], using: &generator)),
                                       ("b", try randomTensor(.int64, shape: [0], using: &generator))]), to: file)
        let data = try Data(contentsOf: file)
        try data.withUnsafeBytes { bytes in
            let archive = try ZipArchiveReader(bytes)
            #expect(archive.entries.map(\.name) == ["weights/data.pkl", "weights/.format_version", "weights/.storage_alignment",
                                                    "weights/byteorder", "weights/data/0", "weights/data/1", "weights/version",
                                                    "weights/.data/serialization_id"])
            let storage = try #require(archive.entry(named: "weights/data/0"))
            #expect(storage.dataOffset % 64 == 0)
            #expect(storage.size == 20)
            #expect(String(decoding: try archive.contents(of: try #require(archive.entry(named: "weights/byteorder"))),
                           as: UTF8.self) == "little")
        }
    }

    @Test("values that Python could not load are refused before anything is written")
    func refusesInexpressibleValues() throws {
        let folder = try TestEnvironment.temporaryDirectory("torchfiles-refuse")
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("bad.pth")
        var deep: PickleValue = 1
        for _ in 0 ..< 300 { deep = [deep] }
        let storage = try Storage(bytes: [0, 0, 0, 0], elementType: .float32)
        let outside = TensorRecord(unchecked: storage, elementType: .float32, shape: [2], strides: [1], storageOffset: 0,
                                   requiresGrad: false, isParameter: false)
        for bad: PickleValue in [[.list([1]): 2], deep, .tensor(outside)] {
            let error = try #require(throws: TorchFileError.self) { try TorchFile.save(bad, to: file) }
            #expect(error.path == file.path)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).isEmpty)
        #expect(throws: TorchFileError.self) { try TensorRecord(storage: storage, shape: [2]) }
        #expect(throws: TorchFileError.self) { try TensorRecord(contiguousBytes: [1, 2, 3], elementType: .float32, shape: [1]) }
    }

    @Test("saving replaces an existing file, and a failed save leaves it untouched")
    func atomicReplacement() throws {
        let folder = try TestEnvironment.temporaryDirectory("torchfiles-atomic")
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("model.pth")
        try TorchFile.save(["version": 1], to: file)
        try TorchFile.save(["version": 2], to: file)
        #expect(try TorchFile.load(contentsOf: file)["version"] == 2)
        #expect(throws: TorchFileError.self) { try TorchFile.save([[1]: 1], to: file) }
        #expect(try TorchFile.load(contentsOf: file)["version"] == 2)
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["model.pth"])
        let missingFolder = folder.appendingPathComponent("missing/model.pth")
        let error = try #require(throws: TorchFileError.self) { try TorchFile.save(1, to: missingFolder) }
        #expect(error.path == missingFolder.path)
    }
}
