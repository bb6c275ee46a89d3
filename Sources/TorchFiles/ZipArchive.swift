import FoundationEssentials

// MARK: - Reading

/// The entries of a zip archive held in memory, as PyTorch writes them: stored (uncompressed),
/// possibly ZIP64. Only the central directory is trusted for names and sizes; every offset and
/// size is checked against the archive's length before use.
struct ZipArchiveReader {
    /// One stored file of the archive.
    struct Entry {
        /// The entry's full name, e.g. `archive/data/0`.
        var name: String
        /// Where the entry's bytes start in the archive.
        var dataOffset: Int
        /// The entry's length in bytes.
        var size: Int
        /// The CRC-32 the central directory records for it.
        var crc32: UInt32
        /// The compression method: 0 when stored, as PyTorch stores every entry.
        var method: UInt16
    }

    /// The archive's bytes.
    let bytes: UnsafeRawBufferPointer
    /// The entries in central-directory order.
    private(set) var entries: [Entry] = []
    /// Entry index by name.
    private var index: [String: Int] = [:]

    /// Reads the central directory of the archive `bytes`.
    init(_ bytes: UnsafeRawBufferPointer) throws {
        self.bytes = bytes
        var reader = ByteReader(bytes)
        let end = try ZipArchiveReader.findEndOfCentralDirectory(bytes)
        reader.position = end + 4
        let diskNumber = try reader.read(UInt16.self)
        let directoryDisk = try reader.read(UInt16.self)
        _ = try reader.read(UInt16.self) // entries on this disk
        var entryCount = UInt64(try reader.read(UInt16.self))
        var directorySize = UInt64(try reader.read(UInt32.self))
        var directoryOffset = UInt64(try reader.read(UInt32.self))
        guard diskNumber == 0, directoryDisk == 0 else {
            throw FormatFailure("the zip archive spans several disks, which PyTorch never writes", at: end)
        }
        if entryCount == 0xFFFF || directorySize == 0xFFFF_FFFF || directoryOffset == 0xFFFF_FFFF {
            (entryCount, directorySize, directoryOffset) = try ZipArchiveReader.readZip64End(bytes, endRecord: end)
        }
        guard directoryOffset <= UInt64(bytes.count), directorySize <= UInt64(bytes.count) - directoryOffset else {
            throw FormatFailure("the zip central directory (\(directorySize) bytes at \(directoryOffset)) lies outside the "
                                + "\(bytes.count)-byte file", at: end)
        }
        guard entryCount <= directorySize / 46 else {
            throw FormatFailure("the zip archive claims \(entryCount) entries, more than its central directory can hold", at: end)
        }
        reader.position = Int(directoryOffset)
        entries.reserveCapacity(Int(entryCount))
        for _ in 0 ..< Int(entryCount) {
            let entry = try readCentralHeader(&reader)
            guard index[entry.name] == nil else {
                throw FormatFailure("the zip archive has two entries named \(entry.name)", at: entry.dataOffset)
            }
            index[entry.name] = entries.count
            entries.append(entry)
        }
    }

    /// The entry named `name`, if any.
    func entry(named name: String) -> Entry? {
        index[name].map { entries[$0] }
    }

    /// The bytes of `entry`, with its CRC-32 checked.
    ///
    /// - Throws: `FormatFailure` when the entry is compressed or its checksum is wrong.
    func contents(of entry: Entry) throws -> UnsafeRawBufferPointer {
        guard entry.method == 0 else {
            let methodName = entry.method == 8 ? "deflate" : "method \(entry.method)"
            throw FormatFailure("the zip entry \(entry.name) is compressed (\(methodName)); PyTorch stores entries "
                                + "uncompressed, so the archive was rewritten by another tool (load it in Python and "
                                + "save it again with torch.save)", at: entry.dataOffset)
        }
        let slice = UnsafeRawBufferPointer(rebasing: bytes[entry.dataOffset ..< entry.dataOffset + entry.size])
        let actual = CRC32.checksum(slice)
        guard actual == entry.crc32 else {
            throw FormatFailure("the zip entry \(entry.name) is corrupt: its CRC-32 is \(hexadecimal(actual, digits: 8)), "
                                + "not the recorded \(hexadecimal(entry.crc32, digits: 8))", at: entry.dataOffset)
        }
        return slice
    }

    // MARK: Structure

    private static func findEndOfCentralDirectory(_ bytes: UnsafeRawBufferPointer) throws -> Int {
        guard bytes.count >= 22 else {
            throw FormatFailure("the file is too short (\(bytes.count) bytes) to be a zip archive")
        }
        let lowest = max(0, bytes.count - 22 - 0xFFFF)
        var position = bytes.count - 22
        while position >= lowest {
            if bytes.loadUnaligned(fromByteOffset: position, as: UInt32.self) == UInt32(0x0605_4B50).littleEndian {
                return position
            }
            position -= 1
        }
        throw FormatFailure("the zip archive has no end-of-central-directory record; the file is truncated or not a zip archive")
    }

