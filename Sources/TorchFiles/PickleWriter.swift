// MARK: - Pickle writer

/// Writes a `PickleValue` as pickle protocol 2, the way `torch.save` does, using only the opcodes
/// and globals that `torch.load(weights_only=True)` accepts.
///
/// Tensors become `torch._utils._rebuild_tensor_v2` calls whose storages are persistent ids
/// `('storage', torch.<Type>Storage, key, 'cpu', numel)`; each distinct `Storage` object is
/// written once, under keys `"0"`, `"1"`, ... in order of first use, and `storages` lists them
/// for the archive.
struct PickleWriter {
    /// The pickle so far.
    private(set) var bytes: [UInt8] = [0x80, 0x02] // PROTO 2
    /// The storages referred to, in key order (key `"0"` first).
    private(set) var storages: [Storage] = []
    private var storageKeys: [ObjectIdentifier: Int] = [:]
    private var memoizedGlobals: [String: Int] = [:]
    private var memoCount = 0
    /// The deepest nesting written (deeper values are refused, as the reader would refuse them).
    let maximumDepth = 200

    /// Items per `APPENDS`/`SETITEMS`, as Python's pickler batches them.
    private static let batchSize = 1000

    /// Writes `value` and the final `STOP`.
    mutating func writeValue(_ value: PickleValue) throws {
        try write(value, depth: 0)
        bytes.append(0x2E) // STOP
    }

    // MARK: Values

    private mutating func write(_ value: PickleValue, depth: Int) throws {
        guard depth < maximumDepth else {
            throw FormatFailure("the value is nested more than \(maximumDepth) levels deep")
        }
        switch value {
        case .none: bytes.append(0x4E)
        case .bool(let flag): bytes.append(flag ? 0x88 : 0x89)
        case .int(let number): writeInt(number)
        case .bigInt(let digits): writeLong(BigInteger.shortest(digits))
        case .float(let number):
            bytes.append(0x47) // BINFLOAT
            withUnsafeBytes(of: number.bitPattern.bigEndian) { bytes.append(contentsOf: $0) }
        case .string(let text): try writeString(text)
        case .bytes(let data):
            // Protocol 2 has no bytes opcode: Python writes _codecs.encode(latin-1 text, 'latin1').
            writeGlobal(module: "_codecs", name: "encode")
            var text = String.UnicodeScalarView()
            text.append(contentsOf: data.map { Unicode.Scalar($0) })
            try writeString(String(text))
            try writeString("latin1")
            bytes.append(0x86) // TUPLE2
            bytes.append(0x52) // REDUCE
        case .list(let elements):
            bytes.append(0x5D) // EMPTY_LIST
            for start in stride(from: 0, to: elements.count, by: PickleWriter.batchSize) {
                let batch = elements[start ..< min(start + PickleWriter.batchSize, elements.count)]
                if batch.count > 1 { bytes.append(0x28) } // MARK
                for element in batch { try write(element, depth: depth + 1) }
                bytes.append(batch.count > 1 ? 0x65 : 0x61) // APPENDS or APPEND
            }
        case .tuple(let elements):
            try writeTuple(elements.count) { writer, index in try writer.write(elements[index], depth: depth + 1) }
        case .dict(let entries, let ordered):
            if ordered {
                writeGlobal(module: "collections", name: "OrderedDict")
                bytes.append(0x29) // EMPTY_TUPLE
                bytes.append(0x52) // REDUCE
            } else {
                bytes.append(0x7D) // EMPTY_DICT
            }
            for start in stride(from: 0, to: entries.count, by: PickleWriter.batchSize) {
                let batch = entries[start ..< min(start + PickleWriter.batchSize, entries.count)]
                if batch.count > 1 { bytes.append(0x28) } // MARK
                for entry in batch {
                    guard PickleWriter.isHashable(entry.key) else {
                        throw FormatFailure("a dict key is \(entry.key), which Python cannot use as a key")
                    }
                    try write(entry.key, depth: depth + 1)
                    try write(entry.value, depth: depth + 1)
                }
                bytes.append(batch.count > 1 ? 0x75 : 0x73) // SETITEMS or SETITEM
            }
        case .tensor(let record): try writeTensor(record)
        }
    }

    private mutating func writeInt(_ number: Int) {
        switch number {
        case 0 ..< 0x100:
            bytes.append(0x4B) // BININT1
            bytes.append(UInt8(number))
        case 0x100 ..< 0x10000:
            bytes.append(0x4D) // BININT2
            bytes.appendLittleEndian(UInt16(number))
        case Int(Int32.min) ... Int(Int32.max):
            bytes.append(0x4A) // BININT
            bytes.appendLittleEndian(Int32(number))
        default:
            writeLong(BigInteger.bytes(of: number))
        }
    }

