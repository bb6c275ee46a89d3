import Foundation
import Testing
import TestSupport
@testable import MILNCE

/// The reference's `_find_nearest_candidates`, `_get_text` and seek draw, transcribed verbatim,
/// with pandas' frame replaced by lists and `random.randint` answering the given choices.
private let referenceSampler = """
import json, random, re, sys
import torch as th

class Frame(dict):
    def __len__(self): return len(self["start"])

class Values(list):
    @property
    def values(self): return self

class Reference:
    def __init__(self, words, num_candidates, max_words, min_time, num_frames, fps):
        self.word_to_token = {t: i + 1 for i, t in enumerate(words)}
        self.num_candidates, self.max_words, self.min_time = num_candidates, max_words, min_time
        self.num_sec = num_frames / float(fps)

    def zero_pad_or_truncate(self, tensor, size):
        if len(tensor) >= size: return tensor[:size]
        zero = th.zeros(size - len(tensor)).long()
        return th.cat((tensor, zero), dim=0)

    def _split_text(self, sentence): return re.findall(r"[\\w']+", str(sentence))

    def _words_to_token(self, words):
        words = [self.word_to_token[word] for word in words if word in self.word_to_token]
        if words: return self.zero_pad_or_truncate(th.LongTensor(words), self.max_words)
        else: return th.zeros(self.max_words).long()

    def words_to_ids(self, x): return self._words_to_token(self._split_text(x))

    def _find_nearest_candidates(self, caption, ind):
        start, end = ind, ind
        n_candidate = 1
        while n_candidate < self.num_candidates:
            if start == 0: return 0
            elif end == len(caption) - 1: return start - (self.num_candidates - n_candidate)
            elif caption['end'][end] - caption['start'][start - 1] < caption['end'][end + 1] - caption['start'][start]: start -= 1
            else: end += 1
            n_candidate += 1
        return start

    def _get_text(self, cap):
        ind = random.randint(0, len(cap) - 1)
        if self.num_candidates == 1: words = self.words_to_ids(cap['text'].values[ind])
        else:
            words = th.zeros(self.num_candidates, self.max_words, dtype=th.long)
            cap_start = self._find_nearest_candidates(cap, ind)
            for i in range(self.num_candidates):
                words[i] = self.words_to_ids(cap['text'].values[max(0, min(len(cap['text']) - 1, cap_start + i))])
        start, end = cap['start'].values[ind], cap['end'].values[ind]
        if end - start < self.min_time:
            diff = self.min_time - end + start
            start = max(0, start - diff / 2)
            end = start + self.min_time
        return words, int(start), int(end)

    def getitem(self, cap):
        text, start, end = self._get_text(cap)
        start_seek = random.randint(start, int(max(start, end - self.num_sec)))
        return text, start, end, start_seek

data = json.load(open(sys.argv[1]))
out = []
for case in data["cases"]:
    reference = Reference(data["words"], case["k"], case["maxWords"], case["minTime"], case["frames"], case["fps"])
    cap = Frame(start=Values(case["starts"]), end=Values(case["ends"]), text=Values(case["texts"]))
    answers = iter([lambda a, b: case["anchor"] if (a, b) == (0, len(cap) - 1) else None,
                    lambda a, b: a + case["seekChoice"] % (b - a + 1)])
    ranges = []
    def randint(a, b):
        ranges.append([a, b])
        return next(answers)(a, b)
    random.randint = randint
    text, start, end, seek = reference.getitem(cap)
    window = reference._find_nearest_candidates(cap, case["anchor"])
    out.append({"tokens": text.reshape(-1).tolist(), "start": start, "end": end, "seek": seek,
                "seekRange": ranges[1], "window": window, "decode": reference.num_sec + 0.1})
print(json.dumps(out))
"""

private struct SamplerCase: Encodable {
    let k: Int, maxWords: Int, minTime: Double, frames: Int, fps: Double
    let starts: [Double], ends: [Double], texts: [String]
    let anchor: Int, seekChoice: Int
}

private struct ReferenceAnswer: Decodable {
    let tokens: [Int64], start: Int, end: Int, seek: Int, seekRange: [Int], window: Int, decode: Double
}

/// Random caption lists: sorted or shuffled, overlapping, reversed, tied, negative, short.
private func randomCaptions(_ generator: inout SplitMix64, vocabulary: [String]) -> (starts: [Double], ends: [Double], texts: [String]) {
    let count = generator.uniformInt(in: 1...12)
    var starts: [Double] = [], ends: [Double] = [], texts: [String] = []
    var time = Double(generator.uniformInt(in: -3...50))
    let integral = generator.uniformInt(in: 0...2) == 0
    for _ in 0..<count {
        let gap = integral ? Double(generator.uniformInt(in: -2...6)) : Double(generator.uniformInt(in: -200...600)) / 100
        let length = integral ? Double(generator.uniformInt(in: -1...9)) : Double(generator.uniformInt(in: -100...900)) / 100
        time += gap
        starts.append(time)
        ends.append(time + length)
        if generator.uniformInt(in: 0...9) == 0 { time = Double(generator.uniformInt(in: -3...80)) }
        let words = (0..<generator.uniformInt(in: 0...7)).map { _ in vocabulary[generator.uniformInt(in: 0...(vocabulary.count - 1))] }
        texts.append(words.joined(separator: generator.uniformInt(in: 0...1) == 0 ? " " : ", "))
    }
    return (starts, ends, texts)
}

