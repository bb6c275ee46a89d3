import CFFmpeg

// One pass of the decoder over a stretch of a video, as `ffmpeg` makes it: packets read a little
// ahead (so that pictures the clip cannot use need not be decoded), the decode loop with ffmpeg's
// timestamp bookkeeping, the drain at the end of the stream, and the frames handed to a
// selection pipeline.

private let microsecond = cffmpeg_time_base_q()

// MARK: - The input clock

/// `ffmpeg`'s bookkeeping of an input stream's times (`process_input_packet`, `decode_video` in
/// FFmpeg 5.1 `fftools/ffmpeg.c`), in microseconds: it stamps frames that have no timestamp and
/// decides the end-of-stream time the `fps` filter sees.
struct InputClock {
    private let timeBase: AVRational
    private let averageRate: AVRational
    private let initialDelay: Int64
    private var sawFirstTimestamp = false
    private var dts: Int64 = noTimestamp
    private var nextDTS: Int64 = noTimestamp
    private var pts: Int64 = noTimestamp
    private var nextPTS: Int64 = noTimestamp
    /// Timestamps of the drain calls, for frames without one (`dts_buffer`).
    private var drainTimestamps: [Int64] = []

    /// A clock for a stream in `timeBase` whose average frame rate is `averageRate` and whose
    /// decoder delays output by `initialDelay` frames (`has_b_frames`).
    init(timeBase: AVRational, averageRate: AVRational, initialDelay: Int64) {
        self.timeBase = timeBase
        self.averageRate = averageRate
        self.initialDelay = initialDelay
    }

    /// A packet arrives, with its decoding timestamp in the stream's time base (nil while draining).
    mutating func beginPacket(dts packetDTS: Int64?) {
        if !sawFirstTimestamp {
            dts = averageRate.num != 0 ? Int64(Double(-initialDelay * Int64(AV_TIME_BASE)) / av_q2d(averageRate)) : 0
            pts = 0
            sawFirstTimestamp = true
        }
        if nextDTS == noTimestamp { nextDTS = dts }
        if nextPTS == noTimestamp { nextPTS = pts }
        if let packetDTS, packetDTS != noTimestamp {
            dts = av_rescale_q(packetDTS, timeBase, microsecond)
            nextDTS = dts
        }
    }

    /// One call of the decoder begins: the predicted times become the current ones.
    mutating func beginDecoderCall() {
        pts = nextPTS
        dts = nextDTS
    }

    /// The current decoding time in the stream's time base (what the packet carries into the decoder).
    var decodingTimestamp: Int64 {
        dts != noTimestamp ? av_rescale_q(dts, microsecond, timeBase) : noTimestamp
    }

    /// Remembers the time of a drain call, for a frame that comes out of it without a timestamp.
    mutating func noteDrainCall() {
        drainTimestamps.append(decodingTimestamp)
    }

    /// Stamps a decoded frame as `ffmpeg` does; returns its timestamp in the stream's time base.
    mutating func stamp(_ frame: UnsafeMutablePointer<AVFrame>, draining: Bool) -> Int64 {
        var best = frame.pointee.best_effort_timestamp
        if draining && best == noTimestamp && !drainTimestamps.isEmpty {
            best = drainTimestamps.removeFirst()
        }
        if best != noTimestamp {
            frame.pointee.pts = best
            let time = av_rescale_q(best, timeBase, microsecond)
            if time != noTimestamp {
                nextPTS = time
                pts = time
            }
        }
        return frame.pointee.pts
    }

    /// After a decoder call: the predicted times move on by the packet's duration (`packetDuration`,
    /// microseconds) and, when a frame came out, by the frame's (`frameDuration`, stream time base).
    mutating func advance(packetDuration: Int64, frameDuration: Int64?) {
        if dts != noTimestamp && packetDuration != 0 {
            nextDTS += packetDuration
        } else {
            nextDTS = noTimestamp
        }
        if let frameDuration {
            nextPTS += frameDuration > 0 ? av_rescale_q(frameDuration, timeBase, microsecond) : packetDuration
        }
    }

