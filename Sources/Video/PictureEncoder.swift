import CFFmpeg
import FoundationEssentials

/// Scales decoded pictures to the output size, turns them upright, and encodes them with libx264
/// into an MP4 file in memory. Every FFmpeg object it holds is freed in `deinit`.
final class PictureEncoder {
    let path: String
    /// The output size (upright).
    let width: Int, height: Int
    let options: TranscodingOptions
    let orientation: Orientation
    /// The frames encoded so far.
    private(set) var frameCount = 0

    private var scaler: OpaquePointer?
    private var scalerSource: (width: Int32, height: Int32, format: Int32)?
    private let fullRange: Bool
    /// The scaled picture before it is turned upright, and the upright one (when they differ).
    private var scaled: UnsafeMutablePointer<AVFrame>?
    private var upright: UnsafeMutablePointer<AVFrame>?
    private var encoder: UnsafeMutablePointer<AVCodecContext>?
    private var packet: UnsafeMutablePointer<AVPacket>?
    private var muxer: UnsafeMutablePointer<AVFormatContext>?
    private var stream: UnsafeMutablePointer<AVStream>?
    private let output: MemoryOutput
    private var meter: QualityMeter?

    /// The quality of the pictures encoded so far, when measured.
    var quality: EncodingQuality? { meter?.quality }

    init(path: String, width: Int, height: Int, options: TranscodingOptions, orientation: Orientation,
         firstFrame: UnsafeMutablePointer<AVFrame>, measuresQuality: Bool) throws {
        self.path = path
        self.width = width
        self.height = height
        self.options = options
        self.orientation = orientation
        fullRange = PictureEncoder.isFullRange(firstFrame)
        guard let output = MemoryOutput(), let packet = av_packet_alloc() else {
            throw VideoError.encodingFailed(path: path, reason: "out of memory")
        }
        self.output = output
        self.packet = packet
        let transposed = orientation.size(width: 1, height: 2).width == 2
        scaled = try Self.pictureBuffer(width: transposed ? height : width, height: transposed ? width : height, path: path)
        if orientation != .upright { upright = try Self.pictureBuffer(width: width, height: height, path: path) }
        try openEncoder(describing: firstFrame)
        try openMuxer()
        if measuresQuality { meter = try QualityMeter(path: path, encoder: encoder) }
    }

    deinit {
        if let scaler { sws_freeContext(scaler) }
        av_frame_free(&scaled)
        av_frame_free(&upright)
        av_packet_free(&packet)
        avcodec_free_context(&encoder)
        if let muxer { avformat_free_context(muxer) }
    }

    /// A zeroed YUV 4:2:0 picture (zeroed so that nothing uninitialised can reach the encoder).
    private static func pictureBuffer(width: Int, height: Int, path: String) throws -> UnsafeMutablePointer<AVFrame> {
        guard let frame = av_frame_alloc() else { throw VideoError.encodingFailed(path: path, reason: "out of memory") }
        frame.pointee.format = AV_PIX_FMT_YUV420P.rawValue
        frame.pointee.width = Int32(width)
        frame.pointee.height = Int32(height)
        let status = av_frame_get_buffer(frame, 0)
        guard status >= 0 else {
            var owned: UnsafeMutablePointer<AVFrame>? = frame
            av_frame_free(&owned)
            throw VideoError.encodingFailed(path: path, reason: ffmpegErrorMessage(status))
        }
        for plane in 0..<3 {
            let rows = plane == 0 ? height : (height + 1) / 2
            memset(cffmpeg_frame_data(frame, Int32(plane)), 0, Int(cffmpeg_frame_linesize(frame, Int32(plane))) * rows)
        }
        return frame
    }

    /// Whether a decoded frame's samples use the full 0...255 range (JPEG range).
    static func isFullRange(_ frame: UnsafeMutablePointer<AVFrame>) -> Bool {
        if frame.pointee.color_range == AVCOL_RANGE_JPEG { return true }
        let format = AVPixelFormat(frame.pointee.format)
        return [AV_PIX_FMT_YUVJ420P, AV_PIX_FMT_YUVJ422P, AV_PIX_FMT_YUVJ444P, AV_PIX_FMT_YUVJ440P,
                AV_PIX_FMT_YUVJ411P].contains(format)
    }

    // MARK: Opening

