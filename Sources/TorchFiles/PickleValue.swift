// MARK: - Pickle values

/// The data a PyTorch checkpoint holds: Python's plain values and containers, and tensors.
///
/// This is all a checkpoint may contain here; anything else in a file (a Python class, a
/// function) is refused when loading, and nothing is ever executed.
///
/// Python `set`s and `frozenset`s load as lists, `torch.Size` as a tuple, `torch.device` and
/// dtypes as strings (`"cuda:0"`, `"torch.float32"`), and a bare storage as a one-dimensional
/// tensor over it. Attributes attached to an `OrderedDict` (the `_metadata` of a state_dict) are
/// not kept.
public enum PickleValue: Sendable {
    /// Python's `None`.
    case none
    /// A `bool`.
    case bool(Bool)
    /// An `int` that fits in `Int`.
    case int(Int)
    /// An `int` outside `Int`'s range, as little-endian two's complement bytes (Python's
    /// `LONG1` encoding, shortest form); `decimalString` spells it.
    case bigInt([UInt8])
    /// A `float`.
    case float(Double)
    /// A `str`.
    case string(String)
    /// A `bytes` or `bytearray`.
    case bytes([UInt8])
    /// A `list` (also what a `set` loads as).
    case list([PickleValue])
    /// A `tuple` (also what a `torch.Size` loads as).
    case tuple([PickleValue])
    /// A `dict`, or with `ordered` a `collections.OrderedDict` (what `state_dict()` returns);
    /// entries in insertion order either way.
    case dict([(key: PickleValue, value: PickleValue)], ordered: Bool = false)
    /// A tensor (or `nn.Parameter`).
    case tensor(TensorRecord)

    /// An `OrderedDict` of named tensors, as `module.state_dict()` is.
    public static func stateDict(_ tensors: [(name: String, tensor: TensorRecord)]) -> PickleValue {
        .dict(tensors.map { (key: .string($0.name), value: .tensor($0.tensor)) }, ordered: true)
    }

    // MARK: Accessors

    /// The entries of a `dict` or `OrderedDict`, in order.
    public var asDict: [(key: PickleValue, value: PickleValue)]? {
        if case .dict(let entries, _) = self { return entries }
        return nil
    }

    /// The elements of a `list` or `tuple`.
    public var asList: [PickleValue]? {
        switch self {
        case .list(let elements), .tuple(let elements): return elements
        default: return nil
        }
    }

    /// The value of an `int` that fits in `Int`.
    public var asInt: Int? {
        if case .int(let value) = self { return value }
        return nil
    }

    /// The value of a `float`, or of an `int` as a `Double`.
    public var asDouble: Double? {
        switch self {
        case .float(let value): return value
        case .int(let value): return Double(value)
        default: return nil
        }
    }

    /// The value of a `bool`.
    public var asBool: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    /// The value of a `str`.
    public var asString: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// The value of a `bytes`.
    public var asBytes: [UInt8]? {
        if case .bytes(let value) = self { return value }
        return nil
    }

    /// The tensor, if this is one.
    public var asTensor: TensorRecord? {
        if case .tensor(let value) = self { return value }
        return nil
    }

    /// Whether this is `None`.
    public var isNone: Bool {
        if case .none = self { return true }
        return false
    }

    /// The named tensors of a dict whose keys are all strings and values all tensors (a
    /// state_dict), in order; `nil` for anything else.
    public var asTensorDictionary: [(name: String, tensor: TensorRecord)]? {
        guard let entries = asDict else { return nil }
        var tensors: [(name: String, tensor: TensorRecord)] = []
        tensors.reserveCapacity(entries.count)
        for entry in entries {
            guard let name = entry.key.asString, let tensor = entry.value.asTensor else { return nil }
            tensors.append((name, tensor))
        }
        return tensors
    }

    /// The value stored under the string `key` in a dict (the first such entry).
    public subscript(key: String) -> PickleValue? {
        asDict?.first(where: { $0.key.asString == key })?.value
    }

    /// The value stored under `key` in a dict (the first such entry), for non-string keys such as
    /// an optimizer state's parameter indices.
    public subscript(key key: PickleValue) -> PickleValue? {
        asDict?.first(where: { $0.key == key })?.value
    }

    /// The element at `index` of a list or tuple, or `nil` when out of range.
    public subscript(index: Int) -> PickleValue? {
        guard let elements = asList, elements.indices.contains(index) else { return nil }
        return elements[index]
    }

    /// The decimal spelling of an `int` or `bigInt`, as Python's `str()` gives it.
    public var decimalString: String? {
        switch self {
        case .int(let value): return String(value)
        case .bigInt(let bytes): return BigInteger.decimalString(littleEndianTwosComplement: bytes)
        default: return nil
        }
    }
}

// MARK: - Equality

extension PickleValue: Equatable {
    /// Structural equality: containers element by element (a dict and an `OrderedDict` differ),
    /// floats by bit pattern (so that a NaN equals itself and 0.0 differs from -0.0), tensors as
    /// `TensorRecord` compares them (element type, shape, flags and elements).
    public static func == (lhs: PickleValue, rhs: PickleValue) -> Bool {
        switch (lhs, rhs) {
        case (.none, .none): return true
        case (.bool(let a), .bool(let b)): return a == b
        case (.int(let a), .int(let b)): return a == b
        case (.bigInt(let a), .bigInt(let b)): return BigInteger.shortest(a) == BigInteger.shortest(b)
        case (.float(let a), .float(let b)): return a.bitPattern == b.bitPattern
        case (.string(let a), .string(let b)): return a == b
        case (.bytes(let a), .bytes(let b)): return a == b
        case (.list(let a), .list(let b)), (.tuple(let a), .tuple(let b)): return a == b
        case (.dict(let a, let aOrdered), .dict(let b, let bOrdered)):
            return aOrdered == bOrdered && a.count == b.count
                && zip(a, b).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        case (.tensor(let a), .tensor(let b)): return a == b
        default: return false
        }
    }
}

