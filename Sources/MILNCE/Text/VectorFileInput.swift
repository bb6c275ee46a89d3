// Streaming input for word-vector files: a plain file or a gzip stream (zlib's inflate), read
// through one window of bytes, so that memory stays bounded however large the file is.

import CZlib
import FoundationEssentials
import Glibc

// MARK: - Byte sources

/// Somewhere bytes are read from, in order.
protocol ByteSource: AnyObject {
    /// Reads up to `buffer.count` bytes into `buffer`; 0 at the end of the data.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
}

/// A file read with `read(2)`; its descriptor is closed in `deinit`.
final class FileByteSource: ByteSource {
    /// The file's size in bytes.
    let size: Int
    /// Bytes read from the file so far.
    private(set) var bytesRead = 0
    private let descriptor: Int32

    /// Opens the file at `path` for reading.
    init(path: String) throws {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            let code = errno
            throw VectorFileFailure(code == ENOENT ? .fileNotFound : .unreadable(String(cString: strerror(code))))
        }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            let message = String(cString: strerror(errno))
            close(descriptor)
            throw VectorFileFailure(.unreadable(message))
        }
        if (status.st_mode & S_IFMT) == S_IFDIR {
            close(descriptor)
            throw VectorFileFailure(.unreadable("it is a folder, not a file"))
        }
        self.descriptor = descriptor
        size = max(0, Int(status.st_size))
    }

    deinit { close(descriptor) }

    /// The first `count` bytes of the file (fewer when it is shorter), without moving the
    /// reading position.
    func leadingBytes(_ count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let result = bytes.withUnsafeMutableBytes { buffer in
                pread(descriptor, buffer.baseAddress! + filled, count - filled, off_t(filled))
            }
            if result < 0 {
                if errno == EINTR { continue }
                throw VectorFileFailure(.unreadable(String(cString: strerror(errno))))
            }
            if result == 0 { break }
            filled += result
        }
        return Array(bytes.prefix(filled))
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        while true {
            let result = systemRead(descriptor, base, buffer.count)
            if result >= 0 {
                bytesRead += result
                return result
            }
            if errno != EINTR { throw VectorFileFailure(.unreadable(String(cString: strerror(errno)))) }
        }
    }
}

/// `read(2)`, named apart from the `read(into:)` methods.
private func systemRead(_ descriptor: Int32, _ base: UnsafeMutableRawPointer, _ count: Int) -> Int {
    read(descriptor, base, count)
}

/// The decompressed bytes of a gzip file (one member or several concatenated, as `gzip` writes
/// and reads them), inflated by zlib as they are read.
final class GzipByteSource: ByteSource {
    private let file: FileByteSource
    /// zlib's stream state; zlib keeps a pointer back to it, so it lives at a fixed address.
    private let stream: UnsafeMutablePointer<z_stream>
    private let input: UnsafeMutableRawBufferPointer
    private var fileEnded = false
    private var finished = false
    private var initialized = false

