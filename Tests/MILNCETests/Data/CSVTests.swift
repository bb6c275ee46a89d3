import Foundation
import Testing
import TestSupport
@testable import MILNCE

/// Parses `text` as a CSV file.
private func table(_ text: String, path: String = "test.csv") throws -> CSVTable {
    try Array(text.utf8).withUnsafeBytes { try CSVTable.parse($0, path: path) }
}

/// The physical line of the character at `offset` (1-based; `\r\n`, `\r` and `\n` end lines).
private func line(of text: String, beforeUTF8Offset offset: Int) -> Int {
    let prefix = String(decoding: Array(text.utf8)[..<offset], as: UTF8.self)
    return prefix.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
        .filter { $0 == "\n" }.count + 1
}

@Suite struct CSVTests {
    /// pandas' `read_csv` (as the reference reads its CSV files, keeping every field's text:
    /// `dtype=str, na_filter=False`) splits the same header and fields: blank and whitespace-only
    /// lines skipped, short rows padded to the header, a first row longer than the header making
    /// its leading fields the index, the BOM dropped.
    @Test func recordsMatchPandasOnTrickyFiles() throws {
        var random = RandomCSV(seed: 11)
        let files = (0..<600).map { _ in random.file() }
        let script = """
        import io, json, sys
        import pandas as pd
        out = []
        for text in json.load(open(sys.argv[1])):
            frame = pd.read_csv(io.BytesIO(text.encode('utf-8')), dtype=str, na_filter=False)
            out.append([[str(name) for name in frame.columns], frame.values.tolist()])
        print(json.dumps(out))
        """
        struct Expected: Decodable {
            let header: [String]
            let rows: [[String]]
            init(from decoder: Decoder) throws {
                var container = try decoder.unkeyedContainer()
                header = try container.decode([String].self)
                rows = try container.decode([[String]].self)
            }
        }
        let expected: [Expected] = try PythonOracle.run(script, input: files, modules: ["pandas"])
        try #require(expected.count == files.count)
        var failures = 0
        var fields = 0
        for (text, truth) in zip(files, expected) {
            let parsed = try table(text)
            var ours: [[String]] = []
            for row in 0..<parsed.rowCount {
                ours.append((0..<parsed.columnNames.count).map { parsed.string(row: row, column: $0) })
            }
            fields += ours.reduce(0) { $0 + $1.count }
            if parsed.columnNames.map(codePoints) != truth.header.map(codePoints)
                || ours.map({ $0.map(codePoints) }) != truth.rows.map({ $0.map(codePoints) }) {
                failures += 1
                if failures <= 3 {
                    Issue.record("file \(text.debugDescription):\nours \(parsed.columnNames) \(ours)\npandas \(truth.header) \(truth.rows)")
                }
            }
        }
        #expect(failures == 0)
        #expect(fields > 10_000)
    }

    /// Rows after a blank line that a bare `\r` ends, where pandas' tokenizer drops or keeps a
    /// leading `,`: compared with pandas one by one. pandas drops a `,` right after such a line,
    /// but when a blank follows that `,` it takes the row for another blank line, and on finding
    /// content re-reads it from just after the previous `\r` or `\n`, the `,` included: the row
    /// keeps its empty first field.
    @Test func rowsAfterABlankLineEndedByACarriageReturnMatchPandas() throws {
        let texts = ["a,b,c\n \r,x,y\n", "a,b,c\n\r,x,y\n", "a,b,c\n1,2,3\n \t \r,\"x\",y\n",
                     "a,b,c\n \r\n,x,y\n", "a,b,c\n \r,,y\n", "a,b,c\n \r \r,x,y\n",
                     "a,b,c\n\r, x,y\n", "a,b,c\n \r, x,y\n", "a,b,c\n1,2,3\n \t \r,\tx,y\n",
                     "\u{FEFF}a,b,c\n\r, x,y\n", "a,b,c\r\r, x,y\r", "a,b,c\n  x,y,z\n"]
        let script = """
        import io, json, sys
        import pandas as pd
        print(json.dumps([pd.read_csv(io.BytesIO(text.encode('utf-8')), dtype=str, na_filter=False).values.tolist()
                          for text in json.load(open(sys.argv[1]))]))
        """
        let expected: [[[String]]] = try PythonOracle.run(script, input: texts, modules: ["pandas"])
        try #require(expected.count == texts.count)
        func rows(_ text: String) throws -> [[String]] {
            let parsed = try table(text)
            return (0..<parsed.rowCount).map { row in (0..<parsed.columnNames.count).map { parsed.string(row: row, column: $0) } }
        }
        for (text, truth) in zip(texts, expected) {
            #expect(try rows(text) == truth, "\(text.debugDescription)")
        }
    }

