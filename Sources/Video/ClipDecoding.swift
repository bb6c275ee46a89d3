import CFFmpeg
import FoundationEssentials

// MARK: - Public decoding

extension VideoReader {
    /// Decodes one clip exactly as `ffmpeg -ss S -t D -i V` with the reference's filter chain
    /// (`fps`, `crop` (+ `scale`), `hflip`, RGB24) would: the same frames, the same pixels.
    ///
    /// Only what is needed is decoded: from the keyframe before the start until the clip is full.
    /// A window past the end of the video gives a clip of black frames (`decodedFrameCount` 0),
    /// as `ffmpeg` gives no frames; a file that decodes partly gives the frames it has.
    public func clip(_ request: ClipRequest) throws -> Clip {
        try validate(request)
        guard request.frameCount > 0 else {
            return Clip(packedFrames: [], frameCount: 0, size: request.size)
        }
        guard let stream else { throw VideoError.noVideoStream(path: path) }
        let timeBase = stream.pointee.time_base
        let start = try microseconds(request.startSeconds, what: "start")
        let duration = try microseconds(request.durationSeconds, what: "duration")
        let rate = av_d2q(request.framesPerSecond, Int32.max)
        guard rate.num > 0, rate.den > 0 else {
            throw VideoError.invalidRequest(path: path, reason: "frame rate \(request.framesPerSecond) is not usable")
        }
        let pipeline = SelectionPipeline(
            trim: TrimSelection(startTimestamp: 0,
                                durationInTimeBase: av_rescale_q(duration, cffmpeg_time_base_q(), timeBase)),
            rate: FrameRateSelection(inputTimeBase: timeBase, outputTimeBase: av_inv_q(rate)),
            sync: ConstantFrameRateSync(filterTimeBase: av_inv_q(rate), frameRate: rate),
            limit: request.frameCount,
            convert: converting(size: request.size, cropping: request.cropping,
                                offset: request.cropOffset, flip: request.flipped))
        try run(startMicroseconds: start, sampling: av_inv_q(rate), pipeline: pipeline)
        return Clip(packedFrames: pipeline.frames, frameCount: request.frameCount, size: request.size)
    }

    /// Decodes the whole video at its native frame rate (no resampling, no seeking), cutting each
    /// frame like `clip` does: HMDB-51's evaluation decode. The clip has one frame per video frame.
    public func allFrames(size: Int, cropping: ClipCropping = .scaledSquare, cropOffset: CropOffset = .centered,
                          flipped: Bool = false) throws -> Clip {
        guard size > 0 else { throw VideoError.invalidRequest(path: path, reason: "the frame size \(size) is not positive") }
        try validate(cropOffset)
        guard let formatContext, let stream else { throw VideoError.noVideoStream(path: path) }
        let frameRate = av_guess_frame_rate(formatContext, stream, nil)
        let pipeline = SelectionPipeline(
            trim: nil, rate: nil,
            sync: ConstantFrameRateSync(filterTimeBase: stream.pointee.time_base, frameRate: frameRate),
            limit: nil,
            convert: converting(size: size, cropping: cropping, offset: cropOffset, flip: flipped))
        try run(startMicroseconds: nil, sampling: nil, pipeline: pipeline)
        return Clip(packedFrames: pipeline.frames, frameCount: pipeline.frames.count, size: size)
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

    /// The conversion of one frame to the clip's packed RGB pixels.
    private func converting(size: Int, cropping: ClipCropping, offset: CropOffset, flip: Bool)
        -> (UnsafeMutablePointer<AVFrame>) throws -> [UInt8] {
        return { [converter, path, orientation] frame in
            do {
                let converted = try converter.convert(frame, size: size, cropping: cropping, offset: offset, flip: flip,
                                                      orientation: orientation)
                guard converted.width == size, converted.height == size else {
                    throw VideoError.invalidRequest(
                        path: path, reason: "a \(size)×\(size) crop of this video's pixel format must have an even size")
                }
                return converted.pixels
            } catch let failure as ConversionFailure {
                switch failure {
                case .cropDoesNotFit(let frameWidth, let frameHeight):
                    throw VideoError.invalidRequest(
                        path: path, reason: "a \(size)×\(size) crop does not fit in its \(frameWidth)×\(frameHeight) frames")
                case .unsupportedFormat(let name):
                    throw VideoError.invalidRequest(path: path, reason: "the pixel format \(name) is not supported")
                case .scalingFailed(let reason):
                    throw VideoError.invalidRequest(path: path, reason: "converting a frame to RGB failed: \(reason)")
                }
            }
        }
    }
}

/// A number of seconds as text for `ffmpeg`'s command line: the shortest decimal that reads back
/// as the same `Double` (as Python's `str` writes it), without an exponent.
func commandLineText(_ seconds: Double) -> String {
    let text = "\(seconds)"
    if text.contains("e") || text.contains("E") {
        // C's printf rather than Foundation's String(format:), which links ICU into the binary.
        var buffer = [CChar](repeating: 0, count: 400)
        _ = withVaList([seconds]) { vsnprintf(&buffer, buffer.count, "%.9f", $0) }
        return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }
    return text
}

// MARK: - The decoding loop

/// A decoded frame on its way through the selection stages; converted to RGB at most once.
final class DecodedFrame {
    private var frame: UnsafeMutablePointer<AVFrame>?
    private var pixels: [UInt8]?