    /// Starts inflating `file` from its first byte.
    init(file: FileByteSource) throws {
        self.file = file
        stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        input = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 18, alignment: 16)
        // 15 + 16: a 32 KiB window and the gzip wrapper (header and CRC-32 checked).
        let status = czlib_inflate_init2(stream, 15 + 16)
        guard status == Z_OK else {
            throw VectorFileFailure(.corruptCompression(message("initialising inflate", status), compressedOffset: 0))
        }
        initialized = true
    }

    deinit {
        if initialized { inflateEnd(stream) }
        stream.deinitialize(count: 1)
        stream.deallocate()
        input.deallocate()
    }

    /// The offset in the compressed file of the next byte zlib will consume.
    private var compressedOffset: Int { file.bytesRead - Int(stream.pointee.avail_in) }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard let base = buffer.baseAddress, buffer.count > 0, !finished else { return 0 }
        let outputCapacity = UInt32(min(buffer.count, Int(UInt32.max)))
        while true {
            if stream.pointee.avail_in == 0 && !fileEnded { try refill() }
            stream.pointee.next_out = base.assumingMemoryBound(to: Bytef.self)
            stream.pointee.avail_out = outputCapacity
            let hadInput = stream.pointee.avail_in
            let status = inflate(stream, Z_NO_FLUSH)
            let produced = Int(outputCapacity - stream.pointee.avail_out)
            switch status {
            case Z_OK:
                if produced > 0 { return produced }
            case Z_STREAM_END:
                try startNextMember()
                if produced > 0 || finished { return produced }
            case Z_BUF_ERROR:
                // No progress possible: zlib needs input that the file no longer has.
                if fileEnded && stream.pointee.avail_in == 0 {
                    throw VectorFileFailure(.truncatedCompression)
                }
                if produced > 0 { return produced }
            default:
                throw VectorFileFailure(.corruptCompression(message("inflating", status), compressedOffset: compressedOffset))
            }
            if produced == 0 && hadInput == 0 && fileEnded {
                throw VectorFileFailure(.truncatedCompression)
            }
        }
    }

    private func refill() throws {
        let count = try file.read(into: input)
        if count == 0 { fileEnded = true }
        stream.pointee.next_in = input.baseAddress!.assumingMemoryBound(to: Bytef.self)
        stream.pointee.avail_in = UInt32(count)
    }

    /// After a member's end: another member follows (continue with it), or the data ends.
    private func startNextMember() throws {
        if stream.pointee.avail_in == 0 && !fileEnded { try refill() }
        if stream.pointee.avail_in == 0 {
            finished = true
            return
        }
        // A following member starts with the gzip magic bytes; zlib reports a bad header for
        // anything else, but a clear message about trailing bytes helps more.
        let offset = compressedOffset
        if stream.pointee.avail_in == 1 && !fileEnded {
            // Keep the one byte and read more to see the second magic byte.
            let first = stream.pointee.next_in[0]
            let count = try file.read(into: UnsafeMutableRawBufferPointer(rebasing: input[1...]))
            if count == 0 { fileEnded = true }
            input[0] = first
            stream.pointee.next_in = input.baseAddress!.assumingMemoryBound(to: Bytef.self)
            stream.pointee.avail_in = UInt32(1 + count)
        }
        guard stream.pointee.avail_in >= 2, stream.pointee.next_in[0] == 0x1F, stream.pointee.next_in[1] == 0x8B else {
            throw VectorFileFailure(.trailingDataAfterCompression(compressedOffset: offset))
        }
        let status = inflateReset(stream)
        guard status == Z_OK else {
            throw VectorFileFailure(.corruptCompression(message("starting the next gzip member", status), compressedOffset: offset))
        }
    }

    private func message(_ doing: String, _ status: Int32) -> String {
        if let text = stream.pointee.msg { return String(cString: text) }
        switch status {
        case Z_MEM_ERROR: return "out of memory while \(doing)"
        case Z_NEED_DICT: return "the data needs a preset dictionary (not a gzip file)"
        case Z_VERSION_ERROR: return "incompatible zlib version"
        default: return "error \(status) while \(doing)"
        }
    }
}

// MARK: - Compression detection

/// What the first bytes of a file say about its compression.
enum InputCompression: Equatable {
    case none
    case gzip
    /// A format the importer does not read ("zip", "bzip2", "xz", "zstd").
    case unsupported(String)

    /// Looks at the magic bytes (never at the file's name).
    init(leadingBytes bytes: [UInt8]) {
        func starts(with magic: [UInt8]) -> Bool { bytes.count >= magic.count && Array(bytes.prefix(magic.count)) == magic }
        if starts(with: [0x1F, 0x8B]) {
            self = .gzip
        } else if starts(with: [0x50, 0x4B, 0x03, 0x04]) || starts(with: [0x50, 0x4B, 0x05, 0x06]) {
            self = .unsupported("zip")
        } else if starts(with: Array("BZh".utf8)) && bytes.count >= 4 && bytes[3] >= UInt8(ascii: "1") && bytes[3] <= UInt8(ascii: "9") {
            self = .unsupported("bzip2")
        } else if starts(with: [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]) {
            self = .unsupported("xz")
        } else if starts(with: [0x28, 0xB5, 0x2F, 0xFD]) {
            self = .unsupported("zstd")
        } else {
            self = .none
        }
    }
}

