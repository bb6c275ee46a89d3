import Foundation
import Testing
import TestSupport
@testable import MILNCE

/// What the reference's `pd.read_csv(caption_path)` gives for a caption file: `str()` of each
/// text (as the reference turns `cap['text'].values[i]` into words), start and end as floats.
let pandasCaptionOracle = """
import io, json, sys
import pandas as pd
out = []
for text in json.load(open(sys.argv[1])):
    cap = pd.read_csv(io.BytesIO(text.encode("utf-8")))
    out.append([[str(x) for x in cap["text"].values], [float(x) for x in cap["start"].values],
                [float(x) for x in cap["end"].values]])
print(json.dumps(out))
"""

/// Random caption files whose texts exercise pandas' missing values and type inference.
struct RandomCaptionFiles {
    var csv: RandomCSV

    init(seed: UInt64) {
        csv = RandomCSV(seed: seed)
    }

    static let inferenceTexts = [
        "007", "3", "-0", "+4", " 12 ", "3.5", "1e5", "1E+5", ".5", "1.", "-0.0", "0.0001", "0.00001", "1e16", "1e15",
        "123456789012345678", "inf", "-Infinity", "iNf", "True", "false", "TRUE",
        "", "NA", "nan", "NaN", "None", "null", "n/a", "#N/A", "<NA>", "-nan",
        "1_000", "0x10", "1e", "1 2", "+nan", "yes", "٣", "\"quoted, text\"", "\"\"",
    ]

    mutating func time() -> String {
        let whole = csv.generator.uniformInt(in: -5...400)
        let fraction = csv.generator.uniformInt(in: 0...99)
        switch csv.generator.uniformInt(in: 0...5) {
        case 0: return "\(whole)"
        case 1: return "\(whole).\(fraction)"
        case 2: return " \(whole).5 "
        case 3: return "\(whole)e0"
        case 4: return "+\(abs(whole)).\(fraction)"
        default: return "\"\(whole).\(fraction)\""
        }
    }

    mutating func file(endings: [String] = ["\n", "\r\n"]) -> String {
        let ending = csv.pick(endings)
        var text = csv.chance(10) ? "\u{FEFF}" : ""
        text += csv.pick(["start,end,text", "text,start,end", "start,end,text,extra"]) + ending
        let order = text.contains("text,start") ? [2, 0, 1] : [0, 1, 2]
        let inference = csv.chance(50)
        for _ in 0..<csv.generator.uniformInt(in: 1...8) {
            let caption: String
            if inference {
                caption = csv.pick(RandomCaptionFiles.inferenceTexts)
            } else {
                caption = csv.chance(20) ? csv.pick(RandomCaptionFiles.inferenceTexts) : csv.field()
            }
            var fields = [time(), time(), caption]
            fields = order.map { fields[$0] }
            if text.contains("extra") { fields.append(csv.field()) }
            text += fields.joined(separator: ",") + ending
            if csv.chance(10) { text += ending }
        }
        return text
    }
}

@Suite struct CaptionFileTests {
    @Test func textsAndTimesMatchPandas() throws {
        var random = RandomCaptionFiles(seed: 21)
        let files = (0..<1500).map { _ in random.file() }
        let answer: [[[StringOrDouble]]] = try PythonOracle.run(pandasCaptionOracle, input: files, modules: ["pandas"])
        try #require(answer.count == files.count)
        var mismatches = 0
        var inferred = 0
        for (text, truth) in zip(files, answer) {
            let parsed = try Array(text.utf8).withUnsafeBytes { try CaptionFile.parse($0, path: "captions.csv") }
            let texts = try (0..<parsed.count).map { try parsed.text(at: $0) }
            let expectedTexts = truth[0].map(\.string)
            inferred += expectedTexts.filter { $0.hasSuffix(".0") || $0 == "True" || $0 == "nan" }.count
            if texts.map(codePoints) != expectedTexts.map(codePoints)
                || parsed.startTimes != truth[1].map(\.double) || parsed.endTimes != truth[2].map(\.double) {
                mismatches += 1
                if mismatches <= 3 {
                    Issue.record("\(text.debugDescription):\nours \(texts) \(parsed.startTimes) \(parsed.endTimes)\npandas \(truth)")
                }
            }
        }
        #expect(mismatches == 0)
        #expect(inferred > 500, "the files should exercise type inference")
    }