    /// A new reference to the pictures of `source`, or `nil` when out of memory.
    init?(referencing source: UnsafeMutablePointer<AVFrame>) {
        guard let frame = av_frame_clone(source) else { return nil }
        self.frame = frame
    }

    deinit { av_frame_free(&frame) }

    /// The converted pixels; the first call converts and releases the decoded picture.
    func rgb(_ convert: (UnsafeMutablePointer<AVFrame>) throws -> [UInt8]) throws -> [UInt8] {
        if let pixels { return pixels }
        guard let frame else { return [] }
        let converted = try convert(frame)
        pixels = converted
        av_frame_free(&self.frame)
        return converted
    }
}

/// The `trim` → `fps` → video sync chain, collecting converted frames up to a limit.
final class SelectionPipeline {
    private var trim: TrimSelection?
    private var rate: FrameRateSelection<DecodedFrame>?
    private var sync: ConstantFrameRateSync<DecodedFrame>
    private let limit: Int?
    private let convert: (UnsafeMutablePointer<AVFrame>) throws -> [UInt8]
    /// The output frames so far, packed RGB.
    private(set) var frames: [[UInt8]] = []
    private var hasEnded = false

    init(trim: TrimSelection?, rate: FrameRateSelection<DecodedFrame>?, sync: ConstantFrameRateSync<DecodedFrame>,
         limit: Int?, convert: @escaping (UnsafeMutablePointer<AVFrame>) throws -> [UInt8]) {
        self.trim = trim
        self.rate = rate
        self.sync = sync
        self.limit = limit
        self.convert = convert
    }

    /// Whether no further frame can change the output.
    var isComplete: Bool {
        if hasEnded { return true }
        if let limit { return frames.count >= limit }
        return false
    }

    /// A decoded frame with its timestamp in the stream's time base.
    func receive(_ frame: DecodedFrame, timestamp: Int64) throws {
        guard !hasEnded else { return }
        if var selection = trim {
            let verdict = selection.verdict(forTimestamp: timestamp)
            trim = selection
            switch verdict {
            case .drop: return
            case .end(let endTimestamp):
                try finish(endTimestamp: endTimestamp)
                return
            case .keep: break
            }
        }
        if var selection = rate {
            let selected = selection.push(frame, timestamp: timestamp)
            rate = selection
            for (picked, outputTimestamp) in selected {
                try emit(sync.push(picked, timestamp: outputTimestamp))
            }
        } else {
            try emit(sync.push(frame, timestamp: timestamp))
        }
    }

    /// The end of the input at `endTimestamp` (stream time base).
    func finish(endTimestamp: Int64) throws {
        guard !hasEnded else { return }
        hasEnded = true
        if var selection = rate {
            let selected = selection.finish(endTimestamp: endTimestamp)
            rate = selection
            for (picked, outputTimestamp) in selected {
                try emit(sync.push(picked, timestamp: outputTimestamp))
            }
        }
        try emit(sync.finish())
    }

