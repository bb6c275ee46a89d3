import CFFmpeg

// Which decoded frames a clip keeps, and how often, exactly as the `ffmpeg` command chooses them
// for `ffmpeg -ss S -t D -i V -filter_complex "[0]fps=fps=F,..." -f rawvideo pipe:`:
//
// 1. `TrimSelection` is the `trim` filter that `-ss`/`-t` on the input insert (accurate seek):
//    frames before the start are dropped, and the first frame `D` or more after the first kept
//    frame ends the stream.
// 2. `FrameRateSelection` is the `fps` filter: it converts each frame's timestamp to the output
//    rate (rounding to nearest) and emits, for every output tick, the newest frame not after it.
// 3. `ConstantFrameRateSync` is `ffmpeg`'s video sync for the raw video output (constant frame
//    rate): a frame that arrives more than 1.1 ticks late is repeated to fill the gap, one that
//    arrives more than 1.1 ticks early is dropped.
//
// The three are generic over the frame type so they can be tested on plain values.

/// Timestamps use FFmpeg's convention: `Int64`, with `noTimestamp` meaning "unknown".
let noTimestamp: Int64 = cffmpeg_no_pts()

// MARK: - trim

/// The `trim` filter with a start of 0 and a maximum duration (FFmpeg 5.1 `libavfilter/trim.c`).
struct TrimSelection {
    /// The outcome for one frame.
    enum Verdict: Equatable {
        /// The frame passes.
        case keep
        /// The frame is dropped (before the start).
        case drop
        /// The frame is dropped and the stream ends here; `endTimestamp` is the end-of-stream time.
        case end(endTimestamp: Int64)
    }

    /// Frames with timestamps below this are dropped (`nil`: no start limit).
    let startTimestamp: Int64?
    /// The longest span kept, in the stream's time base (0: no limit).
    let durationInTimeBase: Int64
    private var firstTimestamp: Int64 = noTimestamp
    /// Whether the end of the selection has been reached.
    private(set) var hasEnded = false

    init(startTimestamp: Int64?, durationInTimeBase: Int64) {
        self.startTimestamp = startTimestamp
        self.durationInTimeBase = durationInTimeBase
    }

    mutating func verdict(forTimestamp pts: Int64) -> Verdict {
        if hasEnded { return .drop }
        if let start = startTimestamp {
            if pts == noTimestamp || pts < start { return .drop }
        }
        if firstTimestamp == noTimestamp && pts != noTimestamp { firstTimestamp = pts }
        if durationInTimeBase != 0 {
            let inside = pts != noTimestamp && pts &- firstTimestamp < durationInTimeBase
            if !inside {
                hasEnded = true
                return .end(endTimestamp: pts)
            }
        }
        return .keep
    }
}

// MARK: - fps

/// The `fps` filter with its defaults (round to nearest, `eof_action=round`), FFmpeg 5.1
/// `libavfilter/vf_fps.c`.
struct FrameRateSelection<Frame> {
    let inputTimeBase: AVRational
    let outputTimeBase: AVRational
    private var buffered: [(frame: Frame, timestamp: Int64)] = []
    private var nextTimestamp: Int64 = noTimestamp
    private var endTimestamp: Int64?

    init(inputTimeBase: AVRational, outputTimeBase: AVRational) {
        self.inputTimeBase = inputTimeBase
        self.outputTimeBase = outputTimeBase
        buffered.reserveCapacity(2)
    }

    /// Takes one input frame; returns the frames emitted, each with its output timestamp.
    mutating func push(_ frame: Frame, timestamp: Int64) -> [(frame: Frame, timestamp: Int64)] {
        guard endTimestamp == nil else { return [] }
        let converted = cffmpeg_rescale_near_pass_minmax(timestamp, inputTimeBase, outputTimeBase)
        buffered.append((frame, converted))
        var emitted: [(frame: Frame, timestamp: Int64)] = []
        while buffered.count == 2 { step(into: &emitted) }
        return emitted
    }

    /// Ends the input at `timestamp` (input time base); returns the last frames emitted.
    mutating func finish(endTimestamp timestamp: Int64) -> [(frame: Frame, timestamp: Int64)] {
        if endTimestamp == nil {
            endTimestamp = cffmpeg_rescale_near_pass_minmax(timestamp, inputTimeBase, outputTimeBase)
        }
        var emitted: [(frame: Frame, timestamp: Int64)] = []
        while !buffered.isEmpty { step(into: &emitted) }
        return emitted
    }

