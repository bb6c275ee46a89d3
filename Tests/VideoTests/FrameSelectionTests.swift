import CFFmpeg
import Testing
@testable import Video

/// The selection stages on plain frame numbers, against the semantics of FFmpeg 5.1's `trim`,
/// `fps` and constant-frame-rate sync (the agreement tests check the same against `ffmpeg`).
@Suite("Frame selection")
struct FrameSelectionTests {
    @Test("trim drops frames before the start and ends after the duration")
    func trim() {
        var trim = TrimSelection(startTimestamp: 0, durationInTimeBase: 10)
        #expect(trim.verdict(forTimestamp: -3) == .drop)
        #expect(trim.verdict(forTimestamp: noTimestamp) == .drop)
        #expect(trim.verdict(forTimestamp: 2) == .keep)   // the first kept frame: the duration counts from here
        #expect(trim.verdict(forTimestamp: 11) == .keep)
        #expect(trim.verdict(forTimestamp: 12) == .end(endTimestamp: 12))
        #expect(trim.verdict(forTimestamp: 5) == .drop)   // nothing passes after the end
        var unlimited = TrimSelection(startTimestamp: nil, durationInTimeBase: 0)
        #expect(unlimited.verdict(forTimestamp: -100) == .keep)
    }

    @Test("fps keeps, for each tick, the last frame whose rounded time is not after it")
    func frameRate() {
        // 25 fps in, 5 fps out: frame p lands on tick round(p / 5), so tick k takes frame 5k + 2.
        var fps = FrameRateSelection<Int>(inputTimeBase: AVRational(num: 1, den: 25),
                                          outputTimeBase: AVRational(num: 1, den: 5))
        var chosen: [(frame: Int, timestamp: Int64)] = []
        for frame in 0..<25 { chosen += fps.push(frame, timestamp: Int64(frame)) }
        chosen += fps.finish(endTimestamp: 25)
        #expect(chosen.map(\.frame) == [2, 7, 12, 17, 22])
        #expect(chosen.map(\.timestamp) == [0, 1, 2, 3, 4])

        // 10 fps in, 25 fps out: frames repeat; the end at 1 s stops at tick 25.
        var up = FrameRateSelection<Int>(inputTimeBase: AVRational(num: 1, den: 10),
                                         outputTimeBase: AVRational(num: 1, den: 25))
        var repeated: [Int] = []
        for frame in 0..<10 { repeated += up.push(frame, timestamp: Int64(frame)).map(\.frame) }
        repeated += up.finish(endTimestamp: 10).map(\.frame)
        #expect(repeated.count == 25)
        // Frame 1 is at 2.5 ticks, rounded (half away from zero) to 3; frame 2 at 5.
        #expect(repeated.prefix(6) == [0, 0, 0, 1, 1, 2])
    }

    @Test("constant-frame-rate sync repeats a late first frame and fills gaps")
    func sync() {
        var sync = ConstantFrameRateSync<Int>(filterTimeBase: AVRational(num: 1, den: 5), frameRate: AVRational(num: 5, den: 1))
        #expect(sync.push(0, timestamp: 1) == [0, 0])   // one tick late: written twice
        #expect(sync.push(1, timestamp: 2) == [1])
        // Two ticks missing: one is filled with the previous frame, one with the new frame.
        #expect(sync.push(2, timestamp: 5) == [1, 2, 2])
        #expect(sync.push(3, timestamp: 6) == [3])
        #expect(sync.finish() == [])
    }
}
