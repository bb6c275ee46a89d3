// What pandas' `read_csv` (C parser, default options) makes of a field's text: its missing-value
// markers, its number and boolean grammars, the type it infers for a whole column, and what
// Python's `str()` then prints for each value. The reference tokenizes `str(value)`, so a
// caption text is what `str()` gives for the value pandas read.

import FoundationEssentials

// MARK: - Values

/// pandas' reading of CSV fields and Python's printing of the values it produces.
public enum PandasValues {
    /// pandas' default missing-value markers (`STR_NA_VALUES`), the empty field included.
    public static let missingValueMarkers: Set<String> = [
        "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
        "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
    ]

    private static let markerBytes: [[UInt8]] = missingValueMarkers.map { Array($0.utf8) }

    /// Whether pandas reads the field `bytes` as missing (NaN).
    public static func isMissing(_ bytes: UnsafeRawBufferPointer) -> Bool {
        if bytes.count > 8 { return false }
        for marker in markerBytes where marker.count == bytes.count {
            if marker.elementsEqual(bytes) { return true }
        }
        return false
    }

    // MARK: Grammars

    /// A field that pandas can read as a number.
    public enum Number: Equatable, Sendable {
        /// An integer (pandas' `str_to_int64` grammar): its canonical decimal digits with sign,
        /// its value when it fits in 64 bits, and the float64 pandas reads from the same text in
        /// a float column (`-0` is -0.0 there).
        case integer(decimal: String, value: Int64?, double: Double)
        /// A floating-point number (pandas' `xstrtod` grammar, or inf/infinity).
        case real(Double)

        /// The value as a float64, as pandas converts an integer column that has missing values.
        public var doubleValue: Double {
            switch self {
            case .integer(_, _, let double): return double
            case .real(let value): return value
            }
        }
    }

    /// The number pandas reads from `bytes`, or nil when the field is not numeric.
    public static func number(_ bytes: UnsafeRawBufferPointer) -> Number? {
        if let integer = integer(bytes) { return integer }
        if let real = real(bytes) { return .real(real) }
        return nil
    }