    /// One activation of the filter with frames buffered: drop the oldest frame, or emit it once.
    private mutating func step(into emitted: inout [(frame: Frame, timestamp: Int64)]) {
        if nextTimestamp == noTimestamp {
            if buffered[0].timestamp != noTimestamp {
                nextTimestamp = buffered[0].timestamp
            } else {
                buffered.removeFirst() // initial frames without a timestamp are discarded
                return
            }
        }
        if (buffered.count == 2 && buffered[1].timestamp <= nextTimestamp)
            || (endTimestamp.map { $0 <= nextTimestamp } ?? false) {
            buffered.removeFirst()
        } else {
            emitted.append((buffered[0].frame, nextTimestamp))
            nextTimestamp += 1
        }
    }
}

// MARK: - video sync

/// `ffmpeg`'s constant-frame-rate video sync (`do_video_out` in FFmpeg 5.1 `fftools/ffmpeg.c`,
/// mode `cfr`, which the raw video muxer gets when the filters come from `-filter_complex`).
struct ConstantFrameRateSync<Frame> {
    /// The time base of the timestamps pushed (the filter graph's output).
    let filterTimeBase: AVRational
    /// The encoder's time base: one tick per output frame.
    let encoderTimeBase: AVRational
    /// The nominal length of one frame, in encoder ticks.
    let frameDuration: Double
    private var syncTimestamp: Int64 = 0
    private var lastFrame: Frame?
    private var lastRepeatCounts: [Int64] = [0, 0, 0]

    /// A sync for frames at `frameRate` (0/1 when unknown) whose timestamps are in `filterTimeBase`.
    init(filterTimeBase: AVRational, frameRate: AVRational) {
        self.filterTimeBase = filterTimeBase
        let hasRate = frameRate.num > 0 && frameRate.den > 0
        encoderTimeBase = hasRate ? av_inv_q(frameRate) : filterTimeBase
        frameDuration = hasRate ? 1 / (av_q2d(frameRate) * av_q2d(encoderTimeBase)) : 0
    }

    /// Takes one filtered frame; returns the frames to output (none, it, or repeats).
    mutating func push(_ frame: Frame, timestamp: Int64) -> [Frame] {
        var syncInput = Double(noTimestamp)
        if timestamp != noTimestamp {
            // adjust_frame_pts_to_encoder_tb: the timestamp with extra precision bits.
            var base = encoderTimeBase
            let extraBits = min(max(29 - Int32(av_log2(UInt32(truncatingIfNeeded: base.den))), 0), 16)
            base.den <<= extraBits
            var value = Double(av_rescale_q(timestamp, filterTimeBase, base))
            value /= Double(1 << extraBits)
            value += (value > 0 ? 1.0 : -1.0) / Double(1 << 17)
            syncInput = value
        }
        var delta0 = syncInput - Double(syncTimestamp)
        let delta = delta0 + frameDuration
        var count: Int64 = 1
        var repeatsOfPrevious: Int64 = 0
        if delta0 < 0 && delta > 0 {
            delta0 = 0 // a frame slightly early is clipped onto the current tick
        }
        if delta < -1.1 {
            count = 0
        } else if delta > 1.1 {
            count = Int64(Float(delta).rounded(.toNearestOrEven))
            if delta0 > 1.1 { repeatsOfPrevious = Int64(Float(delta0 - 0.6).rounded(.toNearestOrEven)) }
        }
        repeatsOfPrevious = min(repeatsOfPrevious, count)
        lastRepeatCounts = [repeatsOfPrevious, lastRepeatCounts[0], lastRepeatCounts[1]]
        // ffmpeg skips a frame whose repetition would exceed 30 times its dts error threshold.
        if count > 1 && count > Int64(3600 * 30 * 30) { return [] }
        var output: [Frame] = []
        for index in 0..<count {
            if index < repeatsOfPrevious, let lastFrame {
                output.append(lastFrame)
            } else {
                output.append(frame)
            }
        }
        syncTimestamp += count
        lastFrame = frame
        return output
    }

    /// The end of the stream: the last frame may be repeated when frames were recently repeated.
    mutating func finish() -> [Frame] {
        let sorted = lastRepeatCounts.sorted()
        let count = sorted[1]
        guard count > 0, let lastFrame else { return [] }
        return Array(repeating: lastFrame, count: Int(count))
    }
}
