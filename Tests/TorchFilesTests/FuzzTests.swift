import Foundation
import Testing
import TestSupport
@testable import TorchFiles

/// Thousands of damaged copies of real files (byte flips, insertions, deletions, truncation at
/// every length, lying length fields) must each load or throw `TorchFileError`: never crash,
/// never trap, never allocate what the file could not hold. Seeded, so failures reproduce.
///
/// The copies are made here and loaded by a `MemoryProbe` process of their own, whose peak
/// memory is theirs alone (not that of the tests running beside them), and whose crash fails the
/// test with its output instead of ending the test run.
@Suite("Damaged and hostile files")
struct FuzzTests {
    /// The file formats, each with its loader.
    enum Format: String {
        case checkpoint, safetensors, numpy

        /// The format's number in a `MemoryProbe` corpus.
        var corpusCode: UInt8 {
            switch self {
            case .checkpoint: 0
            case .safetensors: 1
            case .numpy: 2
            }
        }

        func load(_ bytes: [UInt8]) throws {
            let data = Data(bytes)
            switch self {
            case .checkpoint: _ = try TorchFile.load(data: data)
            case .safetensors: _ = try Safetensors.load(data: data)
            case .numpy: _ = try NumPyFile.load(data: data)
            }
        }
    }

    /// A seeded source of damage.
    struct Mutator {
        var generator: SeededGenerator

        /// Values that length fields lie with.
        private func interestingValues(fileLength: Int) -> [UInt64] {
            [0, 1, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0xFFFF, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFE, 0xFFFF_FFFF,
             1 << 40, UInt64(Int64.max), UInt64.max, UInt64.max - 7, UInt64(fileLength), UInt64(fileLength + 1),
             UInt64(fileLength * 2), UInt64(max(fileLength - 1, 0))]
        }

        /// `bytes` with one random kind of damage.
        mutating func mutate(_ bytes: [UInt8]) -> [UInt8] {
            var result = bytes
            guard !bytes.isEmpty else { return [UInt8.random(in: 0 ... 255, using: &generator)] }
            switch Int.random(in: 0 ..< 5, using: &generator) {
            case 0: // byte flips
                for _ in 0 ..< Int.random(in: 1 ... 4, using: &generator) {
                    let position = Int.random(in: 0 ..< result.count, using: &generator)
                    if Bool.random(using: &generator) {
                        result[position] ^= UInt8(1) << UInt8.random(in: 0 ..< 8, using: &generator)
                    } else {
                        result[position] = UInt8.random(in: 0 ... 255, using: &generator)
                    }
                }
            case 1: // insertion
                let position = Int.random(in: 0 ... result.count, using: &generator)
                result.insert(contentsOf: randomBytes(Int.random(in: 1 ... 16, using: &generator), using: &generator),
                              at: position)
            case 2: // deletion
                let position = Int.random(in: 0 ..< result.count, using: &generator)
                let count = min(Int.random(in: 1 ... 16, using: &generator), result.count - position)
                result.removeSubrange(position ..< position + count)
            case 3: // truncation
                result.removeSubrange(Int.random(in: 0 ..< result.count, using: &generator)...)
            default: // a lying length field of 1, 2, 4 or 8 bytes, either byte order
                let width = [1, 2, 4, 8].randomElement(using: &generator) ?? 4
                guard result.count >= width else { return result }
                let position = Int.random(in: 0 ... result.count - width, using: &generator)
                var value = interestingValues(fileLength: bytes.count).randomElement(using: &generator) ?? 0
                if Bool.random(using: &generator) { value = value.byteSwapped >> (64 - 8 * width) }
                for index in 0 ..< width { result[position + index] = UInt8(truncatingIfNeeded: value >> (8 * index)) }
            }
            return result
        }
    }

    /// Files for `MemoryProbe damaged-files` to load: records of target number, format, label and
    /// bytes (the layout is described in Tests/MemoryProbe/main.swift).
    struct DamagedFileCorpus {
        private(set) var bytes: [UInt8] = []
        private(set) var count = 0

        private mutating func append(_ number: Int) {
            withUnsafeBytes(of: UInt32(number).littleEndian) { bytes.append(contentsOf: $0) }
        }

