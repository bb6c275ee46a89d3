import CFFmpeg
import FoundationEssentials

/// A video codec the writer can encode with.
public enum VideoCodec: String, Sendable, CaseIterable {
    /// H.264 with libx264 when FFmpeg has it, else MPEG-4 part 2.
    case h264
    /// MPEG-4 part 2 (FFmpeg's own encoder).
    case mpeg4
    /// VP9 with libvpx.
    case vp9
}

/// Encodes RGB frames into a video file with libavcodec and libavformat: the container is chosen
/// from the file extension (`.mp4`, `.mkv`, `.webm`, `.avi`, `.mov`, ...), the pictures are stored
/// as YUV 4:2:0. The same frames always give the same file (bit-exact mode, one encoder thread, and
/// no byte outside the frames reaches the converter or the encoder: see `append(rgb:)`).
///
/// Call `append(rgb:)` for each frame, then `finish()`; a writer released without `finish()`
/// frees everything but leaves an incomplete file.
public final class VideoWriter {
    /// The file being written.
    public let url: URL
    /// The frame width, in pixels.
    public let width: Int
    /// The frame height, in pixels.
    public let height: Int
    /// The frame rate.
    public let framesPerSecond: Double
    /// The name of the encoder in use (`libx264`, `mpeg4`, `libvpx-vp9`).
    public let encoderName: String

    private var formatContext: UnsafeMutablePointer<AVFormatContext>?
    private var encoder: UnsafeMutablePointer<AVCodecContext>?
    private var stream: UnsafeMutablePointer<AVStream>?
    /// The RGB picture the converter reads: the caller's pixels, copied in, with zeroed padding.
    private var rgbFrame: UnsafeMutablePointer<AVFrame>?
    /// The YUV picture the encoder reads, with zeroed padding.
    private var frame: UnsafeMutablePointer<AVFrame>?
    private var packet: UnsafeMutablePointer<AVPacket>?
    private var scaler: OpaquePointer?
    private var frameIndex: Int64 = 0
    private var isFinished = false

    /// Opens `url` for writing `width`×`height` frames at `framesPerSecond` with `codec`.
    /// `keyframeInterval` is the longest distance between keyframes (the encoder's default when nil).
    public init(url: URL, width: Int, height: Int, framesPerSecond: Double, codec: VideoCodec,
                keyframeInterval: Int? = nil) throws {
        FFmpegLogLevel.applyDefault()
        self.url = url
        self.width = width
        self.height = height
        self.framesPerSecond = framesPerSecond
        let path = url.path
        guard width > 0, height > 0, width <= 16384, height <= 16384 else {
            throw VideoError.encodingFailed(path: path, reason: "the frame size \(width)×\(height) is not usable")
        }
        guard framesPerSecond.isFinite, framesPerSecond > 0 else {
            throw VideoError.encodingFailed(path: path, reason: "the frame rate \(framesPerSecond) is not positive")
        }
        let found = try Self.findEncoder(codec, path: path)
        encoderName = String(cString: found.pointee.name)

        var context: UnsafeMutablePointer<AVFormatContext>?
        let allocation = avformat_alloc_output_context2(&context, nil, nil, path)
        guard allocation >= 0, let context else {
            throw VideoError.encodingFailed(path: path, reason: "no container format for this file name (\(ffmpegErrorMessage(allocation)))")
        }
        formatContext = context
        context.pointee.flags |= AVFMT_FLAG_BITEXACT

        // From here on every property is set, so `deinit` frees what was made if a step throws.
        guard let encoder = avcodec_alloc_context3(found), let packet = av_packet_alloc() else {
            throw VideoError.encodingFailed(path: path, reason: "out of memory")
        }
        self.encoder = encoder
        self.packet = packet
        let rate = av_d2q(framesPerSecond, 1_001_000)
        try openEncoder(encoder, codec: found, rate: rate, keyframeInterval: keyframeInterval,
                        globalHeader: context.pointee.oformat.pointee.flags & AVFMT_GLOBALHEADER != 0)
        try addStream(to: context, encoder: encoder, rate: rate)
        try makePictures()
        try writeHeader(context)
    }

    deinit {
        if let scaler { sws_freeContext(scaler) }
        av_frame_free(&rgbFrame)
        av_frame_free(&frame)
        av_packet_free(&packet)
        avcodec_free_context(&encoder)
        if let formatContext {
            if formatContext.pointee.oformat.pointee.flags & AVFMT_NOFILE == 0 {
                avio_closep(&formatContext.pointee.pb)
            }
            avformat_free_context(formatContext)
        }
    }

    // MARK: Setting up

    /// The first encoder for `codec` that this FFmpeg has.
    private static func findEncoder(_ codec: VideoCodec, path: String) throws -> UnsafePointer<AVCodec> {
        let candidates: [String]
        switch codec {
        case .h264: candidates = ["libx264", "mpeg4"]
        case .mpeg4: candidates = ["mpeg4"]
        case .vp9: candidates = ["libvpx-vp9"]
        }
        guard let found = candidates.lazy.compactMap({ avcodec_find_encoder_by_name($0) }).first else {
            throw VideoError.unsupportedCodec(path: path, codec: candidates[0])
        }
        return found
    }

