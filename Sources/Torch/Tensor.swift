import CTorch

/// An n-dimensional array on the CPU or a CUDA device, with autograd state: a handle to a
/// libtorch `at::Tensor`.
///
/// A `Tensor` owns its handle and frees it in `deinit`. The handle never leaves this module, and
/// every call that passes it to C keeps the tensor alive for the duration of the call, so no
/// expression can free a tensor while libtorch still uses it.
///
/// Operations throw `TorchError` on failure (a shape mismatch, an unsupported dtype, ...): they
/// never crash the process. Like PyTorch tensors, two `Tensor` objects may share storage (views);
/// in-place operations are named with a trailing `InPlace` or are `mutating`-like methods that
/// say so in their documentation.
public final class Tensor {
    /// The shim's handle. Use only inside a call that keeps `self` alive.
    let handle: OpaquePointer

    /// Takes ownership of a handle returned by the shim.
    init(owning handle: OpaquePointer) {
        self.handle = handle
    }

    deinit {
        ct_tensor_free(handle)
    }

    /// How many tensor handles are alive in this process; a loop that creates and drops tensors
    /// returns it to its starting value.
    public static var liveCount: Int { Int(ct_live_tensor_count()) }

    // MARK: Creation from Swift data

    /// A tensor holding a copy of `elements`, in row-major order, with the given shape (a 1-d
    /// tensor of all elements when `shape` is nil).
    public convenience init<T: TensorElement>(_ elements: [T], shape: [Int]? = nil,
                                              pinned: Bool = false) throws {
        let shape = shape ?? [elements.count]
        try Tensor.validate(count: elements.count, shape: shape)
        let handle = try elements.withUnsafeBytes { bytes in
            try Tensor.makeHandle(bytes: bytes, dtype: T.dtype, shape: shape, pinned: pinned)
        }
        self.init(owning: handle)
    }

    /// A tensor holding a copy of raw bytes (C-contiguous, native byte order) of the given dtype
    /// and shape. The byte count must match the shape exactly.
    public convenience init(bytes: UnsafeRawBufferPointer, dtype: DType, shape: [Int],
                            pinned: Bool = false) throws {
        self.init(owning: try Tensor.makeHandle(bytes: bytes, dtype: dtype, shape: shape,
                                                pinned: pinned))
    }

    /// A zero-dimensional tensor holding one value.
    public convenience init<T: TensorElement>(scalar: T) throws {
        try self.init([scalar], shape: [])
    }

    /// An uninitialised contiguous CPU tensor (for filling through `withUnsafeMutableBytes`).
    public static func empty(_ shape: [Int], dtype: DType = .float32, pinned: Bool = false) throws
        -> Tensor
    {
        var result: OpaquePointer?
        let sizes = shape.map(Int64.init)
        try check(ct_tensor_empty(dtype.rawValue, sizes, Int64(sizes.count), pinned, &result),
                  "creating an empty tensor of shape \(shape)")
        return Tensor(owning: result!)
    }

    private static func validate(count: Int, shape: [Int]) throws {
        guard shape.allSatisfy({ $0 >= 0 }) else {
            throw TorchError(operation: "creating a tensor", message: "negative size in shape \(shape)")
        }
        let expected = shape.reduce(1, *)
        guard expected == count else {
            throw TorchError(operation: "creating a tensor",
                             message: "shape \(shape) needs \(expected) elements, got \(count)")
        }
    }

    static func makeHandle(bytes: UnsafeRawBufferPointer, dtype: DType, shape: [Int],
                                   pinned: Bool) throws -> OpaquePointer {
        var result: OpaquePointer?
        let sizes = shape.map(Int64.init)
        try check(ct_tensor_from_data(bytes.baseAddress, Int64(bytes.count), dtype.rawValue, sizes,
                                      Int64(sizes.count), pinned, &result),
                  "creating a \(dtype) tensor of shape \(shape)")
        return result!
    }

    // MARK: Properties

    /// The size of each dimension.
    public var shape: [Int] {
        withExtendedLifetime(self) {
            var count: Int64 = 0
            guard ct_tensor_dimension_count(handle, &count) == 0 else { return [] }
            var sizes = [Int64](repeating: 0, count: Int(count))
            guard ct_tensor_sizes(handle, &sizes, count) == 0 else { return [] }
            return sizes.map(Int.init)
        }
    }