        /// Adds one file to load.
        mutating func add(_ file: [UInt8], format: Format, target: Int, label: String) {
            append(target)
            bytes.append(format.corpusCode)
            append(label.utf8.count)
            bytes.append(contentsOf: label.utf8)
            append(file.count)
            bytes.append(contentsOf: file)
            count += 1
        }
    }

    /// Adds `count` damaged copies of `bytes` and every truncation of it to `corpus`, as target
    /// number `target`; returns the rebuilds that failed with an error other than `TorchFileError`.
    private func addDamagedCopies(of bytes: [UInt8], as format: Format, target: Int, count: Int, seed: UInt64,
                                  rebuild: ([UInt8]) throws -> [UInt8], to corpus: inout DamagedFileCorpus) -> [String] {
        var mutator = Mutator(generator: SeededGenerator(seed: seed))
        var wrong: [String] = []
        func add(_ candidate: [UInt8], _ what: String) {
            do {
                corpus.add(try rebuild(candidate), format: format, target: target, label: what)
            } catch is TorchFileError {
            } catch {
                wrong.append("\(what): \(type(of: error)) \(error)")
            }
        }
        for iteration in 0 ..< count {
            add(mutator.mutate(bytes), "seed \(seed) mutation \(iteration)")
        }
        for length in 0 ..< bytes.count {
            add(Array(bytes[..<length]), "truncated to \(length) bytes")
        }
        return wrong
    }

    /// Rebuilds a zip checkpoint with `pickle` in place of its `data.pkl`, so that damage to the
    /// pickle reaches the unpickler instead of stopping at the zip's checksum.
    private static func checkpoint(_ original: [UInt8], withPickle pickle: [UInt8]) throws -> [UInt8] {
        try original.withUnsafeBytes { bytes in
            let archive = try ZipArchiveReader(bytes)
            let sink = MemorySink()
            let writer = ZipArchiveWriter(output: sink)
            for entry in archive.entries {
                if entry.name.hasSuffix("/data.pkl") {
                    try writer.addEntry(named: entry.name, bytes: pickle)
                } else {
                    try writer.addEntry(named: entry.name, contents: try archive.contents(of: entry))
                }
            }
            try writer.finish()
            return sink.bytes
        }
    }

    private static func pickle(of checkpoint: [UInt8]) throws -> [UInt8] {
        try checkpoint.withUnsafeBytes { bytes in
            let archive = try ZipArchiveReader(bytes)
            let entry = try #require(archive.entries.first { $0.name.hasSuffix("/data.pkl") })
            return Array(try archive.contents(of: entry))
        }
    }

    /// Runs every fuzzing target on one set of base files, checking that the bases themselves load;
    /// the damaged copies are loaded by a `MemoryProbe` process, with its corpus in `folder`.
    private func fuzzAll(checkpoint: [UInt8], legacy: [UInt8]?, safetensors: [UInt8], numpy: [[UInt8]], seed: UInt64,
                         count: Int, in folder: URL) throws {
        var targets: [(String, [UInt8], Format, ([UInt8]) throws -> [UInt8])] = [
            ("zip checkpoint", checkpoint, .checkpoint, { $0 }),
            ("pickle inside the zip checkpoint", try FuzzTests.pickle(of: checkpoint), .checkpoint,
             { try FuzzTests.checkpoint(checkpoint, withPickle: $0) }),
            ("safetensors", safetensors, .safetensors, { $0 }),
        ]
        if let legacy { targets.append(("legacy checkpoint", legacy, .checkpoint, { $0 })) }
        for array in numpy { targets.append(("npy", array, .numpy, { $0 })) }
        var corpus = DamagedFileCorpus()
        var wrong: [[String]] = []
        for (index, (name, bytes, format, rebuild)) in targets.enumerated() {
            #expect(throws: Never.self, "the undamaged \(name) loads") { try format.load(try rebuild(bytes)) }
            wrong.append(addDamagedCopies(of: bytes, as: format, target: index, count: count, seed: seed &+ UInt64(index),
                                          rebuild: rebuild, to: &corpus))
        }
        let corpusFile = folder.appendingPathComponent("damaged-files.corpus")
        try Data(corpus.bytes).write(to: corpusFile)
        let report = try MemoryProbe.run("damaged-files", arguments: [corpusFile.path])
        #expect(try report.figure("records") == corpus.count, "\(report)")
        #expect(try report.figure("wrong-errors") == 0, "\(report)")
        for (index, (name, bytes, _, _)) in targets.enumerated() {
            let failures = wrong[index] + report.lines(startingWith: "wrong \(index) ").map { String($0.dropFirst("wrong \(index) ".count)) }
            #expect(failures.isEmpty, "\(name): \(failures.count) loads failed with other errors, first: \(failures.prefix(3))")
            let loaded = try report.figure("loaded-\(index)")
            #expect(loaded < count + bytes.count, "\(name): no damaged copy was refused, so the test damaged nothing")
        }
        // Nothing above allocated what a lying length asked for.
        let kilobytes = try report.figure("peak-resident-kilobytes")
        #expect(kilobytes < 4 << 20, "peak memory \(kilobytes / 1024) MB\n\(report)")
    }