    /// The end-of-stream time the `fps` filter sees, in the stream's time base.
    var endTimestamp: Int64 {
        cffmpeg_rescale_near_pass_minmax(pts, microsecond, timeBase)
    }
}

// MARK: - Packets read ahead

/// The video stream's packets, read a little ahead of the decoder so that their timestamps tell
/// which pictures the clip can use; the `AVPacket`s they live in are reused.
final class PacketLookahead {
    /// How many packets are read ahead: more than any stream's reordering depth.
    static let depth = 24
    private let formatContext: UnsafeMutablePointer<AVFormatContext>
    private let streamIndex: Int32
    private let path: String
    /// Added to every timestamp: the stream's times relative to the clip's start.
    private let offset: Int64
    private let timeBase: AVRational
    /// The output time base of the clip's `fps` selection, when pictures that cannot reach it are skipped.
    private let sampling: AVRational?
    private var packets: [UnsafeMutablePointer<AVPacket>] = []
    private var spare: [UnsafeMutablePointer<AVPacket>] = []
    private var readFinished = false
    private var earliestKeptTimestamp = Int64.max
    /// Why reading stopped, when it stopped on an error rather than at the end of the file.
    private(set) var readError: String?
    /// The packets of the stream read so far.
    private(set) var packetsRead = 0

    /// Packets of stream `streamIndex`, their timestamps moved by `offset` (stream time base);
    /// `sampling` as above, nil to decode every picture; `path` names the file in messages.
    init(formatContext: UnsafeMutablePointer<AVFormatContext>, streamIndex: Int32, offset: Int64,
         timeBase: AVRational, sampling: AVRational?, path: String) {
        self.formatContext = formatContext
        self.streamIndex = streamIndex
        self.path = path
        self.offset = offset
        self.timeBase = timeBase
        self.sampling = sampling
    }

    deinit {
        for packet in packets + spare {
            var pointer: UnsafeMutablePointer<AVPacket>? = packet
            av_packet_free(&pointer)
        }
    }

    /// Moves the next packet of the stream into `target` (reading ahead through it); false at the end.
    func takeNext(into target: UnsafeMutablePointer<AVPacket>) throws -> Bool {
        try refill(through: target)
        guard !packets.isEmpty else { return false }
        let packet = packets.removeFirst()
        av_packet_move_ref(target, packet)
        spare.append(packet)
        return true
    }

    private func refill(through packet: UnsafeMutablePointer<AVPacket>) throws {
        while !readFinished && packets.count < Self.depth {
            let readStatus = av_read_frame(formatContext, packet)
            if readStatus < 0 {
                if readStatus != cffmpeg_error_eof() { readError = ffmpegErrorMessage(readStatus) }
                readFinished = true
                return
            }
            guard packet.pointee.stream_index == streamIndex else {
                av_packet_unref(packet)
                continue
            }
            packetsRead += 1
            if packet.pointee.dts != noTimestamp { packet.pointee.dts += offset }
            if packet.pointee.pts != noTimestamp { packet.pointee.pts += offset }
            if packet.pointee.pts >= 0 { earliestKeptTimestamp = min(earliestKeptTimestamp, packet.pointee.pts) }
            guard let queued = spare.popLast() ?? av_packet_alloc() else {
                av_packet_unref(packet)
                throw VideoError.ioError(path: path, operation: "decode", reason: "out of memory")
            }
            av_packet_move_ref(queued, packet)
            packets.append(queued)
        }
    }

    /// Whether the picture presented at `pts` cannot reach the clip: before its start, or followed
    /// (in presentation order, within the lookahead) by a picture on the same output tick.
    func cannotReachClip(_ pts: Int64) -> Bool {
        guard let sampling, pts != noTimestamp else { return false }
        if pts < 0 { return true }
        // The first kept picture sets where the clip's duration is counted from: keep it.
        guard earliestKeptTimestamp < pts, let next = nextTimestamp(after: pts) else { return false }
        return cffmpeg_rescale_near_pass_minmax(next, timeBase, sampling)
            <= cffmpeg_rescale_near_pass_minmax(pts, timeBase, sampling)
    }

