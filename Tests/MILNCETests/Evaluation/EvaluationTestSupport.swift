import Foundation
import Testing
import TestSupport

// MARK: - Python oracle

/// The project's Python, for tests whose truth comes from NumPy, scikit-learn, TensorBoard or
/// PIL: the test fails, naming how to install them, when the environment is missing.
enum EvaluationOracle {
    /// Runs `script` with the project's Python and returns its standard output.
    static func run(_ script: String, arguments: [String] = []) throws -> String {
        try runPython(script, arguments: arguments)
    }

    /// Runs `script` and decodes its standard output as JSON.
    static func json(_ script: String, arguments: [String] = []) throws -> Any {
        let output = try run(script, arguments: arguments)
        return try JSONSerialization.jsonObject(with: Data(output.utf8), options: [.fragmentsAllowed])
    }

    /// Writes `values` as raw little-endian float32 to a new file in `directory`.
    static func writeFloats(_ values: [Float], named name: String, in directory: URL) throws -> URL {
        let url = directory.appendingPathComponent(name)
        let data = values.withUnsafeBufferPointer { Data(buffer: $0) }
        try data.write(to: url)
        return url
    }

    /// Writes `value` as JSON to a new file in `directory`.
    static func writeJSON(_ value: Any, named name: String, in directory: URL) throws -> URL {
        let url = directory.appendingPathComponent(name)
        try JSONSerialization.data(withJSONObject: value).write(to: url)
        return url
    }
}

// MARK: - Seeded randomness

/// A small seeded generator (SplitMix64), so generated test data is the same on every run.
struct EvaluationTestRandom: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A standard normal sample (Box–Muller).
    mutating func normal() -> Double {
        let u1 = Double.random(in: Double.ulpOfOne..<1, using: &self)
        let u2 = Double.random(in: 0..<1, using: &self)
        return (-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2)
    }
}
