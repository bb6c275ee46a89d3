import FoundationEssentials

// MARK: - NumPy arrays

/// The contents of a NumPy `.npy` file.
public enum NumPyArray: Sendable, Equatable {
    /// A unicode string array (`<U`/`>U` dtypes), elements in row-major order.
    case strings([String], shape: [Int])
    /// A numeric or boolean array; a Fortran-order file gives a column-major view.
    case numeric(TensorRecord)

    /// The array's shape.
    public var shape: [Int] {
        switch self {
        case .strings(_, let shape): shape
        case .numeric(let record): record.shape
        }
    }
}

// MARK: - .npy files

/// NumPy `.npy` files (format versions 1.0, 2.0 and 3.0): unicode string arrays and numeric
/// arrays of the `ElementType`s in either byte order. Object arrays (pickled Python objects) are
/// refused with an explanation.
public enum NumPyFile {
    static let readAction = "reading the NumPy file"
    static let writeAction = "writing the NumPy file"
    private static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)

    // MARK: Loading

    /// The array in the `.npy` file at `url`.
    ///
    /// - Throws: `TorchFileError` when the file is unreadable, truncated, not a `.npy` file, or
    ///   holds a dtype other than unicode strings and the `ElementType`s (object arrays included).
    public static func load(contentsOf url: URL) throws -> NumPyArray {
        try withFileErrors(readAction, path: url.path) { try decode(try readContents(of: url)) }
    }

    /// The array of a `.npy` file held in memory.
    public static func load(data: Data) throws -> NumPyArray {
        try withFileErrors(readAction, path: nil) { try decode(data) }
    }

    private static func decode(_ data: Data) throws -> NumPyArray {
        try data.withUnsafeBytes { bytes in
            var reader = ByteReader(bytes)
            guard bytes.count >= 8, Array(bytes[0 ..< 6]) == magic else {
                throw FormatFailure("the file does not start with the .npy magic string \\x93NUMPY", at: 0)
            }
            reader.position = 6
            let major = try reader.readByte("the format version")
            _ = try reader.readByte("the format version")
            let headerLength: Int
            switch major {
            case 1: headerLength = Int(try reader.read(UInt16.self, "the header length"))
            case 2, 3: headerLength = Int(try reader.read(UInt32.self, "the header length"))
            default: throw FormatFailure(".npy format version \(major) is not supported (only 1, 2 and 3)", at: 6)
            }
            let headerStart = reader.position
            let headerBytes = try reader.readSlice(headerLength, "the header")
            let header = major == 3 ? String(bytes: headerBytes, encoding: .utf8)
                                    : String(bytes: headerBytes, encoding: .isoLatin1)
            guard let header else { throw FormatFailure("the header is not text", at: headerStart) }
            var parser = HeaderParser(header, fileOffset: headerStart)
            let fields = try parser.parseDictionary()
            guard case .string(let descr)? = fields["descr"] else {
                throw FormatFailure("the header has no descr string (a structured array?); only plain dtypes are supported",
                                    at: headerStart)
            }
            guard case .bool(let fortranOrder)? = fields["fortran_order"] else {
                throw FormatFailure("the header has no fortran_order flag", at: headerStart)
            }
            guard case .tuple(let shapeValues)? = fields["shape"] else {
                throw FormatFailure("the header has no shape tuple", at: headerStart)
            }
            var shape: [Int] = []
            for value in shapeValues {
                guard case .int(let size) = value, size >= 0 else {
                    throw FormatFailure("the shape holds something other than non-negative integers", at: headerStart)
                }
                shape.append(size)
            }
            return try decodeArray(descr: descr, fortranOrder: fortranOrder, shape: shape, reader: &reader,
                                   headerStart: headerStart)
        }
    }

    private static func decodeArray(descr: String, fortranOrder: Bool, shape: [Int], reader: inout ByteReader,
                                    headerStart: Int) throws -> NumPyArray {
        guard let count = TensorRecord.elementCount(of: shape) else {
            throw FormatFailure("the shape \(shape) has too many elements", at: headerStart)
        }
        let characters = Array(descr)
        guard characters.count >= 2, "<>|=".contains(characters[0]) else {
            throw FormatFailure("the dtype \(descr) is not a plain NumPy dtype", at: headerStart)
        }
        let bigEndian = characters[0] == ">"
        let kind = characters[1]
        let sizeText = String(characters[2...])
        if kind == "O" {
            throw FormatFailure("the array holds Python objects (dtype \(descr)), which .npy stores as a pickle that only "
                                + "Python can run; re-save it as a unicode array with np.save(path, array.astype(str))",
                                at: headerStart)
        }
        guard let itemSize = Int(sizeText), itemSize > 0 else {
            throw FormatFailure("the dtype \(descr) is not supported", at: headerStart)
        }
        let dataStart = reader.position
        guard let itemBytes = kind == "U" ? checkedProduct(itemSize, 4) : itemSize,
              let byteCount = checkedProduct(count, itemBytes), byteCount <= reader.remaining else {
            throw FormatFailure("the array of shape \(shape) and dtype \(descr) needs more bytes than the "
                                + "\(reader.remaining) that follow the header; the file is truncated", at: dataStart)
        }
        let data = try reader.readSlice(byteCount, "the array data")

        if kind == "U" {
            var strings: [String] = []
            strings.reserveCapacity(count)
            for index in 0 ..< count {
                var scalars = String.UnicodeScalarView()
                for character in 0 ..< itemSize {
                    let raw = data.loadUnaligned(fromByteOffset: (index * itemSize + character) * 4, as: UInt32.self)
                    let value = bigEndian ? UInt32(bigEndian: raw) : UInt32(littleEndian: raw)
                    guard let scalar = Unicode.Scalar(value) else {
                        throw FormatFailure("string \(index) holds 0x\(hexadecimal(value, digits: 1)), which is not a Unicode character",
                                            at: dataStart + (index * itemSize + character) * 4)
                    }
                    scalars.append(scalar)
                }
                // NumPy pads strings with NUL characters and drops trailing ones when reading.
                while scalars.last == "\0" { scalars.removeLast() }
                strings.append(String(scalars))
            }
            if fortranOrder && shape.count > 1 {
                strings = reorderColumnMajor(strings, shape: shape)
            }
            return .strings(strings, shape: shape)
        }

        guard let elementType = ElementType(numpyKind: kind, itemSize: itemSize) else {
            throw FormatFailure("the dtype \(descr) is not supported (supported: float16/32/64, int8/16/32/64, uint8, "
                                + "bool, unicode strings)", at: headerStart)
        }
        var contents = data.copiedBytes()
        if bigEndian { swapByteOrder(&contents, elementSize: itemSize) }
        let storage = Storage(key: "", elementType: elementType, location: "cpu", elementCount: count, bytes: contents)
        var strides = TensorRecord.contiguousStrides(for: shape)
        if fortranOrder {
            var step = 1
            for dimension in shape.indices {
                strides[dimension] = step
                step = step &* max(shape[dimension], 1)
            }
        }
        return .numeric(TensorRecord(unchecked: storage, elementType: elementType, shape: shape, strides: strides,
                                     storageOffset: 0, requiresGrad: false, isParameter: false))
    }

    /// Column-major `elements` in row-major order.
    private static func reorderColumnMajor(_ elements: [String], shape: [Int]) -> [String] {
        var columnStrides = [Int](repeating: 1, count: shape.count)
        for dimension in shape.indices.dropFirst() {
            columnStrides[dimension] = columnStrides[dimension - 1] &* shape[dimension - 1]
        }
        var result: [String] = []
        result.reserveCapacity(elements.count)
        var index = [Int](repeating: 0, count: shape.count)
        for _ in 0 ..< elements.count {
            let source = zip(index, columnStrides).reduce(0) { $0 + $1.0 * $1.1 }
            result.append(elements[source])
            var dimension = shape.count - 1
            while dimension >= 0 {
                index[dimension] += 1
                if index[dimension] < shape[dimension] { break }
                index[dimension] = 0
                dimension -= 1
            }
        }
        return result
    }

    // MARK: Saving

    /// Writes `array` to `url` as a `.npy` file (little-endian, row-major), replacing any file
    /// there atomically.
    ///
    /// - Throws: `TorchFileError` when the element type has no NumPy equivalent (`bfloat16`), the
    ///   strings do not match the shape, or the file cannot be written.
    public static func save(_ array: NumPyArray, to url: URL) throws {
        try withFileErrors(writeAction, path: url.path) {
            let descr: String
            var data: [UInt8]
            switch array {
            case .strings(let strings, let shape):
                guard TensorRecord.elementCount(of: shape) == strings.count else {
                    throw FormatFailure("\(strings.count) strings do not fill the shape \(shape)")
                }
                let width = max(1, strings.map { $0.unicodeScalars.count }.max() ?? 1)
                descr = "<U\(width)"
                data = []
                data.reserveCapacity(strings.count * width * 4)
                for string in strings {
                    for scalar in string.unicodeScalars { data.appendLittleEndian(scalar.value) }
                    data += [UInt8](repeating: 0, count: (width - string.unicodeScalars.count) * 4)
                }
            case .numeric(let record):
                guard let description = record.elementType.numpyDescription else {
                    throw FormatFailure("NumPy has no \(record.elementType) type")
                }
                descr = description
                data = try record.contiguousBytes()
            }
            let shape = array.shape
            let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
            let dictionary = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shapeText), }"
            // Padded with spaces and ended with a newline so that the data starts on a 64-byte
            // boundary; version 2.0 only when the header is too long for version 1.0's 2-byte length.
            func paddedHeader(prefixLength: Int) -> [UInt8] {
                let unpadded = prefixLength + dictionary.utf8.count + 1
                return Array((dictionary + String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n").utf8)
            }
            var version: UInt8 = 1
            var header = paddedHeader(prefixLength: magic.count + 4)
            if header.count > Int(UInt16.max) {
                version = 2
                header = paddedHeader(prefixLength: magic.count + 6)
            }
            var bytes = magic + [version, 0]
            if version == 1 {
                bytes.appendLittleEndian(UInt16(header.count))
            } else {
                bytes.appendLittleEndian(UInt32(header.count))
            }
            bytes += header
            let output = try OutputFile(destination: url)
            try output.write(bytes)
            try output.write(data)
            try output.commit()
        }
    }
}

