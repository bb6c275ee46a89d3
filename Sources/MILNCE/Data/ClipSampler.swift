// The reference's choice of captions and clip for one training video (`_get_text`,
// `_find_nearest_candidates` and the seek draw of `__getitem__`): a uniformly random caption,
// the window of K nearest consecutive captions around it, the caption's time stretched to at
// least `min_time`, and a uniformly random integer seek inside it.

// MARK: - Options

/// The sampling settings of the reference's HowTo100M loader.
public struct ClipSamplingOptions: Sendable, Equatable {
    /// Captions per clip (K); the reference's default is 1, its README's command uses 4.
    public var numCandidates: Int
    /// Tokens per caption row (20 for training).
    public var maxWords: Int
    /// The shortest caption time span in seconds, at least 0; shorter captions are widened (5.0).
    public var minTimeSeconds: Double
    /// Frames per clip (16).
    public var numFrames: Int
    /// Frames per second of the decoded clip (5).
    public var framesPerSecond: Double

    /// The reference's defaults: K = 1, 20 words, 5 s, 16 frames at 5 fps.
    public init(numCandidates: Int = 1, maxWords: Int = 20, minTimeSeconds: Double = 5.0, numFrames: Int = 16,
                framesPerSecond: Double = 5) {
        self.numCandidates = numCandidates
        self.maxWords = maxWords
        self.minTimeSeconds = minTimeSeconds
        self.numFrames = numFrames
        self.framesPerSecond = framesPerSecond
    }

    /// The clip length in seconds, `num_frames / fps` (3.2 by default).
    public var clipSeconds: Double { Double(numFrames) / framesPerSecond }

    /// The length decoded from the seek position, `num_sec + 0.1` seconds.
    public var decodeSeconds: Double { clipSeconds + 0.1 }

    /// Throws when a setting is outside what the sampler supports.
    public func validate() throws {
        func fail(_ why: String) -> ClipSamplingError { ClipSamplingError(video: nil, reason: .invalidOptions(why)) }
        guard numCandidates >= 1 && numCandidates <= 1 << 20 else { throw fail("numCandidates must be in 1...\(1 << 20)") }
        guard maxWords >= 0 && maxWords <= 1 << 20 else { throw fail("maxWords must be in 0...\(1 << 20)") }
        guard minTimeSeconds.isFinite && abs(minTimeSeconds) < 1e12 else { throw fail("minTimeSeconds must be finite") }
        guard minTimeSeconds >= 0 else {
            throw fail("the shortest clip span (--min_time) must not be negative, got \(minTimeSeconds) s; "
                       + "0 keeps every caption's own span, the reference's default is 5")
        }
        guard numFrames >= 1 else { throw fail("numFrames must be at least 1") }
        guard framesPerSecond.isFinite && framesPerSecond > 0 else { throw fail("framesPerSecond must be positive") }
        guard clipSeconds.isFinite && clipSeconds < 1e12 else { throw fail("numFrames / framesPerSecond is too large") }
    }
}

// MARK: - Result

/// The captions and clip chosen for one training sample.
public struct SampledClip: Sendable, Equatable {
    /// The uniformly drawn caption (`ind`), an index into the video's captions.
    public var anchorCaption: Int
    /// The K captions whose texts form the token rows, in row order (indices into the video's
    /// captions; the same caption may repeat near the ends of a short list).
    public var captionIndices: [Int]
    /// The token rows, `K x maxWords` in row-major order (zero is padding).
    public var tokens: [Int64]
    /// The clip's start and end in whole seconds, after widening to `minTimeSeconds`
    /// (`int(start)`, `int(end)`).
    public var clipStartSeconds: Int
    /// See `clipStartSeconds`.
    public var clipEndSeconds: Int
    /// Where decoding starts, in whole seconds (`start_seek`).
    public var startSeekSeconds: Int
    /// How many seconds to decode from there (`num_sec + 0.1`).
    public var decodeSeconds: Double
}

