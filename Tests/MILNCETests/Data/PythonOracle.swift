import Foundation
import Testing
import TestSupport

/// Runs Python oracles for the data and text tests: input goes to Python as a JSON file (its
/// path is `sys.argv[1]`), and the script prints its answer as JSON.
enum PythonOracle {
    /// Runs `script` on `input` and decodes what it prints; fails the test, naming how to install
    /// them, when the project's Python or one of `modules` is missing.
    static func run<Input: Encodable, Output: Decodable>(_ script: String, input: Input, modules: [String] = [],
                                                         as type: Output.Type = Output.self) throws -> Output {
        for module in modules { try TestEnvironment.requireOracle(module) }
        let folder = try TestEnvironment.temporaryDirectory("oracle")
        defer { try? FileManager.default.removeItem(at: folder) }
        let inputFile = folder.appendingPathComponent("input.json")
        try JSONEncoder().encode(input).write(to: inputFile)
        let output = try runPython(script, arguments: [inputFile.path])
        return try JSONDecoder().decode(Output.self, from: Data(output.utf8))
    }

    /// Runs `script` without input and decodes what it prints.
    static func run<Output: Decodable>(_ script: String, modules: [String] = [],
                                       as type: Output.Type = Output.self) throws -> Output {
        try run(script, input: [String](), modules: modules, as: type)
    }
}

/// The code points of a string, for comparisons that must not use Swift's canonical equivalence.
func codePoints(_ text: String) -> [UInt32] {
    text.unicodeScalars.map(\.value)
}