    /// The smallest presentation timestamp queued that is later than `timestamp`.
    private func nextTimestamp(after timestamp: Int64) -> Int64? {
        var best: Int64?
        for packet in packets {
            let pts = packet.pointee.pts
            if pts != noTimestamp && pts > timestamp && pts < (best ?? Int64.max) { best = pts }
        }
        return best
    }
}

// MARK: - The decoding run

/// What a decoding run met.
struct DecodeReport {
    var framesDecoded = 0
    /// Decoded frames at or after the clip's start (timestamps not below 0).
    var framesFromStart = 0
    /// The latest timestamp of a decoded frame (stream time base, relative to the clip's start).
    var latestTimestamp: Int64?
    var decodeErrors = 0
    var lastDecodeError: String?
    var readError: String?
    var packetsRead = 0

    mutating func noteFrame(at timestamp: Int64) {
        framesDecoded += 1
        guard timestamp != noTimestamp else { return }
        if timestamp >= 0 { framesFromStart += 1 }
        latestTimestamp = max(latestTimestamp ?? timestamp, timestamp)
    }

    mutating func noteDecodeError(_ status: Int32) {
        decodeErrors += 1
        lastDecodeError = ffmpegErrorMessage(status)
    }
}

/// Packets from a lookahead through an open decoder into a selection pipeline, until the pipeline
/// is complete or the stream (and then the decoder) is drained.
final class DecodingRun {
    private let decoder: UnsafeMutablePointer<AVCodecContext>
    private let frame: UnsafeMutablePointer<AVFrame>
    private let packet: UnsafeMutablePointer<AVPacket>
    private let timeBase: AVRational
    private let parser: UnsafeMutablePointer<AVCodecParserContext>?
    private let lookahead: PacketLookahead
    private let pipeline: SelectionPipeline
    private let path: String
    private var clock: InputClock
    private(set) var report = DecodeReport()

    /// A run of `decoder` (freshly opened) over `stream`'s packets from `lookahead`, decoding into
    /// `frame` through `packet`, for the file at `path`.
    init(decoder: UnsafeMutablePointer<AVCodecContext>, stream: UnsafeMutablePointer<AVStream>,
         frame: UnsafeMutablePointer<AVFrame>, packet: UnsafeMutablePointer<AVPacket>, lookahead: PacketLookahead,
         pipeline: SelectionPipeline, path: String) {
        self.decoder = decoder
        self.frame = frame
        self.packet = packet
        timeBase = stream.pointee.time_base
        parser = av_stream_get_parser(stream)
        self.lookahead = lookahead
        self.pipeline = pipeline
        self.path = path
        clock = InputClock(timeBase: stream.pointee.time_base, averageRate: stream.pointee.avg_frame_rate,
                           initialDelay: Int64(decoder.pointee.has_b_frames))
    }

    /// Decodes until the pipeline is complete; at the end of the stream drains the decoder and
    /// ends the selection.
    func run() throws {
        defer {
            report.readError = lookahead.readError
            report.packetsRead = lookahead.packetsRead
        }
        while !pipeline.isComplete {
            guard try lookahead.takeNext(into: packet) else { break }
            defer { av_packet_unref(packet) }
            try decodePacket()
        }
        if !pipeline.isComplete { try drain() }
    }

