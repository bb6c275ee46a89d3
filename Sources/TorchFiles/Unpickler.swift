import FoundationEssentials
import POSIX

// MARK: - Limits

/// Bounds that keep a hostile pickle from exhausting the stack, memory or time.
struct PickleLimits {
    /// The deepest nesting of containers accepted (PyTorch's own pickler cannot write much deeper
    /// than Python's recursion limit of 1000; checkpoints nest a handful of levels).
    var maximumDepth = 200
    /// The most values the result may hold when shared references are counted every time they
    /// occur, so that a consumer walking the result does bounded work.
    var maximumExpandedValueCount = 10_000_000
    /// The longest integer accepted, in bytes.
    var maximumIntegerByteCount = 4096
    /// The most container elements that may be copied while rebuilding objects (a `set` or an
    /// `OrderedDict` built from a list copies it), beyond what the pickle itself spells out.
    var copyBudget = 1 << 24
}

// MARK: - Storage references

/// What a pickle's persistent id (`BINPERSID`) names: a storage of the checkpoint.
struct StorageReference {
    /// The type of the storage class named (`torch.FloatStorage` is `float32`).
    var elementType: ElementType
    /// The storage's key in the file.
    var key: String
    /// Where the storage lived (`"cpu"`, `"cuda:0"`).
    var location: String
    /// The storage's size in elements.
    var elementCount: Int
    /// For legacy checkpoints: a view of the storage as a storage of its own (key, offset and size
    /// in elements).
    var view: (key: String, offset: Int, elementCount: Int)?
}

// MARK: - Known globals

/// The Python objects a checkpoint may name. Nothing else is accepted, and none of these is run:
/// each has a fixed meaning in terms of `PickleValue`.
enum PickleGlobal: Equatable {
    case orderedDict
    case rebuildTensor
    case rebuildTensorV2
    case rebuildTensorV3
    case rebuildParameter
    case rebuildParameterWithState
    case rebuildFromTypeV2
    case parameter
    case tensorClass
    case size
    case device
    case layout
    case codecsEncode
    case bytes
    case bytearray
    case set
    case frozenset
    case storageType(ElementType)
    case dtype(ElementType)

    /// The object named `module.name`, after Python 2 names are mapped to Python 3 ones.
    init?(module: String, name: String) {
        let module = ["__builtin__": "builtins", "torch.tensor": "torch._tensor"][module] ?? module
        switch (module, name) {
        case ("collections", "OrderedDict"): self = .orderedDict
        case ("torch._utils", "_rebuild_tensor"): self = .rebuildTensor
        case ("torch._utils", "_rebuild_tensor_v2"): self = .rebuildTensorV2
        case ("torch._utils", "_rebuild_tensor_v3"): self = .rebuildTensorV3
        case ("torch._utils", "_rebuild_parameter"): self = .rebuildParameter
        case ("torch._utils", "_rebuild_parameter_with_state"): self = .rebuildParameterWithState
        case ("torch._tensor", "_rebuild_from_type_v2"): self = .rebuildFromTypeV2
        case ("torch.nn.parameter", "Parameter"): self = .parameter
        case ("torch", "Tensor"): self = .tensorClass
        case ("torch", "Size"): self = .size
        case ("torch", "device"): self = .device
        case ("torch.serialization", "_get_layout"): self = .layout
        case ("_codecs", "encode"): self = .codecsEncode
        case ("builtins", "bytes"): self = .bytes
        case ("builtins", "bytearray"): self = .bytearray
        case ("builtins", "set"): self = .set
        case ("builtins", "frozenset"): self = .frozenset
        case ("torch", "UntypedStorage"), ("torch.storage", "UntypedStorage"): self = .storageType(.uint8)
        case ("torch", _), ("torch.cuda", _):
            if let type = ElementType(storageClassName: name) {
                self = .storageType(type)
            } else if module == "torch", let type = ElementType(rawValue: name) {
                self = .dtype(type)
            } else {
                return nil
            }
        default: return nil
        }
    }

    /// Whether the object rebuilds a tensor (and so may be the function `_rebuild_from_type_v2`
    /// applies).
    var rebuildsTensor: Bool {
        switch self {
        case .rebuildTensor, .rebuildTensorV2, .rebuildTensorV3, .rebuildParameter, .rebuildParameterWithState: true
        default: false
        }
    }

    /// The object's Python name, for messages.
    var pythonName: String {
        switch self {
        case .orderedDict: "collections.OrderedDict"
        case .rebuildTensor: "torch._utils._rebuild_tensor"
        case .rebuildTensorV2: "torch._utils._rebuild_tensor_v2"
        case .rebuildTensorV3: "torch._utils._rebuild_tensor_v3"
        case .rebuildParameter: "torch._utils._rebuild_parameter"
        case .rebuildParameterWithState: "torch._utils._rebuild_parameter_with_state"
        case .rebuildFromTypeV2: "torch._tensor._rebuild_from_type_v2"
        case .parameter: "torch.nn.parameter.Parameter"
        case .tensorClass: "torch.Tensor"
        case .size: "torch.Size"
        case .device: "torch.device"
        case .layout: "torch.serialization._get_layout"
        case .codecsEncode: "_codecs.encode"
        case .bytes: "builtins.bytes"
        case .bytearray: "builtins.bytearray"
        case .set: "builtins.set"
        case .frozenset: "builtins.frozenset"
        case .storageType(let type): "torch.\(type.storageClassName)"
        case .dtype(let type): "torch.\(type.rawValue)"
        }
    }
}

// MARK: - Unpickler