    /// Sets the encoder up for bit-exact, single-threaded output at `rate` and opens it.
    private func openEncoder(_ encoder: UnsafeMutablePointer<AVCodecContext>, codec: UnsafePointer<AVCodec>,
                             rate: AVRational, keyframeInterval: Int?, globalHeader: Bool) throws {
        encoder.pointee.width = Int32(width)
        encoder.pointee.height = Int32(height)
        encoder.pointee.pix_fmt = AV_PIX_FMT_YUV420P
        encoder.pointee.time_base = av_inv_q(rate)
        encoder.pointee.framerate = rate
        encoder.pointee.sample_aspect_ratio = AVRational(num: 1, den: 1)
        encoder.pointee.thread_count = 1
        encoder.pointee.flags |= AV_CODEC_FLAG_BITEXACT
        if let keyframeInterval, keyframeInterval > 0 { encoder.pointee.gop_size = Int32(keyframeInterval) }
        if globalHeader { encoder.pointee.flags |= AV_CODEC_FLAG_GLOBAL_HEADER }
        var options: OpaquePointer?
        defer { av_dict_free(&options) }
        switch encoderName {
        case "libx264":
            av_dict_set(&options, "preset", "veryfast", 0)
            av_dict_set(&options, "crf", "18", 0)
        case "libvpx-vp9":
            encoder.pointee.bit_rate = 0
            av_dict_set(&options, "crf", "24", 0)
            av_dict_set(&options, "deadline", "realtime", 0)
            av_dict_set(&options, "cpu-used", "8", 0)
        default: // mpeg4: constant quality
            encoder.pointee.flags |= AV_CODEC_FLAG_QSCALE
            encoder.pointee.global_quality = 3 * FF_QP2LAMBDA
        }
        let status = avcodec_open2(encoder, codec, &options)
        guard status >= 0 else {
            throw VideoError.encodingFailed(path: url.path, reason: "opening \(encoderName) failed: \(ffmpegErrorMessage(status))")
        }
    }

    /// Adds the video stream the encoder's packets go to.
    private func addStream(to context: UnsafeMutablePointer<AVFormatContext>,
                           encoder: UnsafeMutablePointer<AVCodecContext>, rate: AVRational) throws {
        guard let stream = avformat_new_stream(context, nil) else {
            throw VideoError.encodingFailed(path: url.path, reason: "out of memory")
        }
        self.stream = stream
        stream.pointee.time_base = encoder.pointee.time_base
        stream.pointee.avg_frame_rate = rate
        let status = avcodec_parameters_from_context(stream.pointee.codecpar, encoder)
        guard status >= 0 else { throw VideoError.encodingFailed(path: url.path, reason: ffmpegErrorMessage(status)) }
    }

    /// The RGB and YUV pictures and the converter between them.
    private func makePictures() throws {
        rgbFrame = try zeroedFrame(format: AV_PIX_FMT_RGB24)
        frame = try zeroedFrame(format: AV_PIX_FMT_YUV420P)
        scaler = sws_getContext(Int32(width), Int32(height), AV_PIX_FMT_RGB24, Int32(width), Int32(height),
                                AV_PIX_FMT_YUV420P, SWS_BICUBIC, nil, nil, nil)
        guard scaler != nil else { throw VideoError.encodingFailed(path: url.path, reason: "no RGB to YUV converter") }
    }

    /// A new `width`×`height` picture whose every byte, padding included, is zero.
    ///
    /// swscale's vector code and the encoders read a little past the visible pixels of a row and
    /// of the last row; those bytes must be the same on every run for the output to be.
    private func zeroedFrame(format: AVPixelFormat) throws -> UnsafeMutablePointer<AVFrame> {
        guard let picture = av_frame_alloc() else { throw VideoError.encodingFailed(path: url.path, reason: "out of memory") }
        picture.pointee.format = format.rawValue
        picture.pointee.width = Int32(width)
        picture.pointee.height = Int32(height)
        let status = av_frame_get_buffer(picture, 0)
        guard status >= 0 else {
            var owned: UnsafeMutablePointer<AVFrame>? = picture
            av_frame_free(&owned)
            throw VideoError.encodingFailed(path: url.path, reason: ffmpegErrorMessage(status))
        }
        for plane in 0..<4 {
            guard let buffer = cffmpeg_frame_buffer(picture, Int32(plane)) else { continue }
            buffer.pointee.data.update(repeating: 0, count: Int(buffer.pointee.size))
        }
        return picture
    }

    /// Opens the file (unless the container writes none) and writes the container's header.
    private func writeHeader(_ context: UnsafeMutablePointer<AVFormatContext>) throws {
        var status: Int32
        if context.pointee.oformat.pointee.flags & AVFMT_NOFILE == 0 {
            status = avio_open(&context.pointee.pb, url.path, AVIO_FLAG_WRITE)
            guard status >= 0 else {
                throw VideoError.ioError(path: url.path, operation: "create video", reason: ffmpegErrorMessage(status))
            }
        }
        var muxerOptions: OpaquePointer?
        defer { av_dict_free(&muxerOptions) }
        av_dict_set(&muxerOptions, "fflags", "+bitexact", 0)
        status = avformat_write_header(context, &muxerOptions)
        guard status >= 0 else {
            throw VideoError.encodingFailed(path: url.path, reason: "the container refuses \(encoderName): \(ffmpegErrorMessage(status))")
        }
    }