// MARK: - Header parsing

/// Parses the Python literal of a `.npy` header: a dict with string keys whose values are
/// strings, booleans, integers, tuples and lists.
private struct HeaderParser {
    enum Value {
        case string(String)
        case bool(Bool)
        case int(Int)
        case none
        case tuple([Value])
    }

    private let characters: [Character]
    private var index = 0
    private let fileOffset: Int
    private static let maximumDepth = 16

    init(_ text: String, fileOffset: Int) {
        characters = Array(text)
        self.fileOffset = fileOffset
    }

    private func failure(_ message: String) -> FormatFailure {
        FormatFailure("the header is not a valid Python dict literal: \(message)", at: fileOffset)
    }

    private mutating func skipSpace() {
        while index < characters.count, characters[index].isWhitespace { index += 1 }
    }

    private mutating func expect(_ character: Character) throws {
        skipSpace()
        guard index < characters.count, characters[index] == character else { throw failure("expected \"\(character)\"") }
        index += 1
    }

    private mutating func peek() -> Character? {
        skipSpace()
        return index < characters.count ? characters[index] : nil
    }

    mutating func parseDictionary() throws -> [String: Value] {
        try expect("{")
        var result: [String: Value] = [:]
        while peek() != "}" {
            guard case .string(let key) = try parseValue(depth: 1) else { throw failure("a key is not a string") }
            try expect(":")
            result[key] = try parseValue(depth: 1)
            if peek() == "," { index += 1 } else { break }
        }
        try expect("}")
        return result
    }

