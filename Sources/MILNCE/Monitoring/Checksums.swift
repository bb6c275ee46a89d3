// MARK: - CRC-32 family

/// A table-driven, reflected CRC-32 over bytes, parameterised by its polynomial.
struct ReflectedCRC32Table: Sendable {
    let entries: [UInt32]

    /// Builds the table of the reflected polynomial `polynomial`.
    init(polynomial: UInt32) {
        entries = (0..<256).map { index -> UInt32 in
            var value = UInt32(index)
            for _ in 0..<8 {
                value = value & 1 == 1 ? (value >> 1) ^ polynomial : value >> 1
            }
            return value
        }
    }

    /// Continues a checksum: `crc` is the value returned for the bytes before `bytes` (0 to start).
    func update<Bytes: Sequence>(_ crc: UInt32, with bytes: Bytes) -> UInt32 where Bytes.Element == UInt8 {
        var value = ~crc
        entries.withUnsafeBufferPointer { table in
            for byte in bytes {
                value = table[Int((value ^ UInt32(byte)) & 0xFF)] ^ (value >> 8)
            }
        }
        return ~value
    }
}

/// CRC-32C (Castagnoli), the checksum of TFRecord framing in TensorBoard event files.
public enum CRC32C {
    private static let table = ReflectedCRC32Table(polynomial: 0x82F6_3B78)

    /// The CRC-32C of `bytes`, continuing from `crc` (the checksum of the preceding bytes).
    public static func checksum<Bytes: Sequence>(_ bytes: Bytes, continuing crc: UInt32 = 0) -> UInt32
        where Bytes.Element == UInt8 {
        table.update(crc, with: bytes)
    }

    /// The checksum as TFRecord stores it: rotated right by 15 bits plus a constant.
    public static func masked(_ crc: UInt32) -> UInt32 {
        ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8
    }
}