    private func emit(_ selected: [DecodedFrame]) throws {
        for frame in selected {
            if let limit, frames.count >= limit { return }
            frames.append(try frame.rgb(convert))
        }
    }
}

/// `ffmpeg`'s bookkeeping of an input stream's times (`process_input_packet`, `decode_video`),
/// in microseconds; it decides the end-of-stream time the `fps` filter sees.
private struct InputClock {
    var sawFirstTimestamp = false
    var dts: Int64 = noTimestamp
    var nextDTS: Int64 = noTimestamp
    var pts: Int64 = noTimestamp
    var nextPTS: Int64 = noTimestamp
    /// Timestamps of the drain calls, for frames without one (`dts_buffer`).
    var drainTimestamps: [Int64] = []
}

/// Packets read ahead of the decoder, with the `AVPacket`s they live in reused.
private final class PacketQueue {
    /// How many packets are read ahead: more than any stream's reordering depth.
    static let depth = 24
    private var packets: [UnsafeMutablePointer<AVPacket>] = []
    private var spare: [UnsafeMutablePointer<AVPacket>] = []

    deinit {
        for packet in packets + spare {
            var pointer: UnsafeMutablePointer<AVPacket>? = packet
            av_packet_free(&pointer)
        }
    }

    var count: Int { packets.count }

    /// Takes over the data of `source`, leaving it empty; `false` when out of memory.
    func append(movingFrom source: UnsafeMutablePointer<AVPacket>) -> Bool {
        guard let packet = spare.popLast() ?? av_packet_alloc() else {
            av_packet_unref(source)
            return false
        }
        av_packet_move_ref(packet, source)
        packets.append(packet)
        return true
    }

    /// Moves the oldest packet into `target`; `false` when the queue is empty.
    func removeFirst(into target: UnsafeMutablePointer<AVPacket>) -> Bool {
        guard !packets.isEmpty else { return false }
        let packet = packets.removeFirst()
        av_packet_move_ref(target, packet)
        spare.append(packet)
        return true
    }