/// Reads one pickle (up to its `STOP`) into a `PickleValue`, understanding only the data a
/// checkpoint holds. Unlike Python's unpickler it never runs code: the globals it accepts are the
/// fixed list of `PickleGlobal`, each interpreted here.
///
/// Objects are built in an arena of nodes addressed by index, so that shared and mutated
/// containers behave as Python's do (a memoised list that is appended to later is seen complete
/// by every reference), and so that no deep chain of references can exhaust the stack when it
/// is freed. The result is converted to `PickleValue` at `STOP`, with bounded depth.
final class Unpickler {
    /// Resolves a persistent id to the storage it names; the second argument is the file offset
    /// of the `BINPERSID` for messages.
    typealias StorageResolver = (StorageReference, Int) throws -> Storage

    /// An object under construction.
    private enum Node {
        case none
        case bool(Bool)
        case int(Int)
        case bigInt([UInt8])
        case float(Double)
        case string(String)
        case bytes([UInt8])
        /// A list: its elements are `lists[index]`.
        case list(Int)
        /// A set or frozenset: its elements are `lists[index]`.
        case set(Int)
        case tuple([Int])
        /// A dict: its entries are `dicts[index]`.
        case dict(Int)
        case tensor(TensorRecord)
        case storage(Storage)
        case global(PickleGlobal)
    }

    /// A key of a dict that is compared by value, so that assigning it again replaces the entry
    /// as in Python.
    private enum ScalarKey: Hashable {
        case string(String)
        case int(Int)
    }

    /// The entries of a dict, in insertion order.
    private struct DictContents {
        var entries: [(key: Int, value: Int)] = []
        var positions: [ScalarKey: Int] = [:]
        var ordered: Bool
    }

    private var reader: ByteReader
    private let limits: PickleLimits
    private let resolveStorage: StorageResolver
    private var nodes: [Node] = []
    private var lists: [[Int]] = []
    private var dicts: [DictContents] = []
    private var stack: [Int] = []
    private var marks: [Int] = []
    private var memo: [Int: Int] = [:]
    private var copyBudget: Int
    /// Where the opcode being executed starts, relative to the reader's bytes.
    private var opcodeStart = 0

    /// An unpickler for the pickle that starts at `position` of `bytes`; `fileOffset` is where
    /// `bytes` lies in the file, for messages.
    init(bytes: UnsafeRawBufferPointer, position: Int = 0, fileOffset: Int = 0, limits: PickleLimits = PickleLimits(),
         resolveStorage: @escaping StorageResolver) {
        reader = ByteReader(bytes, position: position, fileOffset: fileOffset)
        self.limits = limits
        self.resolveStorage = resolveStorage
        copyBudget = limits.copyBudget
    }

    /// Where reading stopped: just after the `STOP` once `load()` has returned.
    var position: Int { reader.position }

    // MARK: Errors

    /// A failure at the current opcode.
    private func failure(_ message: String) -> FormatFailure {
        reader.failure(message, at: opcodeStart)
    }

    // MARK: Nodes

    @discardableResult
    private func push(_ node: Node) -> Int {
        nodes.append(node)
        stack.append(nodes.count - 1)
        return nodes.count - 1
    }

    private func add(_ node: Node) -> Int {
        nodes.append(node)
        return nodes.count - 1
    }

    private func pop(_ opcode: String) throws -> Int {
        guard stack.count > (marks.last ?? 0), let top = stack.popLast() else {
            throw failure("\(opcode) needs a value on the stack, but there is none")
        }
        return top
    }

    private func top(_ opcode: String) throws -> Int {
        guard stack.count > (marks.last ?? 0), let top = stack.last else {
            throw failure("\(opcode) needs a value on the stack, but there is none")
        }
        return top
    }

    /// The values pushed since the last `MARK`, removed with the mark.
    private func popMark(_ opcode: String) throws -> [Int] {
        guard let mark = marks.popLast() else { throw failure("\(opcode) needs a MARK, but there is none") }
        let items = Array(stack[mark...])
        stack.removeSubrange(mark...)
        return items
    }

    /// Spends `count` units of the copy budget.
    private func spend(_ count: Int) throws {
        copyBudget -= count
        guard copyBudget >= 0 else {
            throw failure("the pickle copies more than \(limits.copyBudget) values while rebuilding objects")
        }
    }

    private func kind(_ index: Int) -> String {
        switch nodes[index] {
        case .none: "None"
        case .bool: "a bool"
        case .int, .bigInt: "an int"
        case .float: "a float"
        case .string: "a str"
        case .bytes: "a bytes"
        case .list: "a list"
        case .set: "a set"
        case .tuple: "a tuple"
        case .dict: "a dict"
        case .tensor: "a tensor"
        case .storage: "a storage"
        case .global(let global): global.pythonName
        }
    }

    // MARK: Loading

    /// Reads opcodes up to `STOP` and returns the object it leaves.
    func load() throws -> PickleValue {
        while true {
            opcodeStart = reader.position
            let opcode = try reader.readByte("a pickle opcode")
            if opcode == 0x2E { // STOP
                let result = try pop("STOP")
                return try convertResult(result)
            }
            try execute(opcode)
        }
    }

    /// Runs one opcode: each group of opcodes has its own method, and the opcodes no group
    /// takes are refused.
    private func execute(_ opcode: UInt8) throws {
        if try executeFramingStackOrNumber(opcode) || executeStringOrConstant(opcode) || executeContainer(opcode)
            || executeMemoOrObject(opcode) {
            return
        }
        switch opcode {
        // Refused
        case 0x50: // PERSID
            throw failure("the pickle uses a text persistent id (PERSID), which PyTorch checkpoints never hold")
        case 0x69, 0x6F: // INST, OBJ
            throw failure("the pickle instantiates a Python class with INST/OBJ, which is not checkpoint data; nothing is executed")
        case 0x82, 0x83, 0x84: // EXT1, EXT2, EXT4
            throw failure("the pickle refers to Python's extension registry (EXT1/2/4), which is not checkpoint data")
        case 0x97, 0x98: // NEXT_BUFFER, READONLY_BUFFER
            throw failure("the pickle uses out-of-band buffers (protocol 5), which a file cannot supply")
        default:
            throw failure("unknown pickle opcode 0x\(hexadecimal(opcode, digits: 2)); the data is corrupt or not a pickle")
        }
    }

