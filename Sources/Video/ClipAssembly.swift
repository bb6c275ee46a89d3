import CFFmpeg

// Selected frames on their way into a clip: the `trim` → `fps` → video sync chain of
// FrameSelection.swift over decoded pictures, and the clip memory the chosen frames are converted
// into, channel-major (`3 x T x S x S`), each frame written once where it belongs.

// MARK: - Decoded frames

/// A decoded picture on its way through the selection stages: converted at most once; a frame
/// the video sync repeats is copied from where it was first written.
final class DecodedFrame {
    private var frame: UnsafeMutablePointer<AVFrame>?
    /// The clip frame it was converted into, once it has been.
    var writtenIndex: Int?

    /// A new reference to the pictures of `source`, or `nil` when out of memory.
    init?(referencing source: UnsafeMutablePointer<AVFrame>) {
        guard let frame = av_frame_clone(source) else { return nil }
        self.frame = frame
    }

    deinit { av_frame_free(&frame) }

    /// Gives the picture to `body`, then releases it (the clip holds the pixels from then on).
    func consumePicture(_ body: (UnsafeMutablePointer<AVFrame>) throws -> Void) throws {
        guard let frame else { return }
        try body(frame)
        av_frame_free(&self.frame)
    }
}

// MARK: - Clip memory

/// Where one clip frame goes: three `side x side` planes, red, green and blue, row by row.
struct PlanarFrame {
    var red: UnsafeMutablePointer<UInt8>
    var green: UnsafeMutablePointer<UInt8>
    var blue: UnsafeMutablePointer<UInt8>

    /// Copies the three planes of `other` (`planeSize` bytes each) into this frame.
    func copy(from other: PlanarFrame, planeSize: Int) {
        red.update(from: other.red, count: planeSize)
        green.update(from: other.green, count: planeSize)
        blue.update(from: other.blue, count: planeSize)
    }

    /// Makes the frame black.
    func clear(planeSize: Int) {
        red.update(repeating: 0, count: planeSize)
        green.update(repeating: 0, count: planeSize)
        blue.update(repeating: 0, count: planeSize)
    }
}

/// Converts one decoded picture into a planar frame of the clip.
typealias PictureConversion = (UnsafeMutablePointer<AVFrame>, PlanarFrame) throws -> Void

/// Takes the selected frames of a clip in order.
protocol FrameSink: AnyObject {
    /// Whether the sink takes no more frames.
    var isFull: Bool { get }
    /// Writes `frame` as the next frame of the clip.
    func append(_ frame: DecodedFrame) throws
}

/// A clip of `frameCount` frames in memory the caller owns, `3 x frameCount x side x side` bytes,
/// channel-major: all red planes frame after frame, then the green ones, then the blue ones.
final class ChannelMajorClipWriter: FrameSink {
    private let base: UnsafeMutablePointer<UInt8>
    private let frameCount: Int
    private let planeSize: Int
    private let convert: PictureConversion
    /// The frames written so far.
    private(set) var count = 0

    /// A writer into `base`, which must hold `3 * frameCount * side * side` bytes.
    init(base: UnsafeMutablePointer<UInt8>, frameCount: Int, side: Int, convert: @escaping PictureConversion) {
        self.base = base
        self.frameCount = frameCount
        planeSize = side * side
        self.convert = convert
    }

    var isFull: Bool { count >= frameCount }

    private func frame(_ index: Int) -> PlanarFrame {
        PlanarFrame(red: base + index * planeSize, green: base + (frameCount + index) * planeSize,
                    blue: base + (2 * frameCount + index) * planeSize)
    }

    func append(_ decoded: DecodedFrame) throws {
        guard !isFull else { return }
        let target = frame(count)
        if let earlier = decoded.writtenIndex {
            target.copy(from: frame(earlier), planeSize: planeSize)
        } else {
            try decoded.consumePicture { try convert($0, target) }
            decoded.writtenIndex = count
        }
        count += 1
    }

    /// Makes the frames not written black: the reference's padding of short clips.
    func padWithBlack() {
        for index in count..<frameCount { frame(index).clear(planeSize: planeSize) }
    }
}

/// A clip of as many frames as come, channel-major once complete (`allFrames`).
final class GrowingClipWriter: FrameSink {
    private let side: Int
    private let convert: PictureConversion
    private var red: [UInt8] = []
    private var green: [UInt8] = []
    private var blue: [UInt8] = []
    /// The frames written so far.
    private(set) var count = 0

    init(side: Int, convert: @escaping PictureConversion) {
        self.side = side
        self.convert = convert
    }

    var isFull: Bool { false }

    func append(_ decoded: DecodedFrame) throws {
        let planeSize = side * side
        red.append(contentsOf: repeatElement(0, count: planeSize))
        green.append(contentsOf: repeatElement(0, count: planeSize))
        blue.append(contentsOf: repeatElement(0, count: planeSize))
        let index = count
        try red.withUnsafeMutableBufferPointer { red in
            try green.withUnsafeMutableBufferPointer { green in
                try blue.withUnsafeMutableBufferPointer { blue in
                    guard let red = red.baseAddress, let green = green.baseAddress, let blue = blue.baseAddress else { return }
                    func frame(_ at: Int) -> PlanarFrame {
                        PlanarFrame(red: red + at * planeSize, green: green + at * planeSize, blue: blue + at * planeSize)
                    }
                    if let earlier = decoded.writtenIndex {
                        frame(index).copy(from: frame(earlier), planeSize: planeSize)
                    } else {
                        try decoded.consumePicture { try convert($0, frame(index)) }
                        decoded.writtenIndex = index
                    }
                }
            }
        }
        count += 1
    }

    /// The clip of every frame written.
    var clip: Clip {
        Clip(checkedFrameCount: count, size: side, decodedFrameCount: count, pixels: red + green + blue)
    }
}

// MARK: - Selection

/// The `trim` → `fps` → video sync chain, writing the frames it selects into a sink.
final class SelectionPipeline {
    private var trim: TrimSelection?
    private var rate: FrameRateSelection<DecodedFrame>?
    private var sync: ConstantFrameRateSync<DecodedFrame>
    private let sink: any FrameSink
    private var hasEnded = false

    init(trim: TrimSelection?, rate: FrameRateSelection<DecodedFrame>?, sync: ConstantFrameRateSync<DecodedFrame>,
         sink: any FrameSink) {
        self.trim = trim
        self.rate = rate
        self.sync = sync
        self.sink = sink
    }

    /// Whether no further frame can change the output.
    var isComplete: Bool { hasEnded || sink.isFull }

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
        for frame in selected where !sink.isFull {
            try sink.append(frame)
        }
    }
}