    /// Files whose lines end with a bare `\r` (old Mac files), blank lines included: where pandas
    /// reads every time, ours equal its; where pandas reads a missing time (NaN: a `,` dropped after
    /// a `\r`-ended blank line shifts the row), ours refuse the file with a missing value.
    @Test func filesWithBareCarriageReturnsMatchPandas() throws {
        var random = RandomCaptionFiles(seed: 22)
        let files = (0..<800).map { _ in random.file(endings: ["\r", "\r", "\n", "\r\n"]) }
        let script = """
        import io, json, math, sys
        import pandas as pd
        out = []
        for text in json.load(open(sys.argv[1])):
            cap = pd.read_csv(io.BytesIO(text.encode("utf-8")))
            times = [float(x) for x in cap["start"].values] + [float(x) for x in cap["end"].values]
            if any(math.isnan(t) for t in times):
                out.append(None)
            else:
                out.append([[str(x) for x in cap["text"].values], [float(x) for x in cap["start"].values],
                            [float(x) for x in cap["end"].values]])
        print(json.dumps(out))
        """
        let answer: [[[StringOrDouble]]?] = try PythonOracle.run(script, input: files, modules: ["pandas"])
        try #require(answer.count == files.count)
        var mismatches = 0, missing = 0
        for (text, truth) in zip(files, answer) {
            let parsed = Result { try Array(text.utf8).withUnsafeBytes { try CaptionFile.parse($0, path: "captions.csv") } }
            let agrees: Bool
            switch (parsed, truth) {
            case (.failure(let error), nil):
                missing += 1
                agrees = (error as? CSVError).map { if case .missingValue = $0.reason { true } else { false } } ?? false
            case (.success(let file), let truth?):
                let texts = try (0..<file.count).map { try file.text(at: $0) }
                agrees = texts.map(codePoints) == truth[0].map(\.string).map(codePoints)
                    && file.startTimes == truth[1].map(\.double) && file.endTimes == truth[2].map(\.double)
            default:
                agrees = false
            }
            if !agrees {
                mismatches += 1
                if mismatches <= 3 { Issue.record("\(text.debugDescription):\nours \(parsed)\npandas \(String(describing: truth))") }
            }
        }
        #expect(mismatches == 0)
        #expect(files.filter { $0.contains("\r") && !$0.contains("\r\n") }.count > 200, "bare carriage returns are exercised")
        print("bare carriage returns: \(files.count) files, \(missing) with a time pandas reads as missing")
    }

    @Test func pythonReprOfFloatsMatchesPython() throws {
        var generator = SplitMix64(seed: 3)
        var values: [Double] = [0, -0.0, 1, 0.1, 1e16, 1e15, 1e-4, 1e-5, 123456789012345680, .leastNonzeroMagnitude,
                                .greatestFiniteMagnitude, 2.5, 100, 1e22, 1.5e300]
        for _ in 0..<3000 { values.append(Double(bitPattern: generator.next())) }
        for _ in 0..<3000 {
            let exponent = generator.uniformInt(in: -30...30)
            values.append(Double(generator.uniformInt(in: -100_000...100_000)) * pow(10, Double(exponent)))
        }
        values = values.filter { $0.isFinite }
        let bits = values.map { String($0.bitPattern) }
        let expected: [String] = try PythonOracle.run("""
        import json, struct, sys
        print(json.dumps([repr(struct.unpack('<d', struct.pack('<Q', int(b)))[0]) for b in json.load(open(sys.argv[1]))]))
        """, input: bits)
        let mismatches = zip(values, expected).filter { PandasValues.pythonRepr($0.0) != $0.1 }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(10))")
    }

    @Test func badTimesAndMissingColumnsAreTypedErrorsWithLines() throws {
        let cases: [(String, CSVError.Reason, Int?)] = [
            ("start,end,text\n1,2,a\n3,x,b\n", .notANumber(column: "end", value: "x"), 3),
            ("start,end,text\n1,2,a\n\n3,,b\n", .missingValue(column: "end"), 4),
            ("start,end,text\n1,2,a\nNA,4,b\n", .missingValue(column: "start"), 3),
            ("start,end,text\n1,inf,a\n", .notANumber(column: "end", value: "inf"), 2),
            ("start,end,text\n1,1e300,a\n", .notANumber(column: "end", value: "1e300"), 2),
            ("start,text\n1,a\n", .missingColumn("end"), 1),
            ("start,end,text\n1,2,\"open\n", .unterminatedQuote, 2),
        ]
        for (text, reason, line) in cases {
            #expect {
                try Array(text.utf8).withUnsafeBytes { try CaptionFile.parse($0, path: "v.csv") }
            } throws: { error in
                (error as? CSVError)?.reason == reason && (error as? CSVError)?.line == line
            }
        }
    }
}

/// A JSON value that is a string or a number.
enum StringOrDouble: Decodable, CustomStringConvertible {
    case string(String)
    case double(Double)

    init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let value = try? container.decode(Double.self) {
            self = .double(value)
        } else {
            self = .string(try container.decode(String.self))
        }
    }

    var string: String {
        if case .string(let value) = self { return value }
        return ""
    }

    var double: Double {
        if case .double(let value) = self { return value }
        return .nan
    }

    var description: String {
        switch self {
        case .string(let value): return value.debugDescription
        case .double(let value): return "\(value)"
        }
    }
}