    /// Runs `opcode` when it is one of framing, the stack and numbers; false when it is not.
    private func executeFramingStackOrNumber(_ opcode: UInt8) throws -> Bool {
        switch opcode {
        // Framing and protocol
        case 0x80: // PROTO
            let version = try reader.readByte("the protocol version")
            guard version <= 5 else { throw failure("pickle protocol \(version) is newer than 5, the newest known") }
        case 0x95: // FRAME
            let length = try reader.read(UInt64.self, "a frame length")
            guard length <= UInt64(reader.remaining) else {
                throw failure("a frame of \(length) bytes is announced, but only \(reader.remaining) bytes follow")
            }

        // Stack manipulation
        case 0x28: // MARK
            marks.append(stack.count)
        case 0x30: // POP
            if stack.count > (marks.last ?? 0) {
                stack.removeLast()
            } else {
                _ = try popMark("POP")
            }
        case 0x31: // POP_MARK
            _ = try popMark("POP_MARK")
        case 0x32: // DUP
            stack.append(try top("DUP"))

        // Numbers
        case 0x4A: // BININT
            push(.int(Int(try reader.read(Int32.self, "a BININT"))))
        case 0x4B: // BININT1
            push(.int(Int(try reader.readByte("a BININT1"))))
        case 0x4D: // BININT2
            push(.int(Int(try reader.read(UInt16.self, "a BININT2"))))
        case 0x8A: // LONG1
            let count = Int(try reader.readByte("a LONG1 length"))
            push(integerNode(try reader.readBytes(count, "a LONG1")))
        case 0x8B: // LONG4
            let count = Int(try reader.read(Int32.self, "a LONG4 length"))
            guard count >= 0 else { throw failure("LONG4 has a negative length") }
            guard count <= limits.maximumIntegerByteCount else {
                throw failure("an integer of \(count) bytes is longer than the \(limits.maximumIntegerByteCount) accepted")
            }
            push(integerNode(try reader.readBytes(count, "a LONG4")))
        case 0x49: // INT
            let text = try textLine("INT")
            if text == "01" {
                push(.bool(true))
            } else if text == "00" {
                push(.bool(false))
            } else {
                push(try decimalNode(text, "INT"))
            }
        case 0x4C: // LONG
            var text = try textLine("LONG")
            if text.hasSuffix("L") { text.removeLast() }
            push(try decimalNode(text, "LONG"))
        case 0x47: // BINFLOAT
            push(.float(try reader.readBigEndianDouble("a BINFLOAT")))
        case 0x46: // FLOAT
            let text = try textLine("FLOAT")
            guard let value = Double(text.trimmingWhitespace()) else {
                throw failure("FLOAT holds \"\(text.prefix(40))\", which is not a number")
            }
            push(.float(value))
        default:
            return false
        }
        return true
    }

    /// Runs `opcode` when it is one of strings, bytes and constants; false when it is not.
    private func executeStringOrConstant(_ opcode: UInt8) throws -> Bool {
        switch opcode {
        // Strings and bytes
        case 0x58: // BINUNICODE
            let count = Int(try reader.read(UInt32.self, "a BINUNICODE length"))
            push(.string(try utf8String(count, "BINUNICODE")))
        case 0x8C: // SHORT_BINUNICODE
            let count = Int(try reader.readByte("a SHORT_BINUNICODE length"))
            push(.string(try utf8String(count, "SHORT_BINUNICODE")))
        case 0x8D: // BINUNICODE8
            let count = try byteCount(try reader.read(UInt64.self, "a BINUNICODE8 length"), "BINUNICODE8")
            push(.string(try utf8String(count, "BINUNICODE8")))
        case 0x56: // UNICODE
            push(.string(try rawUnicodeEscapeLine()))
        case 0x54: // BINSTRING
            let count = Int(try reader.read(Int32.self, "a BINSTRING length"))
            guard count >= 0 else { throw failure("BINSTRING has a negative length") }
            push(python2String(try reader.readBytes(count, "a BINSTRING")))
        case 0x55: // SHORT_BINSTRING
            let count = Int(try reader.readByte("a SHORT_BINSTRING length"))
            push(python2String(try reader.readBytes(count, "a SHORT_BINSTRING")))
        case 0x53: // STRING
            push(python2String(try quotedStringLine()))
        case 0x42: // BINBYTES
            let count = Int(try reader.read(UInt32.self, "a BINBYTES length"))
            push(.bytes(try reader.readSlice(count, "a BINBYTES").copiedBytes()))
        case 0x43: // SHORT_BINBYTES
            let count = Int(try reader.readByte("a SHORT_BINBYTES length"))
            push(.bytes(try reader.readBytes(count, "a SHORT_BINBYTES")))
        case 0x8E, 0x96: // BINBYTES8, BYTEARRAY8
            let count = try byteCount(try reader.read(UInt64.self, "a BINBYTES8 length"), "BINBYTES8")
            push(.bytes(try reader.readSlice(count, "a BINBYTES8").copiedBytes()))

        // Constants
        case 0x4E: // NONE
            push(.none)
        case 0x88: // NEWTRUE
            push(.bool(true))
        case 0x89: // NEWFALSE
            push(.bool(false))
        default:
            return false
        }
        return true
    }

