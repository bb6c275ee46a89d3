import CFFmpeg
import FoundationEssentials
import POSIX

// MARK: - Public decoding

extension VideoReader {
    /// Decodes one clip into `pixels`, exactly as `ffmpeg -ss S -t D -i V` with the reference's
    /// filter chain (`fps`, `crop` (+ `scale`), `hflip`, RGB24) would give it: the same frames, the
    /// same pixel values, laid out channel-major, `3 x frameCount x size x size` bytes (the layout
    /// of `Clip.pixels` and of one sample of a training batch). `pixels` must hold exactly
    /// `request.byteCount` bytes; each frame is converted straight into its place.
    ///
    /// Only what is needed is decoded: from the keyframe before the start until the clip is full.
    /// Frames the video does not fill are written black (the reference's padding), and the result
    /// says how many came from the video. A window in which the video has no frame gives a black
    /// clip with the reason in `ClipFill.emptyReason`, as `ffmpeg` gives no frames; a file that
    /// decodes partly gives the frames it has. When it throws, the bytes of `pixels` are unspecified.
    @discardableResult
    public func decode(_ request: ClipRequest, into pixels: UnsafeMutableRawBufferPointer) throws -> ClipFill {
        try validate(request)
        guard pixels.count == request.byteCount else {
            throw VideoError.invalidRequest(
                path: path, reason: "the clip's buffer holds \(pixels.count) bytes, not 3 × \(request.frameCount) × "
                    + "\(request.size) × \(request.size) = \(request.byteCount)")
        }
        guard request.frameCount > 0, let base = pixels.baseAddress else {
            return ClipFill(frameCount: request.frameCount, decodedFrameCount: 0, emptyReason: nil)
        }
        guard let stream else { throw VideoError.noVideoStream(path: path) }
        let timeBase = stream.pointee.time_base
        let start = try microseconds(request.startSeconds, what: "start")
        let duration = try microseconds(request.durationSeconds, what: "duration")
        let rate = av_d2q(request.framesPerSecond, Int32.max)
        guard rate.num > 0, rate.den > 0 else {
            throw VideoError.invalidRequest(path: path, reason: "frame rate \(request.framesPerSecond) is not usable")
        }
        let writer = ChannelMajorClipWriter(
            base: base.assumingMemoryBound(to: UInt8.self), frameCount: request.frameCount, side: request.size,
            convert: converting(size: request.size, cropping: request.cropping, offset: request.cropOffset,
                                flip: request.flipped))
        let pipeline = SelectionPipeline(
            trim: TrimSelection(startTimestamp: 0,
                                durationInTimeBase: av_rescale_q(duration, cffmpeg_time_base_q(), timeBase)),
            rate: FrameRateSelection(inputTimeBase: timeBase, outputTimeBase: av_inv_q(rate)),
            sync: ConstantFrameRateSync(filterTimeBase: av_inv_q(rate), frameRate: rate),
            sink: writer)
        let report = try decode(startMicroseconds: start, sampling: av_inv_q(rate), pipeline: pipeline)
        writer.padWithBlack()
        var emptyReason: EmptyClipReason?
        if writer.count == 0 {
            emptyReason = whyEmpty(report, request: request, timeBase: timeBase)
        }
        return ClipFill(frameCount: request.frameCount, decodedFrameCount: writer.count, emptyReason: emptyReason)
    }

    /// Decodes one clip (see `decode(_:into:)`) into a new `Clip`.
    public func clip(_ request: ClipRequest) throws -> Clip {
        try validate(request)
        var pixels = [UInt8](repeating: 0, count: request.byteCount)
        let fill = try pixels.withUnsafeMutableBytes { try decode(request, into: $0) }
        return Clip(checkedFrameCount: request.frameCount, size: request.size, decodedFrameCount: fill.decodedFrameCount,
                    pixels: pixels)
    }

