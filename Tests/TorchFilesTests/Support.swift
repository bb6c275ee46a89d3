import Foundation
import Testing
import TestSupport
@testable import TorchFiles

// MARK: - Oracles and fixtures

/// Fails the current test, naming how to install it, when the project's Python (the oracle of
/// these tests, with NumPy and torch) is missing.
func requirePython() throws {
    try TestEnvironment.requireOracle("numpy", "torch")
}

/// The shared fixture folder's `golden/s3d-plain`, or a skip (a failure under CI) when absent.
func requireGoldenFixture() throws -> URL {
    let folder = TestEnvironment.sharedDirectory.appendingPathComponent("golden/s3d-plain")
    try TestEnvironment.requireFixture(folder.appendingPathComponent("state_dict.pth"), what: "the golden fixture")
    return folder
}

/// Runs `script` with the project's Python and parses what it prints as JSON.
func pythonJSON(_ script: String, arguments: [String] = []) throws -> Any {
    let output = try runPython(script, arguments: arguments)
    return try JSONSerialization.jsonObject(with: Data(output.utf8), options: [.fragmentsAllowed])
}

// MARK: - Reproducible randomness (from TestSupport's `SeededGenerator`)

/// `count` random bytes.
func randomBytes(_ count: Int, using generator: inout SeededGenerator) -> [UInt8] {
    (0 ..< count).map { _ in UInt8.random(in: 0 ... 255, using: &generator) }
}

/// A tensor of `elementType` and `shape` with random contents (valid booleans for `.bool`).
func randomTensor(_ elementType: ElementType, shape: [Int], using generator: inout SeededGenerator) throws -> TensorRecord {
    let count = shape.reduce(1, *)
    var bytes = randomBytes(count * elementType.byteCount, using: &generator)
    if elementType == .bool { bytes = bytes.map { $0 & 1 } }
    return try TensorRecord(contiguousBytes: bytes, elementType: elementType, shape: shape)
}

// MARK: - Element bits

/// The elements of `record` as integers: the bit patterns of floating-point elements (read as
/// signed integers of the same width, as Python's `tensor.view(torch.int32)` reads them), the
/// values of integer and boolean elements.
func elementBits(_ record: TensorRecord) throws -> [Int] {
    let bytes = try record.contiguousBytes()
    let size = record.elementType.byteCount
    return bytes.withUnsafeBytes { buffer in
        (0 ..< bytes.count / size).map { index -> Int in
            let offset = index * size
            switch (record.elementType, size) {
            case (.uint8, _), (.bool, _): return Int(buffer[offset])
            case (_, 1): return Int(Int8(bitPattern: buffer[offset]))
            case (_, 2): return Int(Int16(littleEndian: buffer.loadUnaligned(fromByteOffset: offset, as: Int16.self)))
            case (_, 4): return Int(Int32(littleEndian: buffer.loadUnaligned(fromByteOffset: offset, as: Int32.self)))
            default: return Int(Int64(littleEndian: buffer.loadUnaligned(fromByteOffset: offset, as: Int64.self)))
            }
        }
    }
}

// MARK: - Python's descriptions

/// The Python side of the comparisons: `describe(obj)` turns a loaded object into JSON that
/// `DescriptionMatcher` compares with a `PickleValue`, exactly (integers as decimal strings,
/// floats and tensor elements as bit patterns). It does not import torch itself, so that scripts
/// about plain pickles start quickly; scripts with tensors import it.
let pythonDescribe = #"""
import collections, json, struct, sys

_storage_ids = {}

def _bits(t):
    torch = sys.modules["torch"]
    t = t.detach().contiguous().reshape(-1)
    if t.dtype == torch.float32: t = t.view(torch.int32)
    elif t.dtype == torch.float64: t = t.view(torch.int64)
    elif t.dtype in (torch.float16, torch.bfloat16): t = t.view(torch.int16)
    elif t.dtype == torch.bool: t = t.to(torch.uint8)
    return [str(x) for x in t.tolist()]