    /// Runs `opcode` when it is one of lists, tuples, dicts and sets; false when it is not.
    private func executeContainer(_ opcode: UInt8) throws -> Bool {
        switch opcode {
        // Lists
        case 0x5D: // EMPTY_LIST
            lists.append([])
            push(.list(lists.count - 1))
        case 0x6C: // LIST
            let items = try popMark("LIST")
            lists.append(items)
            push(.list(lists.count - 1))
        case 0x61: // APPEND
            let item = try pop("APPEND")
            try appendItems([item], to: try top("APPEND"), "APPEND")
        case 0x65: // APPENDS
            let items = try popMark("APPENDS")
            try appendItems(items, to: try top("APPENDS"), "APPENDS")

        // Tuples
        case 0x29: // EMPTY_TUPLE
            push(.tuple([]))
        case 0x74: // TUPLE
            push(.tuple(try popMark("TUPLE")))
        case 0x85: // TUPLE1
            let first = try pop("TUPLE1")
            push(.tuple([first]))
        case 0x86: // TUPLE2
            let second = try pop("TUPLE2")
            let first = try pop("TUPLE2")
            push(.tuple([first, second]))
        case 0x87: // TUPLE3
            let third = try pop("TUPLE3")
            let second = try pop("TUPLE3")
            let first = try pop("TUPLE3")
            push(.tuple([first, second, third]))

        // Dicts
        case 0x7D: // EMPTY_DICT
            dicts.append(DictContents(ordered: false))
            push(.dict(dicts.count - 1))
        case 0x64: // DICT
            let items = try popMark("DICT")
            dicts.append(DictContents(ordered: false))
            let dict = push(.dict(dicts.count - 1))
            try setItems(items, in: dict, "DICT")
        case 0x73: // SETITEM
            let value = try pop("SETITEM")
            let key = try pop("SETITEM")
            try setItems([key, value], in: try top("SETITEM"), "SETITEM")
        case 0x75: // SETITEMS
            let items = try popMark("SETITEMS")
            try setItems(items, in: try top("SETITEMS"), "SETITEMS")

        // Sets
        case 0x8F: // EMPTY_SET
            lists.append([])
            push(.set(lists.count - 1))
        case 0x90: // ADDITEMS
            let items = try popMark("ADDITEMS")
            let target = try top("ADDITEMS")
            guard case .set(let set) = nodes[target] else {
                throw failure("ADDITEMS adds to \(kind(target)), which is not a set")
            }
            lists[set].append(contentsOf: items)
        case 0x91: // FROZENSET
            let items = try popMark("FROZENSET")
            lists.append(items)
            push(.set(lists.count - 1))
        default:
            return false
        }
        return true
    }

    /// Runs `opcode` when it is one of the memo and objects; false when it is not.
    private func executeMemoOrObject(_ opcode: UInt8) throws -> Bool {
        switch opcode {
        // Memo
        case 0x68: // BINGET
            try get(Int(try reader.readByte("a BINGET index")))
        case 0x6A: // LONG_BINGET
            try get(Int(try reader.read(UInt32.self, "a LONG_BINGET index")))
        case 0x67: // GET
            try get(try memoIndex(try textLine("GET")))
        case 0x71: // BINPUT
            try put(Int(try reader.readByte("a BINPUT index")))
        case 0x72: // LONG_BINPUT
            try put(Int(try reader.read(UInt32.self, "a LONG_BINPUT index")))
        case 0x70: // PUT
            try put(try memoIndex(try textLine("PUT")))
        case 0x94: // MEMOIZE
            try put(memo.count)

        // Objects
        case 0x63: // GLOBAL
            let module = try textLine("GLOBAL")
            let name = try textLine("GLOBAL")
            push(.global(try resolveGlobal(module: module, name: name)))
        case 0x93: // STACK_GLOBAL
            let name = try pop("STACK_GLOBAL")
            let module = try pop("STACK_GLOBAL")
            guard case .string(let moduleName) = nodes[module], case .string(let globalName) = nodes[name] else {
                throw failure("STACK_GLOBAL needs two strings, but has \(kind(module)) and \(kind(name))")
            }
            push(.global(try resolveGlobal(module: moduleName, name: globalName)))
        case 0x52: // REDUCE
            let arguments = try pop("REDUCE")
            let callable = try top("REDUCE")
            let result = try apply(callable, to: try tupleElements(arguments, "the arguments of REDUCE"))
            stack[stack.count - 1] = result
        case 0x81: // NEWOBJ
            let arguments = try pop("NEWOBJ")
            let type = try top("NEWOBJ")
            let result = try instantiate(type, arguments: try tupleElements(arguments, "the arguments of NEWOBJ"))
            stack[stack.count - 1] = result
        case 0x92: // NEWOBJ_EX
            let keywords = try pop("NEWOBJ_EX")
            let arguments = try pop("NEWOBJ_EX")
            let type = try top("NEWOBJ_EX")
            guard case .dict(let dict) = nodes[keywords], dicts[dict].entries.isEmpty else {
                throw failure("NEWOBJ_EX passes keyword arguments to \(kind(type)), which a checkpoint never does")
            }
            let result = try instantiate(type, arguments: try tupleElements(arguments, "the arguments of NEWOBJ_EX"))
            stack[stack.count - 1] = result
        case 0x62: // BUILD
            let state = try pop("BUILD")
            let target = try top("BUILD")
            try build(target, state: state)
        case 0x51: // BINPERSID
            let identifier = try pop("BINPERSID")
            push(.storage(try storage(for: identifier)))
        default:
            return false
        }
        return true
    }

    // MARK: Scalars

