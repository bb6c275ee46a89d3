import CFFmpeg
import FoundationEssentials
import POSIX

/// A video file opened with FFmpeg's libraries: its properties, and clips decoded in-process with
/// the same frames and pixels as the `ffmpeg` command gives for the reference's filter chain.
///
/// A reader decodes one clip at a time (it is not thread-safe); use one reader per thread.
/// Every FFmpeg object it holds is freed when it is released.
public final class VideoReader {
    /// The file.
    public let url: URL
    /// The container's duration in seconds (ffprobe's `format.duration`), or the video stream's
    /// when the container has none; 0 when neither is known.
    public let durationSeconds: Double
    /// The video stream's average frame rate (`avg_frame_rate`, else `r_frame_rate`); 0 when unknown.
    public let framesPerSecond: Double
    /// The width of the decoded frames, in pixels.
    public let width: Int
    /// The height of the decoded frames, in pixels.
    public let height: Int
    /// The codec's short name, as ffprobe's `codec_name` (`h264`, `vp9`, `mpeg4`, ...).
    public let codecName: String
    /// The number of frames the container declares for the video stream, if it declares one.
    public let declaredFrameCount: Int?
    /// The rotation of the stream's display matrix, as ffprobe reports it (`rotation`,
    /// counter-clockwise degrees) brought into 0..<360; 0 without one. Clips are turned upright
    /// first, as `ffmpeg` does; `width` and `height` are those of the decoded pictures.
    public let rotationDegrees: Int
    /// How decoded pictures are turned upright.
    let orientation: Orientation
    /// Whether `clip` skips decoding pictures that cannot reach the clip (before its start, or
    /// between two sampled instants) and that no other picture refers to (B-frames, mostly), in
    /// streams with picture reordering. The clip's frames are the same; turn it off to decode every
    /// picture as `ffmpeg` does.
    public var skipsUnusedFrames = true

    // MARK: FFmpeg state

    var formatContext: UnsafeMutablePointer<AVFormatContext>?
    var decoder: UnsafeMutablePointer<AVCodecContext>?
    var packet: UnsafeMutablePointer<AVPacket>?
    var decodedFrame: UnsafeMutablePointer<AVFrame>?
    let streamIndex: Int32
    /// The number of streams in the file.
    let streamCount: Int
    /// Whether seeks start 3/23 s early, as `ffmpeg` does for files with B-frames.
    let seeksEarlierForDelay: Bool
    let codec: UnsafePointer<AVCodec>
    let threadCount: Int32
    /// Whether the decoder and demuxer have been used since opening (then a decode seeks and flushes first).
    var hasDecoded = false
    let converter = FrameConverter()
    /// The bytes in memory the reader reads, when it does not read a file (freed after `formatContext`).
    let memoryInput: MemoryInput?

    /// The file's path, for messages.
    var path: String { url.path }

