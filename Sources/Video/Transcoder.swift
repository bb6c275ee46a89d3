import CFFmpeg
import FoundationEssentials

/// A video re-encoded by `VideoTranscoder`: an MP4 file in memory and what it holds.
public struct TranscodedVideo: Sendable {
    /// The MP4 file (H.264, one video stream, no audio).
    public var bytes: [UInt8]
    /// The number of frames.
    public var frameCount: Int
    /// The frame width, in pixels.
    public var width: Int
    /// The frame height, in pixels.
    public var height: Int
    /// The frame rate.
    public var framesPerSecond: Int
    /// The source video's properties and what decoding it met.
    public var source: TranscodedSource
    /// How close the encoded pictures are to the scaled source pictures, when measured.
    public var quality: EncodingQuality?

    /// The length of the output, `frameCount / framesPerSecond` seconds.
    public var durationSeconds: Double { Double(frameCount) / Double(max(framesPerSecond, 1)) }
}

/// The source of a transcoded video.
public struct TranscodedSource: Sendable, Equatable {
    /// The source's duration in seconds (as `VideoReader` reports it).
    public var durationSeconds: Double
    /// The source's average frame rate.
    public var framesPerSecond: Double
    /// The source's upright frame width.
    public var width: Int
    /// The source's upright frame height.
    public var height: Int
    /// The source's codec.
    public var codecName: String
    /// The frames decoded from the source.
    public var decodedFrames: Int
    /// Packets the decoder rejected (damaged data it skipped).
    public var decodeErrors: Int
}

/// The peak signal-to-noise ratio of encoded pictures against the pictures given to the encoder.
public struct EncodingQuality: Sendable, Equatable {
    /// The sum of squared differences of each plane (Y, U, V).
    public var squaredErrors: [Double]
    /// The number of samples of each plane.
    public var sampleCounts: [Double]
    /// The frames compared.
    public var frames: Int

    /// No frames yet.
    public init() {
        squaredErrors = [0, 0, 0]
        sampleCounts = [0, 0, 0]
        frames = 0
    }

    /// The PSNR of the luma plane over all frames, in dB (infinite when identical).
    public var lumaPSNR: Double { Self.psnr(squaredErrors[0], sampleCounts[0]) }
    /// The PSNR of all three planes together, in dB.
    public var overallPSNR: Double { Self.psnr(squaredErrors.reduce(0, +), sampleCounts.reduce(0, +)) }

    /// Adds the figures of `other`.
    public mutating func add(_ other: EncodingQuality) {
        for plane in 0..<3 {
            squaredErrors[plane] += other.squaredErrors[plane]
            sampleCounts[plane] += other.sampleCounts[plane]
        }
        frames += other.frames
    }

    static func psnr(_ error: Double, _ samples: Double) -> Double {
        guard samples > 0 else { return .nan }
        guard error > 0 else { return .infinity }
        return 10 * log10(255 * 255 / (error / samples))
    }
}

/// Re-encodes videos for training, in-process with FFmpeg's libraries: decodes the source from
/// the start, selects frames at `options.framesPerSecond` exactly as the training clips'
/// `fps` selection does (with the same start-of-stream handling), turns them upright, scales
/// them so the short side is `options.shortSide` (never up), and encodes them with libx264 at a
/// fixed keyframe interval into an MP4 file in memory.
///
/// The output depends only on the source and the options: one encoder thread, no scene-cut
/// keyframes, bit-exact scaling and muxing, no time or version written. Transcode many videos
/// in parallel with one transcoder per thread; a transcoder is not thread-safe.
public final class VideoTranscoder {
    /// The output settings.
    public let options: TranscodingOptions
    /// Whether each video's encoded pictures are decoded again and compared with the encoder's
    /// input (`TranscodedVideo.quality`); it costs a decode of the output.
    public let measuresQuality: Bool