    /// A text argument line (protocol 0), decoded as UTF-8.
    private func textLine(_ opcode: String) throws -> String {
        let line = try reader.readLine(maximumLength: 1 << 16, "the argument of \(opcode)")
        guard let text = String(bytes: line, encoding: .utf8) else {
            throw failure("the argument of \(opcode) is not valid text")
        }
        return text.hasSuffix("\r") ? String(text.dropLast()) : text
    }

    private func integerNode(_ bytes: [UInt8]) -> Node {
        if let value = BigInteger.int(bytes) { return .int(value) }
        return .bigInt(BigInteger.shortest(bytes))
    }

    private func decimalNode(_ text: String, _ opcode: String) throws -> Node {
        guard text.count <= limits.maximumIntegerByteCount * 3,
              let bytes = BigInteger.bytes(decimal: Substring(text.trimmingWhitespace())) else {
            throw failure("\(opcode) holds \"\(text.prefix(40))\", which is not an integer")
        }
        return integerNode(bytes)
    }

    private func memoIndex(_ text: String) throws -> Int {
        guard let index = Int(text), index >= 0 else {
            throw failure("memo index \"\(text.prefix(40))\" is not a non-negative integer")
        }
        return index
    }

    /// A length field checked to fit in the bytes that remain.
    private func byteCount(_ length: UInt64, _ opcode: String) throws -> Int {
        guard length <= UInt64(reader.remaining) else {
            throw failure("\(opcode) announces \(length) bytes, but only \(reader.remaining) follow")
        }
        return Int(length)
    }

    private func utf8String(_ count: Int, _ opcode: String) throws -> String {
        let slice = try reader.readSlice(count, "a \(opcode) string")
        guard let text = String(bytes: slice, encoding: .utf8) else {
            throw failure("the \(opcode) string is not valid UTF-8")
        }
        return text
    }

    /// A Python 2 `str`: text when it is UTF-8 (as every name in a checkpoint is), else bytes.
    private func python2String(_ bytes: [UInt8]) -> Node {
        if let text = String(bytes: bytes, encoding: .utf8) { return .string(text) }
        return .bytes(bytes)
    }

    /// The quoted Python 2 string literal of a `STRING` opcode, unescaped.
    private func quotedStringLine() throws -> [UInt8] {
        let line = [UInt8](try reader.readLine(maximumLength: 1 << 24, "the argument of STRING"))
        guard line.count >= 2, let quote = line.first, quote == 0x27 || quote == 0x22, line.last == quote else {
            throw failure("the argument of STRING is not a quoted string")
        }
        var result: [UInt8] = []
        var index = 1
        let end = line.count - 1
        while index < end {
            let byte = line[index]
            index += 1
            guard byte == 0x5C, index < end else {
                result.append(byte)
                continue
            }
            let escape = line[index]
            index += 1
            switch escape {
            case UInt8(ascii: "n"): result.append(0x0A)
            case UInt8(ascii: "r"): result.append(0x0D)
            case UInt8(ascii: "t"): result.append(0x09)
            case UInt8(ascii: "a"): result.append(0x07)
            case UInt8(ascii: "b"): result.append(0x08)
            case UInt8(ascii: "f"): result.append(0x0C)
            case UInt8(ascii: "v"): result.append(0x0B)
            case UInt8(ascii: "x"):
                guard index + 2 <= end, let value = UInt8(String(decoding: line[index ..< index + 2], as: UTF8.self), radix: 16) else {
                    throw failure("the argument of STRING has a bad \\x escape")
                }
                result.append(value)
                index += 2
            case UInt8(ascii: "0") ... UInt8(ascii: "7"):
                var value = Int(escape - UInt8(ascii: "0"))
                var digits = 1
                while digits < 3, index < end, (UInt8(ascii: "0") ... UInt8(ascii: "7")).contains(line[index]) {
                    value = value * 8 + Int(line[index] - UInt8(ascii: "0"))
                    index += 1
                    digits += 1
                }
                result.append(UInt8(truncatingIfNeeded: value))
            default: result.append(escape) // \\, \', \" and unknown escapes keep the character
            }
        }
        return result
    }

    /// The raw-unicode-escape line of a `UNICODE` opcode: Latin-1 bytes with `\uXXXX` and
    /// `\UXXXXXXXX` escapes.
    private func rawUnicodeEscapeLine() throws -> String {
        let line = [UInt8](try reader.readLine(maximumLength: 1 << 24, "the argument of UNICODE"))
        var scalars = String.UnicodeScalarView()
        var index = 0
        while index < line.count {
            let byte = line[index]
            if byte == 0x5C, index + 1 < line.count, line[index + 1] == UInt8(ascii: "u") || line[index + 1] == UInt8(ascii: "U") {
                let digits = line[index + 1] == UInt8(ascii: "u") ? 4 : 8
                guard index + 2 + digits <= line.count,
                      let value = UInt32(String(decoding: line[index + 2 ..< index + 2 + digits], as: UTF8.self), radix: 16),
                      let scalar = Unicode.Scalar(value) else {
                    throw failure("the argument of UNICODE has a bad \\u escape")
                }
                scalars.append(scalar)
                index += 2 + digits
            } else {
                scalars.append(Unicode.Scalar(byte))
                index += 1
            }
        }
        return String(scalars)
    }

    // MARK: Containers

    private func appendItems(_ items: [Int], to target: Int, _ opcode: String) throws {
        guard case .list(let list) = nodes[target] else {
            throw failure("\(opcode) appends to \(kind(target)), which is not a list")
        }
        lists[list].append(contentsOf: items)
    }