    /// Opens `url` and finds its video stream. `threadCount` is the decoder's thread count
    /// (1 suits data loaders that decode many clips in parallel; 0 lets FFmpeg choose).
    public convenience init(url: URL, threadCount: Int = 1) throws {
        FFmpegLogLevel.applyDefault()
        let path = url.path
        var isDirectory = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw VideoError.fileNotFound(path: path)
        }
        if isDirectory {
            throw VideoError.ioError(path: path, operation: "read video", reason: "it is a directory")
        }
        let size = fileSize(atPath: path)
        if size == 0 { throw VideoError.emptyFile(path: path) }
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw VideoError.ioError(path: path, operation: "read video", reason: "permission denied")
        }

        var context: UnsafeMutablePointer<AVFormatContext>?
        let openStatus = avformat_open_input(&context, path, nil, nil)
        guard openStatus >= 0, let context else {
            let code = cffmpeg_errno_of_error(openStatus)
            if code == ENOENT { throw VideoError.fileNotFound(path: path) }
            if code != 0 && code != EINVAL {
                throw VideoError.ioError(path: path, operation: "read video", reason: ffmpegErrorMessage(openStatus))
            }
            throw VideoError.unknownFormat(path: path, reason: ffmpegErrorMessage(openStatus))
        }
        try self.init(url: url, openedContext: context, findsStreamInfo: true, memoryInput: nil, threadCount: threadCount)
    }

    /// The first video stream that is not a cover picture, as `[0]` in a filter graph picks.
    private static func firstVideoStream(of context: UnsafeMutablePointer<AVFormatContext>) -> Int32? {
        for index in 0..<Int(context.pointee.nb_streams) {
            guard let stream = context.pointee.streams[index] else { continue }
            if stream.pointee.codecpar.pointee.codec_type == AVMEDIA_TYPE_VIDEO
                && stream.pointee.disposition & AV_DISPOSITION_ATTACHED_PIC == 0 {
                return Int32(index)
            }
        }
        return nil
    }

    /// The clockwise rotation a display matrix asks for, in whole degrees 0..<360 (0 without one).
    private static func rotationDegrees(_ displayMatrix: UnsafePointer<Int32>?) -> Int {
        guard let displayMatrix, case let angle = av_display_rotation_get(displayMatrix), angle.isFinite else { return 0 }
        let degrees = Int(angle.rounded().truncatingRemainder(dividingBy: 360))
        return (degrees + 360) % 360
    }

    /// The average frame rate, else the real base frame rate, else 0.
    private static func framesPerSecond(of stream: UnsafeMutablePointer<AVStream>) -> Double {
        let average = stream.pointee.avg_frame_rate
        let real = stream.pointee.r_frame_rate
        if average.num > 0 && average.den > 0 { return av_q2d(average) }
        if real.num > 0 && real.den > 0 { return av_q2d(real) }
        return 0
    }

    /// The container's duration, else the stream's, else 0.
    private static func durationSeconds(of context: UnsafeMutablePointer<AVFormatContext>,
                                        stream: UnsafeMutablePointer<AVStream>) -> Double {
        if context.pointee.duration != noTimestamp && context.pointee.duration > 0 {
            return Double(context.pointee.duration) / Double(AV_TIME_BASE)
        }
        if stream.pointee.duration != noTimestamp && stream.pointee.duration > 0 {
            return Double(stream.pointee.duration) * av_q2d(stream.pointee.time_base)
        }
        return 0
    }

    /// Whether `ffmpeg` would seek a little earlier: when some stream has B-frames and the format
    /// does not seek to presentation times (its "dts heuristic").
    private static func seeksEarlierForDelay(_ context: UnsafeMutablePointer<AVFormatContext>) -> Bool {
        let anyDelay = (0..<Int(context.pointee.nb_streams)).contains { index in
            (context.pointee.streams[index]?.pointee.codecpar.pointee.video_delay ?? 0) > 0
        }
        return anyDelay && (context.pointee.iformat.pointee.flags & AVFMT_SEEK_TO_PTS) == 0
    }

    /// Takes over `context`, just opened by `avformat_open_input` (and closes it when this fails),
    /// and finds its video stream; `findsStreamInfo` decodes the first frames to learn what the
    /// container does not declare. `memoryInput` is the I/O the context reads through, if not a file.
    init(url: URL, openedContext context: UnsafeMutablePointer<AVFormatContext>, findsStreamInfo: Bool,
         memoryInput: MemoryInput?, threadCount: Int) throws {
        self.url = url
        self.memoryInput = memoryInput
        let path = url.path
        formatContext = context

        let probeStatus = findsStreamInfo ? avformat_find_stream_info(context, nil) : 0
        if probeStatus < 0 && context.pointee.nb_streams == 0 {
            var owned: UnsafeMutablePointer<AVFormatContext>? = context
            avformat_close_input(&owned)
            throw VideoError.unknownFormat(path: path, reason: ffmpegErrorMessage(probeStatus))
        }

        guard let found = VideoReader.firstVideoStream(of: context), let stream = context.pointee.streams[Int(found)] else {
            var owned: UnsafeMutablePointer<AVFormatContext>? = context
            avformat_close_input(&owned)
            throw VideoError.noVideoStream(path: path)
        }
        streamIndex = found
        guard let parameters = stream.pointee.codecpar else {
            var owned: UnsafeMutablePointer<AVFormatContext>? = context
            avformat_close_input(&owned)
            throw VideoError.noVideoStream(path: path)
        }
        codecName = String(cString: avcodec_get_name(parameters.pointee.codec_id))
        width = Int(parameters.pointee.width)
        height = Int(parameters.pointee.height)
        declaredFrameCount = stream.pointee.nb_frames > 0 ? Int(stream.pointee.nb_frames) : nil
        let displayMatrix = cffmpeg_stream_display_matrix(stream)
        orientation = Orientation(displayMatrix: displayMatrix)
        rotationDegrees = VideoReader.rotationDegrees(displayMatrix)
        framesPerSecond = VideoReader.framesPerSecond(of: stream)
        durationSeconds = VideoReader.durationSeconds(of: context, stream: stream)

        // Only the video stream is read.
        for index in 0..<Int(context.pointee.nb_streams) where index != Int(found) {
            context.pointee.streams[index]?.pointee.discard = AVDISCARD_ALL
        }
        seeksEarlierForDelay = VideoReader.seeksEarlierForDelay(context)
        streamCount = Int(context.pointee.nb_streams)

        guard let codec = avcodec_find_decoder(parameters.pointee.codec_id) else {
            var owned: UnsafeMutablePointer<AVFormatContext>? = context
            avformat_close_input(&owned)
            formatContext = nil
            throw VideoError.unsupportedCodec(path: path, codec: codecName)
        }
        self.codec = codec
        self.threadCount = Int32(max(0, threadCount))
        guard let packet = av_packet_alloc(), let frame = av_frame_alloc() else {
            throw VideoError.ioError(path: path, operation: "open decoder for", reason: "out of memory")
        }
        self.packet = packet
        self.decodedFrame = frame
        try openDecoder()
    }

    /// Opens a fresh decoder, as each `ffmpeg` run starts with one.
    func openDecoder() throws {
        avcodec_free_context(&decoder)
        guard let stream, let parameters = stream.pointee.codecpar else {
            throw VideoError.noVideoStream(path: path)
        }
        guard let decoder = avcodec_alloc_context3(codec) else {
            throw VideoError.ioError(path: path, operation: "open decoder for", reason: "out of memory")
        }
        self.decoder = decoder
        guard avcodec_parameters_to_context(decoder, parameters) >= 0 else {
            throw VideoError.unsupportedCodec(path: path, codec: codecName)
        }
        decoder.pointee.framerate = stream.pointee.avg_frame_rate
        decoder.pointee.pkt_timebase = stream.pointee.time_base
        decoder.pointee.thread_count = threadCount
        let status = avcodec_open2(decoder, codec, nil)
        guard status >= 0 else {
            throw VideoError.unsupportedCodec(path: path, codec: "\(codecName) (\(ffmpegErrorMessage(status)))")
        }
    }

    deinit {
        av_packet_free(&packet)
        av_frame_free(&decodedFrame)
        avcodec_free_context(&decoder)
        avformat_close_input(&formatContext)
    }

    /// The video stream.
    var stream: UnsafeMutablePointer<AVStream>? {
        formatContext?.pointee.streams[Int(streamIndex)]
    }
}

// MARK: - FFmpeg's messages

/// How much FFmpeg's libraries print on standard error, for the whole process. Readers and
/// writers make them quiet unless a level was chosen: problems in the data reach the caller as
/// `VideoError`s and `Clip.decodedFrameCount`, as the reference ran `ffmpeg` quietly.
public enum FFmpegLogLevel: Int32, Sendable {
    /// Nothing.
    case quiet = -8
    /// Only errors after which FFmpeg cannot go on.
    case fatal = 8
    /// Errors, including damaged data it recovers from.
    case error = 16
    /// Errors and warnings.
    case warning = 24
    /// FFmpeg's default: also informational messages.
    case info = 32

    /// Sets this level for every FFmpeg call in the process.
    public func apply() {
        Self.applyDefault()
        av_log_set_level(rawValue)
    }

    private static let quietOnce: Void = { av_log_set_level(FFmpegLogLevel.quiet.rawValue) }()

    /// Makes FFmpeg quiet the first time any reader, writer or level is used.
    static func applyDefault() { _ = quietOnce }
}
