// The plan of one synthetic video: its background, the shapes on screen and when, and its
// captions. Plans are pure values made from a seeded random stream; rendering and encoding them
// is the renderer's and the dataset writer's job.
//
// A video's timeline: events of 5 or 6 whole seconds, one after another, separated by gaps of at
// least a second. Event i's shape is on screen from the middle of the gap before it to the middle
// of the gap after it (cut in and out abruptly), static except during its event, when it does
// what its caption says. Narration captions fill some of the gaps. Bystander shapes, when asked for, sit
// still for the whole video in colours no event of the video uses.

import FoundationEssentials
import Glibc

// MARK: - Geometry

/// Sizes and distances of the shapes, as fractions of the frame's side.
public enum SyntheticGeometry {
    /// The range of a shape's radius when its size does not change.
    public static let normalRadius: ClosedRange<Double> = 0.13...0.18
    /// The radius a growing shape starts at and a shrinking one ends at.
    public static let smallRadius = 0.09
    /// The radius a growing shape ends at and a shrinking one starts at.
    public static let largeRadius = 0.22
    /// How far a moving shape travels during its event.
    public static let travelFraction = 0.45
    /// The free space kept between a shape's outline and the frame's edge.
    public static let margin = 0.02
    /// How far a shape reaches from its centre, in radii (the triangle's corners reach furthest).
    public static let extentInRadii = 1.16
}

// MARK: - Shape states and tracks

/// Where a shape is, how big, and how opaque: positions and radius as fractions of the frame's
/// side (x to the right, y down), opacity in 0...1.
public struct ShapeState: Sendable, Equatable, Codable {
    /// The centre's horizontal position.
    public var x: Double
    /// The centre's vertical position.
    public var y: Double
    /// The radius.
    public var radius: Double
    /// The opacity: 0 invisible, 1 solid.
    public var opacity: Double

    /// A state from its values.
    public init(x: Double, y: Double, radius: Double, opacity: Double) {
        self.x = x
        self.y = y
        self.radius = radius
        self.opacity = opacity
    }

    /// The state a fraction `progress` of the way from `self` to `other`.
    public func interpolated(to other: ShapeState, progress: Double) -> ShapeState {
        func mix(_ a: Double, _ b: Double) -> Double { a + (b - a) * progress }
        return ShapeState(x: mix(x, other.x), y: mix(y, other.y), radius: mix(radius, other.radius),
                          opacity: mix(opacity, other.opacity))
    }
}

/// One shape's life in a video: on screen during `visibleSeconds`, in state `from` until
/// `changeSeconds` begins, changing evenly to `to` during it, in state `to` after it.
public struct ShapeTrack: Sendable, Equatable {
    /// The shape's colour.
    public internal(set) var color: ShapeColor
    /// The shape.
    public internal(set) var shape: ShapeKind
    /// When the shape is drawn (start included, end excluded), in seconds.
    public internal(set) var visibleSeconds: Range<Double>
    /// When it changes, in seconds.
    public internal(set) var changeSeconds: ClosedRange<Double>
    /// Its state before the change.
    public internal(set) var from: ShapeState
    /// Its state after the change.
    public internal(set) var to: ShapeState

    /// The shape's state at `seconds`, or nil when it is not drawn then.
    public func state(atSeconds seconds: Double) -> ShapeState? {
        guard visibleSeconds.contains(seconds) else { return nil }
        let length = changeSeconds.upperBound - changeSeconds.lowerBound
        let progress = length > 0 ? min(1, max(0, (seconds - changeSeconds.lowerBound) / length))
            : (seconds < changeSeconds.lowerBound ? 0 : 1)
        return from.interpolated(to: to, progress: progress)
    }
}

// MARK: - Backgrounds

/// The look of a video's background: muted (low-saturation) tones, never moving.
public enum BackgroundStyle: String, CaseIterable, Sendable, Codable {
    /// One tone.
    case plain
    /// Stripes of two tones, straight or diagonal.
    case stripes
    /// Checks of two tones.
    case checkerboard
    /// A linear blend between two tones.
    case gradient
    /// A smooth, blotchy mix of two tones.
    case noise