/// Why a clip could not be sampled.
public struct ClipSamplingError: Error, CustomStringConvertible, Sendable {
    /// What went wrong.
    public enum Reason: Sendable {
        /// The sampler's settings are unusable.
        case invalidOptions(String)
        /// The video has no captions (its caption file was missing, empty or malformed).
        case noCaptions
        /// A caption time is not a finite number of a sane size (a corrupt index).
        case invalidTime(caption: Int, seconds: Double)
    }

    /// The video number, when sampling a video of an index.
    public let video: Int?
    /// What went wrong.
    public let reason: Reason

    public var description: String {
        let subject = video.map { "sampling a clip of video \($0)" } ?? "sampling a clip"
        switch reason {
        case .invalidOptions(let why): return "\(subject): invalid options: \(why)"
        case .noCaptions: return "\(subject): the video has no captions"
        case .invalidTime(let caption, let seconds): return "\(subject): caption \(caption) has an invalid time \(seconds)"
        }
    }
}

// MARK: - Sampler

/// Draws training samples exactly as the reference loader: the caption choice, the candidate
/// window, the clip bounds and the seek. The random draws come from a `SplitMix64` keyed by the
/// sample, so a sample is reproducible; the decisions given those draws are the reference's.
public struct ClipSampler: Sendable {
    /// The tokenizer of caption texts.
    public let tokenizer: Tokenizer
    /// The sampling settings.
    public let options: ClipSamplingOptions
    /// The caption index videos are sampled from, if any.
    public let index: CaptionIndex?

    /// A sampler with validated `options`, over `index` when given.
    public init(index: CaptionIndex? = nil, tokenizer: Tokenizer, options: ClipSamplingOptions) throws {
        try options.validate()
        self.index = index
        self.tokenizer = tokenizer
        self.options = options
    }

    /// Samples video `video` of the index: draws the caption, then the seek, from `generator`.
    public func sample(video: Int, using generator: inout SplitMix64) throws -> SampledClip {
        guard let index else {
            throw ClipSamplingError(video: video, reason: .invalidOptions("the sampler has no caption index"))
        }
        let captions = try index.captions(ofVideo: video)
        do {
            return try sample(from: captions, using: &generator)
        } catch let error as ClipSamplingError {
            throw ClipSamplingError(video: video, reason: error.reason)
        }
    }

    /// Samples from a caption list: `ind = randint(0, len - 1)`, then the window, the clip
    /// bounds, and `start_seek = randint(start, int(max(start, end - num_sec)))`.
    public func sample<Captions: CaptionList>(from captions: Captions,
                                              using generator: inout SplitMix64) throws -> SampledClip {
        guard captions.count > 0 else { throw ClipSamplingError(video: nil, reason: .noCaptions) }
        let anchor = generator.uniformInt(in: 0...(captions.count - 1))
        return try clip(from: captions, anchor: anchor) { generator.uniformInt(in: $0) }
    }

    /// The sample for given random choices: caption `anchor`, and the seek that `drawSeek`
    /// picks from the range it is given. Deterministic; `sample` calls it with random draws.
    public func clip<Captions: CaptionList>(from captions: Captions, anchor: Int,
                                            drawSeek: (ClosedRange<Int>) -> Int) throws -> SampledClip {
        guard captions.count > 0 else { throw ClipSamplingError(video: nil, reason: .noCaptions) }
        guard anchor >= 0 && anchor < captions.count else { throw CaptionRangeError(index: anchor, count: captions.count) }
        let windowStart = try ClipSampler.candidateWindowStart(in: captions, anchor: anchor,
                                                               numCandidates: options.numCandidates)
        let indices = ClipSampler.candidateIndices(windowStart: windowStart, captionCount: captions.count,
                                                   numCandidates: options.numCandidates)
        let maxWords = options.maxWords
        var tokens = [Int64](repeating: 0, count: indices.count * maxWords)
        try tokens.withUnsafeMutableBufferPointer { rows in
            for (row, caption) in indices.enumerated() {
                let slice = UnsafeMutableBufferPointer(rebasing: rows[(row * maxWords)..<((row + 1) * maxWords)])
                _ = try captions.withTextUTF8(at: caption) { text in
                    tokenizer.tokens(ofUTF8: text, into: slice)
                }
            }
        }
        let bounds = try ClipSampler.clipBounds(startSeconds: try captions.startSeconds(at: anchor),
                                                endSeconds: try captions.endSeconds(at: anchor),
                                                minTimeSeconds: options.minTimeSeconds, caption: anchor)
        let range = ClipSampler.seekRange(clipStart: bounds.start, clipEnd: bounds.end,
                                          clipSeconds: options.clipSeconds)
        let seek = drawSeek(range)
        return SampledClip(anchorCaption: anchor, captionIndices: indices, tokens: tokens,
                           clipStartSeconds: bounds.start, clipEndSeconds: bounds.end,
                           startSeekSeconds: min(max(seek, range.lowerBound), range.upperBound),
                           decodeSeconds: options.decodeSeconds)
    }

