import CFFmpeg
import FoundationEssentials

/// Bytes in memory that FFmpeg's demuxers read as if they were a file, through a custom
/// `AVIOContext` with read and seek callbacks: a member of a memory-mapped store shard, decoded
/// without a temporary file or a process.
///
/// The input does not own the bytes; it keeps `owner` (the mapping) alive for as long as it exists.
/// Its `AVIOContext` is freed in `deinit`, after the format context that reads through it.
final class MemoryInput {
    /// The first byte.
    let base: UnsafeRawPointer
    /// The number of bytes.
    let count: Int
    /// Whatever keeps the bytes alive (a shard's mapping).
    let owner: AnyObject
    /// The next byte FFmpeg reads.
    var position = 0
    /// The I/O context FFmpeg reads through; nil once freed.
    private(set) var context: UnsafeMutablePointer<AVIOContext>?

    /// The size of the buffer FFmpeg reads into: big enough for a container's index boxes in a
    /// few calls, small enough to stay in the cache.
    static let bufferSize = 32 * 1024

    /// An input over `bytes`, which stay valid while `owner` lives; nil when out of memory.
    init?(bytes: UnsafeRawBufferPointer, owner: AnyObject) {
        guard let base = bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1) else { return nil }
        self.base = base
        self.count = bytes.count
        self.owner = owner
        guard let buffer = av_malloc(MemoryInput.bufferSize) else { return nil }
        let opaque = Unmanaged.passUnretained(self).toOpaque()
        guard let context = avio_alloc_context(buffer.assumingMemoryBound(to: UInt8.self), Int32(MemoryInput.bufferSize),
                                               0, opaque, memoryInputRead, nil, memoryInputSeek) else {
            av_free(buffer)
            return nil
        }
        // The bytes are all there: seeking is free, and FFmpeg need not read ahead to find sizes.
        context.pointee.seekable = AVIO_SEEKABLE_NORMAL
        self.context = context
    }

    deinit {
        if let context {
            // FFmpeg may have replaced the buffer it was given; free whichever it holds now.
            av_freep(&context.pointee.buffer)
            var pointer: UnsafeMutablePointer<AVIOContext>? = context
            avio_context_free(&pointer)
        }
    }

    /// Copies up to `capacity` bytes from the current position into `target`; the count copied,
    /// or `AVERROR_EOF` at the end.
    func read(into target: UnsafeMutablePointer<UInt8>, capacity: Int32) -> Int32 {
        let available = count - position
        guard available > 0, capacity > 0 else { return cffmpeg_error_eof() }
        let length = min(Int(capacity), available)
        UnsafeMutableRawPointer(target).copyMemory(from: base + position, byteCount: length)
        position += length
        return Int32(length)
    }

    /// Moves the position as `lseek` does (or reports the size for `AVSEEK_SIZE`); the new
    /// position, or a negative error for a position outside the bytes.
    func seek(to offset: Int64, whence: Int32) -> Int64 {
        let mode = whence & ~Int32(AVSEEK_FORCE)
        if mode == Int32(AVSEEK_SIZE) { return Int64(count) }
        let target: Int64
        switch mode {
        case SEEK_SET: target = offset
        case SEEK_CUR: target = Int64(position) + offset
        case SEEK_END: target = Int64(count) + offset
        default: return Int64(cffmpeg_error_from_errno(EINVAL))
        }
        guard target >= 0, target <= Int64(count) else { return Int64(cffmpeg_error_from_errno(EINVAL)) }
        position = Int(target)
        return target
    }
}

/// FFmpeg's read callback for a `MemoryInput`.
private func memoryInputRead(_ opaque: UnsafeMutableRawPointer?, _ buffer: UnsafeMutablePointer<UInt8>?,
                             _ size: Int32) -> Int32 {
    guard let opaque, let buffer else { return cffmpeg_error_from_errno(EINVAL) }
    return Unmanaged<MemoryInput>.fromOpaque(opaque).takeUnretainedValue().read(into: buffer, capacity: size)
}

/// FFmpeg's seek callback for a `MemoryInput`.
private func memoryInputSeek(_ opaque: UnsafeMutableRawPointer?, _ offset: Int64, _ whence: Int32) -> Int64 {
    guard let opaque else { return Int64(cffmpeg_error_from_errno(EINVAL)) }
    return Unmanaged<MemoryInput>.fromOpaque(opaque).takeUnretainedValue().seek(to: offset, whence: whence)
}

// MARK: - Readers over bytes in memory

/// How a reader over bytes in memory learns about its video stream.
public enum StreamProbing: Sendable {
    /// As for a file: FFmpeg decodes the first frames to fill in what the container leaves out.
    case decodeFirstFrames
    /// Only what the container's header declares (an MP4's sample tables and codec boxes): no
    /// frame is decoded on opening. For files whose container declares the frame rate, size and
    /// codec parameters, as the store's members do.
    case containerHeaderOnly
}

extension VideoReader {
    /// Opens the video held in `bytes` (for example a member of a memory-mapped shard), which
    /// must stay valid while `owner` lives; the reader keeps `owner` alive. `name` stands for the
    /// file in messages (`url` is made from it). `format` names FFmpeg's demuxer (`"mp4"`), which
    /// skips guessing the format; nil guesses it from the bytes as for a file.
    public convenience init(bytes: UnsafeRawBufferPointer, keepingAlive owner: AnyObject, name: String,
                            format: String? = nil, probing: StreamProbing = .decodeFirstFrames,
                            threadCount: Int = 1) throws {
        FFmpegLogLevel.applyDefault()
        guard bytes.count > 0 else { throw VideoError.emptyFile(path: name) }
        var inputFormat: UnsafePointer<AVInputFormat>?
        if let format {
            guard let found = av_find_input_format(format) else {
                throw VideoError.unknownFormat(path: name, reason: "this FFmpeg has no demuxer '\(format)'")
            }
            inputFormat = found
        }
        guard let input = MemoryInput(bytes: bytes, owner: owner), var context = avformat_alloc_context() else {
            throw VideoError.ioError(path: name, operation: "read video", reason: "out of memory")
        }
        context.pointee.pb = input.context
        context.pointee.flags |= AVFMT_FLAG_CUSTOM_IO
        var opened: UnsafeMutablePointer<AVFormatContext>? = context
        let status = avformat_open_input(&opened, name, inputFormat, nil)
        guard status >= 0, let openedContext = opened else {
            // avformat_open_input has freed the context; the input frees its I/O context.
            throw VideoError.unknownFormat(path: name, reason: ffmpegErrorMessage(status))
        }
        context = openedContext
        try self.init(url: URL(fileURLWithPath: name), openedContext: context,
                      findsStreamInfo: probing == .decodeFirstFrames, memoryInput: input, threadCount: threadCount)
    }
}