    private func setItems(_ items: [Int], in target: Int, _ opcode: String) throws {
        guard case .dict(let dict) = nodes[target] else {
            throw failure("\(opcode) sets items of \(kind(target)), which is not a dict")
        }
        guard items.count % 2 == 0 else { throw failure("\(opcode) has a key without a value") }
        for pair in stride(from: 0, to: items.count, by: 2) {
            let key = items[pair], value = items[pair + 1]
            let scalar: ScalarKey?
            switch nodes[key] {
            case .string(let text): scalar = .string(text)
            case .int(let number): scalar = .int(number)
            case .list, .dict, .set: throw failure("\(opcode) uses \(kind(key)) as a dict key, which Python cannot hash")
            default: scalar = nil
            }
            if let scalar, let position = dicts[dict].positions[scalar] {
                dicts[dict].entries[position].value = value
            } else {
                if let scalar { dicts[dict].positions[scalar] = dicts[dict].entries.count }
                dicts[dict].entries.append((key, value))
            }
        }
    }

    private func tupleElements(_ index: Int, _ what: String) throws -> [Int] {
        switch nodes[index] {
        case .tuple(let elements): return elements
        case .list(let list): return lists[list]
        default: throw failure("\(what) are \(kind(index)), not a tuple")
        }
    }

    // MARK: Memo

    private func get(_ index: Int) throws {
        guard let node = memo[index] else { throw failure("the memo has no entry \(index)") }
        stack.append(node)
    }

    private func put(_ index: Int) throws {
        memo[index] = try top("PUT")
    }

    // MARK: Globals

    private func resolveGlobal(module: String, name: String) throws -> PickleGlobal {
        if let global = PickleGlobal(module: module, name: name) { return global }
        var message = "the pickle refers to Python object \(module).\(name), which is not checkpoint data; nothing is executed"
        if module.hasPrefix("__torch__") {
            message += " (this looks like a TorchScript archive, written by torch.jit.save)"
        } else if module.hasPrefix("numpy") {
            message += " (NumPy objects in a checkpoint: save tensors or plain lists instead)"
        }
        throw failure(message)
    }

    /// Calls the known global at `callable` with `arguments` (`REDUCE`).
    private func apply(_ callable: Int, to arguments: [Int]) throws -> Int {
        guard case .global(let global) = nodes[callable] else {
            throw failure("REDUCE calls \(kind(callable)), which is not a function")
        }
        return try apply(global, to: arguments)
    }

    private func apply(_ global: PickleGlobal, to arguments: [Int]) throws -> Int {
        let name = global.pythonName
        func argumentCount(_ counts: ClosedRange<Int>) throws {
            guard counts.contains(arguments.count) else {
                throw failure("\(name) takes \(counts.lowerBound == counts.upperBound ? "\(counts.lowerBound)" : "\(counts.lowerBound) to \(counts.upperBound)") arguments, but is given \(arguments.count)")
            }
        }
        switch global {
        case .orderedDict:
            try argumentCount(0 ... 1)
            dicts.append(DictContents(ordered: true))
            let dict = add(.dict(dicts.count - 1))
            if let source = arguments.first {
                try fillDict(dict, from: source, name)
            }
            return dict
        case .rebuildTensor:
            try argumentCount(4 ... 4)
            return add(.tensor(try tensor(arguments, requiresGrad: false, elementType: nil, name)))
        case .rebuildTensorV2:
            try argumentCount(6 ... 7)
            try checkMetadata(arguments.count == 7 ? arguments[6] : nil, name)
            let requiresGrad = try bool(arguments[4], "requires_grad of \(name)")
            return add(.tensor(try tensor(arguments, requiresGrad: requiresGrad, elementType: nil, name)))
        case .rebuildTensorV3:
            try argumentCount(7 ... 8)
            try checkMetadata(arguments.count == 8 ? arguments[7] : nil, name)
            guard case .global(.dtype(let type)) = nodes[arguments[6]] else {
                throw failure("the dtype argument of \(name) is \(kind(arguments[6])), not a supported dtype")
            }
            let requiresGrad = try bool(arguments[4], "requires_grad of \(name)")
            return add(.tensor(try tensor(arguments, requiresGrad: requiresGrad, elementType: type, name)))
        case .rebuildParameter, .rebuildParameterWithState, .parameter:
            try argumentCount(global == .parameter ? 0 ... 2 : (global == .rebuildParameter ? 3 ... 3 : 4 ... 4))
            guard let data = arguments.first, case .tensor(let record) = nodes[data] else {
                throw failure("\(name) wraps \(arguments.first.map(kind) ?? "nothing"), not a tensor")
            }
            let requiresGrad = arguments.count > 1 ? try bool(arguments[1], "requires_grad of \(name)") : true
            return add(.tensor(record.with(requiresGrad: requiresGrad, isParameter: true)))
        case .rebuildFromTypeV2:
            try argumentCount(4 ... 4)
            guard case .global(let function) = nodes[arguments[0]], function.rebuildsTensor else {
                throw failure("\(name) rebuilds with \(kind(arguments[0])), not a tensor rebuild function")
            }
            guard case .global(let type) = nodes[arguments[1]], type == .tensorClass || type == .parameter else {
                throw failure("\(name) rebuilds a tensor as \(kind(arguments[1])); only torch.Tensor and nn.Parameter are checkpoint data")
            }
            let result = try apply(function, to: try tupleElements(arguments[2], "the arguments of \(name)"))
            if type == .parameter, case .tensor(let record) = nodes[result] {
                return add(.tensor(record.with(requiresGrad: record.requiresGrad, isParameter: true)))
            }
            return result
        case .size:
            try argumentCount(0 ... 1)
            guard let source = arguments.first else { return add(.tuple([])) }
            let elements = try tupleElements(source, "the sizes of torch.Size")
            try spend(elements.count)
            return add(.tuple(elements))
        case .device:
            try argumentCount(1 ... 2)
            let type = try string(arguments[0], "the device type")
            if arguments.count == 2, case .int(let index) = nodes[arguments[1]] {
                return add(.string("\(type):\(index)"))
            }
            return add(.string(type))
        case .layout:
            try argumentCount(1 ... 1)
            return add(.string(try string(arguments[0], "the layout name")))
        case .codecsEncode, .bytearray, .bytes:
            try argumentCount(0 ... 2)
            guard let source = arguments.first else { return add(.bytes([])) }
            switch nodes[source] {
            case .bytes(let bytes) where arguments.count == 1:
                return add(.bytes(bytes))
            case .string(let text) where arguments.count == 2 || global == .codecsEncode:
                let encoding = arguments.count == 2 ? try string(arguments[1], "the encoding of \(name)") : "utf-8"
                return add(.bytes(try encode(text, encoding: encoding, name)))
            default:
                throw failure("\(name) is given \(kind(source)), which it cannot turn into bytes here")
            }
        case .set, .frozenset:
            try argumentCount(0 ... 1)
            var elements: [Int] = []
            if let source = arguments.first {
                switch nodes[source] {
                case .list(let list), .set(let list): elements = lists[list]
                case .tuple(let items): elements = items
                default: throw failure("\(name) is given \(kind(source)), not a list, tuple or set")
                }
            }
            try spend(elements.count)
            lists.append(elements)
            return add(.set(lists.count - 1))
        case .tensorClass, .storageType, .dtype:
            throw failure("the pickle calls \(name), which is not a function a checkpoint calls")
        }
    }