    // MARK: The reference's decisions

    /// `_find_nearest_candidates`: grows a window of `numCandidates` captions from `anchor`,
    /// one caption at a time, toward the side whose addition spans less time (backward when
    /// `end[e] - start[s-1] < end[e+1] - start[s]`); returns its first caption, 0 when it reaches
    /// the first caption, and `s - remaining` (possibly negative) when it reaches the last.
    public static func candidateWindowStart<Captions: CaptionList>(in captions: Captions, anchor: Int,
                                                                   numCandidates: Int) throws -> Int {
        let last = captions.count - 1
        var start = anchor
        var end = anchor
        var candidates = 1
        while candidates < numCandidates {
            if start == 0 {
                return 0
            } else if end == last {
                return start - (numCandidates - candidates)
            } else if try captions.endSeconds(at: end) - captions.startSeconds(at: start - 1)
                        < captions.endSeconds(at: end + 1) - captions.startSeconds(at: start) {
                start -= 1
            } else {
                end += 1
            }
            candidates += 1
        }
        return start
    }

    /// The captions of the K rows: `max(0, min(count - 1, windowStart + i))` for i < K.
    public static func candidateIndices(windowStart: Int, captionCount: Int, numCandidates: Int) -> [Int] {
        (0..<max(0, numCandidates)).map { max(0, min(captionCount - 1, windowStart + $0)) }
    }

    /// The clip of a caption: when `end - start < minTime`, `start = max(0, start - diff / 2)`
    /// with `diff = minTime - end + start`, and `end = start + minTime`; both then truncated
    /// toward zero (`int()`).
    public static func clipBounds(startSeconds: Double, endSeconds: Double, minTimeSeconds: Double,
                                  caption: Int = 0) throws -> (start: Int, end: Int) {
        guard minTimeSeconds.isFinite && abs(minTimeSeconds) < 1e12 else {
            throw ClipSamplingError(video: nil, reason: .invalidOptions("minTimeSeconds must be finite"))
        }
        guard startSeconds.isFinite && abs(startSeconds) < CaptionFile.largestSeconds else {
            throw ClipSamplingError(video: nil, reason: .invalidTime(caption: caption, seconds: startSeconds))
        }
        guard endSeconds.isFinite && abs(endSeconds) < CaptionFile.largestSeconds else {
            throw ClipSamplingError(video: nil, reason: .invalidTime(caption: caption, seconds: endSeconds))
        }
        var start = startSeconds
        var end = endSeconds
        if end - start < minTimeSeconds {
            let difference = minTimeSeconds - end + start
            let shifted = start - difference / 2
            start = shifted > 0 ? shifted : 0
            end = start + minTimeSeconds
        }
        // Both are finite and below 2^53 + |minTime| here, so the conversions cannot trap.
        return (Int(start), Int(end))
    }

    /// The seek positions: `start ... int(max(start, end - clipSeconds))`.
    public static func seekRange(clipStart: Int, clipEnd: Int, clipSeconds: Double) -> ClosedRange<Int> {
        let latest = Double(clipEnd) - clipSeconds
        // NaN compares false, as in Python's max(); the clamp keeps the conversion in range.
        let upper = latest > Double(clipStart) ? Int(min(latest, 9.0e18)) : clipStart
        return clipStart...max(clipStart, upper)
    }
}
