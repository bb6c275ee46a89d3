import CFFmpeg

/// A file that FFmpeg's muxers write into memory, through a custom `AVIOContext` with write and
/// seek callbacks (the MP4 muxer seeks back to complete its boxes). No temporary file is made.
final class MemoryOutput {
    /// The bytes written so far.
    private(set) var bytes: [UInt8] = []
    /// Where the next write goes.
    private var position = 0
    /// The I/O context FFmpeg writes through; nil once freed.
    private(set) var context: UnsafeMutablePointer<AVIOContext>?

    /// An empty output; nil when out of memory.
    init?() {
        let size = 64 * 1024
        guard let buffer = av_malloc(size) else { return nil }
        let opaque = Unmanaged.passUnretained(self).toOpaque()
        guard let context = avio_alloc_context(buffer.assumingMemoryBound(to: UInt8.self), Int32(size), 1, opaque,
                                               nil, memoryOutputWrite, memoryOutputSeek) else {
            av_free(buffer)
            return nil
        }
        context.pointee.seekable = AVIO_SEEKABLE_NORMAL
        self.context = context
    }

    deinit {
        if let context {
            av_freep(&context.pointee.buffer)
            var pointer: UnsafeMutablePointer<AVIOContext>? = context
            avio_context_free(&pointer)
        }
    }

    /// Writes what FFmpeg still buffers and hands the bytes over (the output is empty afterwards).
    func finish() -> [UInt8] {
        if let context { avio_flush(context) }
        defer { bytes = []; position = 0 }
        return bytes
    }

    /// Writes `count` bytes at the current position, overwriting or extending.
    func write(_ source: UnsafePointer<UInt8>, count: Int32) -> Int32 {
        let length = Int(count)
        guard length > 0 else { return 0 }
        let end = position + length
        if end > bytes.count { bytes.append(contentsOf: repeatElement(0, count: end - bytes.count)) }
        bytes.withUnsafeMutableBufferPointer { target in
            (target.baseAddress! + position).update(from: source, count: length)
        }
        position = end
        return count
    }

    /// Moves the position as `lseek` does (or reports the size for `AVSEEK_SIZE`).
    func seek(to offset: Int64, whence: Int32) -> Int64 {
        let mode = whence & ~Int32(AVSEEK_FORCE)
        if mode == Int32(AVSEEK_SIZE) { return Int64(bytes.count) }
        let target: Int64
        switch mode {
        case SEEK_SET: target = offset
        case SEEK_CUR: target = Int64(position) + offset
        case SEEK_END: target = Int64(bytes.count) + offset
        default: return Int64(cffmpeg_error_from_errno(EINVAL))
        }
        guard target >= 0, target <= Int64(Int32.max) * 64 else { return Int64(cffmpeg_error_from_errno(EINVAL)) }
        position = Int(target)
        return target
    }
}

/// FFmpeg's write callback for a `MemoryOutput`.
private func memoryOutputWrite(_ opaque: UnsafeMutableRawPointer?, _ buffer: UnsafeMutablePointer<UInt8>?,
                               _ size: Int32) -> Int32 {
    guard let opaque, let buffer else { return cffmpeg_error_from_errno(EINVAL) }
    return Unmanaged<MemoryOutput>.fromOpaque(opaque).takeUnretainedValue().write(buffer, count: size)
}

/// FFmpeg's seek callback for a `MemoryOutput`.
private func memoryOutputSeek(_ opaque: UnsafeMutableRawPointer?, _ offset: Int64, _ whence: Int32) -> Int64 {
    guard let opaque else { return Int64(cffmpeg_error_from_errno(EINVAL)) }
    return Unmanaged<MemoryOutput>.fromOpaque(opaque).takeUnretainedValue().seek(to: offset, whence: whence)
}