    /// Creates an instance of the class at `type` (`NEWOBJ`).
    private func instantiate(_ type: Int, arguments: [Int]) throws -> Int {
        guard case .global(let global) = nodes[type] else {
            throw failure("NEWOBJ instantiates \(kind(type)), which is not a class")
        }
        switch global {
        case .parameter, .set, .frozenset, .bytes, .bytearray: return try apply(global, to: arguments)
        case .orderedDict: return try apply(global, to: [])
        default: throw failure("NEWOBJ instantiates \(global.pythonName), which a checkpoint never does")
        }
    }

    /// Applies the state of a `BUILD`: attributes of an `OrderedDict` or tensor are dropped.
    private func build(_ target: Int, state: Int) throws {
        switch nodes[target] {
        case .dict, .tensor: return
        default: throw failure("BUILD sets the state of \(kind(target)), which a checkpoint never does")
        }
    }

    private func fillDict(_ dict: Int, from source: Int, _ name: String) throws {
        switch nodes[source] {
        case .dict(let other):
            let entries = dicts[other].entries
            try spend(entries.count * 2)
            try setItems(entries.flatMap { [$0.key, $0.value] }, in: dict, name)
        case .list, .tuple:
            let pairs = try tupleElements(source, "the items of \(name)")
            try spend(pairs.count * 2)
            var items: [Int] = []
            items.reserveCapacity(pairs.count * 2)
            for pair in pairs {
                let elements = try tupleElements(pair, "an item of \(name)")
                guard elements.count == 2 else { throw failure("an item of \(name) has \(elements.count) parts, not 2") }
                items += elements
            }
            try setItems(items, in: dict, name)
        default:
            throw failure("\(name) is given \(kind(source)), not a dict or a list of pairs")
        }
    }

    // MARK: Tensors

    private func tensor(_ arguments: [Int], requiresGrad: Bool, elementType: ElementType?, _ name: String) throws -> TensorRecord {
        guard case .storage(let storage) = nodes[arguments[0]] else {
            throw failure("\(name) is given \(kind(arguments[0])) where the storage belongs")
        }
        let offset = try int(arguments[1], "the storage offset")
        let shape = try ints(arguments[2], "the size")
        let strides = try ints(arguments[3], "the stride")
        let record = TensorRecord(unchecked: storage, elementType: elementType ?? storage.elementType, shape: shape,
                                  strides: strides, storageOffset: offset, requiresGrad: requiresGrad, isParameter: false)
        if let problem = record.viewProblem() { throw failure(problem) }
        return record
    }

    /// Refuses tensor metadata that changes the values (the conjugate or negative bit).
    private func checkMetadata(_ metadata: Int?, _ name: String) throws {
        guard let metadata, case .dict(let dict) = nodes[metadata] else { return }
        for entry in dicts[dict].entries {
            switch nodes[entry.value] {
            case .bool(false), .none: continue
            default:
                let key = if case .string(let text) = nodes[entry.key] { text } else { "?" }
                throw failure("\(name) sets the tensor flag \"\(key)\" (a conjugate or negative view), which is not supported")
            }
        }
    }

    private func storage(for identifier: Int) throws -> Storage {
        let fields = try tupleElements(identifier, "the persistent id")
        guard fields.count == 5 || fields.count == 6 else {
            throw failure("the persistent id has \(fields.count) fields; a storage has 5 (or 6 in legacy checkpoints)")
        }
        guard try text(fields[0], "the persistent id's type") == "storage" else {
            throw failure("the persistent id does not name a storage")
        }
        let elementType: ElementType
        switch nodes[fields[1]] {
        case .global(.storageType(let type)): elementType = type
        default: throw failure("the persistent id's storage type is \(kind(fields[1])), not a supported storage class")
        }
        let key: String
        if case .int(let number) = nodes[fields[2]] { key = String(number) } else { key = try text(fields[2], "the storage key") }
        let location = try text(fields[3], "the storage location")
        let count = try int(fields[4], "the storage size")
        guard count >= 0 else { throw failure("the storage \(key) has a negative size \(count)") }
        var reference = StorageReference(elementType: elementType, key: key, location: location, elementCount: count)
        if fields.count == 6, case .tuple = nodes[fields[5]] {
            let view = try tupleElements(fields[5], "the storage view")
            guard view.count == 3 else { throw failure("the storage view has \(view.count) fields, not 3") }
            reference.view = (try text(view[0], "the view key"), try int(view[1], "the view offset"),
                              try int(view[2], "the view size"))
        } else if fields.count == 6, case .none = nodes[fields[5]] {
        } else if fields.count == 6 {
            throw failure("the storage view is \(kind(fields[5])), not a tuple or None")
        }
        return try resolveStorage(reference, reader.fileOffset + opcodeStart)
    }