    private static func readZip64End(_ bytes: UnsafeRawBufferPointer, endRecord: Int) throws -> (UInt64, UInt64, UInt64) {
        guard endRecord >= 20 else { throw FormatFailure("the ZIP64 end-of-directory locator is missing", at: endRecord) }
        var locator = ByteReader(bytes, position: endRecord - 20)
        guard try locator.read(UInt32.self) == 0x0706_4B50 else {
            throw FormatFailure("the ZIP64 end-of-directory locator is missing", at: endRecord - 20)
        }
        _ = try locator.read(UInt32.self) // disk
        let recordOffset = try locator.read(UInt64.self)
        guard recordOffset <= UInt64(endRecord - 20) else {
            throw FormatFailure("the ZIP64 end-of-directory record lies outside the file", at: endRecord - 20)
        }
        var record = ByteReader(bytes, position: Int(recordOffset))
        guard try record.read(UInt32.self, "the ZIP64 end-of-directory record") == 0x0606_4B50 else {
            throw FormatFailure("the ZIP64 end-of-directory record is missing", at: Int(recordOffset))
        }
        _ = try record.read(UInt64.self) // record size
        _ = try record.read(UInt16.self) // version made by
        _ = try record.read(UInt16.self) // version needed
        _ = try record.read(UInt32.self) // disk
        _ = try record.read(UInt32.self) // directory disk
        _ = try record.read(UInt64.self) // entries on disk
        let entryCount = try record.read(UInt64.self)
        let directorySize = try record.read(UInt64.self)
        let directoryOffset = try record.read(UInt64.self)
        return (entryCount, directorySize, directoryOffset)
    }

    private func readCentralHeader(_ reader: inout ByteReader) throws -> Entry {
        let start = reader.position
        guard try reader.read(UInt32.self, "a zip central directory entry") == 0x0201_4B50 else {
            throw reader.failure("the zip central directory is corrupt (an entry lacks its signature)", at: start)
        }
        _ = try reader.read(UInt16.self) // version made by
        _ = try reader.read(UInt16.self) // version needed
        let flags = try reader.read(UInt16.self)
        let method = try reader.read(UInt16.self)
        _ = try reader.read(UInt32.self) // time and date
        let crc = try reader.read(UInt32.self)
        var compressedSize = UInt64(try reader.read(UInt32.self))
        var size = UInt64(try reader.read(UInt32.self))
        let nameLength = Int(try reader.read(UInt16.self))
        let extraLength = Int(try reader.read(UInt16.self))
        let commentLength = Int(try reader.read(UInt16.self))
        _ = try reader.read(UInt16.self) // disk
        _ = try reader.read(UInt16.self) // internal attributes
        _ = try reader.read(UInt32.self) // external attributes
        var headerOffset = UInt64(try reader.read(UInt32.self))
        let nameBytes = try reader.readSlice(nameLength, "a zip entry name")
        let name = String(decoding: nameBytes, as: UTF8.self)
        var extra = ByteReader(try reader.readSlice(extraLength, "a zip extra field"), fileOffset: reader.position - extraLength)
        _ = try reader.readSlice(commentLength, "a zip entry comment")

        // ZIP64: the extra field holds, in order, each size or offset that is 0xFFFFFFFF above.
        while extra.remaining >= 4 {
            let id = try extra.read(UInt16.self)
            let length = Int(try extra.read(UInt16.self))
            var field = ByteReader(try extra.readSlice(length, "a zip extra field"), fileOffset: extra.fileOffset)
            guard id == 0x0001 else { continue }
            if size == 0xFFFF_FFFF { size = try field.read(UInt64.self, "a ZIP64 size") }
            if compressedSize == 0xFFFF_FFFF { compressedSize = try field.read(UInt64.self, "a ZIP64 size") }
            if headerOffset == 0xFFFF_FFFF { headerOffset = try field.read(UInt64.self, "a ZIP64 offset") }
        }

        guard flags & 1 == 0 else {
            throw reader.failure("the zip entry \(name) is encrypted", at: start)
        }
        guard method != 0 || compressedSize == size else {
            throw reader.failure("the stored zip entry \(name) has different compressed and uncompressed sizes", at: start)
        }
        // The local header repeats the name and has its own extra field; the data follows it.
        guard headerOffset <= UInt64(bytes.count) else {
            throw reader.failure("the zip entry \(name) starts at \(headerOffset), beyond the end of the file", at: start)
        }
        var local = ByteReader(bytes, position: Int(headerOffset))
        guard try local.read(UInt32.self, "a zip local header") == 0x0403_4B50 else {
            throw local.failure("the zip local header of \(name) lacks its signature", at: Int(headerOffset))
        }
        local.position += 22
        let localNameLength = Int(try local.read(UInt16.self, "a zip local header"))
        let localExtraLength = Int(try local.read(UInt16.self, "a zip local header"))
        let dataOffset = local.position + localNameLength + localExtraLength
        guard dataOffset <= bytes.count, compressedSize <= UInt64(bytes.count - dataOffset) else {
            throw local.failure("the zip entry \(name) (\(compressedSize) bytes at \(dataOffset)) runs past the end of the "
                                + "\(bytes.count)-byte file; the file is truncated", at: Int(headerOffset))
        }
        return Entry(name: name, dataOffset: dataOffset, size: Int(compressedSize), crc32: crc, method: method)
    }
}

