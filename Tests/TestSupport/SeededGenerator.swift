// The tests' own source of reproducible randomness. It is independent of the system's generator
// (`MILNCE.SplitMix64`), which it must not stand in for: expected values never depend on its
// exact stream, only on what an oracle computes from the data it generates.

/// SplitMix64 (Steele, Lea and Flood; Vigna's `splitmix64.c`): a small seeded generator, so that
/// generated test data is the same on every run.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    /// The current state: a copy of the generator continues the same stream.
    public private(set) var state: UInt64

    /// A generator starting from `seed`.
    public init(seed: UInt64) {
        state = seed
    }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