    @Test func rowsStartOnTheirPhysicalLines() throws {
        let text = "a,b\r\n\r\n1,\"x\ny\"\r2,3\n   \n\t4,5\n"
        let parsed = try table(text)
        #expect(parsed.rowCount == 3)
        let starts = [text.utf8.firstIndex(of: UInt8(ascii: "1"))!, text.utf8.firstIndex(of: UInt8(ascii: "2"))!,
                      text.utf8.firstIndex(of: UInt8(ascii: "\t"))!]
            .map { text.utf8.distance(from: text.utf8.startIndex, to: $0) }
        #expect((0..<3).map { parsed.lineNumber(ofRow: $0) } == starts.map { line(of: text, beforeUTF8Offset: $0) })
        #expect(parsed.string(row: 2, column: 0) == "\t4")
    }

    @Test func unterminatedQuoteIsATypedErrorAtTheQuotesLine() throws {
        var random = RandomCSV(seed: 5)
        for _ in 0..<50 {
            var text = "start,end,text\n"
            for _ in 0..<random.generator.uniformInt(in: 0...5) { text += "1,2,\"a\nb\"\n" }
            let offset = text.utf8.count + 4
            text += "3,4,\"never closed\nmore, text\n"
            let expectedLine = line(of: text, beforeUTF8Offset: offset)
            #expect {
                try table(text, path: "/data/x.csv")
            } throws: { error in
                guard let error = error as? CSVError else { return false }
                return error.reason == .unterminatedQuote && error.line == expectedLine && error.path == "/data/x.csv"
                    && error.description.contains("/data/x.csv") && error.description.contains("line \(expectedLine)")
            }
        }
    }

    @Test func aRowLongerThanTheRowsBeforeItIsATypedError() throws {
        let text = "start,end,text\n1,2,a\n3,4\n5,6,c,d\n"
        #expect {
            try table(text)
        } throws: { error in
            (error as? CSVError)?.reason == .tooManyFields(expected: 3, found: 4) && (error as? CSVError)?.line == 4
        }
    }

    @Test func emptyFilesAndInvalidUTF8AreTypedErrors() throws {
        for text in ["", "\n\n", "  \n\t\r\n", "\u{FEFF}"] {
            #expect { try table(text) } throws: { ($0 as? CSVError)?.reason == .noColumns }
        }
        let bytes: [UInt8] = Array("start,end,text\n1,2,ok\n3,4,".utf8) + [0xC3, 0x28] + [0x0A]
        #expect {
            try bytes.withUnsafeBytes { try CSVTable.parse($0, path: "bad.csv") }
        } throws: { ($0 as? CSVError)?.reason == .invalidUTF8 && ($0 as? CSVError)?.line == 3 }
    }

    @Test func missingColumnsAndMissingFilesAreTypedErrors() throws {
        let parsed = try table("start,end,txt\n1,2,a\n")
        #expect { try parsed.column(named: "text") } throws: { ($0 as? CSVError)?.reason == .missingColumn("text") }
        let folder = try TestEnvironment.temporaryDirectory("csv")
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("absent.csv").path
        #expect { try CSVTable.read(contentsOf: path) } throws: {
            ($0 as? CSVError)?.reason == .fileNotFound && ($0 as? CSVError)?.path == path
        }
        #expect { try CSVTable.read(contentsOf: folder.path) } throws: {
            if case .unreadable = ($0 as? CSVError)?.reason { return true }
            return false
        }
    }

    @Test func largeFilesParseQuickly() throws {
        var text = "start,end,text\n"
        for row in 0..<200_000 { text += "\(row).25,\(row + 3).5,\"some words, and \"\"quotes\"\" here\"\n" }
        let clock = ContinuousClock()
        var rows = 0
        let elapsed = try clock.measure { rows = try table(text).rowCount }
        #expect(rows == 200_000)
        // A debug build parses this (about 9 MB) in well under a few seconds.
        #expect(elapsed < .seconds(20))
    }
}
