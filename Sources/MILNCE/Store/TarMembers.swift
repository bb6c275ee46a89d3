// POSIX tar (ustar) members, as the store's shards hold them: `tar tvf`, Python's `tarfile` and
// webdataset read the shards. Names longer than ustar's 100 bytes get a pax extended header.
// Every field that could vary (time, owner) is fixed, so the same members give the same bytes.

/// The bytes that put one file into a tar archive before its data, and where its data starts.
struct TarMemberHeader: Equatable {
    /// The header blocks (a pax header and its records when the name needs one, then the ustar
    /// header); the data follows, padded with zeros to a multiple of 512 bytes.
    let bytes: [UInt8]

    /// The tar block size.
    static let blockSize = 512

    /// The zero padding after `dataLength` bytes of data.
    static func paddingLength(afterDataOf dataLength: Int) -> Int {
        (blockSize - dataLength % blockSize) % blockSize
    }

    /// The end of an archive: two zero blocks.
    static let endOfArchive = [UInt8](repeating: 0, count: 2 * blockSize)

    /// The largest member size an ustar header holds (11 octal digits).
    static let maximumDataLength = (1 << 33) - 1

    /// The header of a regular file `name` of `dataLength` bytes (mode 0644, owner 0, time 0);
    /// nil when the size does not fit the header or the name is empty.
    init?(name: String, dataLength: Int) {
        let nameBytes = Array(name.utf8)
        guard !nameBytes.isEmpty, dataLength >= 0, dataLength <= Self.maximumDataLength, !nameBytes.contains(0) else {
            return nil
        }
        var bytes: [UInt8] = []
        if nameBytes.count > 100 {
            var record = Self.paxRecord(key: "path", value: nameBytes)
            let paxName = Array("PaxHeaders/".utf8) + Array(nameBytes.suffix(80))
            bytes += Self.ustarBlock(name: Array(paxName.prefix(100)), dataLength: record.count, type: UInt8(ascii: "x"))
            record += [UInt8](repeating: 0, count: Self.paddingLength(afterDataOf: record.count))
            bytes += record
        }
        bytes += Self.ustarBlock(name: Array(nameBytes.prefix(100)), dataLength: dataLength, type: UInt8(ascii: "0"))
        self.bytes = bytes
    }

    /// A pax record, `"<length> <key>=<value>\n"`, whose length counts its own digits.
    static func paxRecord(key: String, value: [UInt8]) -> [UInt8] {
        let body = Array(" \(key)=".utf8) + value + [UInt8(ascii: "\n")]
        var length = body.count + 1
        while String(length).utf8.count + body.count != length { length = String(length).utf8.count + body.count }
        return Array(String(length).utf8) + body
    }

    /// One 512-byte ustar header block.
    static func ustarBlock(name: [UInt8], dataLength: Int, type: UInt8) -> [UInt8] {
        var block = [UInt8](repeating: 0, count: blockSize)
        func put(_ bytes: [UInt8], at offset: Int) {
            for (index, byte) in bytes.enumerated() { block[offset + index] = byte }
        }
        func octal(_ value: Int, digits: Int) -> [UInt8] {
            let text = String(value, radix: 8)
            return Array((String(repeating: "0", count: max(0, digits - text.utf8.count)) + text).utf8) + [0]
        }
        put(name, at: 0)
        put(octal(0o644, digits: 7), at: 100)       // mode
        put(octal(0, digits: 7), at: 108)           // uid
        put(octal(0, digits: 7), at: 116)           // gid
        put(octal(dataLength, digits: 11), at: 124) // size
        put(octal(0, digits: 11), at: 136)          // mtime
        block[156] = type
        put(Array("ustar".utf8) + [0], at: 257)     // magic
        put(Array("00".utf8), at: 263)              // version
        put(octal(0, digits: 7), at: 329)           // devmajor
        put(octal(0, digits: 7), at: 337)           // devminor
        // The checksum: the sum of all bytes with the checksum field counted as spaces.
        put([UInt8](repeating: UInt8(ascii: " "), count: 8), at: 148)
        let sum = block.reduce(0) { $0 + Int($1) }
        put(octal(sum, digits: 6) + [UInt8(ascii: " ")], at: 148)
        return block
    }
}
