// The data pipeline's randomness: a small seedable generator whose stream for a sample depends
// only on (seed, epoch, rank, sample number), so that any sample can be drawn again identically
// (exact resumption) no matter which worker draws it or in what order.

// MARK: - Generator

/// SplitMix64 (Steele, Lea and Flood): 64 bits of state, one addition and a mixing function per
/// draw. Its integer and float draws are defined here, not by the standard library, so that a
/// stream stays the same across Swift versions.
public struct SplitMix64: RandomNumberGenerator, Sendable, Equatable {
    /// The current state (the whole generator: a copy continues the same stream).
    public private(set) var state: UInt64

    /// A generator starting from `seed`.
    public init(seed: UInt64) {
        state = seed
    }

    /// The generator of one sample: keyed by the run's seed, the epoch, the rank that draws it,
    /// and the sample's number within that rank's epoch.
    public init(seed: UInt64, epoch: Int, rank: Int, sample: Int) {
        var key = SplitMix64.mix(seed &+ 0x9E37_79B9_7F4A_7C15)
        key = SplitMix64.mix(key ^ (UInt64(bitPattern: Int64(epoch)) &+ 0xD1B5_4A32_D192_ED03))
        key = SplitMix64.mix(key ^ (UInt64(bitPattern: Int64(rank)) &+ 0x8CB9_2BA7_2F3D_8DD7))
        key = SplitMix64.mix(key ^ (UInt64(bitPattern: Int64(sample)) &+ 0xABC9_8388_FB8F_AC03))
        state = key
    }

    @inline(__always)
    private static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return SplitMix64.mix(state)
    }

    /// A uniformly random integer in `range`, both ends included (Python's `random.randint`),
    /// without bias (Lemire's multiply-and-reject method).
    public mutating func uniformInt(in range: ClosedRange<Int>) -> Int {
        let width = UInt64(bitPattern: Int64(range.upperBound)) &- UInt64(bitPattern: Int64(range.lowerBound)) &+ 1
        let lower = UInt64(bitPattern: Int64(range.lowerBound))
        if width == 0 { return Int(Int64(bitPattern: next())) } // the whole 64-bit range
        var product = next().multipliedFullWidth(by: width)
        if product.low < width {
            let threshold = (0 &- width) % width
            while product.low < threshold {
                product = next().multipliedFullWidth(by: width)
            }
        }
        return Int(Int64(bitPattern: lower &+ product.high))
    }

    /// A uniformly random double in [0, 1) with 53 random bits.
    public mutating func uniformDouble() -> Double {
        Double(next() >> 11) * 0x1p-53
    }
}