    /// The smallest presentation timestamp queued that is later than `timestamp`.
    func nextTimestamp(after timestamp: Int64) -> Int64? {
        var best: Int64?
        for packet in packets {
            let pts = packet.pointee.pts
            if pts != noTimestamp && pts > timestamp && pts < (best ?? Int64.max) { best = pts }
        }
        return best
    }
}

/// What a decoding run met.
private struct DecodeReport {
    var framesDecoded = 0
    var decodeErrors = 0
    var lastDecodeError: String?
    var readError: String?
}

extension VideoReader {
    /// Seeks (when `startMicroseconds` is given), decodes, and feeds `pipeline` until it is
    /// complete or the stream ends; throws when the stream gives no frame at all.
    ///
    /// `sampling` is the output time base of the `fps` selection, when there is one: pictures
    /// that cannot reach the output are then not decoded where the codec allows it.
    func run(startMicroseconds: Int64?, sampling: AVRational?, pipeline: SelectionPipeline) throws {
        guard let formatContext, let stream, let packet, let frame = decodedFrame else { throw VideoError.noVideoStream(path: path) }
        if hasDecoded { try openDecoder() }
        guard let decoder else { throw VideoError.noVideoStream(path: path) }
        let wasUsed = hasDecoded
        hasDecoded = true
        let timeBase = stream.pointee.time_base
        let microsecond = cffmpeg_time_base_q()

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
        let offset = av_rescale_q(-timestamp, microsecond, timeBase)

        var clock = InputClock()
        var report = DecodeReport()
        let averageRate = stream.pointee.avg_frame_rate
        let initialDelay = Int64(decoder.pointee.has_b_frames)
        let parser = av_stream_get_parser(stream)

        /// The duration `ffmpeg` assumes for a packet without one, from the decoder's frame rate.
        func rateDuration() -> Int64 {
            let rate = decoder.pointee.framerate
            guard rate.num != 0, rate.den != 0 else { return 0 }
            let ticksPerFrame = Int64(max(decoder.pointee.ticks_per_frame, 1))
            let ticks = parser.map { Int64($0.pointee.repeat_pict) + 1 } ?? ticksPerFrame
            return Int64(AV_TIME_BASE) * Int64(rate.den) * ticks / Int64(rate.num) / ticksPerFrame
        }

        func beginPacket(dts packetDTS: Int64?) {
            if !clock.sawFirstTimestamp {
                clock.dts = averageRate.num != 0
                    ? Int64(Double(-initialDelay * Int64(AV_TIME_BASE)) / av_q2d(averageRate)) : 0
                clock.pts = 0
                clock.sawFirstTimestamp = true
            }
            if clock.nextDTS == noTimestamp { clock.nextDTS = clock.dts }
            if clock.nextPTS == noTimestamp { clock.nextPTS = clock.pts }
            if let packetDTS, packetDTS != noTimestamp {
                clock.dts = av_rescale_q(packetDTS, timeBase, microsecond)
                clock.nextDTS = clock.dts
            }
        }

        /// Takes a decoded frame: stamps it as `ffmpeg` does and passes it on.
        func deliver(draining: Bool) throws -> Int64 {
            report.framesDecoded += 1
            var best = frame.pointee.best_effort_timestamp
            let durationPTS = frame.pointee.pkt_duration
            if draining && best == noTimestamp && !clock.drainTimestamps.isEmpty {
                best = clock.drainTimestamps.removeFirst()
            }
            if best != noTimestamp {
                frame.pointee.pts = best
                let time = av_rescale_q(best, timeBase, microsecond)
                if time != noTimestamp {
                    clock.nextPTS = time
                    clock.pts = time
                }
            }
            defer { av_frame_unref(frame) }
            guard let decoded = DecodedFrame(referencing: frame) else {
                throw VideoError.ioError(path: path, operation: "decode", reason: "out of memory")
            }
            try pipeline.receive(decoded, timestamp: frame.pointee.pts)
            return durationPTS
        }

        /// Receives one frame: `true` with a frame, `false` without; the status when it failed.
        func receive() -> (gotFrame: Bool, status: Int32) {
            let status = avcodec_receive_frame(decoder, frame)
            if status == cffmpeg_error_again() { return (false, 0) }
            if status < 0 { return (false, status) }
            return (true, 0)
        }

        func noteDecodeError(_ status: Int32) {
            report.decodeErrors += 1
            report.lastDecodeError = ffmpegErrorMessage(status)
        }

        // Packets, read a little ahead so that their timestamps tell which pictures the clip uses.
        let lookahead = PacketQueue()
        var readFinished = false
        var earliestKeptTimestamp = Int64.max
        func refill() throws {
            while !readFinished && lookahead.count < PacketQueue.depth {
                let readStatus = av_read_frame(formatContext, packet)
                if readStatus < 0 {
                    if readStatus != cffmpeg_error_eof() { report.readError = ffmpegErrorMessage(readStatus) }
                    readFinished = true
                    return
                }
                guard packet.pointee.stream_index == streamIndex else {
                    av_packet_unref(packet)
                    continue
                }
                if packet.pointee.dts != noTimestamp { packet.pointee.dts += offset }
                if packet.pointee.pts != noTimestamp { packet.pointee.pts += offset }
                if packet.pointee.pts >= 0 { earliestKeptTimestamp = min(earliestKeptTimestamp, packet.pointee.pts) }
                guard lookahead.append(movingFrom: packet) else {
                    throw VideoError.ioError(path: path, operation: "decode", reason: "out of memory")
                }
            }
        }
        /// Whether the picture in `packet` cannot reach the clip: before the start, or followed
        /// (in presentation order, within the lookahead) by a picture on the same output tick.
        func isUnused(_ pts: Int64) -> Bool {
            guard skipsUnusedFrames, let sampling, pts != noTimestamp, initialDelay > 0 else { return false }
            if pts < 0 { return true }
            // The first kept picture sets where the clip's duration is counted from: keep it.
            guard earliestKeptTimestamp < pts, let next = lookahead.nextTimestamp(after: pts) else { return false }
            return cffmpeg_rescale_near_pass_minmax(next, timeBase, sampling)
                <= cffmpeg_rescale_near_pass_minmax(pts, timeBase, sampling)
        }

        while !pipeline.isComplete {
            try refill()
            guard lookahead.removeFirst(into: packet) else { break }
            defer { av_packet_unref(packet) }

            beginPacket(dts: packet.pointee.dts)
            var repeating = false
            while true {
                clock.pts = clock.nextPTS
                clock.dts = clock.nextDTS
                var gotFrame = false
                var status: Int32 = 0
                var durationPTS: Int64 = 0
                if !repeating {
                    if packet.pointee.size == 0 {
                        status = 0 // empty packets before the end are skipped
                    } else {
                        // A picture the clip cannot use is not decoded when no other picture refers
                        // to it (the decoder skips such pictures before decoding them).
                        decoder.pointee.skip_frame = isUnused(packet.pointee.pts) ? AVDISCARD_NONREF : AVDISCARD_DEFAULT
                        packet.pointee.dts = clock.dts != noTimestamp
                            ? av_rescale_q(clock.dts, microsecond, timeBase) : noTimestamp
                        let sent = avcodec_send_packet(decoder, packet)
                        if sent < 0 && sent != cffmpeg_error_eof() {
                            status = sent
                        } else {
                            (gotFrame, status) = receive()
                        }
                    }
                } else {
                    (gotFrame, status) = receive()
                }
                if gotFrame { durationPTS = try deliver(draining: false) }
                if !repeating || gotFrame {
                    let durationDTS = packet.pointee.duration != 0
                        ? av_rescale_q(packet.pointee.duration, timeBase, microsecond) : rateDuration()
                    if clock.dts != noTimestamp && durationDTS != 0 {
                        clock.nextDTS += durationDTS
                    } else {
                        clock.nextDTS = noTimestamp
                    }
                    if gotFrame {
                        clock.nextPTS += durationPTS > 0 ? av_rescale_q(durationPTS, timeBase, microsecond) : durationDTS
                    }
                }
                if status == cffmpeg_error_eof() { break }
                if status < 0 {
                    noteDecodeError(status)
                    break
                }
                if !gotFrame || pipeline.isComplete { break }
                repeating = true
            }
        }

        // The end: drain the decoder one frame per step, then end the selection.
        if !pipeline.isComplete {
            guard let empty = av_packet_alloc() else {
                throw VideoError.ioError(path: path, operation: "decode", reason: "out of memory")
            }
            var drainPacket: UnsafeMutablePointer<AVPacket>? = empty
            defer { av_packet_free(&drainPacket) }
            var failures = 0
            while !pipeline.isComplete {
                beginPacket(dts: nil)
                clock.pts = clock.nextPTS
                clock.dts = clock.nextDTS
                clock.drainTimestamps.append(clock.dts != noTimestamp
                                             ? av_rescale_q(clock.dts, microsecond, timeBase) : noTimestamp)
                var gotFrame = false
                var status = avcodec_send_packet(decoder, empty)
                if status < 0 && status != cffmpeg_error_eof() {
                    // The decoder refuses to drain: nothing more will come.
                    noteDecodeError(status)
                    status = cffmpeg_error_eof()
                } else {
                    (gotFrame, status) = receive()
                }
                var durationPTS: Int64 = 0
                if gotFrame { durationPTS = try deliver(draining: true) }
                let durationDTS = rateDuration()
                if clock.dts != noTimestamp && durationDTS != 0 {
                    clock.nextDTS += durationDTS
                } else {
                    clock.nextDTS = noTimestamp
                }
                if gotFrame {
                    clock.nextPTS += durationPTS > 0 ? av_rescale_q(durationPTS, timeBase, microsecond) : durationDTS
                }
                if status == cffmpeg_error_eof() { break }
                if status < 0 || !gotFrame {
                    if status < 0 { noteDecodeError(status) }
                    failures += 1
                    if failures > 1000 { break }
                }
            }
            if !pipeline.isComplete {
                let end = cffmpeg_rescale_near_pass_minmax(clock.pts, microsecond, timeBase)
                try pipeline.finish(endTimestamp: end)
            }
        }

        if report.framesDecoded == 0 {
            if report.decodeErrors > 0 {
                throw VideoError.corruptData(path: path, reason: "the decoder rejected every packet: \(report.lastDecodeError ?? "")")
            }
            if let readError = report.readError {
                throw VideoError.corruptData(path: path, reason: "reading the container failed: \(readError)")
            }
            throw VideoError.noDecodableFrame(path: path)
        }
    }

    /// Seeks back to the start of the file (a fresh `ffmpeg` reads from there).
    private func rewind(_ formatContext: UnsafeMutablePointer<AVFormatContext>) {
        let start = formatContext.pointee.start_time != noTimestamp ? formatContext.pointee.start_time : 0
        if avformat_seek_file(formatContext, -1, Int64.min, start, start, 0) < 0 {
            _ = av_seek_frame(formatContext, streamIndex, 0, AVSEEK_FLAG_BACKWARD)
        }
    }
}