    /// Decodes the whole video at its native frame rate (no resampling, no seeking), cutting each
    /// frame like `clip` does: HMDB-51's evaluation decode. The clip has one frame per video frame.
    public func allFrames(size: Int, cropping: ClipCropping = .scaledSquare, cropOffset: CropOffset = .centered,
                          flipped: Bool = false) throws -> Clip {
        guard size > 0 else { throw VideoError.invalidRequest(path: path, reason: "the frame size \(size) is not positive") }
        try validate(cropOffset)
        guard let formatContext, let stream else { throw VideoError.noVideoStream(path: path) }
        let frameRate = av_guess_frame_rate(formatContext, stream, nil)
        let writer = GrowingClipWriter(
            side: size, convert: converting(size: size, cropping: cropping, offset: cropOffset, flip: flipped))
        let pipeline = SelectionPipeline(
            trim: nil, rate: nil,
            sync: ConstantFrameRateSync(filterTimeBase: stream.pointee.time_base, frameRate: frameRate),
            sink: writer)
        _ = try decode(startMicroseconds: nil, sampling: nil, pipeline: pipeline)
        return writer.clip
    }

    // MARK: Validation

    private func validate(_ request: ClipRequest) throws {
        func reject(_ reason: String) -> VideoError { VideoError.invalidRequest(path: path, reason: reason) }
        guard request.startSeconds.isFinite, request.startSeconds >= 0 else {
            throw reject("the start \(request.startSeconds) s is not a time in the video")
        }
        guard request.durationSeconds.isFinite, request.durationSeconds > 0 else {
            throw reject("the duration \(request.durationSeconds) s is not positive")
        }
        guard request.framesPerSecond.isFinite, request.framesPerSecond > 0 else {
            throw reject("the frame rate \(request.framesPerSecond) is not positive")
        }
        guard request.frameCount >= 0 else { throw reject("the frame count \(request.frameCount) is negative") }
        guard request.size > 0 else { throw reject("the frame size \(request.size) is not positive") }
        guard request.frameCount == 0 || request.byteCount > 0 else {
            throw reject("a clip of \(request.frameCount) frames of \(request.size)×\(request.size) is too large")
        }
        try validate(request.cropOffset)
    }

    private func validate(_ offset: CropOffset) throws {
        guard offset.horizontal.isFinite, offset.vertical.isFinite else {
            throw VideoError.invalidRequest(path: path, reason: "the crop offset is not a number")
        }
    }

    /// Seconds as `ffmpeg` reads them from its command line (`av_parse_time`: decimal digits
    /// beyond microseconds are cut, not rounded).
    func microseconds(_ seconds: Double, what: String) throws -> Int64 {
        var value: Int64 = 0
        let status = av_parse_time(&value, commandLineText(seconds), 1)
        guard status >= 0 else {
            throw VideoError.invalidRequest(path: path, reason: "the \(what) \(seconds) s cannot be read as a time")
        }
        return value
    }

    // MARK: Conversion

    /// The conversion of one decoded picture into a planar frame of the clip.
    private func converting(size: Int, cropping: ClipCropping, offset: CropOffset, flip: Bool) -> PictureConversion {
        return { [converter, path, orientation] frame, target in
            do {
                try converter.convert(frame, size: size, cropping: cropping, offset: offset, flip: flip,
                                      orientation: orientation, into: target)
            } catch let failure as ConversionFailure {
                switch failure {
                case .cropDoesNotFit(let frameWidth, let frameHeight):
                    throw VideoError.invalidRequest(
                        path: path, reason: "a \(size)×\(size) crop does not fit in its \(frameWidth)×\(frameHeight) frames")
                case .cropRoundedDown:
                    throw VideoError.invalidRequest(
                        path: path, reason: "a \(size)×\(size) crop of this video's pixel format must have an even size")
                case .unsupportedFormat(let name):
                    throw VideoError.invalidRequest(path: path, reason: "the pixel format \(name) is not supported")
                case .scalingFailed(let reason):
                    throw VideoError.invalidRequest(path: path, reason: "converting a frame to RGB failed: \(reason)")
                }
            }
        }
    }

    // MARK: Empty clips

    /// Why a window that the video decodes in gives no frame.
    private func whyEmpty(_ report: DecodeReport, request: ClipRequest, timeBase: AVRational) -> EmptyClipReason {
        if report.framesFromStart > 0 {
            return .tooShortForFrameRate(frameCount: report.framesFromStart, framesPerSecond: request.framesPerSecond)
        }
        let last = request.startSeconds + Double(report.latestTimestamp ?? 0) * av_q2d(timeBase)
        return .framesEndBeforeStart(startSeconds: request.startSeconds, lastFrameSeconds: max(0, last),
                                     declaredSeconds: durationSeconds)
    }
}