def describe(o):
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(o, torch.Tensor):
        s = o.untyped_storage()
        key = s.data_ptr() if s.nbytes() > 0 else ("empty", len(_storage_ids))
        sid = _storage_ids.setdefault(key, len(_storage_ids))
        return {"type": "tensor", "dtype": str(o.dtype).replace("torch.", ""), "shape": list(o.shape),
                "stride": list(o.stride()), "offset": o.storage_offset(), "requires_grad": o.requires_grad,
                "parameter": isinstance(o, torch.nn.Parameter), "storage": sid, "storage_bytes": s.nbytes(),
                "bits": _bits(o)}
    if isinstance(o, collections.OrderedDict):
        return {"type": "ordered_dict", "items": [[describe(k), describe(v)] for k, v in o.items()]}
    if isinstance(o, dict):
        return {"type": "dict", "items": [[describe(k), describe(v)] for k, v in o.items()]}
    if isinstance(o, list):
        return {"type": "list", "items": [describe(x) for x in o]}
    if isinstance(o, (set, frozenset)):
        return {"type": "list", "items": [describe(x) for x in o]}
    if isinstance(o, tuple):
        return {"type": "tuple", "items": [describe(x) for x in o]}
    if o is None:
        return {"type": "none"}
    if isinstance(o, bool):
        return {"type": "bool", "value": o}
    if isinstance(o, int):
        return {"type": "int", "value": str(o)}
    if isinstance(o, float):
        return {"type": "float", "bits": str(struct.unpack("<q", struct.pack("<d", o))[0])}
    if isinstance(o, str):
        return {"type": "str", "value": o}
    if isinstance(o, (bytes, bytearray)):
        return {"type": "bytes", "value": list(o)}
    if torch is not None and isinstance(o, (torch.device, torch.dtype)):
        return {"type": "str", "value": str(o)}
    raise TypeError(f"cannot describe {type(o)}")