    private func openEncoder(describing frame: UnsafeMutablePointer<AVFrame>) throws {
        guard let codec = avcodec_find_encoder_by_name("libx264") else {
            throw VideoError.unsupportedCodec(path: path, codec: "libx264")
        }
        guard let encoder = avcodec_alloc_context3(codec) else { throw VideoError.encodingFailed(path: path, reason: "out of memory") }
        self.encoder = encoder
        let rate = AVRational(num: Int32(options.framesPerSecond), den: 1)
        encoder.pointee.width = Int32(width)
        encoder.pointee.height = Int32(height)
        encoder.pointee.pix_fmt = AV_PIX_FMT_YUV420P
        encoder.pointee.time_base = av_inv_q(rate)
        encoder.pointee.framerate = rate
        encoder.pointee.sample_aspect_ratio = AVRational(num: 1, den: 1)
        encoder.pointee.gop_size = Int32(options.keyframeInterval)
        encoder.pointee.keyint_min = Int32(options.keyframeInterval)
        encoder.pointee.max_b_frames = Int32(options.bFrames)
        encoder.pointee.thread_count = 1
        encoder.pointee.flags |= AV_CODEC_FLAG_GLOBAL_HEADER | AV_CODEC_FLAG_BITEXACT
        // The decoded pictures carry the source's range and colour matrix, so clips convert them
        // to RGB as they convert the source's.
        encoder.pointee.color_range = fullRange ? AVCOL_RANGE_JPEG : AVCOL_RANGE_MPEG
        encoder.pointee.colorspace = frame.pointee.colorspace
        encoder.pointee.color_primaries = frame.pointee.color_primaries
        encoder.pointee.color_trc = frame.pointee.color_trc
        var settings: OpaquePointer?
        defer { av_dict_free(&settings) }
        av_dict_set(&settings, "preset", options.preset, 0)
        if !options.tune.isEmpty { av_dict_set(&settings, "tune", options.tune, 0) }
        av_dict_set(&settings, "crf", "\(options.constantRateFactor)", 0)
        // A keyframe exactly every `keyframeInterval` frames: no scene-cut keyframes, closed GOPs.
        let interval = options.keyframeInterval
        av_dict_set(&settings, "x264-params",
                    "keyint=\(interval):min-keyint=\(interval):scenecut=0:open-gop=0:bframes=\(options.bFrames):threads=1", 0)
        let status = avcodec_open2(encoder, codec, &settings)
        guard status >= 0 else {
            throw VideoError.encodingFailed(path: path, reason: "opening libx264 failed: \(ffmpegErrorMessage(status))")
        }
    }

    private func openMuxer() throws {
        var context: UnsafeMutablePointer<AVFormatContext>?
        let allocation = avformat_alloc_output_context2(&context, nil, "mp4", nil)
        guard allocation >= 0, let context, let encoder else {
            throw VideoError.encodingFailed(path: path, reason: "no MP4 muxer in this FFmpeg (\(ffmpegErrorMessage(allocation)))")
        }
        muxer = context
        context.pointee.pb = output.context
        context.pointee.flags |= AVFMT_FLAG_CUSTOM_IO | AVFMT_FLAG_BITEXACT
        guard let stream = avformat_new_stream(context, nil) else {
            throw VideoError.encodingFailed(path: path, reason: "out of memory")
        }
        self.stream = stream
        stream.pointee.time_base = encoder.pointee.time_base
        stream.pointee.avg_frame_rate = encoder.pointee.framerate
        var status = avcodec_parameters_from_context(stream.pointee.codecpar, encoder)
        guard status >= 0 else { throw VideoError.encodingFailed(path: path, reason: ffmpegErrorMessage(status)) }
        var settings: OpaquePointer?
        defer { av_dict_free(&settings) }
        av_dict_set(&settings, "fflags", "+bitexact", 0)
        status = avformat_write_header(context, &settings)
        guard status >= 0 else {
            throw VideoError.encodingFailed(path: path, reason: "the MP4 muxer refuses the stream: \(ffmpegErrorMessage(status))")
        }
    }

    // MARK: Encoding

    /// Scales, turns and encodes one picture as the next frame.
    func encode(_ frame: UnsafeMutablePointer<AVFrame>) throws {
        guard let scaled, let encoder else { throw VideoError.encodingFailed(path: path, reason: "the encoder is closed") }
        try scale(frame, into: scaled)
        var picture = scaled
        if let upright {
            try makeWritable(upright)
            orient(scaled, into: upright)
            picture = upright
        }
        picture.pointee.pts = Int64(frameCount)
        picture.pointee.pict_type = AV_PICTURE_TYPE_NONE
        meter?.remember(picture)
        let status = avcodec_send_frame(encoder, picture)
        guard status >= 0 else { throw VideoError.encodingFailed(path: path, reason: ffmpegErrorMessage(status)) }
        frameCount += 1
        try writePackets()
    }

    private func makeWritable(_ frame: UnsafeMutablePointer<AVFrame>) throws {
        let status = av_frame_make_writable(frame)
        guard status >= 0 else { throw VideoError.encodingFailed(path: path, reason: ffmpegErrorMessage(status)) }
    }

