import FoundationEssentials

// MARK: - Events

/// One scalar of an event's summary.
public struct TensorBoardScalar: Equatable, Sendable, Codable {
    /// The tag the scalar is plotted under (`loss`, `R@1/YouCook2`, ...).
    public var tag: String
    /// The value, stored as a 32-bit float.
    public var value: Float

    /// Creates a scalar.
    public init(tag: String, value: Float) {
        self.tag = tag
        self.value = value
    }
}

/// An `Event` record of a TensorBoard event file: the file-version header, or a summary of
/// scalars at one step.
public struct TensorBoardEvent: Equatable, Sendable {
    /// Seconds since 1970 when the event was recorded.
    public var wallTime: Double
    /// The training step.
    public var step: Int64
    /// The format version (`brain.Event:2`) of the first event of a file, else `nil`.
    public var fileVersion: String?
    /// The summary's scalar values (`simple_value`); other summary kinds are skipped.
    public var scalars: [TensorBoardScalar]

    /// Creates an event.
    public init(wallTime: Double, step: Int64, fileVersion: String? = nil, scalars: [TensorBoardScalar] = []) {
        self.wallTime = wallTime
        self.step = step
        self.fileVersion = fileVersion
        self.scalars = scalars
    }

    // Field numbers of tensorflow/core/util/event.proto and framework/summary.proto.
    private enum Field {
        static let wallTime = 1, step = 2, fileVersion = 3, summary = 5
        static let summaryValue = 1
        static let valueTag = 1, valueSimpleValue = 2
    }

    /// The event's protocol buffer encoding.
    func encoded() -> [UInt8] {
        var event = ProtobufWriter()
        event.double(Field.wallTime, wallTime)
        if step != 0 { event.int64(Field.step, step) }
        if let fileVersion { event.string(Field.fileVersion, fileVersion) }
        if !scalars.isEmpty {
            var summary = ProtobufWriter()
            for scalar in scalars {
                var value = ProtobufWriter()
                value.string(Field.valueTag, scalar.tag)
                value.float(Field.valueSimpleValue, scalar.value)
                summary.bytes(Field.summaryValue, value.bytes)
            }
            event.bytes(Field.summary, summary.bytes)
        }
        return event.bytes
    }
}

// MARK: - TFRecord framing

/// The framing of records in an event file: length (UInt64, little-endian), masked CRC-32C of
/// the length bytes, the data, masked CRC-32C of the data.
enum TFRecord {
    /// One framed record.
    static func frame(_ data: [UInt8]) -> [UInt8] {
        var length: [UInt8] = []
        withUnsafeBytes(of: UInt64(data.count).littleEndian) { length.append(contentsOf: $0) }
        var record = length
        record.reserveCapacity(data.count + 16)
        appendLittleEndian(CRC32C.masked(CRC32C.checksum(length)), to: &record)
        record.append(contentsOf: data)
        appendLittleEndian(CRC32C.masked(CRC32C.checksum(data)), to: &record)
        return record
    }

    private static func appendLittleEndian(_ value: UInt32, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }
}