@Suite struct ClipSamplerTests {
    static let vocabulary = ["add", "the", "salt", "don't", "stir", "2", "minutes", "oil", "é", "über", "nan", "_x", "Pan", "'"]

    /// The candidate window, token rows, clip bounds and seek, given the same caption draw and
    /// seek draw, against the reference's code on thousands of random caption lists.
    @Test func decisionsMatchTheReferenceGivenTheSameDraws() throws {
        var generator = SplitMix64(seed: 31)
        let dictionary = Array(ClipSamplerTests.vocabulary.prefix(10)) + ["salt"]
        var cases: [SamplerCase] = []
        for _ in 0..<4000 {
            let captions = randomCaptions(&generator, vocabulary: ClipSamplerTests.vocabulary)
            cases.append(SamplerCase(
                k: generator.uniformInt(in: 1...6), maxWords: generator.uniformInt(in: 1...8),
                minTime: [5.0, 0, 3.3, 10, 4.9][generator.uniformInt(in: 0...4)],
                frames: [16, 32, 8, 1][generator.uniformInt(in: 0...3)], fps: [5, 10, 3, 2.5][generator.uniformInt(in: 0...3)],
                starts: captions.starts, ends: captions.ends, texts: captions.texts,
                anchor: generator.uniformInt(in: 0...(captions.starts.count - 1)),
                seekChoice: generator.uniformInt(in: 0...1_000_000)))
        }
        struct Input: Encodable { let words: [String]; let cases: [SamplerCase] }
        let answers: [ReferenceAnswer] = try PythonOracle.run(referenceSampler, input: Input(words: dictionary, cases: cases))
        try #require(answers.count == cases.count)
        let tokenizer = Tokenizer(words: dictionary)
        var mismatches = 0
        var widened = 0, windowsAtEnds = 0
        for (item, truth) in zip(cases, answers) {
            let options = ClipSamplingOptions(numCandidates: item.k, maxWords: item.maxWords, minTimeSeconds: item.minTime,
                                              numFrames: item.frames, framesPerSecond: item.fps)
            let sampler = try ClipSampler(tokenizer: tokenizer, options: options)
            let captions = CaptionFile(startTimes: item.starts, endTimes: item.ends, texts: item.texts)
            let clip = try sampler.clip(from: captions, anchor: item.anchor) { range in
                range.lowerBound + item.seekChoice % range.count
            }
            let window = try ClipSampler.candidateWindowStart(in: captions, anchor: item.anchor, numCandidates: item.k)
            let range = ClipSampler.seekRange(clipStart: clip.clipStartSeconds, clipEnd: clip.clipEndSeconds,
                                              clipSeconds: options.clipSeconds)
            if item.ends[item.anchor] - item.starts[item.anchor] < item.minTime { widened += 1 }
            if window <= 0 || window + item.k > item.starts.count { windowsAtEnds += 1 }
            let expectedIndices = (0..<item.k).map { max(0, min(item.starts.count - 1, truth.window + $0)) }
            if clip.tokens != truth.tokens || clip.clipStartSeconds != truth.start || clip.clipEndSeconds != truth.end
                || clip.startSeekSeconds != truth.seek || [range.lowerBound, range.upperBound] != truth.seekRange
                || window != truth.window || clip.captionIndices != expectedIndices || clip.decodeSeconds != truth.decode {
                mismatches += 1
                if mismatches <= 5 { Issue.record("case \(item): ours \(clip), reference \(truth)") }
            }
        }
        #expect(mismatches == 0)
        #expect(widened > 500 && windowsAtEnds > 500, "the cases should cover widening and windows at the ends")
    }

    /// The generator's integers are uniform (chi-square, far tail) over ranges of several widths.
    @Test(arguments: [2, 3, 7, 10, 97])
    func uniformIntegersAreUniform(width: Int) {
        var generator = SplitMix64(seed: UInt64(width))
        let draws = 2000 * width
        var counts = [Int](repeating: 0, count: width)
        for _ in 0..<draws {
            let value = generator.uniformInt(in: -5...(width - 6))
            counts[value + 5] += 1
        }
        #expect(chiSquare(counts) < chiSquareCritical(degreesOfFreedom: width - 1))
    }

