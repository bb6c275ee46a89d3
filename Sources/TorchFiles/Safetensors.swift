import FoundationEssentials

// MARK: - safetensors

/// safetensors files: an 8-byte little-endian header length, a JSON header
/// `{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}`, then the
/// tensors' bytes (little-endian, row-major), offsets counted from the end of the header.
public enum Safetensors {
    static let readAction = "reading the safetensors file"
    static let writeAction = "writing the safetensors file"
    /// The largest header accepted, as the reference implementation limits it.
    static let maximumHeaderByteCount = 100_000_000

    // MARK: Loading

    /// The tensors of the file at `url` in the order of their data (ties, such as empty tensors,
    /// by name), and its metadata.
    ///
    /// - Throws: `TorchFileError` when the file is unreadable, truncated, or its header is not
    ///   valid JSON, names an unsupported dtype, or places a tensor outside the data.
    public static func load(contentsOf url: URL) throws
        -> (tensors: [(name: String, tensor: TensorRecord)], metadata: [String: String]) {
        try withFileErrors(readAction, path: url.path) { try decode(try readContents(of: url)) }
    }

    /// The tensors and metadata of a safetensors file held in memory.
    public static func load(data: Data) throws
        -> (tensors: [(name: String, tensor: TensorRecord)], metadata: [String: String]) {
        try withFileErrors(readAction, path: nil) { try decode(data) }
    }

    private static func decode(_ data: Data) throws
        -> (tensors: [(name: String, tensor: TensorRecord)], metadata: [String: String]) {
        try data.withUnsafeBytes { bytes in
            var reader = ByteReader(bytes)
            let headerLength = try reader.read(UInt64.self, "the header length")
            guard headerLength <= UInt64(reader.remaining) else {
                throw FormatFailure("the header is said to be \(headerLength) bytes long, but only \(reader.remaining) "
                                    + "bytes follow; the file is truncated or not a safetensors file", at: 0)
            }
            guard headerLength <= UInt64(maximumHeaderByteCount) else {
                throw FormatFailure("the header of \(headerLength) bytes is larger than the \(maximumHeaderByteCount) accepted", at: 0)
            }
            let header = try reader.readSlice(Int(headerLength), "the header")
            let dataStart = reader.position
            let dataLength = reader.remaining
            let json: JSONValue
            do {
                json = try JSONDecoder().decode(JSONValue.self, from: Data(header))
            } catch {
                throw FormatFailure("the header is not valid JSON", at: 8)
            }
            guard case .object(let object) = json else {
                throw FormatFailure("the header is not a JSON object", at: 8)
            }
            var metadata: [String: String] = [:]
            var found: [(begin: Int, end: Int, name: String, tensor: TensorRecord)] = []
            for (name, description) in object {
                if name == "__metadata__" {
                    guard case .object(let entries) = description else {
                        throw FormatFailure("__metadata__ is not a JSON object", at: 8)
                    }
                    for (key, value) in entries {
                        guard case .string(let text) = value else {
                            throw FormatFailure("the metadata entry \(key) is not a string", at: 8)
                        }
                        metadata[key] = text
                    }
                    continue
                }
                let (begin, end, tensor) = try decodeTensor(name, description, bytes: bytes, dataStart: dataStart,
                                                            dataLength: dataLength)
                found.append((begin, end, name, tensor))
            }
            found.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
            return (found.map { (name: $0.name, tensor: $0.tensor) }, metadata)
        }
    }