    /// The background's number, used as the held-out set's YouCook2 `task` (its folder).
    public var taskNumber: Int {
        switch self {
        case .plain: 1
        case .stripes: 2
        case .checkerboard: 3
        case .gradient: 4
        case .noise: 5
        }
    }
}

/// A background: a style, two tones and the style's parameters.
public struct SyntheticBackground: Sendable, Equatable {
    /// The style.
    public internal(set) var style: BackgroundStyle
    /// The main tone (red, green, blue).
    public internal(set) var primary: [UInt8]
    /// The second tone of stripes, checks, gradients and noise.
    public internal(set) var secondary: [UInt8]
    /// The period of stripes and checks, as a fraction of the frame's side.
    public internal(set) var period: Double
    /// The direction of stripes and gradients, in radians.
    public internal(set) var angle: Double
    /// The noise's coarse grid of mixing weights in 0...1, `noiseGridSide` squared values.
    public internal(set) var noiseGrid: [Double]
    /// The side of the noise grid.
    public static let noiseGridSide = 6

    /// A random muted background.
    static func random(using random: inout SplitMix64) -> SyntheticBackground {
        let style = BackgroundStyle.allCases[random.index(below: BackgroundStyle.allCases.count)]
        func tone(level: Int) -> [UInt8] {
            (0..<3).map { _ in UInt8(clamping: level + random.uniformInt(in: -10...10)) }
        }
        let level = random.uniformInt(in: 85...175)
        let contrast = random.uniformInt(in: 22...40) * (random.index(below: 2) == 0 ? 1 : -1)
        let primary = tone(level: level)
        let secondary = tone(level: level + contrast)
        let period = random.uniformDouble(in: 0.12...0.3)
        let angle = [0, Double.pi / 2, Double.pi / 4, 3 * Double.pi / 4][random.index(below: 4)]
        let grid = (0..<(noiseGridSide * noiseGridSide)).map { _ in random.uniformDouble() }
        return SyntheticBackground(style: style, primary: primary, secondary: secondary, period: period,
                                   angle: angle, noiseGrid: grid)
    }

    /// The background's pixels at `size`×`size`, `R G B` bytes row by row (none for a size
    /// outside 1...16384).
    public func pixels(size: Int) -> [UInt8] {
        guard size > 0, size <= 16384, primary.count == 3, secondary.count == 3, period > 0 else { return [] }
        var pixels = [UInt8](repeating: 0, count: size * size * 3)
        let side = Double(size)
        let (cosine, sine) = (cos(angle), sin(angle))
        let gridSide = SyntheticBackground.noiseGridSide
        for row in 0..<size {
            for column in 0..<size {
                let x = (Double(column) + 0.5) / side
                let y = (Double(row) + 0.5) / side
                let weight: Double
                switch style {
                case .plain:
                    weight = 0
                case .stripes:
                    let along = x * cosine + y * sine
                    weight = (along / period).rounded(.down).truncatingRemainder(dividingBy: 2) == 0 ? 0 : 1
                case .checkerboard:
                    let cells = Int((x / period).rounded(.down)) + Int((y / period).rounded(.down))
                    weight = cells % 2 == 0 ? 0 : 1
                case .gradient:
                    let along = (x - 0.5) * cosine + (y - 0.5) * sine
                    weight = min(1, max(0, along / 1.42 + 0.5))
                case .noise:
                    weight = noise(x: x, y: y, gridSide: gridSide)
                }
                let offset = (row * size + column) * 3
                for channel in 0..<3 {
                    let a = Double(primary[channel]), b = Double(secondary[channel])
                    pixels[offset + channel] = UInt8(clamping: Int((a + (b - a) * weight).rounded()))
                }
            }
        }
        return pixels
    }