    /// Across samples, the caption (`ind`) and the seek of the sampler are uniform.
    @Test func sampledCaptionsAndSeeksAreUniform() throws {
        let count = 10
        let captions = CaptionFile(startTimes: (0..<count).map { Double($0 * 30) },
                                   endTimes: (0..<count).map { Double($0 * 30 + 23) },
                                   texts: (0..<count).map { "caption \($0)" })
        let sampler = try ClipSampler(tokenizer: Tokenizer(words: ["caption"]), options: ClipSamplingOptions())
        var anchors = [Int](repeating: 0, count: count)
        var offsets = [Int](repeating: 0, count: 20)
        for sample in 0..<40_000 {
            var generator = SplitMix64(seed: 9, epoch: 2, rank: 1, sample: sample)
            let clip = try sampler.sample(from: captions, using: &generator)
            anchors[clip.anchorCaption] += 1
            // Caption i spans [30i, 30i + 23]: seeks in 30i ... 30i + 19 (23 - 3.2 truncated).
            offsets[clip.startSeekSeconds - clip.anchorCaption * 30] += 1
        }
        #expect(chiSquare(anchors) < chiSquareCritical(degreesOfFreedom: count - 1))
        #expect(chiSquare(offsets) < chiSquareCritical(degreesOfFreedom: offsets.count - 1))
    }

    @Test func aSampleIsRedrawnIdenticallyFromItsKey() throws {
        let captions = CaptionFile(startTimes: [0, 4, 9, 15, 30], endTimes: [3, 8, 14, 29, 31],
                                   texts: ["a b", "c", "a", "b c", "d"])
        let sampler = try ClipSampler(tokenizer: Tokenizer(words: ["a", "b", "c"]),
                                      options: ClipSamplingOptions(numCandidates: 3, maxWords: 4))
        var sequence: [SampledClip] = []
        for sample in 0..<200 {
            var generator = SplitMix64(seed: 5, epoch: 3, rank: 2, sample: sample)
            sequence.append(try sampler.sample(from: captions, using: &generator))
        }
        for sample in [0, 17, 199] {
            var generator = SplitMix64(seed: 5, epoch: 3, rank: 2, sample: sample)
            #expect(try sampler.sample(from: captions, using: &generator) == sequence[sample])
        }
        #expect(Set(sequence.map(\.anchorCaption)).count == captions.count)
        var other = SplitMix64(seed: 5, epoch: 4, rank: 2, sample: 0)
        var same = SplitMix64(seed: 5, epoch: 3, rank: 2, sample: 0)
        #expect(other.next() != same.next())
    }

    @Test func emptyCaptionListsAndBadOptionsAreTypedErrors() throws {
        let tokenizer = Tokenizer(words: [])
        #expect(throws: ClipSamplingError.self) {
            try ClipSampler(tokenizer: tokenizer, options: ClipSamplingOptions(numCandidates: 0))
        }
        #expect(throws: ClipSamplingError.self) {
            try ClipSampler(tokenizer: tokenizer, options: ClipSamplingOptions(framesPerSecond: 0))
        }
        #expect {
            try ClipSampler(tokenizer: tokenizer, options: ClipSamplingOptions(minTimeSeconds: -1))
        } throws: { error in
            "\(error)".contains("--min_time") && "\(error)".contains("negative")
        }
        _ = try ClipSampler(tokenizer: tokenizer, options: ClipSamplingOptions(minTimeSeconds: 0))
        // Training reports it with the other flags, before any work.
        var configuration = TrainingConfiguration()
        configuration.minTime = -0.5
        #expect { try configuration.validate() } throws: { "\($0)".contains("--min_time must not be negative") }
        let sampler = try ClipSampler(tokenizer: tokenizer, options: ClipSamplingOptions())
        var generator = SplitMix64(seed: 0)
        #expect(throws: ClipSamplingError.self) {
            try sampler.sample(from: CaptionFile(startTimes: [], endTimes: [], texts: []), using: &generator)
        }
        #expect(throws: ClipSamplingError.self) {
            try sampler.sample(from: CaptionFile(startTimes: [.nan], endTimes: [1], texts: ["x"]), using: &generator)
        }
        #expect(throws: ClipSamplingError.self) {
            try sampler.sample(from: CaptionFile(startTimes: [0], endTimes: [1e300], texts: ["x"]), using: &generator)
        }
    }
}

/// Pearson's chi-square statistic of counts against a uniform distribution.
func chiSquare(_ counts: [Int]) -> Double {
    let expected = Double(counts.reduce(0, +)) / Double(counts.count)
    return counts.reduce(0) { $0 + (Double($1) - expected) * (Double($1) - expected) / expected }
}

/// The chi-square value exceeded with probability about 1e-6 (Wilson-Hilferty approximation).
func chiSquareCritical(degreesOfFreedom k: Int) -> Double {
    let df = Double(k)
    let z = 4.753
    let term = 1 - 2 / (9 * df) + z * (2 / (9 * df)).squareRoot()
    return df * term * term * term
}