    // MARK: Writing

    /// Encodes one frame: `height` rows of `width` pixels, `R G B` bytes each.
    ///
    /// The pixels are copied into a picture of the writer's own before conversion, so that what
    /// lies in memory after the array (which swscale's vector code reads) never changes the file.
    public func append(rgb pixels: [UInt8]) throws {
        guard !isFinished else {
            throw VideoError.encodingFailed(path: url.path, reason: "a frame was appended after finish()")
        }
        guard pixels.count == width * height * 3 else {
            throw VideoError.encodingFailed(
                path: url.path, reason: "a frame has \(pixels.count) bytes, not \(width)×\(height)×3 = \(width * height * 3)")
        }
        guard let rgbFrame, let encoder, let scaler else { throw VideoError.encodingFailed(path: url.path, reason: "closed") }
        let frame = try writableFrame()
        guard let rgbBase = cffmpeg_frame_data(rgbFrame, 0) else {
            throw VideoError.encodingFailed(path: url.path, reason: "no RGB picture")
        }
        let rgbStride = Int(cffmpeg_frame_linesize(rgbFrame, 0))
        pixels.withUnsafeBufferPointer { source in
            guard let start = source.baseAddress else { return }
            for row in 0..<height {
                (rgbBase + row * rgbStride).update(from: start + row * width * 3, count: width * 3)
            }
        }
        var status = withUnsafePointer(to: &rgbFrame.pointee.data) { sourceData in
            withUnsafePointer(to: &rgbFrame.pointee.linesize) { sourceStrides in
                withUnsafePointer(to: &frame.pointee.data) { targetData in
                    withUnsafePointer(to: &frame.pointee.linesize) { targetStrides in
                        sws_scale(scaler, UnsafeRawPointer(sourceData).assumingMemoryBound(to: UnsafePointer<UInt8>?.self),
                                  UnsafeRawPointer(sourceStrides).assumingMemoryBound(to: Int32.self), 0, Int32(height),
                                  UnsafeRawPointer(targetData).assumingMemoryBound(to: UnsafeMutablePointer<UInt8>?.self),
                                  UnsafeRawPointer(targetStrides).assumingMemoryBound(to: Int32.self))
                    }
                }
            }
        }
        guard status > 0 else { throw VideoError.encodingFailed(path: url.path, reason: "RGB to YUV conversion failed") }
        frame.pointee.pts = frameIndex
        frameIndex += 1
        status = avcodec_send_frame(encoder, frame)
        guard status >= 0 else { throw VideoError.encodingFailed(path: url.path, reason: ffmpegErrorMessage(status)) }
        try writePackets()
    }

    /// The YUV picture, ready to be overwritten: a new zeroed one if the encoder still holds the
    /// last (`av_frame_make_writable` would copy only the visible pixels, leaving padding unset).
    private func writableFrame() throws -> UnsafeMutablePointer<AVFrame> {
        if let frame, av_frame_is_writable(frame) != 0 { return frame }
        av_frame_free(&frame)
        let fresh = try zeroedFrame(format: AV_PIX_FMT_YUV420P)
        frame = fresh
        return fresh
    }

    /// Flushes the encoder and completes the file.
    public func finish() throws {
        guard !isFinished else { return }
        isFinished = true
        guard let encoder, let formatContext else { return }
        let status = avcodec_send_frame(encoder, nil)
        guard status >= 0 else { throw VideoError.encodingFailed(path: url.path, reason: ffmpegErrorMessage(status)) }
        try writePackets()
        let trailer = av_write_trailer(formatContext)
        guard trailer >= 0 else {
            throw VideoError.ioError(path: url.path, operation: "finish video", reason: ffmpegErrorMessage(trailer))
        }
        if formatContext.pointee.oformat.pointee.flags & AVFMT_NOFILE == 0 {
            avio_closep(&formatContext.pointee.pb)
        }
    }

    private func writePackets() throws {
        guard let encoder, let packet, let formatContext, let stream else { return }
        while true {
            let status = avcodec_receive_packet(encoder, packet)
            if status == cffmpeg_error_again() || status == cffmpeg_error_eof() { return }
            guard status >= 0 else { throw VideoError.encodingFailed(path: url.path, reason: ffmpegErrorMessage(status)) }
            av_packet_rescale_ts(packet, encoder.pointee.time_base, stream.pointee.time_base)
            packet.pointee.stream_index = stream.pointee.index
            let written = av_interleaved_write_frame(formatContext, packet)
            guard written >= 0 else {
                throw VideoError.ioError(path: url.path, operation: "write video", reason: ffmpegErrorMessage(written))
            }
        }
    }
}