    /// A transcoder; throws when the options are unusable or FFmpeg has no libx264.
    public init(options: TranscodingOptions, measuresQuality: Bool = false) throws {
        FFmpegLogLevel.applyDefault()
        if let problem = options.problems.first {
            throw VideoError.encodingFailed(path: "(store settings)", reason: problem)
        }
        guard avcodec_find_encoder_by_name("libx264") != nil else {
            throw VideoError.unsupportedCodec(path: "(store settings)", codec: "libx264")
        }
        self.options = options
        self.measuresQuality = measuresQuality
    }

    /// Transcodes the video at `url`. Throws a `VideoError` naming the file when it cannot be
    /// read, yields no frame, or cannot be encoded.
    public func transcode(_ url: URL) throws -> TranscodedVideo {
        let reader = try VideoReader(url: url, threadCount: 1)
        let run = try TranscodingRun(reader: reader, options: options, measuresQuality: measuresQuality)
        try run.decodeAll()
        return try run.finish()
    }
}

// MARK: - One video

/// A decoded picture held by the frame selection (a new reference to the decoder's buffers).
final class HeldPicture {
    private(set) var frame: UnsafeMutablePointer<AVFrame>?

    init?(referencing source: UnsafeMutablePointer<AVFrame>) {
        guard let frame = av_frame_clone(source) else { return nil }
        self.frame = frame
    }

    deinit { av_frame_free(&frame) }
}

/// The state of transcoding one video: its reader, the frame selection and the encoder.
final class TranscodingRun {
    let reader: VideoReader
    let options: TranscodingOptions
    let measuresQuality: Bool
    private var trim = TrimSelection(startTimestamp: 0, durationInTimeBase: 0)
    private var selection: FrameRateSelection<HeldPicture>
    private var sync: ConstantFrameRateSync<HeldPicture>
    /// The stream's start, in its time base: timestamps are counted from there, as clips count them.
    private let startOffset: Int64
    private var encoder: PictureEncoder?
    private var decodedFrames = 0
    private var decodeErrors = 0
    private var lastDecodeError = ""
    private var readError: String?
    /// The end of the latest frame, in the stream's time base (relative to the start).
    private var endTimestamp: Int64 = 0

    init(reader: VideoReader, options: TranscodingOptions, measuresQuality: Bool) throws {
        guard let formatContext = reader.formatContext, let stream = reader.stream else {
            throw VideoError.noVideoStream(path: reader.path)
        }
        self.reader = reader
        self.options = options
        self.measuresQuality = measuresQuality
        let timeBase = stream.pointee.time_base
        let rate = AVRational(num: Int32(options.framesPerSecond), den: 1)
        selection = FrameRateSelection(inputTimeBase: timeBase, outputTimeBase: av_inv_q(rate))
        sync = ConstantFrameRateSync(filterTimeBase: av_inv_q(rate), frameRate: rate)
        let start = formatContext.pointee.start_time
        startOffset = start == noTimestamp ? 0 : av_rescale_q(start, cffmpeg_time_base_q(), timeBase)
    }

    /// Reads and decodes every packet of the video stream, passing frames on to the encoder.
    func decodeAll() throws {
        guard let formatContext = reader.formatContext, let decoder = reader.decoder, let packet = reader.packet else {
            throw VideoError.noVideoStream(path: reader.path)
        }
        while true {
            let status = av_read_frame(formatContext, packet)
            if status < 0 {
                if status != cffmpeg_error_eof() { readError = ffmpegErrorMessage(status) }
                break
            }
            defer { av_packet_unref(packet) }
            guard packet.pointee.stream_index == reader.streamIndex else { continue }
            let sent = avcodec_send_packet(decoder, packet)
            if sent < 0 {
                noteDecodeError(sent)
                continue
            }
            try receiveFrames()
        }
        _ = avcodec_send_packet(decoder, nil)
        try receiveFrames()
    }

    private func noteDecodeError(_ status: Int32) {
        decodeErrors += 1
        lastDecodeError = ffmpegErrorMessage(status)
    }