    /// pandas' boolean grammar: `true` or `false` in any letter case, nothing else.
    public static func boolean(_ bytes: UnsafeRawBufferPointer) -> Bool? {
        func matches(_ word: StaticString) -> Bool {
            guard bytes.count == word.utf8CodeUnitCount else { return false }
            let letters = UnsafeRawBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount)
            for (byte, letter) in zip(bytes, letters) where byte | 0x20 != letter { return false }
            return true
        }
        if matches("true") { return true }
        if matches("false") { return false }
        return nil
    }

    @inline(__always)
    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || (byte >= 0x09 && byte <= 0x0D)
    }

    @inline(__always)
    private static func isDigit(_ byte: UInt8) -> Bool {
        byte >= 0x30 && byte <= 0x39
    }

    /// `[space]* [+-]? digit+ [space]*`.
    private static func integer(_ bytes: UnsafeRawBufferPointer) -> Number? {
        var start = 0
        var end = bytes.count
        while start < end && isSpace(bytes[start]) { start += 1 }
        while end > start && isSpace(bytes[end - 1]) { end -= 1 }
        var negative = false
        if start < end && (bytes[start] == 0x2D || bytes[start] == 0x2B) {
            negative = bytes[start] == 0x2D
            start += 1
        }
        guard start < end else { return nil }
        for index in start..<end where !isDigit(bytes[index]) { return nil }
        while start < end - 1 && bytes[start] == 0x30 { start += 1 }
        var digits = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
        let double = Double(digits) ?? .nan
        if negative && digits != "0" { digits = "-" + digits }
        return .integer(decimal: digits, value: Int64(digits), double: negative ? -double : double)
    }

    /// `[space]* [+-]? (digit+ [. digit*] | . digit+) ([eE] [+-]? digit+)? [space]*`, or
    /// `[+-]? inf | infinity` in any letter case.
    private static func real(_ bytes: UnsafeRawBufferPointer) -> Double? {
        var start = 0
        var end = bytes.count
        while start < end && isSpace(bytes[start]) { start += 1 }
        while end > start && isSpace(bytes[end - 1]) { end -= 1 }
        var index = start
        if index < end && (bytes[index] == 0x2D || bytes[index] == 0x2B) { index += 1 }
        var digitCount = 0
        while index < end && isDigit(bytes[index]) { index += 1; digitCount += 1 }
        if index < end && bytes[index] == 0x2E {
            index += 1
            while index < end && isDigit(bytes[index]) { index += 1; digitCount += 1 }
        }
        if digitCount > 0 {
            if index < end && (bytes[index] | 0x20) == 0x65 {
                var exponent = index + 1
                if exponent < end && (bytes[exponent] == 0x2D || bytes[exponent] == 0x2B) { exponent += 1 }
                var exponentDigits = 0
                while exponent < end && isDigit(bytes[exponent]) { exponent += 1; exponentDigits += 1 }
                if exponentDigits > 0 { index = exponent }
            }
            if index == end {
                let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
                return Double(text)
            }
        }
        // pandas' fallback compares the whole field, without trimming.
        guard bytes.count >= 3 && bytes.count <= 9 else { return nil }
        let word = String(decoding: bytes, as: UTF8.self).lowercased()
        switch word {
        case "inf", "+inf", "infinity", "+infinity": return .infinity
        case "-inf", "-infinity": return -.infinity
        default: return nil
        }
    }

    // MARK: Columns

    /// The texts Python's `str()` prints for the values of a column of fields, after pandas
    /// infers the column's type: all integers → int64 (`"7"` for `"007"`); numbers, possibly
    /// with missing values → float64 (`"3.0"`, `"1e-05"`, `"nan"`); booleans → `"True"`/`"False"`;
    /// anything else → the fields' own text, with `"nan"` for missing values.
    ///
    /// `field(i)` gives the bytes of field `i` for `i < count`.
    static func columnTexts(count: Int, field: (Int, (UnsafeRawBufferPointer) -> Void) -> Void,
                            append: (ColumnText) -> Void) {
        var missing = [Bool](repeating: false, count: count)
        var numbers = [Number?](repeating: nil, count: count)
        var booleans = [Bool?](repeating: nil, count: count)
        var anyMissing = false, anyReal = false, anyBoolean = false, anyText = false, anyNumber = false
        var integersFit = true
        for row in 0..<count {
            field(row) { bytes in
                if isMissing(bytes) {
                    missing[row] = true
                    anyMissing = true
                } else if let number = number(bytes) {
                    numbers[row] = number
                    anyNumber = true
                    switch number {
                    case .real: anyReal = true
                    case .integer(_, let value, _): if value == nil { integersFit = false }
                    }
                } else if let boolean = boolean(bytes) {
                    booleans[row] = boolean
                    anyBoolean = true
                } else {
                    anyText = true
                }
            }
        }
        let isText = anyText || (anyBoolean && anyNumber)
        for row in 0..<count {
            if missing[row] {
                append(.literal("nan"))
            } else if isText {
                append(.field(row))
            } else if let boolean = booleans[row] {
                append(.literal(boolean ? "True" : "False"))
            } else if let number = numbers[row] {
                switch number {
                case .integer(let decimal, let value, let double):
                    if anyReal {
                        // The whole column is parsed as floats: "-0" is -0.0.
                        append(.literal(pythonRepr(double)))
                    } else if anyMissing && integersFit, let value {
                        // Parsed as integers, then cast to float64 for the missing values.
                        append(.literal(pythonRepr(Double(value))))
                    } else {
                        append(.literal(decimal))
                    }
                case .real(let value):
                    append(.literal(pythonRepr(value)))
                }
            } else {
                append(.field(row))
            }
        }
    }

    /// One value's text in `columnTexts`: the field's own bytes, or a text made for it.
    enum ColumnText {
        case field(Int)
        case literal(String)
    }

    // MARK: Printing floats

    /// Python's `repr(float)` (and `str`): the shortest digits that round-trip, in fixed
    /// notation when the decimal exponent is in -4 ..< 16, else in exponent notation
    /// (`1e+16`, `1.5e-05`); `inf`, `-inf`, `nan`.
    public static func pythonRepr(_ value: Double) -> String {
        if value.isNaN { return "nan" }
        if value.isInfinite { return value < 0 ? "-inf" : "inf" }
        let sign = value.sign == .minus ? "-" : ""
        if value == 0 { return sign + "0.0" }
        // Swift's description gives the same shortest round-trip digits; only the layout differs.
        let description = abs(value).description
        var mantissa = Substring(description)
        var exponent = 0
        if let e = description.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            mantissa = description[..<e]
            exponent = Int(description[description.index(after: e)...]) ?? 0
        }
        var digits = ""
        var integerDigits = 0
        var seenPoint = false
        for character in mantissa {
            if character == "." { seenPoint = true; continue }
            digits.append(character)
            if !seenPoint { integerDigits += 1 }
        }
        // value = 0.DIGITS × 10^point
        var point = integerDigits + exponent
        while digits.hasPrefix("0") && digits.count > 1 {
            digits.removeFirst()
            point -= 1
        }
        while digits.hasSuffix("0") && digits.count > 1 { digits.removeLast() }
        let count = digits.count
        if point > -4 && point <= 16 {
            if point <= 0 {
                return sign + "0." + String(repeating: "0", count: -point) + digits
            } else if point >= count {
                return sign + digits + String(repeating: "0", count: point - count) + ".0"
            } else {
                let split = digits.index(digits.startIndex, offsetBy: point)
                return sign + digits[..<split] + "." + digits[split...]
            }
        }
        let first = digits.prefix(1)
        let rest = digits.dropFirst()
        let power = point - 1
        let powerText = String(abs(power))
        let paddedPower = powerText.count < 2 ? "0" + powerText : powerText
        return sign + first + (rest.isEmpty ? "" : "." + rest) + "e" + (power < 0 ? "-" : "+") + paddedPower
    }
}