    /// Smooth value noise: the grid's weights interpolated bilinearly (with a smoothstep).
    private func noise(x: Double, y: Double, gridSide: Int) -> Double {
        guard noiseGrid.count == gridSide * gridSide, gridSide > 1 else { return 0 }
        let gx = x * Double(gridSide - 1), gy = y * Double(gridSide - 1)
        let x0 = min(gridSide - 2, Int(gx)), y0 = min(gridSide - 2, Int(gy))
        func smooth(_ t: Double) -> Double { t * t * (3 - 2 * t) }
        let tx = smooth(gx - Double(x0)), ty = smooth(gy - Double(y0))
        let top = noiseGrid[y0 * gridSide + x0] * (1 - tx) + noiseGrid[y0 * gridSide + x0 + 1] * tx
        let bottom = noiseGrid[(y0 + 1) * gridSide + x0] * (1 - tx) + noiseGrid[(y0 + 1) * gridSide + x0 + 1] * tx
        return top * (1 - ty) + bottom * ty
    }
}

// MARK: - Captions

/// One caption of a video: its time span and text, and the event it describes (nil for
/// narration). Times are kept in tenths of a second, so that they are written exactly.
public struct SyntheticCaption: Sendable, Equatable {
    /// The start, in tenths of a second.
    public internal(set) var startTenths: Int
    /// The end, in tenths of a second.
    public internal(set) var endTenths: Int
    /// The text.
    public internal(set) var text: String
    /// The event the caption describes, or nil for narration unrelated to the screen.
    public internal(set) var event: SyntheticEventKind?

    /// The start in seconds.
    public var startSeconds: Double { Double(startTenths) / 10 }
    /// The end in seconds.
    public var endSeconds: Double { Double(endTenths) / 10 }
}

// MARK: - Video plans

/// Which part of the dataset a video belongs to.
public enum SyntheticSplit: String, Sendable, Codable {
    /// Training videos (`videos/`, `captions/`, `train.csv`).
    case training
    /// Held-out videos (`eval/`, in YouCook2's layout).
    case evaluation
}

/// Everything needed to render one video and write its captions.
public struct SyntheticVideoPlan: Sendable, Equatable {
    /// The video's id (its file name without extension).
    public internal(set) var id: String
    /// Its split.
    public internal(set) var split: SyntheticSplit
    /// The duration in whole seconds.
    public internal(set) var durationSeconds: Int
    /// The frame rate.
    public internal(set) var framesPerSecond: Double
    /// The side of the square frames, in pixels.
    public internal(set) var frameSize: Int
    /// The background.
    public internal(set) var background: SyntheticBackground
    /// The shapes, drawn in this order (later ones on top).
    public internal(set) var tracks: [ShapeTrack]
    /// The captions, ordered by start time, never overlapping.
    public internal(set) var captions: [SyntheticCaption]

    /// The number of frames: `durationSeconds × framesPerSecond`, rounded.
    public var frameCount: Int { Int((Double(durationSeconds) * framesPerSecond).rounded()) }

    /// The captions that describe events.
    public var eventCaptions: [SyntheticCaption] { captions.filter { $0.event != nil } }
}

// MARK: - Planning

extension SyntheticVideoPlan {
    /// The longest an event lasts, in whole seconds; events last 5 or 6 seconds, at least the
    /// reference's shortest caption span (`min_time`, 5 s), so that a training clip drawn for an
    /// event's caption lies inside the event.
    public static let eventSecondsRange = 5...6
    /// The shortest gap between two events, in whole seconds.
    public static let shortestGapSeconds = 1

    /// The shortest video that holds `events` events.
    public static func shortestDurationSeconds(events: Int) -> Int {
        events * eventSecondsRange.lowerBound + max(0, events - 1) * shortestGapSeconds
    }