    /// Takes every frame the decoder has ready.
    private func receiveFrames() throws {
        guard let decoder = reader.decoder, let frame = reader.decodedFrame else { return }
        while true {
            let status = avcodec_receive_frame(decoder, frame)
            if status == cffmpeg_error_again() || status == cffmpeg_error_eof() { return }
            if status < 0 {
                noteDecodeError(status)
                return
            }
            defer { av_frame_unref(frame) }
            decodedFrames += 1
            try select(frame)
        }
    }

    /// The `trim` → `fps` → constant-rate chain of a clip that starts at 0 and never ends.
    private func select(_ frame: UnsafeMutablePointer<AVFrame>) throws {
        var timestamp = frame.pointee.best_effort_timestamp
        if timestamp == noTimestamp { timestamp = endTimestamp } else { timestamp -= startOffset }
        let duration = frame.pointee.pkt_duration > 0 ? frame.pointee.pkt_duration : estimatedFrameDuration
        endTimestamp = max(endTimestamp, timestamp + duration)
        guard case .keep = trim.verdict(forTimestamp: timestamp) else { return }
        guard let picture = HeldPicture(referencing: frame) else {
            throw VideoError.ioError(path: reader.path, operation: "transcode", reason: "out of memory")
        }
        for (picked, tick) in selection.push(picture, timestamp: timestamp) {
            for output in sync.push(picked, timestamp: tick) { try encode(output) }
        }
    }

    /// One source frame period in the stream's time base (1 when unknown).
    private var estimatedFrameDuration: Int64 {
        guard let stream = reader.stream, reader.framesPerSecond > 0 else { return 1 }
        let tick = av_q2d(stream.pointee.time_base)
        return max(1, Int64((1 / reader.framesPerSecond / tick).rounded()))
    }

    private func encode(_ picture: HeldPicture) throws {
        guard let frame = picture.frame else { return }
        if encoder == nil {
            let upright = reader.orientation.size(width: Int(frame.pointee.width), height: Int(frame.pointee.height))
            let size = options.outputSize(width: upright.width, height: upright.height)
            guard size.width >= 2, size.height >= 2 else {
                throw VideoError.invalidRequest(path: reader.path, reason: "its \(upright.width)×\(upright.height) frames are too small to encode")
            }
            encoder = try PictureEncoder(path: reader.path, width: size.width, height: size.height, options: options,
                                         orientation: reader.orientation, firstFrame: frame,
                                         measuresQuality: measuresQuality)
        }
        try encoder?.encode(frame)
    }

    /// Ends the selection, flushes the encoder and returns the file.
    func finish() throws -> TranscodedVideo {
        for (picked, tick) in selection.finish(endTimestamp: endTimestamp) {
            for output in sync.push(picked, timestamp: tick) { try encode(output) }
        }
        for output in sync.finish() { try encode(output) }
        guard let encoder, encoder.frameCount > 0 else {
            if decodeErrors > 0 {
                throw VideoError.corruptData(path: reader.path, reason: "the decoder rejected every packet: \(lastDecodeError)")
            }
            if let readError { throw VideoError.corruptData(path: reader.path, reason: "reading the container failed: \(readError)") }
            throw VideoError.noDecodableFrame(path: reader.path)
        }
        let bytes = try encoder.finish()
        let upright = reader.orientation.size(width: reader.width, height: reader.height)
        let source = TranscodedSource(durationSeconds: reader.durationSeconds, framesPerSecond: reader.framesPerSecond,
                                      width: upright.width, height: upright.height, codecName: reader.codecName,
                                      decodedFrames: decodedFrames, decodeErrors: decodeErrors)
        return TranscodedVideo(bytes: bytes, frameCount: encoder.frameCount, width: encoder.width, height: encoder.height,
                               framesPerSecond: options.framesPerSecond, source: source, quality: encoder.quality)
    }
}