// MARK: - Writing

/// Writes a zip archive as PyTorch's writer (miniz) does: entries stored uncompressed, each
/// entry's data aligned to 64 bytes by padding in the local header's extra field, sizes and
/// CRC-32 in a data descriptor after the data, ZIP64 records where sizes or offsets need them.
final class ZipArchiveWriter {
    private struct CentralEntry {
        var name: [UInt8]
        var crc32: UInt32
        var size: UInt64
        var headerOffset: UInt64
        var flags: UInt16
        var bigSize: Bool
        var bigOffset: Bool
    }

    private let output: ByteSink
    private var entries: [CentralEntry] = []
    /// Use ZIP64 records even where sizes and offsets would fit in 32 bits (for tests).
    private let alwaysZip64: Bool
    /// The alignment of entry data.
    static let alignment = 64

    init(output: ByteSink, alwaysZip64: Bool = false) {
        self.output = output
        self.alwaysZip64 = alwaysZip64
    }

    /// Adds an entry whose contents are `bytes`.
    func addEntry(named name: String, bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try addEntry(named: name, contents: $0) }
    }

    /// Adds an entry whose contents are `contents`.
    func addEntry(named name: String, contents: UnsafeRawBufferPointer) throws {
        let nameBytes = Array(name.utf8)
        let offset = UInt64(output.position)
        let size = UInt64(contents.count)
        let bigSize = alwaysZip64 || size >= 0xFFFF_FFFF
        let bigOffset = alwaysZip64 || offset >= 0xFFFF_FFFF
        let zip64 = bigSize || bigOffset
        // Empty entries carry no data descriptor, as miniz writes them.
        let flags: UInt16 = size == 0 ? 0x0800 : 0x0808

        var zip64Extra: [UInt8] = []
        if zip64 {
            zip64Extra.appendLittleEndian(UInt16(0x0001))
            zip64Extra.appendLittleEndian(UInt16((bigSize ? 16 : 0) + (bigOffset ? 8 : 0)))
            if bigSize {
                zip64Extra.appendLittleEndian(size)
                zip64Extra.appendLittleEndian(size)
            }
            if bigOffset { zip64Extra.appendLittleEndian(offset) }
        }
        // Padding extra field ("FB") so that the data starts on an aligned offset.
        let unpadded = Int(offset) + 30 + nameBytes.count + zip64Extra.count + 4
        let padding = (ZipArchiveWriter.alignment - unpadded % ZipArchiveWriter.alignment) % ZipArchiveWriter.alignment
        var header: [UInt8] = []
        header.reserveCapacity(30 + nameBytes.count + zip64Extra.count + 4 + padding)
        header.appendLittleEndian(UInt32(0x0403_4B50))
        header.appendLittleEndian(UInt16(zip64 ? 45 : 0)) // version needed
        header.appendLittleEndian(flags)
        header.appendLittleEndian(UInt16(0)) // stored
        header.appendLittleEndian(UInt32(0)) // time and date
        header.appendLittleEndian(UInt32(0)) // CRC-32: in the data descriptor
        header.appendLittleEndian(UInt32(bigSize ? 0xFFFF_FFFF : 0)) // sizes: in the data descriptor
        header.appendLittleEndian(UInt32(bigSize ? 0xFFFF_FFFF : 0))
        header.appendLittleEndian(UInt16(nameBytes.count))
        header.appendLittleEndian(UInt16(zip64Extra.count + 4 + padding))
        header += nameBytes
        header += zip64Extra
        header.appendLittleEndian(UInt16(0x4246)) // "FB"
        header.appendLittleEndian(UInt16(padding))
        header += [UInt8](repeating: UInt8(ascii: "Z"), count: padding)
        try output.write(header)
        try output.write(contents)
        let crc = CRC32.checksum(contents)
        if size > 0 {
            var descriptor: [UInt8] = []
            descriptor.appendLittleEndian(UInt32(0x0807_4B50))
            descriptor.appendLittleEndian(crc)
            if zip64 {
                descriptor.appendLittleEndian(size)
                descriptor.appendLittleEndian(size)
            } else {
                descriptor.appendLittleEndian(UInt32(size))
                descriptor.appendLittleEndian(UInt32(size))
            }
            try output.write(descriptor)
        }
        entries.append(CentralEntry(name: nameBytes, crc32: crc, size: size, headerOffset: offset, flags: flags,
                                    bigSize: bigSize, bigOffset: bigOffset))
    }

    /// Writes the central directory and the end records.
    func finish() throws {
        let directoryOffset = UInt64(output.position)
        var directory: [UInt8] = []
        for entry in entries {
            let bigSize = entry.bigSize, bigOffset = entry.bigOffset
            var extra: [UInt8] = []
            if bigSize || bigOffset {
                extra.appendLittleEndian(UInt16(0x0001))
                extra.appendLittleEndian(UInt16((bigSize ? 16 : 0) + (bigOffset ? 8 : 0)))
                if bigSize {
                    extra.appendLittleEndian(entry.size)
                    extra.appendLittleEndian(entry.size)
                }
                if bigOffset { extra.appendLittleEndian(entry.headerOffset) }
            }
            directory.appendLittleEndian(UInt32(0x0201_4B50))
            directory.appendLittleEndian(UInt16(extra.isEmpty ? 0 : 45)) // version made by
            directory.appendLittleEndian(UInt16(extra.isEmpty ? 0 : 45)) // version needed
            directory.appendLittleEndian(entry.flags)
            directory.appendLittleEndian(UInt16(0)) // stored
            directory.appendLittleEndian(UInt32(0)) // time and date
            directory.appendLittleEndian(entry.crc32)
            directory.appendLittleEndian(bigSize ? UInt32(0xFFFF_FFFF) : UInt32(entry.size))
            directory.appendLittleEndian(bigSize ? UInt32(0xFFFF_FFFF) : UInt32(entry.size))
            directory.appendLittleEndian(UInt16(entry.name.count))
            directory.appendLittleEndian(UInt16(extra.count))
            directory.appendLittleEndian(UInt16(0)) // comment
            directory.appendLittleEndian(UInt16(0)) // disk
            directory.appendLittleEndian(UInt16(0)) // internal attributes
            directory.appendLittleEndian(UInt32(0)) // external attributes
            directory.appendLittleEndian(bigOffset ? UInt32(0xFFFF_FFFF) : UInt32(entry.headerOffset))
            directory += entry.name
            directory += extra
        }
        try output.write(directory)
        let directorySize = UInt64(directory.count)
        let zip64 = alwaysZip64 || entries.count >= 0xFFFF || directoryOffset >= 0xFFFF_FFFF || directorySize >= 0xFFFF_FFFF
        var end: [UInt8] = []
        if zip64 {
            let recordOffset = UInt64(output.position)
            end.appendLittleEndian(UInt32(0x0606_4B50))
            end.appendLittleEndian(UInt64(44)) // size of the rest of the record
            end.appendLittleEndian(UInt16(45))
            end.appendLittleEndian(UInt16(45))
            end.appendLittleEndian(UInt32(0))
            end.appendLittleEndian(UInt32(0))
            end.appendLittleEndian(UInt64(entries.count))
            end.appendLittleEndian(UInt64(entries.count))
            end.appendLittleEndian(directorySize)
            end.appendLittleEndian(directoryOffset)
            end.appendLittleEndian(UInt32(0x0706_4B50))
            end.appendLittleEndian(UInt32(0))
            end.appendLittleEndian(recordOffset)
            end.appendLittleEndian(UInt32(1))
        }
        end.appendLittleEndian(UInt32(0x0605_4B50))
        end.appendLittleEndian(UInt16(0))
        end.appendLittleEndian(UInt16(0))
        end.appendLittleEndian(zip64 ? UInt16(0xFFFF) : UInt16(entries.count))
        end.appendLittleEndian(zip64 ? UInt16(0xFFFF) : UInt16(entries.count))
        end.appendLittleEndian(zip64 ? UInt32(0xFFFF_FFFF) : UInt32(directorySize))
        end.appendLittleEndian(zip64 ? UInt32(0xFFFF_FFFF) : UInt32(directoryOffset))
        end.appendLittleEndian(UInt16(0)) // comment
        try output.write(end)
    }
}

// MARK: - Little-endian encoding

extension Array where Element == UInt8 {
    /// Appends `value` in little-endian byte order.
    mutating func appendLittleEndian<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }
}