    private mutating func parseValue(depth: Int) throws -> Value {
        guard depth < HeaderParser.maximumDepth else { throw failure("too deeply nested") }
        guard let first = peek() else { throw failure("it ends early") }
        switch first {
        case "'", "\"":
            index += 1
            var text = ""
            while index < characters.count, characters[index] != first {
                text.append(characters[index])
                index += 1
            }
            guard index < characters.count else { throw failure("a string is not closed") }
            index += 1
            return .string(text)
        case "(", "[":
            index += 1
            let closing: Character = first == "(" ? ")" : "]"
            var elements: [Value] = []
            while peek() != closing {
                elements.append(try parseValue(depth: depth + 1))
                if peek() == "," { index += 1 } else { break }
            }
            try expect(closing)
            if first == "[" { throw failure("lists (structured dtypes) are not supported") }
            return .tuple(elements)
        case "{":
            throw failure("nested dicts (structured dtypes) are not supported")
        default:
            var word = ""
            while index < characters.count, characters[index].isLetter || characters[index].isNumber
                || characters[index] == "-" || characters[index] == "_" {
                word.append(characters[index])
                index += 1
            }
            switch word {
            case "True": return .bool(true)
            case "False": return .bool(false)
            case "None": return .none
            default:
                let digits = word.hasSuffix("L") ? String(word.dropLast()) : word
                guard let number = Int(digits) else { throw failure("\"\(word.prefix(30))\" is not a value") }
                return .int(number)
            }
        }
    }
}
