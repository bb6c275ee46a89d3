// The few pieces of the protocol buffer wire format that TensorBoard event files need.

// MARK: - Writing

/// Appends protocol buffer fields to a byte array.
struct ProtobufWriter {
    /// The encoded message so far.
    private(set) var bytes: [UInt8] = []

    /// The wire types of the fields written here.
    enum WireType: UInt8 {
        case varint = 0
        case fixed64 = 1
        case lengthDelimited = 2
        case fixed32 = 5
    }

    private mutating func appendVarint(_ value: UInt64) {
        var remaining = value
        while remaining >= 0x80 {
            bytes.append(UInt8(remaining & 0x7F) | 0x80)
            remaining >>= 7
        }
        bytes.append(UInt8(remaining))
    }

    private mutating func appendKey(_ field: Int, _ type: WireType) {
        appendVarint(UInt64(field) << 3 | UInt64(type.rawValue))
    }

    /// An `int64` field (negative values take ten bytes, as two's complement).
    mutating func int64(_ field: Int, _ value: Int64) {
        appendKey(field, .varint)
        appendVarint(UInt64(bitPattern: value))
    }

    /// A `double` field.
    mutating func double(_ field: Int, _ value: Double) {
        appendKey(field, .fixed64)
        withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// A `float` field.
    mutating func float(_ field: Int, _ value: Float) {
        appendKey(field, .fixed32)
        withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// A `bytes` or embedded message field.
    mutating func bytes(_ field: Int, _ value: [UInt8]) {
        appendKey(field, .lengthDelimited)
        appendVarint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    /// A `string` field (UTF-8).
    mutating func string(_ field: Int, _ value: String) {
        bytes(field, Array(value.utf8))
    }
}

// MARK: - Reading

/// Why protocol buffer bytes could not be decoded.
struct ProtobufDecodingError: Error, CustomStringConvertible {
    var description: String
}

/// One field read from a protocol buffer message.
struct ProtobufField {
    /// The field number.
    var number: Int
    /// The field's value, by wire type.
    var value: Value

    /// A field's value.
    enum Value {
        case varint(UInt64)
        case fixed64(UInt64)
        case lengthDelimited(ArraySlice<UInt8>)
        case fixed32(UInt32)
    }
}

/// Reads the fields of a protocol buffer message, bounds-checked.
struct ProtobufReader {
    private let bytes: ArraySlice<UInt8>
    private var position: Int

    init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        position = bytes.startIndex
    }

    private mutating func readVarint() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard position < bytes.endIndex else { throw ProtobufDecodingError(description: "a varint runs past the end") }
            guard shift < 64 else { throw ProtobufDecodingError(description: "a varint is longer than ten bytes") }
            let byte = bytes[position]
            position += 1
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
    }

    private mutating func readFixed(_ count: Int) throws -> UInt64 {
        guard bytes.endIndex - position >= count else {
            throw ProtobufDecodingError(description: "a \(count)-byte field runs past the end")
        }
        var result: UInt64 = 0
        for offset in 0..<count { result |= UInt64(bytes[position + offset]) << (8 * UInt64(offset)) }
        position += count
        return result
    }

    /// The next field, or `nil` at the end of the message.
    mutating func next() throws -> ProtobufField? {
        guard position < bytes.endIndex else { return nil }
        let key = try readVarint()
        let number = Int(truncatingIfNeeded: key >> 3)
        switch key & 7 {
        case 0:
            return ProtobufField(number: number, value: .varint(try readVarint()))
        case 1:
            return ProtobufField(number: number, value: .fixed64(try readFixed(8)))
        case 2:
            let length = try readVarint()
            guard length <= UInt64(bytes.endIndex - position) else {
                throw ProtobufDecodingError(description: "field \(number) of \(length) bytes runs past the end")
            }
            let start = position
            position += Int(length)
            return ProtobufField(number: number, value: .lengthDelimited(bytes[start..<position]))
        case 5:
            return ProtobufField(number: number, value: .fixed32(UInt32(truncatingIfNeeded: try readFixed(4))))
        default:
            throw ProtobufDecodingError(description: "field \(number) has the unsupported wire type \(key & 7)")
        }
    }
}