/// A number of seconds as text for `ffmpeg`'s command line: the shortest decimal that reads back
/// as the same `Double` (as Python's `str` writes it), without an exponent.
func commandLineText(_ seconds: Double) -> String {
    let text = "\(seconds)"
    if text.contains("e") || text.contains("E") { return String(cFormat: "%.9f", seconds) }
    return text
}

// MARK: - Running the decoder

extension VideoReader {
    /// Seeks (when `startMicroseconds` is given), decodes, and feeds `pipeline` until it is
    /// complete or the stream ends; throws when the stream gives no frame at all.
    ///
    /// `sampling` is the output time base of the `fps` selection, when there is one: pictures
    /// that cannot reach the output are then not decoded where the codec allows it.
    func decode(startMicroseconds: Int64?, sampling: AVRational?, pipeline: SelectionPipeline) throws -> DecodeReport {
        guard let formatContext, let stream, let packet, let frame = decodedFrame else { throw VideoError.noVideoStream(path: path) }
        if hasDecoded { try openDecoder() }
        guard let decoder else { throw VideoError.noVideoStream(path: path) }
        let wasUsed = hasDecoded
        hasDecoded = true
        let offset = seek(formatContext, to: startMicroseconds, wasUsed: wasUsed, timeBase: stream.pointee.time_base)
        let skips = skipsUnusedFrames && decoder.pointee.has_b_frames > 0
        let lookahead = PacketLookahead(formatContext: formatContext, streamIndex: streamIndex, offset: offset,
                                        timeBase: stream.pointee.time_base, sampling: skips ? sampling : nil, path: path)
        let run = DecodingRun(decoder: decoder, stream: stream, frame: frame, packet: packet, lookahead: lookahead,
                              pipeline: pipeline, path: path)
        try run.run()
        try checkSomethingDecoded(run.report, startMicroseconds: startMicroseconds)
        return run.report
    }

    /// Seeks where `ffmpeg -ss` would (or back to the start of a used file); returns the offset that
    /// makes the stream's timestamps relative to the start (stream time base).
    private func seek(_ formatContext: UnsafeMutablePointer<AVFormatContext>, to startMicroseconds: Int64?,
                      wasUsed: Bool, timeBase: AVRational) -> Int64 {
        var timestamp = startMicroseconds ?? 0
        if formatContext.pointee.start_time != noTimestamp { timestamp += formatContext.pointee.start_time }
        if startMicroseconds != nil {
            let target = seeksEarlierForDelay ? timestamp - 3 * Int64(AV_TIME_BASE) / 23 : timestamp
            if avformat_seek_file(formatContext, -1, Int64.min, target, target, 0) < 0 && wasUsed {
                rewind(formatContext)
            }
        } else if wasUsed {
            rewind(formatContext)
        }
        return av_rescale_q(-timestamp, cffmpeg_time_base_q(), timeBase)
    }

    /// Seeks back to the start of the file (a fresh `ffmpeg` reads from there).
    private func rewind(_ formatContext: UnsafeMutablePointer<AVFormatContext>) {
        let start = formatContext.pointee.start_time != noTimestamp ? formatContext.pointee.start_time : 0
        if avformat_seek_file(formatContext, -1, Int64.min, start, start, 0) < 0 {
            _ = av_seek_frame(formatContext, streamIndex, 0, AVSEEK_FLAG_BACKWARD)
        }
    }

    /// Throws the reason when the run decoded no frame at all.
    private func checkSomethingDecoded(_ report: DecodeReport, startMicroseconds: Int64?) throws {
        guard report.framesDecoded == 0 else { return }
        if report.decodeErrors > 0 {
            throw VideoError.corruptData(path: path, reason: "the decoder rejected every packet: \(report.lastDecodeError ?? "")")
        }
        if let readError = report.readError {
            throw VideoError.corruptData(path: path, reason: "reading the container failed: \(readError)")
        }
        let startSeconds = Double(startMicroseconds ?? 0) / Double(AV_TIME_BASE)
        if report.packetsRead == 0 && startMicroseconds != nil && durationSeconds > startSeconds {
            throw VideoError.corruptData(
                path: path, reason: "the file is cut short: it declares " + String(cFormat: "%g", durationSeconds)
                    + " s of video, but holds no data from " + String(cFormat: "%g", startSeconds) + " s on")
        }
        throw VideoError.noDecodableFrame(path: path)
    }
}