    @Test("damaged copies of files written by PyTorch, the safetensors oracle and NumPy never crash the loaders")
    func fuzzPythonFiles() throws {
        try requirePython()
        let folder = try TestEnvironment.temporaryDirectory("torchfiles-fuzz")
        defer { try? FileManager.default.removeItem(at: folder) }
        try runPython(SafetensorsTests.pythonFormat + "\n" + #"""
import os
import torch
folder = sys.argv[1]
torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
base = torch.arange(6, dtype=torch.float32).reshape(2, 3)
value = {"model": net.state_dict(), "step": 7, "lr": 0.5, "name": "näme", "flags": [True, None, (1, 2)],
         "view": base.t(), "base": base, "half": torch.ones(2, dtype=torch.float16), "big": 2**70,
         "bytes": b"ab", "set": {1, 2}}
torch.save(value, os.path.join(folder, "small.pth"))
torch.save(value, os.path.join(folder, "small_legacy.pth"), _use_new_zipfile_serialization=False)
write_safetensors(os.path.join(folder, "small.safetensors"),
                  {"a": ("F32", np.ones((2, 3))), "b": ("I64", np.arange(4)), "c": ("BF16", np.ones(3) * 16256)},
                  {"format": "pt"})
np.save(os.path.join(folder, "numbers.npy"), np.arange(12, dtype=">f4").reshape(3, 4))
np.save(os.path.join(folder, "words.npy"), np.array(["alpha", "béta", "γ"]))
"""#, arguments: [folder.path])
        func read(_ name: String) throws -> [UInt8] { Array(try Data(contentsOf: folder.appendingPathComponent(name))) }
        try fuzzAll(checkpoint: try read("small.pth"), legacy: try read("small_legacy.pth"),
                    safetensors: try read("small.safetensors"), numpy: [try read("numbers.npy"), try read("words.npy")],
                    seed: 20_261_125, count: 1000, in: folder)
    }

    @Test("damaged copies of files written in Swift never crash the loaders")
    func fuzzSwiftFiles() throws {
        let folder = try TestEnvironment.temporaryDirectory("torchfiles-fuzz-swift")
        defer { try? FileManager.default.removeItem(at: folder) }
        var generator = SeededGenerator(seed: 77)
        let weight = try randomTensor(.float32, shape: [2, 3], using: &generator)
        let value: PickleValue = [
            "model": .stateDict([("w", weight), ("b", try randomTensor(.int64, shape: [2], using: &generator))]),
            "view": .tensor(try TensorRecord(storage: weight.storage, shape: [3, 2], strides: [1, 3])),
            "values": [1, -70000, 2.5, "text", nil, true, .bytes([1, 2]), .tuple([1, 2, 3, 4])],
        ]
        let checkpoint = folder.appendingPathComponent("small.pth")
        let safetensors = folder.appendingPathComponent("small.safetensors")
        let numbers = folder.appendingPathComponent("numbers.npy")
        let words = folder.appendingPathComponent("words.npy")
        try TorchFile.save(value, to: checkpoint)
        try Safetensors.save([("w", weight)], metadata: ["k": "v"], to: safetensors)
        try NumPyFile.save(.numeric(weight), to: numbers)
        try NumPyFile.save(.strings(["one", "twö"], shape: [2]), to: words)
        func read(_ url: URL) throws -> [UInt8] { Array(try Data(contentsOf: url)) }
        try fuzzAll(checkpoint: try read(checkpoint), legacy: nil, safetensors: try read(safetensors),
                    numpy: [try read(numbers), try read(words)], seed: 1234, count: 600, in: folder)
    }
}
