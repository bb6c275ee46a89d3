import Foundation
import Testing
import TestSupport
@testable import TorchFiles

/// safetensors files both ways against a plain-Python reader and writer of the format (struct and
/// json; the `safetensors` package is not installed).
@Suite("safetensors files")
struct SafetensorsTests {
    /// The format in plain Python, and the tensors of the test.
    static let pythonFormat = pythonDescribe + "\n" + #"""
import torch
NAMES = {torch.float32: "F32", torch.float64: "F64", torch.float16: "F16", torch.bfloat16: "BF16",
         torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
         torch.uint8: "U8", torch.bool: "BOOL"}
TYPES = {name: dtype for dtype, name in NAMES.items()}

def write_safetensors(path, tensors, metadata):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        data = t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
        header[name] = {"dtype": NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    header["__metadata__"] = metadata
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))

def read_safetensors(path):
    data = open(path, "rb").read()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    metadata = header.pop("__metadata__", {})
    body = data[8 + length:]
    entries = sorted(header.items(), key=lambda item: (item[1]["data_offsets"], item[0]))
    tensors = collections.OrderedDict()
    for name, entry in entries:
        begin, end = entry["data_offsets"]
        raw = torch.frombuffer(bytearray(body[begin:end]) or bytearray(1), dtype=torch.uint8)[:end - begin]
        tensors[name] = raw.view(TYPES[entry["dtype"]]).reshape(entry["shape"]).clone()
    return tensors, metadata, (8 + length) % 8
"""#

    @Test("a file written by the Python oracle loads exactly, in data order, with its metadata")
    func loadsPythonFile() throws {
        try requirePython()
        let folder = try TestEnvironment.temporaryDirectory("torchfiles-safetensors")
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("python.safetensors")
        let json = try pythonJSON(SafetensorsTests.pythonFormat + "\n" + #"""
torch.manual_seed(3)
tensors = {}
for dtype in NAMES:
    tensors["w." + NAMES[dtype]] = (torch.randn(3, 4) * 100).to(dtype)
tensors["scalar"] = torch.tensor(-2.5)
tensors["empty"] = torch.zeros(0, 5)
tensors["ünïcode name ✓"] = torch.arange(6, dtype=torch.int64).reshape(2, 3)
write_safetensors(sys.argv[1], tensors, {"format": "pt", "note": "héllo"})
loaded, metadata, _ = read_safetensors(sys.argv[1])
print(json.dumps({"tensors": describe(loaded), "metadata": metadata}))
"""#, arguments: [file.path])
        let expected = try #require(json as? [String: Any])
        let (tensors, metadata) = try Safetensors.load(contentsOf: file)
        #expect(metadata == (expected["metadata"] as? [String: String]))
        expectMatch(.dict(tensors.map { (key: .string($0.name), value: .tensor($0.tensor)) }, ordered: true),
                    try #require(expected["tensors"]), "python.safetensors")
        #expect(tensors.count == 13)
    }

    @Test("a file written in Swift reads back in the Python oracle and in Swift")
    func savesForPython() throws {
        try requirePython()
        let folder = try TestEnvironment.temporaryDirectory("torchfiles-safetensors-save")
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("swift.safetensors")
        var generator = SeededGenerator(seed: 9)
        var tensors = try ElementType.allCases.map { (name: "w.\($0.safetensorsName)", tensor: try randomTensor($0, shape: [2, 3], using: &generator)) }
        let base = try randomTensor(.float32, shape: [3, 5], using: &generator)
        tensors.append((name: "transposed", tensor: try TensorRecord(storage: base.storage, shape: [5, 3], strides: [1, 5])))
        tensors.append((name: "scalar \"quoted\"", tensor: try randomTensor(.float64, shape: [], using: &generator)))
        tensors.append((name: "empty", tensor: try randomTensor(.int32, shape: [4, 0], using: &generator)))
        let metadata = ["format": "pt", "note": "line\nbreak ✓"]
        try Safetensors.save(tensors, metadata: metadata, to: file)

        let json = try pythonJSON(SafetensorsTests.pythonFormat + "\n" + #"""
loaded, metadata, misalignment = read_safetensors(sys.argv[1])
print(json.dumps({"names": list(loaded), "tensors": {name: describe(t) for name, t in loaded.items()},
                  "metadata": metadata, "misalignment": misalignment}))
"""#, arguments: [file.path])
        let loaded = try #require(json as? [String: Any])
        #expect(loaded["metadata"] as? [String: String] == metadata)
        #expect(loaded["misalignment"] as? Int == 0)
        let descriptions = try #require(loaded["tensors"] as? [String: Any])
        #expect(Set(descriptions.keys) == Set(tensors.map(\.name)))
        for (name, tensor) in tensors {
            // Written contiguously: compare with the contiguous copy of each view.
            let contiguous = try TensorRecord(contiguousBytes: try tensor.contiguousBytes(), elementType: tensor.elementType,
                                              shape: tensor.shape)
            expectMatch(.tensor(contiguous), descriptions[name] as Any, name)
        }

        let (reloaded, reloadedMetadata) = try Safetensors.load(contentsOf: file)
        #expect(reloadedMetadata == metadata)
        #expect(Dictionary(uniqueKeysWithValues: reloaded.map { ($0.name, $0.tensor) })
                == Dictionary(uniqueKeysWithValues: tensors.map { ($0.name, $0.tensor) }))
    }

    @Test("duplicate names and headers that lie are refused")
    func refusesBadFiles() throws {
        let folder = try TestEnvironment.temporaryDirectory("torchfiles-safetensors-bad")
        defer { try? FileManager.default.removeItem(at: folder) }
        var generator = SeededGenerator(seed: 2)
        let tensor = try randomTensor(.float32, shape: [2], using: &generator)
        #expect(throws: TorchFileError.self) {
            try Safetensors.save([("a", tensor), ("a", tensor)], to: folder.appendingPathComponent("dup.safetensors"))
        }
        func file(header: String, data: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0], length: UInt64? = nil) -> Data {
            var bytes: [UInt8] = []
            bytes.appendLittleEndian(length ?? UInt64(header.utf8.count))
            return Data(bytes + Array(header.utf8) + data)
        }
        let bad: [(String, Data)] = [
            ("header longer than the file", file(header: "{}", length: 1 << 62)),
            ("not JSON", file(header: "{\"a\": ")),
            ("not an object", file(header: "[1, 2]")),
            ("unknown dtype", file(header: #"{"a": {"dtype": "C64", "shape": [1], "data_offsets": [0, 8]}}"#)),
            ("offsets past the data", file(header: #"{"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}"#)),
            ("offsets reversed", file(header: #"{"a": {"dtype": "F32", "shape": [0], "data_offsets": [8, 0]}}"#)),
            ("shape does not fill the bytes", file(header: #"{"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}"#)),
            ("negative size", file(header: #"{"a": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}"#)),
            ("huge shape", file(header: #"{"a": {"dtype": "F32", "shape": [4611686018427387904, 4], "data_offsets": [0, 8]}}"#)),
            ("fractional size", file(header: #"{"a": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 8]}}"#)),
            ("metadata not strings", file(header: #"{"__metadata__": {"a": 1}}"#)),
            ("empty file", Data()),
        ]
        for (what, data) in bad {
            #expect(throws: TorchFileError.self, "\(what)") { try Safetensors.load(data: data) }
        }
    }
}