// MARK: - The reading window

/// A window over a byte source: the readers look at `bytes` (what is buffered), ask for more
/// with `fill(atLeast:)`, and `consume` what they are done with. `offset` is the position of
/// `bytes` in the source's data.
final class InputWindow {
    /// The largest the window may grow to.
    let capacityLimit: Int
    private let source: ByteSource
    private var storage: UnsafeMutableRawBufferPointer
    private var start = 0
    private var end = 0
    private var storageOffset = 0
    /// Whether the source has reported its end.
    private(set) var sourceEnded = false
    /// Called after every read from the source.
    private let onRead: () -> Void

    /// A window over `source`, starting at `initialCapacity` bytes and growing up to
    /// `capacityLimit` when a reader needs more at once.
    init(source: ByteSource, initialCapacity: Int = 1 << 20, capacityLimit: Int, onRead: @escaping () -> Void = {}) {
        self.source = source
        self.capacityLimit = max(capacityLimit, initialCapacity)
        storage = UnsafeMutableRawBufferPointer.allocate(byteCount: initialCapacity, alignment: 16)
        self.onRead = onRead
    }

    deinit { storage.deallocate() }

    /// The offset in the source's data of `bytes[0]`.
    var offset: Int { storageOffset + start }

    /// The buffered bytes not yet consumed.
    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: storage[start..<end]) }

    /// The number of buffered bytes.
    var count: Int { end - start }

    /// Whether everything has been consumed and the source has ended.
    var isAtEnd: Bool { start == end && sourceEnded }

    /// Drops the first `byteCount` buffered bytes.
    func consume(_ byteCount: Int) {
        start += min(byteCount, end - start)
    }

    /// Reads until at least `minimum` bytes are buffered (at most `capacityLimit`) or the source
    /// ends; returns whether `minimum` bytes are buffered.
    @discardableResult
    func fill(atLeast minimum: Int) throws -> Bool {
        let wanted = min(minimum, capacityLimit)
        if end - start >= wanted { return end - start >= minimum }
        if sourceEnded { return false }
        if wanted > storage.count {
            let grown = UnsafeMutableRawBufferPointer.allocate(byteCount: min(capacityLimit, max(wanted, storage.count * 2)),
                                                               alignment: 16)
            if end > start {
                grown.baseAddress!.copyMemory(from: storage.baseAddress! + start, byteCount: end - start)
            }
            storage.deallocate()
            storage = grown
            storageOffset += start
            end -= start
            start = 0
        } else if start > 0 && (storage.count - start < wanted || start >= storage.count / 2) {
            if end > start {
                memmove(storage.baseAddress!, storage.baseAddress! + start, end - start)
            }
            storageOffset += start
            end -= start
            start = 0
        }
        while end - start < wanted {
            let read = try source.read(into: UnsafeMutableRawBufferPointer(rebasing: storage[end...]))
            onRead()
            if read == 0 {
                sourceEnded = true
                break
            }
            end += read
        }
        return end - start >= minimum
    }

    /// The length of the next line (without its `\n`) and whether a `\n` ends it, reading more
    /// as needed; nil at the end of the data. A line longer than `limit` bytes throws
    /// `lineTooLong` at its start, with `line` as its number.
    func nextLine(limit: Int, line: Int) throws -> (length: Int, terminated: Bool)? {
        var searched = 0
        while true {
            let available = count
            if searched < available,
               let found = memchr(storage.baseAddress! + start + searched, 0x0A, available - searched) {
                let length = storage.baseAddress!.distance(to: found) - start
                if length > limit { throw VectorFileFailure(.lineTooLong(limit: limit), at: offset, line: line) }
                return (length, true)
            }
            searched = available
            if available > limit { throw VectorFileFailure(.lineTooLong(limit: limit), at: offset, line: line) }
            if !(try fill(atLeast: available + 1)) && count == available {
                return available == 0 ? nil : (available, false)
            }
        }
    }
}
