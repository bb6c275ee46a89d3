import Foundation
import Testing
import TestSupport
@testable import TorchFiles

/// Builds pickles opcode by opcode, for files no Python would write.
struct PickleBuilder {
    var bytes: [UInt8] = [0x80, 0x02]

    mutating func op(_ codes: UInt8...) { bytes += codes }

    mutating func string(_ text: String) {
        bytes.append(0x58)
        bytes.appendLittleEndian(UInt32(text.utf8.count))
        bytes += Array(text.utf8)
    }

    mutating func int(_ value: Int) {
        let digits = BigInteger.bytes(of: value)
        bytes += [0x8A, UInt8(digits.count)] + digits
    }

    mutating func global(_ module: String, _ name: String) {
        bytes += [0x63] + Array("\(module)\n\(name)\n".utf8)
    }

    mutating func stop() { bytes.append(0x2E) }
}

/// Reads one pickle with no storages available.
func unpickle(_ bytes: [UInt8]) throws -> PickleValue {
    try bytes.withUnsafeBytes { buffer in
        try Unpickler(bytes: buffer) { _, offset in throw FormatFailure("no storages here", at: offset) }.load()
    }
}

/// The pickle machine itself: every protocol Python writes, and pickles built to do harm.
@Suite("Pickles")
struct PickleTests {
    @Test("plain data pickled by Python with protocols 0 to 5 reads as Python wrote it")
    func readsEveryProtocol() throws {
        try requirePython()
        let json = try pythonJSON(pythonDescribe + "\n" + #"""
import pickle
shared = [1, [2]]
plain = {
    "ints": [0, 1, -1, 255, 65536, -2**31 - 1, 2**62, -2**63], "big": [2**64, -2**100, 10**30],
    "floats": [1.5, -0.0, float("inf"), 1e-310], "text": ["", "héllo ✓ 日本語 🎉", "quote ' \" \\ \n"],
    "bytes": b"\x00\xff\x80ab", "empty bytes": b"", "bytearray": bytearray(b"xy"),
    "none": None, "bools": [True, False], "tuple": (1, (2, 3), (), (4,), (5, 6, 7, 8)),
    "set": {1, 2, 3}, "frozenset": frozenset({4}), "empty set": set(),
    "ordered": collections.OrderedDict([("b", 1), ("a", [2])]), "nested": {"x": {"y": [[]]}},
    "shared once": shared, "shared twice": shared, 7: "int key", (1, "k"): "tuple key",
    "long list": list(range(1500)), "long dict": {str(i): i for i in range(1200)},
}
print(json.dumps({"pickles": [pickle.dumps(plain, protocol=p).hex() for p in range(6)],
                  "description": describe(plain)}))
"""#)
        let fields = try #require(json as? [String: Any])
        let pickles = try #require(fields["pickles"] as? [String])
        #expect(pickles.count == 6)
        for (protocolVersion, hex) in pickles.enumerated() {
            var bytes: [UInt8] = []
            var index = hex.startIndex
            while index < hex.endIndex, let next = hex.index(index, offsetBy: 2, limitedBy: hex.endIndex),
                  let byte = UInt8(hex[index ..< next], radix: 16) {
                bytes.append(byte)
                index = next
            }
            let value = try unpickle(bytes)
            expectMatch(value, try #require(fields["description"]), "protocol \(protocolVersion)")
        }
    }

    @Test("a value nested a hundred thousand levels deep is refused, not a stack overflow")
    func refusesDeepNesting() throws {
        var pickle = PickleBuilder()
        pickle.op(0x4E) // None
        pickle.bytes += [UInt8](repeating: 0x85, count: 100_000) // TUPLE1, again and again
        pickle.stop()
        let failure = try #require(throws: FormatFailure.self) { try unpickle(pickle.bytes) }
        #expect(failure.message.contains("nested"))
        // The same through the public loader gives a TorchFileError.
        #expect(throws: TorchFileError.self) { try TorchFile.load(data: Data(pickle.bytes)) }
    }

    @Test("a shared value reused deeper than it first appeared still counts toward the nesting limit")
    func refusesDeepSharedValues() throws {
        var pickle = PickleBuilder()
        pickle.op(0x4E) // None
        pickle.bytes += [UInt8](repeating: 0x85, count: 150) // 150 nested tuples: fine alone
        pickle.op(0x71, 0) // memo 0
        pickle.op(0x68, 0) // the same value again...
        pickle.bytes += [UInt8](repeating: 0x85, count: 100) // ...100 levels deeper
        pickle.op(0x86) // (shallow, deep)
        pickle.stop()
        let failure = try #require(throws: FormatFailure.self) { try unpickle(pickle.bytes) }
        #expect(failure.message.contains("nested"))
    }

    @Test("shared references that would expand to 2^60 values are refused")
    func refusesExponentialSharing() throws {
        var pickle = PickleBuilder()
        pickle.op(0x4B, 1) // 1
        for _ in 0 ..< 60 { pickle.op(0x32, 0x86) } // DUP, TUPLE2: (x, x)
        pickle.stop()
        let failure = try #require(throws: FormatFailure.self) { try unpickle(pickle.bytes) }
        #expect(failure.message.contains("shared references"))
    }

    @Test("a list that contains itself is refused")
    func refusesCycles() throws {
        let pickle: [UInt8] = [0x80, 0x02, 0x5D, 0x71, 0x00, 0x68, 0x00, 0x61, 0x2E] // l = []; l.append(l)
        let failure = try #require(throws: FormatFailure.self) { try unpickle(pickle) }
        #expect(failure.message.contains("contains itself"))
    }

    @Test("rebuilding objects that copy a big list over and over is refused")
    func refusesCopyingBlowUp() throws {
        var pickle = PickleBuilder()
        pickle.global("builtins", "set")
        pickle.op(0x71, 0) // memo 0: set
        pickle.op(0x28) // MARK
        for _ in 0 ..< 10_000 { pickle.op(0x4B, 1) }
        pickle.op(0x6C, 0x71, 1) // LIST, memo 1
        for _ in 0 ..< 5000 { pickle.op(0x68, 0, 0x68, 1, 0x85, 0x52, 0x30) } // set(list), POP
        pickle.stop()
        let failure = try #require(throws: FormatFailure.self) { try unpickle(pickle.bytes) }
        #expect(failure.message.contains("copies more than"))
    }

    @Test("malformed and harmful opcodes give a clear error", arguments: [
        ("LONG4 of 2 GiB", [0x8B, 0xFF, 0xFF, 0xFF, 0x7F], "longer than"),
        ("string longer than the file", [0x58, 0xF0, 0xFF, 0xFF, 0xFF, 0x61], "the file ends inside"),
        ("bytes longer than the file", [0x8E, 0, 0, 0, 0, 0, 0, 0, 0x40], "announces"),
        ("frame longer than the file", [0x95, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], "frame"),
        ("missing memo entry", [0x68, 0x05], "memo"),
        ("append to an int", [0x4B, 1, 0x4B, 2, 0x61], "not a list"),
        ("set item of a list", [0x5D, 0x4B, 1, 0x4B, 2, 0x73], "not a dict"),
        ("list as a dict key", [0x7D, 0x5D, 0x4B, 2, 0x73], "cannot hash"),
        ("call an int", [0x4B, 1, 0x29, 0x52], "not a function"),
        ("pop an empty stack", [0x30], "MARK"),
        ("stop on an empty stack", [0x2E], "needs a value"),
        ("tuple without a mark", [0x4B, 1, 0x74], "MARK"),
        ("unknown opcode", [0xFF], "unknown pickle opcode"),
        ("protocol 9", [0x80, 0x09], "newer than 5"),
        ("instance creation", [0x28, 0x69] + Array("os\nsystem\n".utf8), "instantiates"),
        ("extension registry", [0x82, 0x01], "extension registry"),
        ("out-of-band buffer", [0x97], "out-of-band"),
        ("text persistent id", [0x50] + Array("0\n".utf8), "persistent id"),
        ("invalid UTF-8", [0x8C, 0x02, 0xC3, 0x28, 0x2E], "UTF-8"),
        ("ends inside an opcode", [0x4B], "the file ends inside"),
    ] as [(String, [UInt8], String)])
    func refusesMalformedOpcodes(what: String, body: [UInt8], expected: String) throws {
        let failure = try #require(throws: FormatFailure.self, "\(what)") { try unpickle([0x80, 0x02] + body + [0x2E]) }
        #expect(failure.message.contains(expected), "\(what): \(failure.message)")
        #expect(failure.byteOffset != nil, "\(what)")
    }

    @Test("globals outside the checkpoint vocabulary are refused by name", arguments: [
        ("os", "system"), ("posix", "system"), ("builtins", "eval"), ("__builtin__", "getattr"), ("numpy.core.multiarray", "_reconstruct"),
        ("__torch__.Model", "forward"), ("torch", "load"), ("collections", "defaultdict"), ("subprocess", "Popen"),
    ])
    func refusesUnknownGlobals(module: String, name: String) throws {
        var pickle = PickleBuilder()
        pickle.global(module, name)
        pickle.string("echo pwned")
        pickle.op(0x85, 0x52) // TUPLE1, REDUCE
        pickle.stop()
        let failure = try #require(throws: FormatFailure.self) { try unpickle(pickle.bytes) }
        #expect(failure.message.contains("\(module).\(name)"), "\(failure.message)")
        #expect(failure.message.contains("nothing is executed"))
    }

    @Test("the known globals do what PyTorch's do")
    func interpretsKnownGlobals() throws {
        var pickle = PickleBuilder()
        pickle.op(0x28) // MARK: a list of several values
        pickle.global("torch", "device")
        pickle.string("cuda")
        pickle.op(0x4B, 1, 0x86, 0x52) // device("cuda", 1)
        pickle.global("torch", "Size")
        pickle.op(0x4B, 2, 0x4B, 3, 0x86, 0x85, 0x52) // Size((2, 3))
        pickle.global("_codecs", "encode")
        pickle.string("\u{00FF}a")
        pickle.string("latin1")
        pickle.op(0x86, 0x52) // encode("ÿa", "latin1")
        pickle.global("collections", "OrderedDict")
        pickle.op(0x28, 0x28) // OrderedDict([("k", 1)])
        pickle.string("k")
        pickle.op(0x4B, 1, 0x74, 0x6C, 0x85, 0x52)
        pickle.global("torch", "float16")
        pickle.global("torch.serialization", "_get_layout")
        pickle.string("torch.strided")
        pickle.op(0x85, 0x52)
        pickle.op(0x6C) // LIST
        pickle.stop()
        let value = try unpickle(pickle.bytes)
        let expected: PickleValue = ["cuda:1", .tuple([2, 3]), .bytes([255, 97]), .dict([(key: "k", value: 1)], ordered: true),
                                     "torch.float16", "torch.strided"]
        #expect(value == expected)
    }
}

/// Lies in the fields of zip archives and legacy checkpoints.
@Suite("Hostile checkpoint files")
struct HostileCheckpointTests {
    /// A legacy checkpoint of one float tensor whose storage declares `declaredCount` elements
    /// (optionally viewed through `view`), with data that claims `dataCount` elements.
    static func legacyFile(declaredCount: Int, dataCount: Int64, dataBytes: Int, shape: Int = 2,
                           view: (key: String, offset: Int, size: Int)? = nil, keys: [String] = ["7"]) -> [UInt8] {
        var bytes: [UInt8] = []
        var magic = PickleBuilder()
        magic.bytes += [0x8A, 10] + LegacyCheckpoint.magicNumber
        magic.stop()
        var version = PickleBuilder()
        version.int(LegacyCheckpoint.protocolVersion)
        version.stop()
        var information = PickleBuilder()
        information.op(0x7D) // {}
        information.stop()
        var object = PickleBuilder()
        object.global("torch._utils", "_rebuild_tensor_v2")
        object.op(0x28, 0x28) // MARK, MARK
        object.string("storage")
        object.global("torch", "FloatStorage")
        object.string("7")
        object.string("cpu")
        object.int(declaredCount)
        if let view {
            object.string(view.key)
            object.int(view.offset)
            object.int(view.size)
            object.op(0x87)
        } else {
            object.op(0x4E)
        }
        object.op(0x74, 0x51) // TUPLE, BINPERSID
        object.int(0) // offset
        object.int(shape)
        object.op(0x85) // size
        object.int(1)
        object.op(0x85) // stride
        object.op(0x89) // requires_grad
        object.global("collections", "OrderedDict")
        object.op(0x29, 0x52, 0x74, 0x52) // OrderedDict(), TUPLE, REDUCE
        object.stop()
        var keyList = PickleBuilder()
        keyList.op(0x28)
        for key in keys { keyList.string(key) }
        keyList.op(0x6C)
        keyList.stop()
        bytes = magic.bytes + version.bytes + information.bytes + object.bytes + keyList.bytes
        bytes.appendLittleEndian(dataCount)
        bytes += [UInt8](repeating: 0x3F, count: dataBytes)
        return bytes
    }

    @Test("a well-formed hand-built legacy checkpoint loads")
    func handBuiltLegacyLoads() throws {
        let value = try TorchFile.load(data: Data(HostileCheckpointTests.legacyFile(declaredCount: 3, dataCount: 3, dataBytes: 12)))
        let tensor = try #require(value.asTensor)
        #expect(tensor.shape == [2] && tensor.storage.elementCount == 3)
        #expect(try tensor.contiguousBytes() == [UInt8](repeating: 0x3F, count: 8))
        let viewed = try TorchFile.load(data: Data(HostileCheckpointTests.legacyFile(
            declaredCount: 4, dataCount: 4, dataBytes: 16, view: ("8", 1, 2))))
        #expect(try viewed.asTensor?.contiguousBytes().count == 8)
    }

    @Test("lies in a legacy checkpoint are refused without allocating what they claim", arguments: [
        ("storage of 2^60 elements", 1 << 60, 1 << 60, 16, 2, "truncated"),
        ("storage of Int.max elements", Int.max, Int64.max, 16, 2, "too large"),
        ("count differs from the object", 3, 4, 16, 2, "elements, but the object says"),
        ("data cut short", 3, 3, 5, 2, "truncated"),
        ("tensor larger than its storage", 3, 3, 12, 4, "reaches element"),
    ] as [(String, Int, Int64, Int, Int, String)])
    func refusesLegacyLies(what: String, declared: Int, dataCount: Int64, dataBytes: Int, shape: Int, expected: String) throws {
        let file = HostileCheckpointTests.legacyFile(declaredCount: declared, dataCount: dataCount, dataBytes: dataBytes, shape: shape)
        let error = try #require(throws: TorchFileError.self, "\(what)") { try TorchFile.load(data: Data(file)) }
        #expect(error.message.contains(expected), "\(what): \(error)")
    }

    @Test("a legacy storage view outside its storage, and storage lists that lie, are refused")
    func refusesLegacyViewsAndKeys() throws {
        let cases: [([UInt8], String)] = [
            (HostileCheckpointTests.legacyFile(declaredCount: 4, dataCount: 4, dataBytes: 16, view: ("8", 3, 2)), "outside"),
            (HostileCheckpointTests.legacyFile(declaredCount: 3, dataCount: 3, dataBytes: 12, keys: ["9"]), "does not use"),
            (HostileCheckpointTests.legacyFile(declaredCount: 3, dataCount: 3, dataBytes: 12, keys: []), "no data"),
            (HostileCheckpointTests.legacyFile(declaredCount: 0, dataCount: 0, dataBytes: 0, shape: 0, keys: ["7", "7"]), "twice"),
        ]
        for (file, expected) in cases {
            let error = try #require(throws: TorchFileError.self) { try TorchFile.load(data: Data(file)) }
            #expect(error.message.contains(expected), "\(error)")
        }
    }

    @Test("lies in a zip checkpoint's directory are refused")
    func refusesZipLies() throws {
        let folder = try TestEnvironment.temporaryDirectory("torchfiles-zip-lies")
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("model.pth")
        try TorchFile.save(.stateDict([("w", try TensorRecord(contiguousBytes: [UInt8](repeating: 1, count: 64),
                                                               elementType: .float32, shape: [4, 4]))]), to: file)
        let original = Array(try Data(contentsOf: file))
        #expect(throws: Never.self) { try TorchFile.load(data: Data(original)) }
        let end = original.count - 22 // the end-of-central-directory record (no comment)
        let directoryOffset = Int(original[end + 16]) | Int(original[end + 17]) << 8 | Int(original[end + 18]) << 16
            | Int(original[end + 19]) << 24
        func patched(_ offset: Int, _ value: UInt64, width: Int, also second: Int? = nil) -> [UInt8] {
            var copy = original
            for start in [offset, second].compactMap({ $0 }) {
                for index in 0 ..< width { copy[start + index] = UInt8(truncatingIfNeeded: value >> (8 * index)) }
            }
            return copy
        }
        let cases: [(String, [UInt8], String)] = [
            ("directory offset past the end", patched(end + 16, 0xFFFF_FFF0, width: 4), "outside"),
            ("directory size past the end", patched(end + 12, 0x7FFF_FFFF, width: 4), "outside"),
            ("more entries than the directory holds", patched(end + 10, 0xFFF0, width: 2), "claims"),
            ("ZIP64 without its records", patched(end + 10, 0xFFFF, width: 2), "ZIP64"),
            ("first entry's size of 4 GiB", patched(directoryOffset + 20, 0xFFFF_FFFE, width: 4, also: directoryOffset + 24),
             "past the end"),
            ("first entry's header past the end", patched(directoryOffset + 42, 0xFFFF_FF00, width: 4), "beyond the end"),
            ("first entry compressed", patched(directoryOffset + 10, 8, width: 2), "compressed"),
            ("first entry's checksum wrong", patched(directoryOffset + 16, 0x1234_5678, width: 4), "CRC-32"),
            ("truncated to half", Array(original.prefix(original.count / 2)), "end-of-central-directory"),
        ]
        for (what, bytes, expected) in cases {
            let error = try #require(throws: TorchFileError.self, "\(what)") { try TorchFile.load(data: Data(bytes)) }
            #expect(error.message.contains(expected), "\(what): \(error)")
        }
    }

    @Test("files that are not checkpoints say what they are")
    func recognisesOtherFiles() throws {
        var tar = [UInt8](repeating: 0, count: 1024)
        tar.replaceSubrange(257 ..< 262, with: Array("ustar".utf8))
        var plainPickle = PickleBuilder()
        plainPickle.op(0x4B, 5)
        plainPickle.stop()
        let cases: [([UInt8], String)] = [
            ([], "empty"), (Array("hello world".utf8), "neither a zip archive nor a pickle"),
            (tar, "tar-based format"), (plainPickle.bytes, "magic number"),
        ]
        for (bytes, expected) in cases {
            let error = try #require(throws: TorchFileError.self) { try TorchFile.load(data: Data(bytes)) }
            #expect(error.message.contains(expected), "\(error)")
        }
        let missing = URL(fileURLWithPath: "/nonexistent/model.pth")
        let error = try #require(throws: TorchFileError.self) { try TorchFile.load(contentsOf: missing) }
        #expect(error.path == missing.path)
        #expect(error.description.contains("/nonexistent/model.pth"))
    }
}

/// Tensor views and their materialisation.
@Suite("Tensor records")
struct TensorRecordTests {
    @Test("contiguousBytes gathers every strided view as direct indexing does")
    func gathersViews() throws {
        var generator = SeededGenerator(seed: 8)
        for _ in 0 ..< 300 {
            let rank = Int.random(in: 0 ... 4, using: &generator)
            let shape = (0 ..< rank).map { _ in Int.random(in: 0 ... 4, using: &generator) }
            let strides = (0 ..< rank).map { _ in Int.random(in: 0 ... 7, using: &generator) }
            let offset = Int.random(in: 0 ... 5, using: &generator)
            let elementType = ElementType.allCases.randomElement(using: &generator) ?? .float32
            let size = elementType.byteCount
            let reach = zip(shape, strides).reduce(offset) { $0 + max($1.0 - 1, 0) * $1.1 }
            let storage = try Storage(bytes: randomBytes((reach + 1) * size, using: &generator), elementType: elementType)
            let record = try TensorRecord(storage: storage, shape: shape, strides: strides, storageOffset: offset)
            // Direct indexing, element by element, in row-major order.
            var expected: [UInt8] = []
            let count = shape.reduce(1, *)
            for flat in 0 ..< count {
                var remainder = flat
                var element = offset
                for dimension in shape.indices.reversed() {
                    element += (remainder % shape[dimension]) * strides[dimension]
                    remainder /= shape[dimension]
                }
                expected += storage.bytes[element * size ..< (element + 1) * size]
            }
            #expect(try record.contiguousBytes() == expected, "shape \(shape) strides \(strides) offset \(offset)")
        }
    }

    @Test("views that reach outside their storage are refused")
    func refusesOutsideViews() throws {
        let storage = try Storage(bytes: [UInt8](repeating: 0, count: 24), elementType: .float32) // 6 elements
        #expect(throws: Never.self) { try TensorRecord(storage: storage, shape: [2, 3], strides: [3, 1]) }
        #expect(throws: Never.self) { try TensorRecord(storage: storage, shape: [0, 100], strides: [100, 1], storageOffset: 50) }
        for (shape, strides, offset) in [([2, 3], [3, 1], 1), ([7], [1], 0), ([2], [-1], 1), ([-1], [1], 0),
                                         ([2, 2], [1], 0), ([1 << 62, 4], [1, 1], 0), ([2], [Int.max], 0)] {
            #expect(throws: TorchFileError.self, "\(shape) \(strides) \(offset)") {
                try TensorRecord(storage: storage, shape: shape, strides: strides, storageOffset: offset)
            }
        }
        #expect(throws: TorchFileError.self) { try Storage(bytes: [1, 2, 3], elementType: .int16) }
    }
}