    private static func decodeTensor(_ name: String, _ description: JSONValue, bytes: UnsafeRawBufferPointer,
                                     dataStart: Int, dataLength: Int) throws -> (Int, Int, TensorRecord) {
        guard case .object(let fields) = description else {
            throw FormatFailure("the entry of tensor \(name) is not a JSON object", at: 8)
        }
        guard case .string(let dtype)? = fields["dtype"] else {
            throw FormatFailure("tensor \(name) has no dtype", at: 8)
        }
        guard let elementType = ElementType(safetensorsName: dtype) else {
            throw FormatFailure("tensor \(name) has dtype \(dtype), which is not supported (supported: "
                                + ElementType.allCases.map(\.safetensorsName).joined(separator: ", ") + ")", at: 8)
        }
        guard case .array(let shapeValues)? = fields["shape"], let shape = integers(shapeValues),
              shape.allSatisfy({ $0 >= 0 }) else {
            throw FormatFailure("tensor \(name) has no valid shape (a list of non-negative integers)", at: 8)
        }
        guard case .array(let offsetValues)? = fields["data_offsets"], let offsets = integers(offsetValues),
              offsets.count == 2 else {
            throw FormatFailure("tensor \(name) has no valid data_offsets (two integers)", at: 8)
        }
        let begin = offsets[0], end = offsets[1]
        guard begin >= 0, begin <= end, end <= dataLength else {
            throw FormatFailure("tensor \(name) lies at bytes \(begin)..<\(end) of data that is \(dataLength) bytes long", at: 8)
        }
        guard let count = TensorRecord.elementCount(of: shape), let byteCount = checkedProduct(count, elementType.byteCount),
              byteCount == end - begin else {
            throw FormatFailure("tensor \(name) of shape \(shape) and dtype \(dtype) does not fill its \(end - begin) bytes", at: 8)
        }
        let contents = UnsafeRawBufferPointer(rebasing: bytes[dataStart + begin ..< dataStart + end]).copiedBytes()
        let storage = Storage(key: name, elementType: elementType, location: "cpu", elementCount: count, bytes: contents)
        let record = TensorRecord(unchecked: storage, elementType: elementType, shape: shape,
                                  strides: TensorRecord.contiguousStrides(for: shape), storageOffset: 0,
                                  requiresGrad: false, isParameter: false)
        return (begin, end, record)
    }

    /// The values as `Int`s, or `nil` when one is not an integer.
    private static func integers(_ values: [JSONValue]) -> [Int]? {
        var result: [Int] = []
        for value in values {
            switch value {
            case .integer(let integer): result.append(integer)
            case .number(let double) where double.rounded() == double && abs(double) < 9.0e18: result.append(Int(double))
            default: return nil
            }
        }
        return result
    }


    // MARK: Saving

    /// Writes `tensors` (in this order) and `metadata` to `url` as a safetensors file, replacing
    /// any file there atomically. Views are written as their contiguous elements.
    ///
    /// - Throws: `TorchFileError` when two tensors share a name, a name is `__metadata__`, a view
    ///   lies outside its storage, or the file cannot be written.
    public static func save(_ tensors: [(name: String, tensor: TensorRecord)], metadata: [String: String] = [:],
                            to url: URL) throws {
        try withFileErrors(writeAction, path: url.path) {
            var names = Set<String>()
            var header = "{"
            var entries: [String] = []
            if !metadata.isEmpty {
                let pairs = metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0] ?? ""))" }
                entries.append("\"__metadata__\":{" + pairs.joined(separator: ",") + "}")
            }
            var contents: [[UInt8]] = []
            var offset = 0
            for (name, tensor) in tensors {
                guard name != "__metadata__", names.insert(name).inserted else {
                    throw FormatFailure("the tensor name \(name) is used twice or reserved")
                }
                let bytes = try tensor.contiguousBytes()
                let shape = tensor.shape.map(String.init).joined(separator: ",")
                entries.append("\(jsonString(name)):{\"dtype\":\"\(tensor.elementType.safetensorsName)\","
                               + "\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + bytes.count)]}")
                offset += bytes.count
                contents.append(bytes)
            }
            header += entries.joined(separator: ",") + "}"
            var headerBytes = Array(header.utf8)
            // Pad with spaces so that the data starts on an 8-byte boundary.
            headerBytes += [UInt8](repeating: 0x20, count: (8 - headerBytes.count % 8) % 8)
            let output = try OutputFile(destination: url)
            var length: [UInt8] = []
            length.appendLittleEndian(UInt64(headerBytes.count))
            try output.write(length)
            try output.write(headerBytes)
            for bytes in contents { try output.write(bytes) }
            try output.commit()
        }
    }
}

// MARK: - JSON strings

/// `text` as a JSON string literal.
func jsonString(_ text: String) -> String {
    var result = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": result += "\\\""
        case "\\": result += "\\\\"
        case "\n": result += "\\n"
        case "\r": result += "\\r"
        case "\t": result += "\\t"
        case _ where scalar.value < 0x20: result += "\\u" + hexadecimal(scalar.value, digits: 4)
        default: result.unicodeScalars.append(scalar)
        }
    }
    return result + "\""
}

/// A JSON value, as `JSONDecoder` reads it: what a safetensors header holds.
enum JSONValue: Decodable, Equatable {
    case null
    case bool(Bool)
    /// A number without fraction or exponent that fits an `Int`.
    case integer(Int)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }
}