    // MARK: Argument types

    private func int(_ index: Int, _ what: String) throws -> Int {
        switch nodes[index] {
        case .int(let value): return value
        case .bool(let value): return value ? 1 : 0
        default: throw failure("\(what) is \(kind(index)), not an int")
        }
    }

    private func ints(_ index: Int, _ what: String) throws -> [Int] {
        try tupleElements(index, what).map { try int($0, "an element of \(what)") }
    }

    private func bool(_ index: Int, _ what: String) throws -> Bool {
        switch nodes[index] {
        case .bool(let value): return value
        case .int(let value): return value != 0
        default: throw failure("\(what) is \(kind(index)), not a bool")
        }
    }

    private func string(_ index: Int, _ what: String) throws -> String {
        guard case .string(let value) = nodes[index] else { throw failure("\(what) is \(kind(index)), not a str") }
        return value
    }

    /// A `str`, or an ASCII `bytes` (how Python 2 pickles name things).
    private func text(_ index: Int, _ what: String) throws -> String {
        switch nodes[index] {
        case .string(let value): return value
        case .bytes(let value) where value.allSatisfy({ $0 < 0x80 }): return String(decoding: value, as: UTF8.self)
        default: throw failure("\(what) is \(kind(index)), not a str")
        }
    }

    private func encode(_ text: String, encoding: String, _ name: String) throws -> [UInt8] {
        switch encoding.lowercased() {
        case "latin1", "latin-1", "iso-8859-1", "iso8859-1":
            var bytes: [UInt8] = []
            bytes.reserveCapacity(text.unicodeScalars.count)
            for scalar in text.unicodeScalars {
                guard scalar.value < 256 else { throw failure("\(name) encodes a character beyond Latin-1 as Latin-1") }
                bytes.append(UInt8(scalar.value))
            }
            return bytes
        case "utf-8", "utf8":
            return Array(text.utf8)
        default:
            throw failure("\(name) uses the encoding \"\(encoding)\"; only latin1 and utf-8 are understood")
        }
    }

    // MARK: Conversion to values

    /// Converts the object at `root` and everything it holds, checking depth, cycles and size.
    private func convertResult(_ root: Int) throws -> PickleValue {
        /// A converted container: its value, how many values it holds when expanded, and how many
        /// levels of containers it nests.
        typealias Converted = (value: PickleValue, count: Int, height: Int)
        var converted: [Int: Converted] = [:]
        var inProgress = Set<Int>()
        let limit = limits.maximumExpandedValueCount
        let maximumDepth = limits.maximumDepth
        let tooDeep = "the data is nested more than \(maximumDepth) levels deep"

        func convert(_ index: Int, depth: Int) throws -> Converted {
            switch nodes[index] {
            case .none: return (.none, 1, 0)
            case .bool(let value): return (.bool(value), 1, 0)
            case .int(let value): return (.int(value), 1, 0)
            case .bigInt(let value): return (.bigInt(value), 1, 0)
            case .float(let value): return (.float(value), 1, 0)
            case .string(let value): return (.string(value), 1, 0)
            case .bytes(let value): return (.bytes(value), 1, 0)
            case .tensor(let record): return (.tensor(record), 1, 0)
            case .storage(let storage):
                let record = TensorRecord(unchecked: storage, elementType: storage.elementType, shape: [storage.elementCount],
                                          strides: [1], storageOffset: 0, requiresGrad: false, isParameter: false)
                return (.tensor(record), 1, 0)
            case .global(.dtype(let type)): return (.string("torch.\(type.rawValue)"), 1, 0)
            case .global(.storageType(let type)): return (.string("torch.\(type.storageClassName)"), 1, 0)
            case .global(let global):
                throw failure("the result holds the Python callable \(global.pythonName) as a value, which is not checkpoint data")
            case .list, .set, .tuple, .dict:
                break
            }
            // A shared container converted before may now sit deeper than it did then.
            if let done = converted[index] {
                guard depth + done.height <= maximumDepth else { throw failure(tooDeep) }
                return done
            }
            guard depth < maximumDepth else { throw failure(tooDeep) }
            guard inProgress.insert(index).inserted else {
                throw failure("the data contains itself (a recursive structure), which checkpoint data never does")
            }
            var count = 1
            var height = 1
            func child(_ index: Int) throws -> PickleValue {
                let result = try convert(index, depth: depth + 1)
                count = min(count + result.count, limit + 1)
                height = max(height, result.height + 1)
                return result.value
            }
            let value: PickleValue
            switch nodes[index] {
            case .list(let list), .set(let list): value = .list(try lists[list].map(child))
            case .tuple(let elements): value = .tuple(try elements.map(child))
            case .dict(let dict):
                value = .dict(try dicts[dict].entries.map { (key: try child($0.key), value: try child($0.value)) },
                              ordered: dicts[dict].ordered)
            default: value = .none
            }
            inProgress.remove(index)
            guard count <= limit else {
                throw failure("the data holds more than \(limit) values when shared references are expanded")
            }
            converted[index] = (value, count, height)
            return (value, count, height)
        }
        return try convert(root, depth: 0).value
    }
}
