import Foundation
import Testing
import TestSupport
@testable import TorchFiles

/// safetensors files both ways against a plain-Python reader and writer of the format (struct and
/// json; the `safetensors` package is not installed).
@Suite("safetensors files")
struct SafetensorsTests {
    /// The format in plain Python with NumPy. NumPy has no bfloat16: BF16 tensors are carried as
    /// their 16-bit patterns. `describe_tensors` describes tensors as `describe` does in Support.
    static let pythonFormat = #"""
import collections, json, struct, sys
import numpy as np

NAMES = {"F32": "<f4", "F64": "<f8", "F16": "<f2", "BF16": "<u2", "I64": "<i8", "I32": "<i4", "I16": "<i2",
         "I8": "|i1", "U8": "|u1", "BOOL": "|b1"}
BITS = {"F32": "<i4", "F64": "<i8", "F16": "<i2", "BF16": "<i2", "BOOL": "|u1"}
TYPES = {"F32": "float32", "F64": "float64", "F16": "float16", "BF16": "bfloat16", "I64": "int64", "I32": "int32",
         "I16": "int16", "I8": "int8", "U8": "uint8", "BOOL": "bool"}

def write_safetensors(path, tensors, metadata):
    """tensors: name -> (safetensors dtype name, array)"""
    header, blobs, offset = {}, [], 0
    for name, (dtype, array) in tensors.items():
        data = np.ascontiguousarray(array, dtype=NAMES[dtype]).tobytes()
        header[name] = {"dtype": dtype, "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}
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
        array = np.frombuffer(body[begin:end], dtype=NAMES[entry["dtype"]]).reshape(entry["shape"])
        tensors[name] = (entry["dtype"], array)
    return tensors, metadata, (8 + length) % 8

def describe_tensors(tensors):
    items = []
    for index, (name, (dtype, array)) in enumerate(tensors.items()):
        bits = np.ascontiguousarray(array).reshape(-1).view(BITS.get(dtype, NAMES[dtype]))
        strides = [int(np.prod(array.shape[i + 1:])) for i in range(array.ndim)]
        items.append([{"type": "str", "value": name},
                      {"type": "tensor", "dtype": TYPES[dtype], "shape": list(array.shape), "stride": strides,
                       "offset": 0, "requires_grad": False, "parameter": False, "storage": index,
                       "storage_bytes": array.nbytes, "bits": [str(int(x)) for x in bits.tolist()]}])
    return {"type": "ordered_dict", "items": items}
"""#

    @Test("a file written by the Python oracle loads exactly, in data order, with its metadata")
    func loadsPythonFile() throws {
        try requirePython()
        let folder = try TestEnvironment.temporaryDirectory("torchfiles-safetensors")
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("python.safetensors")
        let json = try pythonJSON(SafetensorsTests.pythonFormat + "\n" + #"""
rng = np.random.default_rng(3)
tensors = {}
for dtype in NAMES:
    values = rng.normal(size=(3, 4)) * 100
    if dtype == "BF16":
        values = (values.astype("<f4").view("<u4") >> 16).astype("<u2")
    elif dtype == "BOOL":
        values = values > 0
    tensors["w." + dtype] = (dtype, values.astype(NAMES[dtype]))
tensors["scalar"] = ("F32", np.array(-2.5))
tensors["empty"] = ("F32", np.zeros((0, 5)))
tensors["ünïcode name ✓"] = ("I64", np.arange(6).reshape(2, 3))
write_safetensors(sys.argv[1], tensors, {"format": "pt", "note": "héllo"})
loaded, metadata, _ = read_safetensors(sys.argv[1])
print(json.dumps({"tensors": describe_tensors(loaded), "metadata": metadata}))
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
print(json.dumps({"tensors": describe_tensors(loaded), "metadata": metadata, "misalignment": misalignment}))
"""#, arguments: [file.path])
        let loaded = try #require(json as? [String: Any])
        #expect(loaded["metadata"] as? [String: String] == metadata)
        #expect(loaded["misalignment"] as? Int == 0)
        // Written contiguously, in order: compare with the contiguous copy of each view.
        let contiguous = try tensors.map {
            (key: PickleValue.string($0.name), value: PickleValue.tensor(try TensorRecord(
                contiguousBytes: try $0.tensor.contiguousBytes(), elementType: $0.tensor.elementType, shape: $0.tensor.shape)))
        }
        expectMatch(.dict(contiguous, ordered: true), loaded["tensors"] as Any, "swift.safetensors")

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