    /// Sends the packet in `packet` and receives every frame it completes.
    private func decodePacket() throws {
        clock.beginPacket(dts: packet.pointee.dts)
        var repeating = false
        while true {
            clock.beginDecoderCall()
            var gotFrame = false
            var status: Int32 = 0
            if repeating {
                (gotFrame, status) = receive()
            } else if packet.pointee.size != 0 { // empty packets before the end are skipped
                // A picture the clip cannot use is not decoded when no other picture refers to it
                // (the decoder skips such pictures before decoding them).
                decoder.pointee.skip_frame = lookahead.cannotReachClip(packet.pointee.pts) ? AVDISCARD_NONREF
                    : AVDISCARD_DEFAULT
                packet.pointee.dts = clock.decodingTimestamp
                let sent = avcodec_send_packet(decoder, packet)
                if sent < 0 && sent != cffmpeg_error_eof() {
                    status = sent
                } else {
                    (gotFrame, status) = receive()
                }
            }
            let frameDuration = gotFrame ? try deliver(draining: false) : nil
            if !repeating || gotFrame {
                let packetDuration = packet.pointee.duration != 0
                    ? av_rescale_q(packet.pointee.duration, timeBase, microsecond) : rateDuration()
                clock.advance(packetDuration: packetDuration, frameDuration: frameDuration)
            }
            if status == cffmpeg_error_eof() { break }
            if status < 0 {
                report.noteDecodeError(status)
                break
            }
            if !gotFrame || pipeline.isComplete { break }
            repeating = true
        }
    }

    /// The end of the stream: drains the decoder one frame per call, then ends the selection.
    private func drain() throws {
        guard let empty = av_packet_alloc() else {
            throw VideoError.ioError(path: path, operation: "decode", reason: "out of memory")
        }
        var drainPacket: UnsafeMutablePointer<AVPacket>? = empty
        defer { av_packet_free(&drainPacket) }
        var failures = 0
        while !pipeline.isComplete {
            clock.beginPacket(dts: nil)
            clock.beginDecoderCall()
            clock.noteDrainCall()
            var gotFrame = false
            var status = avcodec_send_packet(decoder, empty)
            if status < 0 && status != cffmpeg_error_eof() {
                // The decoder refuses to drain: nothing more will come.
                report.noteDecodeError(status)
                status = cffmpeg_error_eof()
            } else {
                (gotFrame, status) = receive()
            }
            let frameDuration = gotFrame ? try deliver(draining: true) : nil
            clock.advance(packetDuration: rateDuration(), frameDuration: frameDuration)
            if status == cffmpeg_error_eof() { break }
            if status < 0 || !gotFrame {
                if status < 0 { report.noteDecodeError(status) }
                failures += 1
                if failures > 1000 { break }
            }
        }
        if !pipeline.isComplete { try pipeline.finish(endTimestamp: clock.endTimestamp) }
    }

    /// Receives one frame: whether one came, and the status when receiving failed (0 otherwise).
    private func receive() -> (gotFrame: Bool, status: Int32) {
        let status = avcodec_receive_frame(decoder, frame)
        if status == cffmpeg_error_again() { return (false, 0) }
        if status < 0 { return (false, status) }
        return (true, 0)
    }

    /// Takes the decoded frame: stamps it as `ffmpeg` does and passes it on; returns its duration
    /// (stream time base).
    private func deliver(draining: Bool) throws -> Int64 {
        let duration = frame.pointee.pkt_duration
        let timestamp = clock.stamp(frame, draining: draining)
        report.noteFrame(at: timestamp)
        defer { av_frame_unref(frame) }
        guard let decoded = DecodedFrame(referencing: frame) else {
            throw VideoError.ioError(path: path, operation: "decode", reason: "out of memory")
        }
        try pipeline.receive(decoded, timestamp: timestamp)
        return duration
    }

    /// The duration `ffmpeg` assumes for a packet without one, from the decoder's frame rate
    /// (microseconds).
    private func rateDuration() -> Int64 {
        let rate = decoder.pointee.framerate
        guard rate.num != 0, rate.den != 0 else { return 0 }
        let ticksPerFrame = Int64(max(decoder.pointee.ticks_per_frame, 1))
        let ticks = parser.map { Int64($0.pointee.repeat_pict) + 1 } ?? ticksPerFrame
        return Int64(AV_TIME_BASE) * Int64(rate.den) * ticks / Int64(rate.num) / ticksPerFrame
    }
}
