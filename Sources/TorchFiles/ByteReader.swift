import FoundationEssentials
import Glibc

// MARK: - Bounded reading

/// A cursor over bytes whose every read is bounds-checked and throws `FormatFailure` (with the
/// file offset) instead of trapping.
struct ByteReader {
    /// The bytes being read.
    let bytes: UnsafeRawBufferPointer
    /// The next byte to read, relative to `bytes`.
    var position: Int
    /// The offset of `bytes` in the file, for error messages.
    let fileOffset: Int

    init(_ bytes: UnsafeRawBufferPointer, position: Int = 0, fileOffset: Int = 0) {
        self.bytes = bytes
        self.position = position
        self.fileOffset = fileOffset
    }

    /// Bytes left after `position`.
    var remaining: Int { bytes.count - position }

    /// Whether every byte has been read.
    var isAtEnd: Bool { position >= bytes.count }

    /// A failure at the current position.
    func failure(_ message: String) -> FormatFailure {
        FormatFailure(message, at: fileOffset + position)
    }

    /// A failure at `position` (relative to `bytes`).
    func failure(_ message: String, at position: Int) -> FormatFailure {
        FormatFailure(message, at: fileOffset + position)
    }

    /// Throws unless `count` more bytes are available.
    func require(_ count: Int, _ what: @autoclosure () -> String) throws {
        guard count >= 0, count <= remaining else {
            throw failure("the file ends inside \(what()) (\(count) bytes needed, \(max(remaining, 0)) left)")
        }
    }

    mutating func readByte(_ what: @autoclosure () -> String = "a field") throws -> UInt8 {
        try require(1, what())
        defer { position += 1 }
        return bytes[position]
    }

    /// A little-endian integer of `type`.
    mutating func read<T: FixedWidthInteger>(_ type: T.Type, _ what: @autoclosure () -> String = "a field") throws -> T {
        let size = MemoryLayout<T>.size
        try require(size, what())
        defer { position += size }
        return T(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: T.self))
    }

    /// A big-endian IEEE double (pickle's `BINFLOAT`).
    mutating func readBigEndianDouble(_ what: @autoclosure () -> String) throws -> Double {
        try require(8, what())
        defer { position += 8 }
        return Double(bitPattern: UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt64.self)))
    }

    /// The next `count` bytes, without copying.
    mutating func readSlice(_ count: Int, _ what: @autoclosure () -> String) throws -> UnsafeRawBufferPointer {
        try require(count, what())
        defer { position += count }
        return UnsafeRawBufferPointer(rebasing: bytes[position ..< position + count])
    }

    /// The next `count` bytes, copied.
    mutating func readBytes(_ count: Int, _ what: @autoclosure () -> String) throws -> [UInt8] {
        [UInt8](try readSlice(count, what()))
    }

    /// The bytes up to the next newline (which is consumed but not returned), at most
    /// `maximumLength` of them.
    mutating func readLine(maximumLength: Int = 1 << 16, _ what: @autoclosure () -> String) throws -> UnsafeRawBufferPointer {
        let limit = min(bytes.count, position + maximumLength + 1)
        var end = position
        while end < limit && bytes[end] != 0x0A { end += 1 }
        guard end < limit else {
            throw failure(end >= bytes.count ? "the file ends inside \(what()) (no end of line)"
                                             : "\(what()) is longer than \(maximumLength) bytes")
        }
        defer { position = end + 1 }
        return UnsafeRawBufferPointer(rebasing: bytes[position ..< end])
    }
}

// MARK: - Copying out

extension UnsafeRawBufferPointer {
    /// The bytes as an array, copied with `memcpy`.
    func copiedBytes() -> [UInt8] {
        guard let base = baseAddress, count > 0 else { return [] }
        return [UInt8](unsafeUninitializedCapacity: count) { destination, initialized in
            if let target = destination.baseAddress { memcpy(target, base, count) }
            initialized = count
        }
    }
}

// MARK: - Byte order

/// Reverses the byte order of every `elementSize`-byte element of `bytes` in place.
func swapByteOrder(_ bytes: inout [UInt8], elementSize: Int) {
    guard elementSize > 1 else { return }
    bytes.withUnsafeMutableBytes { buffer in
        let count = buffer.count / elementSize
        switch elementSize {
        case 2:
            for index in 0..<count {
                let value = buffer.loadUnaligned(fromByteOffset: index * 2, as: UInt16.self)
                buffer.storeBytes(of: value.byteSwapped, toByteOffset: index * 2, as: UInt16.self)
            }
        case 4:
            for index in 0..<count {
                let value = buffer.loadUnaligned(fromByteOffset: index * 4, as: UInt32.self)
                buffer.storeBytes(of: value.byteSwapped, toByteOffset: index * 4, as: UInt32.self)
            }
        case 8:
            for index in 0..<count {
                let value = buffer.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self)
                buffer.storeBytes(of: value.byteSwapped, toByteOffset: index * 8, as: UInt64.self)
            }
        default:
            for index in 0..<count {
                let start = index * elementSize
                var low = start, high = start + elementSize - 1
                while low < high {
                    buffer.swapAt(low, high)
                    low += 1
                    high -= 1
                }
            }
        }
    }
}

// MARK: - Reading files

/// The whole contents of the file at `url`.
func readContents(of url: URL) throws -> Data {
    var isDirectory = false
    if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory {
        throw FormatFailure("it is a folder, not a file")
    }
    var status = stat()
    if stat(url.path, &status) == 0 && (status.st_mode & S_IFMT) != S_IFREG {
        throw FormatFailure("it is not a regular file (a device, a pipe or a socket)")
    }
    return try Data(contentsOf: url)
}

// MARK: - Hexadecimal

/// `value` in hexadecimal, zero-padded to `digits` digits.
func hexadecimal<T: BinaryInteger>(_ value: T, digits: Int) -> String {
    let text = String(value, radix: 16)
    return String(repeating: "0", count: max(0, digits - text.count)) + text
}