    /// The stride of each dimension, in elements.
    public var strides: [Int] {
        withExtendedLifetime(self) {
            var count: Int64 = 0
            guard ct_tensor_dimension_count(handle, &count) == 0 else { return [] }
            var strides = [Int64](repeating: 0, count: Int(count))
            guard ct_tensor_strides(handle, &strides, count) == 0 else { return [] }
            return strides.map(Int.init)
        }
    }

    /// The number of dimensions.
    public var rank: Int { shape.count }

    /// The number of elements.
    public var count: Int { shape.reduce(1, *) }

    /// The element type.
    public var dtype: DType {
        withExtendedLifetime(self) {
            var code: Int32 = 0
            _ = ct_tensor_dtype(handle, &code)
            return DType(rawValue: code) ?? .float32
        }
    }

    /// The device holding the elements.
    public var device: Device {
        withExtendedLifetime(self) {
            var type: Int32 = 0
            var index: Int32 = 0
            _ = ct_tensor_device(handle, &type, &index)
            return Device(typeCode: type, index: index)
        }
    }

    /// Whether the elements are laid out contiguously in the given memory format.
    public func isContiguous(_ format: MemoryFormat = .contiguous) -> Bool {
        withExtendedLifetime(self) {
            var result = false
            _ = ct_tensor_is_contiguous(handle, Int32(format.rawValue), &result)
            return result
        }
    }

    // MARK: Reading elements

    /// The elements in row-major order, converted to the CPU. `T` must match the dtype.
    public func toArray<T: TensorElement>(of type: T.Type = T.self) throws -> [T] {
        guard T.dtype == dtype else {
            throw TorchError(operation: "reading tensor data",
                             message: "tensor has dtype \(dtype), asked for \(T.dtype)")
        }
        let count = self.count
        return try [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            try withExtendedLifetime(self) {
                try check(ct_tensor_copy_to(handle, buffer.baseAddress,
                                            Int64(count * MemoryLayout<T>.stride)),
                          "reading tensor data")
            }
            initialized = count
        }
    }

    /// The raw bytes of the elements in row-major order (CPU copy).
    public func bytes() throws -> [UInt8] {
        let byteCount = count * dtype.byteCount
        return try [UInt8](unsafeUninitializedCapacity: byteCount) { buffer, initialized in
            try withExtendedLifetime(self) {
                try check(ct_tensor_copy_to(handle, buffer.baseAddress, Int64(byteCount)),
                          "reading tensor data")
            }
            initialized = byteCount
        }
    }

    /// The value of a one-element tensor as a `Double`.
    public func item() throws -> Double {
        try withExtendedLifetime(self) {
            var value = 0.0
            try check(ct_tensor_item_double(handle, &value), "reading a scalar")
            return value
        }
    }

    /// The value of a one-element tensor as an `Int`.
    public func itemInt() throws -> Int {
        try withExtendedLifetime(self) {
            var value: Int64 = 0
            try check(ct_tensor_item_int64(handle, &value), "reading a scalar")
            return Int(value)
        }
    }

    /// Gives `body` the elements' memory of a contiguous CPU tensor, for writing in place.
    public func withUnsafeMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R)
        throws -> R
    {
        try withExtendedLifetime(self) {
            var pointer: UnsafeMutableRawPointer?
            try check(ct_tensor_data_pointer(handle, &pointer), "accessing tensor memory")
            return try body(UnsafeMutableRawBufferPointer(start: pointer, count: count * dtype.byteCount))
        }
    }

    /// Gives `body` the elements' memory of a contiguous CPU tensor.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        try withUnsafeMutableBytes { try body(UnsafeRawBufferPointer($0)) }
    }

    /// A second `Tensor` object for the same tensor (same storage, same autograd identity).
    public func shared() throws -> Tensor {
        try withExtendedLifetime(self) {
            var result: OpaquePointer?
            try check(ct_tensor_share(handle, &result), "sharing a tensor")
            return Tensor(owning: result!)
        }
    }
}

extension Tensor: CustomStringConvertible {
    /// Shape, dtype and device, e.g. `Tensor([2, 3], float32, cpu)`.
    public var description: String { "Tensor(\(shape), \(dtype), \(device))" }
}