"""#

/// Compares `PickleValue`s with Python's descriptions of the same objects, collecting every
/// difference, and checks that storage sharing is the same on both sides.
struct DescriptionMatcher {
    private(set) var mismatches: [String] = []
    private var storageForPythonID: [Int: ObjectIdentifier] = [:]
    private var pythonIDForStorage: [ObjectIdentifier: Int] = [:]

    /// Compares `value` with `description` (Python's `describe` output), recording differences
    /// under `path`.
    mutating func match(_ value: PickleValue, _ description: Any, path: String = "") {
        guard let fields = description as? [String: Any], let type = fields["type"] as? String else {
            mismatches.append("\(path): Python's description is not an object")
            return
        }
        func differ(_ what: String) { mismatches.append("\(path): \(what)") }
        switch (type, value) {
        case ("none", .none): break
        case ("bool", .bool(let flag)):
            if (fields["value"] as? Bool) != flag { differ("bool \(flag) vs Python \(fields["value"] ?? "?")") }
        case ("int", .int), ("int", .bigInt):
            if value.decimalString != fields["value"] as? String {
                differ("int \(value.decimalString ?? "?") vs Python \(fields["value"] ?? "?")")
            }
        case ("float", .float(let number)):
            if String(Int64(bitPattern: number.bitPattern)) != fields["bits"] as? String {
                differ("float \(number) (bits \(number.bitPattern)) vs Python bits \(fields["bits"] ?? "?")")
            }
        case ("str", .string(let text)):
            if text != fields["value"] as? String { differ("string \"\(text)\" vs Python \"\(fields["value"] ?? "?")\"") }
        case ("bytes", .bytes(let bytes)):
            if bytes.map(Int.init) != integers(fields["value"]) { differ("bytes \(bytes) vs Python \(fields["value"] ?? "?")") }
        case ("list", .list(let elements)), ("tuple", .tuple(let elements)):
            let items = fields["items"] as? [Any] ?? []
            guard items.count == elements.count else {
                differ("\(type) of \(elements.count) elements vs Python's \(items.count)")
                return
            }
            for (index, (element, item)) in zip(elements, items).enumerated() {
                match(element, item, path: "\(path)[\(index)]")
            }
        case ("dict", .dict(let entries, let ordered)), ("ordered_dict", .dict(let entries, let ordered)):
            if ordered != (type == "ordered_dict") { differ("ordered \(ordered) vs Python's \(type)") }
            let items = fields["items"] as? [[Any]] ?? []
            guard items.count == entries.count else {
                differ("dict of \(entries.count) entries vs Python's \(items.count)")
                return
            }
            for (entry, item) in zip(entries, items) where item.count == 2 {
                let name = entry.key.asString ?? entry.key.description
                match(entry.key, item[0], path: "\(path).key(\(name))")
                match(entry.value, item[1], path: "\(path).\(name)")
            }
        case ("tensor", .tensor(let record)):
            matchTensor(record, fields, path: path)
        default:
            differ("\(value) vs Python's \(type)")
        }
    }

    private mutating func matchTensor(_ record: TensorRecord, _ fields: [String: Any], path: String) {
        func differ(_ what: String) { mismatches.append("\(path): \(what)") }
        if record.elementType.rawValue != fields["dtype"] as? String { differ("dtype \(record.elementType) vs \(fields["dtype"] ?? "?")") }
        if record.shape != integers(fields["shape"]) { differ("shape \(record.shape) vs \(fields["shape"] ?? "?")") }
        // Strides of a tensor without elements mean nothing (NumPy and PyTorch disagree on them).
        if record.elementCount > 0 && record.strides != integers(fields["stride"]) {
            differ("strides \(record.strides) vs \(fields["stride"] ?? "?")")
        }
        if record.storageOffset != fields["offset"] as? Int { differ("offset \(record.storageOffset) vs \(fields["offset"] ?? "?")") }
        if record.requiresGrad != fields["requires_grad"] as? Bool { differ("requiresGrad \(record.requiresGrad)") }
        if record.isParameter != fields["parameter"] as? Bool { differ("isParameter \(record.isParameter)") }
        if record.storage.bytes.count != fields["storage_bytes"] as? Int {
            differ("storage of \(record.storage.bytes.count) bytes vs \(fields["storage_bytes"] ?? "?")")
        }
        do {
            let bits = try elementBits(record)
            let expected = (fields["bits"] as? [String] ?? []).map { Int($0) }
            if bits.map(Optional.some) != expected {
                differ("elements \(bits.prefix(8))... differ from Python's \(expected.prefix(8))...")
            }
        } catch {
            differ("cannot read elements: \(error)")
        }
        // Sharing: the same Python storage must be the same Storage object, and vice versa.
        guard record.storage.bytes.count > 0, let pythonID = fields["storage"] as? Int else { return }
        let identity = ObjectIdentifier(record.storage)
        if let known = storageForPythonID[pythonID], known != identity {
            differ("Python shares storage \(pythonID) with an earlier tensor, but the Swift storages differ")
        }
        if let known = pythonIDForStorage[identity], known != pythonID {
            differ("the Swift storage is shared with an earlier tensor, but Python's storages differ")
        }
        storageForPythonID[pythonID] = identity
        pythonIDForStorage[identity] = pythonID
    }

    private func integers(_ value: Any?) -> [Int]? {
        guard let values = value as? [Any] else { return nil }
        return values.compactMap { ($0 as? NSNumber)?.intValue }
    }
}

/// Expects `value` to match Python's `description`, listing the first differences.
func expectMatch(_ value: PickleValue, _ description: Any, _ label: String,
                 sourceLocation: SourceLocation = #_sourceLocation) {
    var matcher = DescriptionMatcher()
    matcher.match(value, description)
    #expect(matcher.mismatches.isEmpty,
            "\(label): \(matcher.mismatches.count) differences, first: \(matcher.mismatches.prefix(10).joined(separator: "; "))",
            sourceLocation: sourceLocation)
}