    /// Converts `frame` to YUV 4:2:0 at the target's size: bicubic, bit-exact, keeping the
    /// source's sample range. A source that only needs even sides loses its last column or row
    /// instead of being scaled, so that its pixels stay where they were.
    private func scale(_ frame: UnsafeMutablePointer<AVFrame>, into target: UnsafeMutablePointer<AVFrame>) throws {
        var source = (width: frame.pointee.width, height: frame.pointee.height, format: frame.pointee.format)
        if source.width & ~1 == target.pointee.width && source.height & ~1 == target.pointee.height {
            source.width = target.pointee.width
            source.height = target.pointee.height
        }
        if scaler == nil || scalerSource.map({ $0 != source }) ?? true {
            if let scaler { sws_freeContext(scaler) }
            scaler = sws_getContext(source.width, source.height, AVPixelFormat(source.format), target.pointee.width,
                                    target.pointee.height, AV_PIX_FMT_YUV420P,
                                    SWS_BICUBIC | SWS_ACCURATE_RND | SWS_BITEXACT, nil, nil, nil)
            guard let scaler else {
                let name = av_get_pix_fmt_name(AVPixelFormat(source.format)).map { String(cString: $0) } ?? "\(source.format)"
                throw VideoError.encodingFailed(path: path, reason: "cannot convert \(source.width)×\(source.height) \(name) pictures")
            }
            let range: Int32 = fullRange ? 1 : 0
            let coefficients = sws_getCoefficients(SWS_CS_DEFAULT)
            _ = sws_setColorspaceDetails(scaler, coefficients, range, coefficients, range, 0, 1 << 16, 1 << 16)
            scalerSource = source
        }
        try makeWritable(target)
        let status = withUnsafePointer(to: &frame.pointee.data) { sourceData in
            withUnsafePointer(to: &frame.pointee.linesize) { sourceStrides in
                withUnsafePointer(to: &target.pointee.data) { targetData in
                    withUnsafePointer(to: &target.pointee.linesize) { targetStrides in
                        sws_scale(scaler, UnsafeRawPointer(sourceData).assumingMemoryBound(to: UnsafePointer<UInt8>?.self),
                                  UnsafeRawPointer(sourceStrides).assumingMemoryBound(to: Int32.self), 0, source.height,
                                  UnsafeRawPointer(targetData).assumingMemoryBound(to: UnsafeMutablePointer<UInt8>?.self),
                                  UnsafeRawPointer(targetStrides).assumingMemoryBound(to: Int32.self))
                    }
                }
            }
        }
        guard status > 0 else { throw VideoError.encodingFailed(path: path, reason: "scaling a picture failed") }
    }

    /// `target` = `source` turned upright (planes of YUV 4:2:0, chroma turned with luma).
    private func orient(_ source: UnsafeMutablePointer<AVFrame>, into target: UnsafeMutablePointer<AVFrame>) {
        for plane in 0..<3 {
            guard let from = cffmpeg_frame_data(source, Int32(plane)), let to = cffmpeg_frame_data(target, Int32(plane)) else {
                continue
            }
            let shift = plane == 0 ? 0 : 1
            let inWidth = Int(source.pointee.width) >> shift, inHeight = Int(source.pointee.height) >> shift
            let outWidth = Int(target.pointee.width) >> shift, outHeight = Int(target.pointee.height) >> shift
            let fromStride = Int(cffmpeg_frame_linesize(source, Int32(plane)))
            let toStride = Int(cffmpeg_frame_linesize(target, Int32(plane)))
            for row in 0..<outHeight {
                let line = to + row * toStride
                for column in 0..<outWidth {
                    let sourceRow: Int, sourceColumn: Int
                    switch orientation {
                    case .upright:
                        (sourceRow, sourceColumn) = (row, column)
                    case .transpose(let direction):
                        sourceRow = direction & 1 != 0 ? inHeight - 1 - column : column
                        sourceColumn = direction & 2 != 0 ? inWidth - 1 - row : row
                    case .flip(let horizontal, let vertical):
                        sourceRow = vertical ? inHeight - 1 - row : row
                        sourceColumn = horizontal ? inWidth - 1 - column : column
                    }
                    line[column] = from[sourceRow * fromStride + sourceColumn]
                }
            }
        }
    }

