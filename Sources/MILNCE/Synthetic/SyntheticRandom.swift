// The generator's randomness: one SplitMix64 stream per purpose and item, keyed by the seed, so
// that a video's content depends only on (seed, split, number) and never on which thread made it
// or in what order.

import FoundationEssentials
import Glibc

// MARK: - Streams

/// What a random stream is used for; each purpose has streams of its own.
public enum SyntheticRandomStream: Int, Sendable {
    /// The plan of training video i.
    case trainingVideo = 1
    /// The plan of held-out video i.
    case evaluationVideo = 2
    /// The order in which held-out videos receive the distinct event kinds.
    case evaluationEvents = 3
    /// The word-vector direction of a key.
    case wordVectors = 4
}

extension SplitMix64 {
    /// The stream of `purpose` for item `index` under `seed`.
    public init(seed: UInt64, stream purpose: SyntheticRandomStream, index: Int) {
        self.init(seed: seed, epoch: purpose.rawValue, rank: 0x5EED, sample: index)
    }

    /// A uniformly random index in `0 ..< count` (0 when `count` is not positive).
    public mutating func index(below count: Int) -> Int {
        count <= 1 ? 0 : uniformInt(in: 0...(count - 1))
    }

    /// A uniformly random double in `range`.
    public mutating func uniformDouble(in range: ClosedRange<Double>) -> Double {
        range.lowerBound + (range.upperBound - range.lowerBound) * uniformDouble()
    }

    /// A standard normal draw (Box–Muller).
    public mutating func gaussian() -> Double {
        let u = 1 - uniformDouble() // in (0, 1]
        let v = uniformDouble()
        return (-2 * log(u)).squareRoot() * cos(2 * Double.pi * v)
    }

    /// `elements` in a uniformly random order (Fisher–Yates with this generator's draws, so the
    /// order does not depend on the standard library's shuffling algorithm).
    public mutating func shuffled<Element>(_ elements: [Element]) -> [Element] {
        var result = elements
        var position = result.count - 1
        while position > 0 {
            let other = uniformInt(in: 0...position)
            result.swapAt(position, other)
            position -= 1
        }
        return result
    }
}
