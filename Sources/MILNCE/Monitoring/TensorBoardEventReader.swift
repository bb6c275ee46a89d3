import FoundationEssentials
import POSIX

// MARK: - Reading event files

/// One scalar of a run's history.
public struct TensorBoardScalarPoint: Equatable, Sendable, Codable {
    /// The training step.
    public var step: Int64
    /// Seconds since 1970 when it was recorded.
    public var wallTime: Double
    /// The value.
    public var value: Float

    /// Creates a point.
    public init(step: Int64, wallTime: Double, value: Float) {
        self.step = step
        self.wallTime = wallTime
        self.value = value
    }
}

/// Reads TensorBoard event files, checking every record's CRC-32C.
public enum TensorBoardEventReader {
    /// The events of one file, in order.
    ///
    /// - Throws: `TensorBoardError` when the file cannot be read, a record is truncated, a
    ///   checksum does not match, or a record is not an `Event`.
    public static func events(at url: URL) throws -> [TensorBoardEvent] {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw TensorBoardError.cannotRead(path: url.path, reason: describeSystemError(error))
        }
        return try events(in: [UInt8](data), path: url.path)
    }

    /// The events of an event file's bytes; `path` names it in errors.
    public static func events(in bytes: [UInt8], path: String) throws -> [TensorBoardEvent] {
        var result: [TensorBoardEvent] = []
        var offset = 0
        while offset < bytes.count {
            guard bytes.count - offset >= 12 else { throw TensorBoardError.truncatedRecord(path: path, offset: offset) }
            let lengthBytes = bytes[offset..<(offset + 8)]
            let length = littleEndian(bytes, at: offset, count: 8)
            guard UInt32(littleEndian(bytes, at: offset + 8, count: 4)) == CRC32C.masked(CRC32C.checksum(lengthBytes)) else {
                throw TensorBoardError.corruptLength(path: path, offset: offset)
            }
            let dataStart = offset + 12
            guard length <= UInt64(bytes.count - dataStart), bytes.count - dataStart - Int(length) >= 4 else {
                throw TensorBoardError.truncatedRecord(path: path, offset: offset)
            }
            let dataEnd = dataStart + Int(length)
            let payload = bytes[dataStart..<dataEnd]
            guard UInt32(littleEndian(bytes, at: dataEnd, count: 4)) == CRC32C.masked(CRC32C.checksum(payload)) else {
                throw TensorBoardError.corruptData(path: path, offset: offset)
            }
            do {
                result.append(try TensorBoardEvent(decoding: payload))
            } catch let error as ProtobufDecodingError {
                throw TensorBoardError.malformedEvent(path: path, offset: offset, reason: error.description)
            }
            offset = dataEnd + 4
        }
        return result
    }

    /// The scalars of every event file directly inside `directory` (files whose name contains
    /// `tfevents`, read in name order), by tag, in the order recorded.
    public static func scalars(inDirectory directory: URL) throws -> [String: [TensorBoardScalarPoint]] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        } catch {
            throw TensorBoardError.cannotRead(path: directory.path, reason: describeSystemError(error))
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
