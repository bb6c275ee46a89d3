import Foundation
import Testing
import TestSupport

/// The tests' own CRC-32 and seeded generator (in TestSupport) against published check values and
/// Python, so that they can be trusted as oracles and as reproducible data.
@Suite("Test oracles")
struct TestOracleTests {
    @Test("the tests' CRC-32 gives the standard check value")
    func crc32CheckValue() {
        #expect(crc32(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(crc32([]) == 0)
        #expect(crc32([0]) == 0xD202_EF8D)
    }

    @Test("the tests' CRC-32 agrees with Python's zlib.crc32")
    func crc32AgreesWithZlib() throws {
        var generator = SeededGenerator(seed: 5)
        let samples = [0, 1, 3, 255, 4099, 20_000].map { randomBytes($0, using: &generator) }
        let hex = samples.map { $0.map { String(format: "%02x", $0) }.joined() }
        let output = try runPython("import sys, zlib\nfor h in sys.argv[1:]: print(zlib.crc32(bytes.fromhex(h)))",
                                   arguments: hex)
        let expected = output.split(separator: "\n").map { UInt32($0) }
        #expect(expected.count == samples.count)
        for (bytes, value) in zip(samples, expected) {
            #expect(crc32(bytes) == value, "\(bytes.count) bytes")
        }
    }

    @Test("SeededGenerator is SplitMix64: the reference implementation's first outputs for seed 0")
    func seededGeneratorMatchesTheReference() {
        var generator = SeededGenerator(seed: 0)
        // splitmix64.c (Vigna) seeded with 0.
        #expect([generator.next(), generator.next(), generator.next()]
            == [0xE220_A839_7B1D_CDAF, 0x6E78_9E6A_A1B9_65F4, 0x06C4_5D18_8009_454F])
    }

    @Test("SeededGenerator agrees with SplitMix64 computed in Python from its published constants")
    func seededGeneratorAgreesWithPython() throws {
        let output = try runPython("""
        import sys
        mask = (1 << 64) - 1
        for seed in map(int, sys.argv[1:]):
            state, values = seed, []
            for _ in range(4):
                state = (state + 0x9E3779B97F4A7C15) & mask
                z = state
                z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
                z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
                values.append(str(z ^ (z >> 31)))
            print(" ".join(values))
        """, arguments: ["1", "11", "99", "18446744073709551615"])
        let lines = output.split(separator: "\n")
        #expect(lines.count == 4)
        for (seed, line) in zip([1, 11, 99, UInt64.max] as [UInt64], lines) {
            var generator = SeededGenerator(seed: seed)
            let values = (0..<4).map { _ in generator.next() }
            #expect(values == line.split(separator: " ").compactMap { UInt64($0) }, "seed \(seed)")
        }
    }
}