// MARK: - Description

extension PickleValue: CustomStringConvertible {
    /// A Python-like rendering, with tensors summarised (`tensor(float32, shape: [3])`).
    public var description: String {
        switch self {
        case .none: return "None"
        case .bool(let value): return value ? "True" : "False"
        case .int(let value): return String(value)
        case .bigInt: return decimalString ?? "?"
        case .float(let value): return String(value)
        case .string(let value): return "'\(value)'"
        case .bytes(let value): return "b<\(value.count) bytes>"
        case .list(let elements): return "[" + elements.map(\.description).joined(separator: ", ") + "]"
        case .tuple(let elements):
            return "(" + elements.map(\.description).joined(separator: ", ") + (elements.count == 1 ? ",)" : ")")
        case .dict(let entries, let ordered):
            let body = entries.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
            return ordered ? "OrderedDict({\(body)})" : "{\(body)}"
        case .tensor(let record): return record.description
        }
    }
}

// MARK: - Literals

extension PickleValue: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral,
    ExpressibleByDictionaryLiteral {
    /// `nil` is `None`.
    public init(nilLiteral: ()) { self = .none }
    /// A `bool`.
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    /// An `int`.
    public init(integerLiteral value: Int) { self = .int(value) }
    /// A `float`.
    public init(floatLiteral value: Double) { self = .float(value) }
    /// A `str`.
    public init(stringLiteral value: String) { self = .string(value) }
    /// A `list`.
    public init(arrayLiteral elements: PickleValue...) { self = .list(elements) }
    /// A plain `dict`, in the literal's order.
    public init(dictionaryLiteral elements: (PickleValue, PickleValue)...) {
        self = .dict(elements.map { (key: $0.0, value: $0.1) })
    }
}

// MARK: - Integers beyond Int

/// Arithmetic on Python's little-endian two's complement integer bytes.
enum BigInteger {
    /// `bytes` without redundant sign bytes at the top (an empty array is zero).
    static func shortest(_ bytes: [UInt8]) -> [UInt8] {
        var result = bytes
        while result.count > 1 {
            let top = result[result.count - 1]
            let next = result[result.count - 2]
            if (top == 0x00 && next & 0x80 == 0) || (top == 0xFF && next & 0x80 != 0) {
                result.removeLast()
            } else {
                break
            }
        }
        if result == [0] { return [] }
        return result
    }

    /// The value as an `Int` when it fits.
    static func int(_ bytes: [UInt8]) -> Int? {
        let bytes = shortest(bytes)
        guard bytes.count <= 8 else { return nil }
        guard let top = bytes.last else { return 0 }
        var value: UInt64 = top & 0x80 != 0 ? ~0 : 0
        for byte in bytes.reversed() { value = value << 8 | UInt64(byte) }
        return Int(truncatingIfNeeded: value)
    }

    /// The shortest two's complement bytes of `value` (empty for zero).
    static func bytes(of value: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        var remaining = value
        for _ in 0..<8 {
            bytes.append(UInt8(truncatingIfNeeded: remaining))
            remaining >>= 8
        }
        return shortest(bytes)
    }

    /// The decimal spelling of two's complement `bytes`.
    static func decimalString(littleEndianTwosComplement bytes: [UInt8]) -> String {
        guard let top = bytes.last else { return "0" }
        let negative = top & 0x80 != 0
        var magnitude = bytes
        if negative {
            var carry = 1
            for index in magnitude.indices {
                let sum = Int(~magnitude[index]) + carry
                magnitude[index] = UInt8(truncatingIfNeeded: sum)
                carry = sum >> 8
            }
        }
        var number = Array(magnitude.reversed()) // most significant first
        var digits: [Character] = []
        while let first = number.firstIndex(where: { $0 != 0 }) {
            number.removeFirst(first)
            var remainder = 0
            for index in number.indices {
                let current = remainder * 256 + Int(number[index])
                number[index] = UInt8(current / 10)
                remainder = current % 10
            }
            digits.append(Character(String(remainder)))
        }
        if digits.isEmpty { return "0" }
        return (negative ? "-" : "") + String(digits.reversed())
    }

    /// The two's complement bytes of a decimal spelling (optional sign, digits), or `nil` when it
    /// is not one.
    static func bytes(decimal text: Substring) -> [UInt8]? {
        var digits = text
        var negative = false
        if digits.first == "-" || digits.first == "+" {
            negative = digits.first == "-"
            digits = digits.dropFirst()
        }
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        var magnitude: [UInt8] = [0] // little-endian
        for digit in digits {
            var carry = Int(digit.asciiValue ?? 48) - 48
            for index in magnitude.indices {
                let value = Int(magnitude[index]) * 10 + carry
                magnitude[index] = UInt8(truncatingIfNeeded: value)
                carry = value >> 8
            }
            while carry > 0 {
                magnitude.append(UInt8(truncatingIfNeeded: carry))
                carry >>= 8
            }
        }
        magnitude.append(0) // room for the sign bit
        if negative {
            var carry = 1
            for index in magnitude.indices {
                let sum = Int(~magnitude[index]) + carry
                magnitude[index] = UInt8(truncatingIfNeeded: sum)
                carry = sum >> 8
            }
        }
        return shortest(magnitude)
    }
}