    /// Moves every packet the encoder has ready into the file.
    private func writePackets() throws {
        guard let encoder, let packet, let muxer, let stream else { return }
        while true {
            let status = avcodec_receive_packet(encoder, packet)
            if status == cffmpeg_error_again() || status == cffmpeg_error_eof() { return }
            guard status >= 0 else { throw VideoError.encodingFailed(path: path, reason: ffmpegErrorMessage(status)) }
            try meter?.decode(packet)
            av_packet_rescale_ts(packet, encoder.pointee.time_base, stream.pointee.time_base)
            packet.pointee.stream_index = stream.pointee.index
            let written = av_write_frame(muxer, packet)
            av_packet_unref(packet)
            guard written >= 0 else {
                throw VideoError.encodingFailed(path: path, reason: "writing a packet failed: \(ffmpegErrorMessage(written))")
            }
        }
    }

    /// Flushes the encoder, completes the file and returns its bytes.
    func finish() throws -> [UInt8] {
        guard let encoder, let muxer else { throw VideoError.encodingFailed(path: path, reason: "the encoder is closed") }
        let status = avcodec_send_frame(encoder, nil)
        guard status >= 0 else { throw VideoError.encodingFailed(path: path, reason: ffmpegErrorMessage(status)) }
        try writePackets()
        try meter?.finish()
        let trailer = av_write_trailer(muxer)
        guard trailer >= 0 else {
            throw VideoError.encodingFailed(path: path, reason: "completing the MP4 file failed: \(ffmpegErrorMessage(trailer))")
        }
        return output.finish()
    }
}

// MARK: - Quality

/// Decodes the encoder's packets again and compares the pictures with those the encoder was given.
final class QualityMeter {
    private let path: String
    private var decoder: UnsafeMutablePointer<AVCodecContext>?
    private var decoded: UnsafeMutablePointer<AVFrame>?
    /// The planes of the pictures given to the encoder and not yet decoded back, in order.
    private var pending: [[[UInt8]]] = []
    private(set) var quality = EncodingQuality()

    init(path: String, encoder: UnsafeMutablePointer<AVCodecContext>?) throws {
        self.path = path
        guard let encoder, let codec = avcodec_find_decoder(AV_CODEC_ID_H264),
              let decoder = avcodec_alloc_context3(codec), let decoded = av_frame_alloc() else {
            throw VideoError.encodingFailed(path: path, reason: "no H.264 decoder to measure the quality with")
        }
        self.decoder = decoder
        self.decoded = decoded
        if encoder.pointee.extradata_size > 0, let extra = av_mallocz(Int(encoder.pointee.extradata_size) + 64) {
            extra.copyMemory(from: encoder.pointee.extradata, byteCount: Int(encoder.pointee.extradata_size))
            decoder.pointee.extradata = extra.assumingMemoryBound(to: UInt8.self)
            decoder.pointee.extradata_size = encoder.pointee.extradata_size
        }
        decoder.pointee.thread_count = 1
        let status = avcodec_open2(decoder, codec, nil)
        guard status >= 0 else { throw VideoError.encodingFailed(path: path, reason: ffmpegErrorMessage(status)) }
    }

    deinit {
        avcodec_free_context(&decoder)
        av_frame_free(&decoded)
    }

    private static func planes(of frame: UnsafeMutablePointer<AVFrame>) -> [[UInt8]] {
        (0..<3).map { plane in
            let shift = plane == 0 ? 0 : 1
            let width = Int(frame.pointee.width) >> shift, height = Int(frame.pointee.height) >> shift
            let stride = Int(cffmpeg_frame_linesize(frame, Int32(plane)))
            guard let data = cffmpeg_frame_data(frame, Int32(plane)) else { return [] }
            var bytes = [UInt8](repeating: 0, count: width * height)
            for row in 0..<height {
                for column in 0..<width { bytes[row * width + column] = data[row * stride + column] }
            }
            return bytes
        }
    }

    func remember(_ frame: UnsafeMutablePointer<AVFrame>) {
        pending.append(Self.planes(of: frame))
    }

    func decode(_ packet: UnsafeMutablePointer<AVPacket>?) throws {
        guard let decoder, let decoded else { return }
        let status = avcodec_send_packet(decoder, packet)
        guard status >= 0 || status == cffmpeg_error_eof() else {
            throw VideoError.encodingFailed(path: path, reason: "decoding the encoded picture failed: \(ffmpegErrorMessage(status))")
        }
        while avcodec_receive_frame(decoder, decoded) >= 0 {
            defer { av_frame_unref(decoded) }
            guard !pending.isEmpty else { continue }
            let original = pending.removeFirst()
            let result = Self.planes(of: decoded)
            for plane in 0..<3 where original[plane].count == result[plane].count {
                var sum = 0.0
                for index in 0..<original[plane].count {
                    let difference = Double(Int(original[plane][index]) - Int(result[plane][index]))
                    sum += difference * difference
                }
                quality.squaredErrors[plane] += sum
                quality.sampleCounts[plane] += Double(original[plane].count)
            }
            quality.frames += 1
        }
    }

    func finish() throws {
        try decode(nil)
    }
}
