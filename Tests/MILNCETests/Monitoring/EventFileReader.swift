// Reading TensorBoard event files back, to check what TensorBoardWriter wrote: the TFRecord
// framing with its CRC-32C checks, the `Event` and `Summary` messages, and a minimal protocol
// buffer reader. TensorBoard's own EventAccumulator is the oracle beside it.

import Foundation
@testable import MILNCE
import POSIX

// MARK: - Errors

/// Why an event file could not be read back.
enum TensorBoardReadError: Error, CustomStringConvertible, Equatable {
    case cannotRead(path: String, reason: String)
    case truncatedRecord(path: String, offset: Int)
    case corruptLength(path: String, offset: Int)
    case corruptData(path: String, offset: Int)
    case malformedEvent(path: String, offset: Int, reason: String)

    var description: String {
        switch self {
        case let .cannotRead(path, reason):
            return "reading the TensorBoard event file \(path): \(reason)"
        case let .truncatedRecord(path, offset):
            return "reading the TensorBoard event file \(path): the record at byte \(offset) is truncated"
        case let .corruptLength(path, offset):
            return "reading the TensorBoard event file \(path): the length of the record at byte \(offset) "
                + "fails its CRC-32C check"
        case let .corruptData(path, offset):
            return "reading the TensorBoard event file \(path): the data of the record at byte \(offset) "
                + "fails its CRC-32C check"
        case let .malformedEvent(path, offset, reason):
            return "reading the TensorBoard event file \(path): the record at byte \(offset) is not an event: \(reason)"
        }
    }
}

// MARK: - Event files

/// One scalar of a run's history.
struct TensorBoardScalarPoint: Equatable, Sendable, Codable {
    /// The training step.
    var step: Int64
    /// Seconds since 1970 when it was recorded.
    var wallTime: Double
    /// The value.
    var value: Float

    /// Creates a point.
    init(step: Int64, wallTime: Double, value: Float) {
        self.step = step
        self.wallTime = wallTime
        self.value = value
    }
}

/// Reads TensorBoard event files, checking every record's CRC-32C.
enum TensorBoardEventReader {
    /// The events of one file, in order.
    ///
    /// - Throws: `TensorBoardError` when the file cannot be read, a record is truncated, a
    ///   checksum does not match, or a record is not an `Event`.
    static func events(at url: URL) throws -> [TensorBoardEvent] {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw TensorBoardReadError.cannotRead(path: url.path, reason: describeSystemError(error))
        }
        return try events(in: [UInt8](data), path: url.path)
    }

    /// The events of an event file's bytes; `path` names it in errors.
    static func events(in bytes: [UInt8], path: String) throws -> [TensorBoardEvent] {
        var result: [TensorBoardEvent] = []
        var offset = 0
        while offset < bytes.count {
            guard bytes.count - offset >= 12 else { throw TensorBoardReadError.truncatedRecord(path: path, offset: offset) }
            let lengthBytes = bytes[offset..<(offset + 8)]
            let length = littleEndian(bytes, at: offset, count: 8)
            guard UInt32(littleEndian(bytes, at: offset + 8, count: 4)) == CRC32C.masked(CRC32C.checksum(lengthBytes)) else {
                throw TensorBoardReadError.corruptLength(path: path, offset: offset)
            }
            let dataStart = offset + 12
            guard length <= UInt64(bytes.count - dataStart), bytes.count - dataStart - Int(length) >= 4 else {
                throw TensorBoardReadError.truncatedRecord(path: path, offset: offset)
            }
            let dataEnd = dataStart + Int(length)
            let payload = bytes[dataStart..<dataEnd]
            guard UInt32(littleEndian(bytes, at: dataEnd, count: 4)) == CRC32C.masked(CRC32C.checksum(payload)) else {
                throw TensorBoardReadError.corruptData(path: path, offset: offset)
            }
            do {
                result.append(try TensorBoardEvent(decoding: payload))
            } catch let error as ProtobufDecodingError {
                throw TensorBoardReadError.malformedEvent(path: path, offset: offset, reason: error.description)
            }
            offset = dataEnd + 4
        }
        return result
    }

    /// The scalars of every event file directly inside `directory` (files whose name contains
    /// `tfevents`, read in name order), by tag, in the order recorded.
    static func scalars(inDirectory directory: URL) throws -> [String: [TensorBoardScalarPoint]] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        } catch {
            throw TensorBoardReadError.cannotRead(path: directory.path, reason: describeSystemError(error))
        }
        var result: [String: [TensorBoardScalarPoint]] = [:]
        for name in names.sorted() where name.contains("tfevents") {
            for event in try events(at: directory.appendingPathComponent(name)) {
                for scalar in event.scalars {
                    result[scalar.tag, default: []].append(
                        TensorBoardScalarPoint(step: event.step, wallTime: event.wallTime, value: scalar.value))
                }
            }
        }
        return result
    }

    private static func littleEndian(_ bytes: [UInt8], at offset: Int, count: Int) -> UInt64 {
        var value: UInt64 = 0
        for index in 0..<count { value |= UInt64(bytes[offset + index]) << (8 * UInt64(index)) }
        return value
    }
}

// MARK: - Events

extension TensorBoardEvent {
    // Field numbers of tensorflow/core/util/event.proto and framework/summary.proto.
    private enum Field {
        static let wallTime = 1, step = 2, fileVersion = 3, summary = 5
        static let summaryValue = 1
        static let valueTag = 1, valueSimpleValue = 2
    }

    /// Decodes an event, skipping fields this type does not hold.
    init(decoding bytes: ArraySlice<UInt8>) throws {
        self.init(wallTime: 0, step: 0)
        var reader = ProtobufReader(bytes)
        while let field = try reader.next() {
            switch (field.number, field.value) {
            case (Field.wallTime, .fixed64(let bits)):
                wallTime = Double(bitPattern: bits)
            case (Field.step, .varint(let bits)):
                step = Int64(bitPattern: bits)
            case (Field.fileVersion, .lengthDelimited(let text)):
                fileVersion = String(decoding: text, as: UTF8.self)
            case (Field.summary, .lengthDelimited(let summary)):
                scalars += try TensorBoardEvent.decodeSummary(summary)
            default:
                break
            }
        }
    }

    /// The scalar values of a `Summary` message.
    private static func decodeSummary(_ bytes: ArraySlice<UInt8>) throws -> [TensorBoardScalar] {
        var result: [TensorBoardScalar] = []
        var reader = ProtobufReader(bytes)
        while let field = try reader.next() {
            guard field.number == Field.summaryValue, case .lengthDelimited(let valueBytes) = field.value else { continue }
            var tag = ""
            var simpleValue: Float?
            var valueReader = ProtobufReader(valueBytes)
            while let valueField = try valueReader.next() {
                switch (valueField.number, valueField.value) {
                case (Field.valueTag, .lengthDelimited(let text)):
                    tag = String(decoding: text, as: UTF8.self)
                case (Field.valueSimpleValue, .fixed32(let bits)):
                    simpleValue = Float(bitPattern: bits)
                default:
                    break
                }
            }
            if let simpleValue { result.append(TensorBoardScalar(tag: tag, value: simpleValue)) }
        }
        return result
    }
}

// MARK: - Protocol buffers

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