    private mutating func writeLong(_ digits: [UInt8]) {
        if digits.count < 0x100 {
            bytes.append(0x8A) // LONG1
            bytes.append(UInt8(digits.count))
        } else {
            bytes.append(0x8B) // LONG4
            bytes.appendLittleEndian(Int32(digits.count))
        }
        bytes += digits
    }

    private mutating func writeString(_ text: String) throws {
        let utf8 = Array(text.utf8)
        guard utf8.count <= Int(UInt32.max) else {
            throw FormatFailure("a string of \(utf8.count) bytes is longer than protocol 2 can hold")
        }
        bytes.append(0x58) // BINUNICODE
        bytes.appendLittleEndian(UInt32(utf8.count))
        bytes += utf8
    }

    private mutating func writeTuple(_ count: Int, _ element: (inout PickleWriter, Int) throws -> Void) rethrows {
        if count == 0 {
            bytes.append(0x29) // EMPTY_TUPLE
            return
        }
        if count > 3 { bytes.append(0x28) } // MARK
        for index in 0 ..< count { try element(&self, index) }
        bytes.append([0x85, 0x86, 0x87, 0x74][min(count, 4) - 1]) // TUPLE1, TUPLE2, TUPLE3, TUPLE
    }

    /// Writes a global, memoised so that each is spelled out once.
    private mutating func writeGlobal(module: String, name: String) {
        let key = module + "\n" + name
        if let index = memoizedGlobals[key] {
            if index < 0x100 {
                bytes.append(0x68) // BINGET
                bytes.append(UInt8(index))
            } else {
                bytes.append(0x6A) // LONG_BINGET
                bytes.appendLittleEndian(UInt32(index))
            }
            return
        }
        bytes.append(0x63) // GLOBAL
        bytes += Array(key.utf8)
        bytes.append(0x0A)
        let index = memoCount
        memoCount += 1
        memoizedGlobals[key] = index
        if index < 0x100 {
            bytes.append(0x71) // BINPUT
            bytes.append(UInt8(index))
        } else {
            bytes.append(0x72) // LONG_BINPUT
            bytes.appendLittleEndian(UInt32(index))
        }
    }

    /// Whether Python can hash a value of this shape (lists and dicts it cannot).
    private static func isHashable(_ value: PickleValue) -> Bool {
        switch value {
        case .list, .dict: false
        case .tuple(let elements): elements.allSatisfy(isHashable)
        default: true
        }
    }

    // MARK: Tensors

    private mutating func writeTensor(_ record: TensorRecord) throws {
        if let problem = record.viewProblem() { throw FormatFailure(problem) }
        let storage = record.storage
        guard record.elementType == storage.elementType else {
            throw FormatFailure("a \(record.elementType) tensor views a \(storage.elementType) storage, which "
                                + "torch.save cannot express")
        }
        guard storage.bytes.count == storage.elementCount * storage.elementType.byteCount else {
            throw FormatFailure("a storage holds \(storage.bytes.count) bytes, not the \(storage.elementCount) "
                                + "\(storage.elementType) elements it declares")
        }
        let key: Int
        if let known = storageKeys[ObjectIdentifier(storage)] {
            key = known
        } else {
            key = storages.count
            storageKeys[ObjectIdentifier(storage)] = key
            storages.append(storage)
        }
        if record.isParameter { writeGlobal(module: "torch._utils", name: "_rebuild_parameter") }
        writeGlobal(module: "torch._utils", name: "_rebuild_tensor_v2")
        bytes.append(0x28) // MARK
        // The persistent id of the storage.
        bytes.append(0x28) // MARK
        try writeString("storage")
        writeGlobal(module: "torch", name: storage.elementType.storageClassName)
        try writeString(String(key))
        try writeString("cpu")
        writeInt(storage.elementCount)
        bytes.append(0x74) // TUPLE
        bytes.append(0x51) // BINPERSID
        writeInt(record.storageOffset)
        writeTuple(record.shape.count) { writer, index in writer.writeInt(record.shape[index]) }
        writeTuple(record.strides.count) { writer, index in writer.writeInt(record.strides[index]) }
        bytes.append(record.requiresGrad && !record.isParameter ? 0x88 : 0x89)
        writeEmptyOrderedDict() // backward hooks
        bytes.append(0x74) // TUPLE
        bytes.append(0x52) // REDUCE
        if record.isParameter {
            bytes.append(record.requiresGrad ? 0x88 : 0x89)
            writeEmptyOrderedDict()
            bytes.append(0x87) // TUPLE3
            bytes.append(0x52) // REDUCE
        }
    }

    private mutating func writeEmptyOrderedDict() {
        writeGlobal(module: "collections", name: "OrderedDict")
        bytes.append(0x29) // EMPTY_TUPLE
        bytes.append(0x52) // REDUCE
    }
}
