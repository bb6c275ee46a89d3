import Foundation
import Testing
import TestSupport
@testable import TorchFiles

/// `.npy` files both ways against NumPy.
@Suite("NumPy .npy files")
struct NumPyFileTests {
    /// Describes a loaded array with NumPy alone: numeric arrays as `describe` describes tensors
    /// (strides in elements, elements as bit patterns), string arrays as their row-major elements
    /// and shape.
    static let pythonDescribeArray = #"""
import json, sys
import numpy as np

TYPES = {"f4": "float32", "f8": "float64", "f2": "float16", "i8": "int64", "i4": "int32", "i2": "int16",
         "i1": "int8", "u1": "uint8", "b1": "bool"}

def describe_array(a):
    if a.dtype.kind == "U":
        return {"kind": "strings", "values": [str(x) for x in a.reshape(-1, order="C")], "shape": list(a.shape)}
    native = a.astype(a.dtype.newbyteorder("="), order="K")
    flat = np.ascontiguousarray(native).reshape(-1)
    if flat.dtype.kind == "f":
        flat = flat.view("<i%d" % flat.dtype.itemsize)
    elif flat.dtype.kind == "b":
        flat = flat.astype(np.uint8)
    tensor = {"type": "tensor", "dtype": TYPES[a.dtype.kind + str(a.dtype.itemsize)], "shape": list(a.shape),
              "stride": [s // a.dtype.itemsize for s in native.strides], "offset": 0, "requires_grad": False,
              "parameter": False, "storage": 0, "storage_bytes": native.nbytes,
              "bits": [str(int(x)) for x in flat.tolist()]}
    return {"kind": "numeric", "tensor": tensor}
"""#

    /// Compares a loaded array with Python's `describe_array`.
    private func expectArray(_ array: NumPyArray, _ description: Any?, _ label: String) {
        guard let fields = description as? [String: Any] else {
            Issue.record("\(label): no description")
            return
        }
        switch array {
        case .strings(let strings, let shape):
            #expect(fields["kind"] as? String == "strings", "\(label)")
            #expect(strings == (fields["values"] as? [String]), "\(label)")
            #expect(shape == (fields["shape"] as? [Int]), "\(label)")
        case .numeric(let record):
            #expect(fields["kind"] as? String == "numeric", "\(label)")
            expectMatch(.tensor(record), fields["tensor"] as Any, label)
        }
    }

    @Test("arrays NumPy saves load exactly: every dtype, both byte orders, Fortran order, versions 1 to 3")
    func loadsNumPyFiles() throws {
        try requirePython()
        let folder = try TestEnvironment.temporaryDirectory("torchfiles-npy")
        defer { try? FileManager.default.removeItem(at: folder) }
        let json = try pythonJSON(NumPyFileTests.pythonDescribeArray + "\n" + #"""
import os
folder = sys.argv[1]
rng = np.random.default_rng(5)
arrays = {}
for code in ["<f4", ">f4", "<f8", ">f8", "<f2", ">f2", "<i8", ">i8", "<i4", ">i4", "<i2", ">i2", "|i1", "|u1", "|b1"]:
    values = rng.normal(size=(2, 3)) * 1000
    arrays[code.replace("|", "").replace("<", "le_").replace(">", "be_")] = (values > 0) if code == "|b1" else values.astype(code)
arrays["fortran"] = np.asfortranarray(rng.normal(size=(3, 4)))
arrays["zero_d"] = np.array(2.5, dtype=np.float32)
arrays["empty"] = np.zeros((0, 3), dtype=np.int32)
arrays["strings"] = np.array(["a", "héllo", "日本語🎉", ""])
arrays["strings_be"] = np.array([["x", "yz"], ["é", ""]]).astype(">U3")
arrays["strings_fortran"] = np.asfortranarray(np.array([["a", "b", "c"], ["d", "e", "f"]]))
arrays["zero_d_string"] = np.array("only")
result = {}
for name, array in arrays.items():
    np.save(os.path.join(folder, name + ".npy"), array)
    result[name] = describe_array(array)
for version in [(2, 0), (3, 0)]:
    name = "version_%d" % version[0]
    with open(os.path.join(folder, name + ".npy"), "wb") as f:
        np.lib.format.write_array(f, arrays["le_f4"], version=version)
    result[name] = describe_array(arrays["le_f4"])
print(json.dumps(result))
"""#, arguments: [folder.path])
        let descriptions = try #require(json as? [String: Any])
        #expect(descriptions.count == 24)
        for (name, description) in descriptions {
            let array = try NumPyFile.load(contentsOf: folder.appendingPathComponent("\(name).npy"))
            expectArray(array, description, name)
        }
    }

    @Test("an object array is refused with how to re-save it")
    func refusesObjectArrays() throws {
        try requirePython()
        let folder = try TestEnvironment.temporaryDirectory("torchfiles-npy-object")
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("object.npy")
        try runPython("import sys, numpy as np; np.save(sys.argv[1], np.array(['a', None, 3], dtype=object))",
                      arguments: [file.path])
        let error = try #require(throws: TorchFileError.self) { try NumPyFile.load(contentsOf: file) }
        #expect(error.message.contains("Python objects"), "\(error)")
        #expect(error.message.contains("astype(str)"), "\(error)")
        #expect(error.path == file.path)
    }

    @Test("arrays Swift saves load in NumPy as intended, and in Swift unchanged")
    func savesForNumPy() throws {
        try requirePython()
        let folder = try TestEnvironment.temporaryDirectory("torchfiles-npy-save")
        defer { try? FileManager.default.removeItem(at: folder) }
        var generator = SeededGenerator(seed: 11)
        var arrays: [(name: String, array: NumPyArray)] = try ElementType.allCases.filter { $0 != .bfloat16 }.map {
            ($0.rawValue, .numeric(try randomTensor($0, shape: [3, 2], using: &generator)))
        }
        let base = try randomTensor(.float32, shape: [2, 4], using: &generator)
        arrays.append(("transposed", .numeric(try TensorRecord(storage: base.storage, shape: [4, 2], strides: [1, 4]))))
        arrays.append(("zero_d", .numeric(try randomTensor(.int64, shape: [], using: &generator))))
        arrays.append(("empty", .numeric(try randomTensor(.float64, shape: [0], using: &generator))))
        arrays.append(("words", .strings(["the", "héllo", "日本語🎉", ""], shape: [4])))
        arrays.append(("grid", .strings(["a", "bb", "ccc", "d", "", "f"], shape: [2, 3])))
        for (name, array) in arrays {
            try NumPyFile.save(array, to: folder.appendingPathComponent("\(name).npy"))
        }
        let json = try pythonJSON(NumPyFileTests.pythonDescribeArray + "\n" + #"""
import os
result = {}
for path in sys.argv[1:]:
    array = np.load(path, allow_pickle=False)
    assert array.dtype.byteorder in "<|=", array.dtype
    with open(path, "rb") as f:
        major, minor = np.lib.format.read_magic(f)
        assert (major, minor) == (1, 0), (major, minor)
        np.lib.format.read_array_header_1_0(f)
        assert f.tell() % 64 == 0, f.tell()
    result[os.path.basename(path)[:-4]] = describe_array(array)
print(json.dumps(result))
"""#, arguments: arrays.map { folder.appendingPathComponent("\($0.name).npy").path })
        let descriptions = try #require(json as? [String: Any])
        for (name, array) in arrays {
            // Saved contiguously: compare numeric arrays with their contiguous copies.
            var expected = array
            if case .numeric(let record) = array {
                expected = .numeric(try TensorRecord(contiguousBytes: try record.contiguousBytes(),
                                                     elementType: record.elementType, shape: record.shape))
            }
            expectArray(expected, descriptions[name], name)
            #expect(try NumPyFile.load(contentsOf: folder.appendingPathComponent("\(name).npy")) == array, "\(name)")
        }
        var bfloat = SeededGenerator(seed: 1)
        #expect(throws: TorchFileError.self) {
            try NumPyFile.save(.numeric(try randomTensor(.bfloat16, shape: [2], using: &bfloat)),
                               to: folder.appendingPathComponent("bf16.npy"))
        }
        #expect(throws: TorchFileError.self) {
            try NumPyFile.save(.strings(["a"], shape: [2]), to: folder.appendingPathComponent("short.npy"))
        }
    }

    @Test("the golden fixture's word dictionary loads as NumPy reads it")
    func goldenDictionary() throws {
        let folder = try requireGoldenFixture()
        try requirePython()
        let file = folder.appendingPathComponent("dict.npy")
        let json = try pythonJSON(NumPyFileTests.pythonDescribeArray + "\n"
                                  + "print(json.dumps(describe_array(np.load(sys.argv[1]))))", arguments: [file.path])
        let array = try NumPyFile.load(contentsOf: file)
        expectArray(array, json, "dict.npy")
        guard case .strings(let words, let shape) = array else {
            Issue.record("dict.npy is not a string array")
            return
        }
        #expect(shape == [words.count] && words.count > 0)
    }

    @Test("headers that lie are refused")
    func refusesBadFiles() {
        func file(_ header: String, major: UInt8 = 1, data: [UInt8] = [0, 0, 0, 0]) -> Data {
            var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [major, 0]
            bytes.appendLittleEndian(UInt16(header.utf8.count))
            return Data(bytes + Array(header.utf8) + data)
        }
        let bad: [(String, Data)] = [
            ("no magic", Data("NUMPY".utf8)),
            ("version 9", file("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", major: 9)),
            ("shape larger than the data", file("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904,), }")),
            ("overflowing shape", file("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4), }")),
            ("huge string width", file("{'descr': '<U4611686018427387904', 'fortran_order': False, 'shape': (1,), }")),
            ("negative size", file("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }")),
            ("structured dtype", file("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }")),
            ("unsupported dtype", file("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }")),
            ("not a dict", file("['descr']")),
            ("unclosed string", file("{'descr: '<f4'")),
            ("invalid character", file("{'descr': '<U1', 'fortran_order': False, 'shape': (1,), }", data: [0, 0, 0x11, 0])),
            ("header past the end", Data([0x93] + Array("NUMPY".utf8) + [1, 0, 0xFF, 0xFF])),
        ]
        for (what, data) in bad {
            #expect(throws: TorchFileError.self, "\(what)") { try NumPyFile.load(data: data) }
        }
    }
}