    /// Plans a video whose events are `kinds` (in order), laid out and drawn with `random`.
    /// `durationSeconds` must be at least `shortestDurationSeconds(events: kinds.count)`.
    static func make(id: String, split: SyntheticSplit, kinds: [SyntheticEventKind], bystanders: Int,
                     narrationProbability: Double, durationSeconds: Int, framesPerSecond: Double, frameSize: Int,
                     using random: inout SplitMix64) -> SyntheticVideoPlan {
        let background = SyntheticBackground.random(using: &random)
        let spans = eventSpans(count: kinds.count, durationSeconds: durationSeconds, using: &random)

        // Each event's shape is on screen from the middle of the gap before it to the middle of
        // the gap after it.
        var cuts: [Double] = [0]
        for index in 0..<max(0, spans.count - 1) {
            cuts.append(Double(spans[index].upperBound + spans[index + 1].lowerBound) / 2)
        }
        cuts.append(Double(durationSeconds))

        var tracks: [ShapeTrack] = []
        var captions: [SyntheticCaption] = []
        for (index, kind) in kinds.enumerated() {
            let span = spans[index]
            let (from, to) = states(for: kind.action, using: &random)
            tracks.append(ShapeTrack(color: kind.color, shape: kind.shape, visibleSeconds: cuts[index]..<cuts[index + 1],
                                     changeSeconds: Double(span.lowerBound)...Double(span.upperBound), from: from, to: to))
            captions.append(SyntheticCaption(startTenths: span.lowerBound * 10, endTenths: span.upperBound * 10,
                                             text: SyntheticLanguage.caption(for: kind, using: &random), event: kind))
        }
        captions += narration(between: spans, durationSeconds: durationSeconds, probability: narrationProbability,
                              using: &random)
        captions.sort { $0.startTenths < $1.startTenths }

        let bystanderTracks = makeBystanders(count: bystanders, avoiding: tracks, durationSeconds: durationSeconds,
                                             using: &random)
        return SyntheticVideoPlan(id: id, split: split, durationSeconds: durationSeconds,
                                  framesPerSecond: framesPerSecond, frameSize: frameSize, background: background,
                                  tracks: bystanderTracks + tracks, captions: captions)
    }

    /// The events' time spans in whole seconds: lengths of 5 or 6 seconds, gaps of at least one
    /// second between them, the spare time spread at random over the gaps (the ends included).
    static func eventSpans(count: Int, durationSeconds: Int, using random: inout SplitMix64) -> [ClosedRange<Int>] {
        guard count > 0 else { return [] }
        var lengths = [Int](repeating: eventSecondsRange.lowerBound, count: count)
        var spare = durationSeconds - shortestDurationSeconds(events: count)
        for index in 0..<count where spare > 0 && random.index(below: 2) == 1 {
            lengths[index] += 1
            spare -= 1
        }
        var gaps = [Int](repeating: 0, count: count + 1)
        for index in 1..<count { gaps[index] = shortestGapSeconds }
        for _ in 0..<max(0, spare) { gaps[random.index(below: gaps.count)] += 1 }
        var spans: [ClosedRange<Int>] = []
        var time = 0
        for index in 0..<count {
            time += gaps[index]
            spans.append(time...(time + lengths[index]))
            time += lengths[index]
        }
        return spans
    }

    /// The states before and after an action, placed at random where the whole change fits.
    static func states(for action: ShapeAction, using random: inout SplitMix64) -> (ShapeState, ShapeState) {
        let margin = SyntheticGeometry.margin
        let extent = SyntheticGeometry.extentInRadii
        func position(radius: Double, travel: Double = 0) -> Double {
            let low = radius * extent + margin
            let high = 1 - radius * extent - margin - travel
            return high > low ? random.uniformDouble(in: low...high) : 0.5
        }
        let travel = SyntheticGeometry.travelFraction
        switch action {
        case .movesLeft, .movesRight, .movesUp, .movesDown:
            let radius = random.uniformDouble(in: SyntheticGeometry.normalRadius)
            let along = position(radius: radius, travel: travel) // the lower end of the path
            let across = position(radius: radius)
            let (start, end) = action == .movesLeft || action == .movesUp ? (along + travel, along) : (along, along + travel)
            let horizontal = action == .movesLeft || action == .movesRight
            let from = horizontal ? ShapeState(x: start, y: across, radius: radius, opacity: 1)
                : ShapeState(x: across, y: start, radius: radius, opacity: 1)
            var to = from
            if horizontal { to.x = end } else { to.y = end }
            return (from, to)
        case .grows, .shrinks:
            let large = SyntheticGeometry.largeRadius, small = SyntheticGeometry.smallRadius
            let x = position(radius: large), y = position(radius: large)
            let (first, last) = action == .grows ? (small, large) : (large, small)
            return (ShapeState(x: x, y: y, radius: first, opacity: 1), ShapeState(x: x, y: y, radius: last, opacity: 1))
        case .appears, .disappears:
            let radius = random.uniformDouble(in: SyntheticGeometry.normalRadius)
            let x = position(radius: radius), y = position(radius: radius)
            let (first, last) = action == .appears ? (0.0, 1.0) : (1.0, 0.0)
            return (ShapeState(x: x, y: y, radius: radius, opacity: first),
                    ShapeState(x: x, y: y, radius: radius, opacity: last))
        }
    }

