// The tests' CRC-32, written apart from the one in TorchFiles so that it can serve as their
// oracle (and make gzip members without zlib).

/// The table of the reflected IEEE polynomial 0xEDB88320, one entry per byte value.
private let crc32Table: [UInt32] = (0..<256).map { index in
    var crc = UInt32(index)
    for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
    return crc
}

/// The CRC-32 of `bytes` (IEEE 802.3, as zip, gzip, PNG and Python's `zlib.crc32` compute it).
public func crc32(_ bytes: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    // Pointers rather than indices: debug builds checksum large test files too.
    crc32Table.withUnsafeBufferPointer { table in
        bytes.withUnsafeBufferPointer { data in
            guard let tableBase = table.baseAddress, var pointer = data.baseAddress else { return }
            let end = pointer + data.count
            while pointer < end {
                crc = tableBase[Int((crc ^ UInt32(pointer.pointee)) & 0xFF)] ^ (crc >> 8)
                pointer += 1
            }
        }
    }
    return ~crc
}
