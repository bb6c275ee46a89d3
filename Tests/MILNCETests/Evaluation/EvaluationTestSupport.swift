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

extension SeededGenerator {
    /// A standard normal sample (Box–Muller).
    mutating func normal() -> Double {
        let u1 = Double.random(in: Double.ulpOfOne..<1, using: &self)
        let u2 = Double.random(in: 0..<1, using: &self)
        return (-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2)
    }
}