    /// Narration captions: each gap of two seconds or more holds one with `probability`,
    /// spanning the gap but for up to 0.3 s at each end.
    static func narration(between spans: [ClosedRange<Int>], durationSeconds: Int, probability: Double,
                          using random: inout SplitMix64) -> [SyntheticCaption] {
        var gaps: [(start: Int, end: Int)] = []
        var time = 0
        for span in spans {
            gaps.append((time, span.lowerBound))
            time = span.upperBound
        }
        gaps.append((time, durationSeconds))
        var captions: [SyntheticCaption] = []
        for gap in gaps {
            let length = gap.end - gap.start
            guard length >= 2, random.uniformDouble() < probability else { continue }
            let start = gap.start * 10 + random.uniformInt(in: 0...3)
            let end = gap.end * 10 - random.uniformInt(in: 0...3)
            captions.append(SyntheticCaption(startTenths: start, endTenths: end,
                                             text: SyntheticLanguage.narrationCaption(using: &random), event: nil))
        }
        return captions
    }

    /// Still shapes for the whole video, in colours no event shape uses, placed away from the
    /// event shapes' paths where possible.
    static func makeBystanders(count: Int, avoiding actors: [ShapeTrack], durationSeconds: Int,
                               using random: inout SplitMix64) -> [ShapeTrack] {
        guard count > 0 else { return [] }
        let used = Set(actors.map(\.color))
        var colors = random.shuffled(ShapeColor.allCases.filter { !used.contains($0) })
        var result: [ShapeTrack] = []
        while result.count < count, let color = colors.popLast() {
            let shape = ShapeKind.allCases[random.index(below: ShapeKind.allCases.count)]
            let radius = random.uniformDouble(in: SyntheticGeometry.normalRadius)
            let reach = radius * SyntheticGeometry.extentInRadii
            var state = ShapeState(x: 0.5, y: 0.5, radius: radius, opacity: 1)
            for _ in 0..<24 {
                let low = reach + SyntheticGeometry.margin
                state.x = random.uniformDouble(in: low...(1 - low))
                state.y = random.uniformDouble(in: low...(1 - low))
                let others = actors + result
                let clear = others.allSatisfy { track in
                    let distance = distanceToPath(x: state.x, y: state.y, from: track.from, to: track.to)
                    let otherReach = max(track.from.radius, track.to.radius) * SyntheticGeometry.extentInRadii
                    return distance > reach + otherReach
                }
                if clear { break }
            }
            result.append(ShapeTrack(color: color, shape: shape, visibleSeconds: 0..<Double(durationSeconds),
                                     changeSeconds: 0...0, from: state, to: state))
        }
        return result
    }

    /// The distance from a point to the segment between two states' centres.
    private static func distanceToPath(x: Double, y: Double, from: ShapeState, to: ShapeState) -> Double {
        let dx = to.x - from.x, dy = to.y - from.y
        let lengthSquared = dx * dx + dy * dy
        let t = lengthSquared > 0 ? min(1, max(0, ((x - from.x) * dx + (y - from.y) * dy) / lengthSquared)) : 0
        let px = from.x + t * dx - x, py = from.y + t * dy - y
        return (px * px + py * py).squareRoot()
    }
}
