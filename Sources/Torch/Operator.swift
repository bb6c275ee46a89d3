import CTorch

/// An argument of an ATen operator call.
///
/// Arguments hold Swift objects (tensors, generators), so the objects stay alive for as long as
/// the argument list does; `dispatch` keeps the list alive across the C call.
enum Argument {
    case none
    case tensor(Tensor?)
    case int(Int)
    case double(Double)
    case bool(Bool)
    case ints([Int])
    case doubles([Double])
    case bools([Bool])
    case tensors([Tensor])
    case optionalTensors([Tensor?])
    case string(String)
    case device(Device)
    case generator(Generator?)
    case dtype(DType?)
    case memoryFormat(MemoryFormat?)
}

/// A value returned by an ATen operator.
enum OperatorResult {
    case none
    case tensor(Tensor)
    case tensors([Tensor])
    case int(Int)
    case double(Double)
    case bool(Bool)

    /// Takes ownership of whatever handles the shim returned in `value`.
    init(taking value: CTValue) {
        switch Int(value.kind) {
        case Int(CT_VALUE_TENSOR):
            self = .tensor(Tensor(owning: OpaquePointer(value.object!)))
        case Int(CT_VALUE_TENSOR_LIST):
            let array = value.list!.assumingMemoryBound(to: OpaquePointer?.self)
            self = .tensors((0..<Int(value.count)).map { Tensor(owning: array[$0]!) })
            ct_free(UnsafeMutableRawPointer(mutating: value.list))
        case Int(CT_VALUE_INT): self = .int(Int(value.integer))
        case Int(CT_VALUE_DOUBLE): self = .double(value.real)
        case Int(CT_VALUE_BOOL): self = .bool(value.integer != 0)
        default: self = .none
        }
    }
}

/// Memory owned for the duration of one call: lists and strings passed to the shim.
private struct CallArena {
    var allocations: [UnsafeMutableRawPointer] = []

    mutating func copy<T>(_ elements: [T]) -> UnsafeRawPointer {
        let buffer = UnsafeMutablePointer<T>.allocate(capacity: max(elements.count, 1))
        buffer.initialize(from: elements, count: elements.count)
        allocations.append(UnsafeMutableRawPointer(buffer))
        return UnsafeRawPointer(buffer)
    }

    mutating func copy(_ string: String) -> UnsafePointer<CChar> {
        let bytes = Array(string.utf8CString)
        let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count)
        buffer.initialize(from: bytes, count: bytes.count)
        allocations.append(UnsafeMutableRawPointer(buffer))
        return UnsafePointer(buffer)
    }

    func release() {
        for allocation in allocations { allocation.deallocate() }
    }
}

private func marshal(_ argument: Argument, into arena: inout CallArena) -> CTValue {
    var value = CTValue()
    switch argument {
    case .none:
        value.kind = Int32(CT_VALUE_NONE)
    case .tensor(let tensor):
        value.kind = Int32(CT_VALUE_TENSOR)
        value.object = tensor.map { UnsafeMutableRawPointer($0.handle) }
    case .int(let integer):
        value.kind = Int32(CT_VALUE_INT)
        value.integer = Int64(integer)
    case .double(let real):
        value.kind = Int32(CT_VALUE_DOUBLE)
        value.real = real
    case .bool(let flag):
        value.kind = Int32(CT_VALUE_BOOL)
        value.integer = flag ? 1 : 0
    case .ints(let integers):
        value.kind = Int32(CT_VALUE_INT_LIST)
        value.list = arena.copy(integers.map(Int64.init))
        value.count = Int64(integers.count)
    case .doubles(let reals):
        value.kind = Int32(CT_VALUE_DOUBLE_LIST)
        value.list = arena.copy(reals)
        value.count = Int64(reals.count)
    case .bools(let flags):
        value.kind = Int32(CT_VALUE_BOOL_LIST)
        value.list = arena.copy(flags.map { UInt8($0 ? 1 : 0) })
        value.count = Int64(flags.count)
    case .tensors(let tensors):
        value.kind = Int32(CT_VALUE_TENSOR_LIST)
        value.list = arena.copy(tensors.map { Optional($0.handle) })
        value.count = Int64(tensors.count)
    case .optionalTensors(let tensors):
        value.kind = Int32(CT_VALUE_OPTIONAL_TENSOR_LIST)
        value.list = arena.copy(tensors.map { $0?.handle })
        value.count = Int64(tensors.count)
    case .string(let string):
        value.kind = Int32(CT_VALUE_STRING)
        value.string = arena.copy(string)
    case .device(let device):
        value.kind = Int32(CT_VALUE_DEVICE)
        value.integer = Int64(device.typeCode)
        value.count = Int64(device.index)
    case .generator(let generator):
        if let generator {
            value.kind = Int32(CT_VALUE_GENERATOR)
            value.object = UnsafeMutableRawPointer(generator.handle)
        } else {
            value.kind = Int32(CT_VALUE_NONE)
        }
    case .dtype(let dtype):
        if let dtype {
            value.kind = Int32(CT_VALUE_SCALAR_TYPE)
            value.integer = Int64(dtype.rawValue)
        } else {
            value.kind = Int32(CT_VALUE_NONE)
        }
    case .memoryFormat(let format):
        if let format {
            value.kind = Int32(CT_VALUE_MEMORY_FORMAT)
            value.integer = format.rawValue
        } else {
            value.kind = Int32(CT_VALUE_NONE)
        }
    }
    return value
}

/// Calls the ATen operator `name.overload` through libtorch's dispatcher (autograd and autocast
/// included). Omitted trailing arguments take the schema's defaults; a mistyped argument is a
/// thrown `TorchError`, never undefined behaviour.
@discardableResult
func dispatch(_ name: String, _ overload: String = "", _ arguments: [Argument]) throws
    -> [OperatorResult]
{
    var arena = CallArena()
    defer { arena.release() }
    let values = arguments.map { marshal($0, into: &arena) }
    let capacity = 8
    var results = [CTValue](repeating: CTValue(), count: capacity)
    var count: Int64 = 0
    let status = withExtendedLifetime(arguments) {
        ct_call(name, overload, values, Int64(values.count), &results, Int64(capacity), &count)
    }
    try check(status, overload.isEmpty ? name : "\(name).\(overload)")
    return (0..<Int(count)).map { OperatorResult(taking: results[$0]) }
}

/// Calls an operator that returns one tensor.
func dispatchTensor(_ name: String, _ overload: String = "", _ arguments: [Argument]) throws
    -> Tensor
{
    let results = try dispatch(name, overload, arguments)
    guard case .tensor(let tensor)? = results.first else {
        throw TorchError(operation: name, message: "expected a tensor result")
    }
    return tensor
}

/// Calls an operator that returns two tensors (e.g. values and indices).
func dispatchPair(_ name: String, _ overload: String = "", _ arguments: [Argument]) throws
    -> (Tensor, Tensor)
{
    let results = try dispatch(name, overload, arguments)
    guard results.count >= 2, case .tensor(let first) = results[0],
        case .tensor(let second) = results[1]
    else {
        throw TorchError(operation: name, message: "expected two tensor results")
    }
    return (first, second)
}

/// Calls an operator that returns a list of tensors.
func dispatchTensors(_ name: String, _ overload: String = "", _ arguments: [Argument]) throws
    -> [Tensor]
{
    let results = try dispatch(name, overload, arguments)
    guard case .tensors(let tensors)? = results.first else {
        throw TorchError(operation: name, message: "expected a list of tensors")
    }
    return tensors
}
