import MILNCE

/// Random CSV files in the dialect pandas reads by default, with the hard parts: quoted fields
/// holding commas, doubled quotes and line breaks, quotes inside unquoted fields, text after a
/// closing quote, `\n`, `\r\n` and `\r` line ends (mixed), blank and whitespace-only lines,
/// short rows, a leading index column, a byte-order mark, and no final line end.
struct RandomCSV {
    var generator: SplitMix64

    init(seed: UInt64) {
        generator = SplitMix64(seed: seed)
    }

    mutating func chance(_ percent: Int) -> Bool {
        generator.uniformInt(in: 0...99) < percent
    }

    mutating func pick<T>(_ items: [T]) -> T {
        items[generator.uniformInt(in: 0...(items.count - 1))]
    }

    /// Random field content (before quoting).
    mutating func content(special: Bool) -> String {
        let plain = ["a", "b", "Z", "7", " ", "é", "中", "'", "_", "x y", "😀", ".", "-", "\t"]
        let tricky = [",", "\"", "\n", "\r", "\r\n", "\"\"", ", "]
        var text = ""
        for _ in 0..<generator.uniformInt(in: 0...8) {
            text += special && chance(25) ? pick(tricky) : pick(plain)
        }
        return text
    }

    /// One field as written in the file: quoted (quotes doubled) when it must be or by chance,
    /// otherwise raw. `nonBlank` keeps the field's value from being empty or all blanks.
    mutating func field(nonBlank: Bool = false) -> String {
        var value = content(special: true)
        if nonBlank && value.allSatisfy({ $0 == " " || $0 == "\t" }) { value += "v" }
        let needsQuotes = value.contains(",") || value.contains("\"") || value.contains("\n") || value.contains("\r")
        if needsQuotes || chance(15) {
            if chance(5) && !value.isEmpty {
                // Text after the closing quote joins the field (both pandas and Python's csv).
                return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\"tail"
            }
            return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
        if chance(5) && !value.isEmpty { return value + "in\"side" }
        return value
    }

    /// A whole file: its text, and the line terminator style used.
    mutating func file() -> String {
        let endings = ["\n", "\r\n", "\r"]
        let fileEnding = pick(endings)
        let mixed = chance(20)
        func ending(_ generator: inout RandomCSV) -> String { mixed ? generator.pick(endings) : fileEnding }
        var text = chance(15) ? "\u{FEFF}" : ""
        let header = chance(20) ? "\"start\",end,\"te,xt\"" : "start,end,text"
        text += header + ending(&self)
        let indexColumn = chance(10)
        let rows = generator.uniformInt(in: 0...12)
        for row in 0..<rows {
            if chance(15) {
                // A blank or whitespace-only line, ended like any other line.
                text += pick(["", "  ", "\t", " \t "]) + pick(endings)
            }
            var fields: [String] = []
            let count = indexColumn ? 4 : (row > 0 && chance(10) ? generator.uniformInt(in: 1...2) : 3)
            for position in 0..<count { fields.append(field(nonBlank: position == 0)) }
            text += fields.joined(separator: ",")
            if row < rows - 1 || chance(70) { text += ending(&self) }
        }
        return text
    }
}
