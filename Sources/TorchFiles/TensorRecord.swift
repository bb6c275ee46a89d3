import FoundationEssentials
import Glibc
import Synchronization

// MARK: - Storage

/// One block of tensor data as a file holds it: the raw little-endian bytes of a PyTorch storage,
/// shared by every `TensorRecord` that views it.
///
/// Two records that view the same storage in a checkpoint (a tensor and its transpose, say) hold
/// the same `Storage` object after loading, and are written back as one storage.
///
/// A storage is immutable once a load returns it; the loaders fill it in before returning.
public final class Storage: Sendable {
    /// The storage's name in its file (`"0"`, `"1"`, ... in a zip checkpoint); the writer assigns
    /// its own names, so this is informational.
    public let key: String
    /// The type of the elements the storage was saved as.
    public let elementType: ElementType
    /// Where PyTorch kept the storage when it saved it (`"cpu"`, `"cuda:0"`); the bytes are always
    /// in host memory here.
    public let location: String
    /// The number of elements of `elementType` the storage holds.
    public let elementCount: Int
    /// The raw bytes, little-endian, `elementCount * elementType.byteCount` of them.
    public internal(set) var bytes: [UInt8] {
        get { filled.withLock { $0 } }
        set { filled.withLock { $0 = newValue } }
    }
    /// The bytes, behind a lock because a legacy load fills them in after creating the storage.
    private let filled: Mutex<[UInt8]>

    /// A storage holding `bytes` (little-endian) as elements of `elementType`.
    ///
    /// - Throws: `TorchFileError` when the byte count is not a whole number of elements.
    public convenience init(bytes: [UInt8], elementType: ElementType, key: String = "", location: String = "cpu") throws {
        guard bytes.count % elementType.byteCount == 0 else {
            throw TorchFileError(action: "creating a tensor storage", path: nil,
                                 message: "\(bytes.count) bytes are not a whole number of \(elementType) elements")
        }
        self.init(key: key, elementType: elementType, location: location,
                  elementCount: bytes.count / elementType.byteCount, bytes: bytes)
    }

    /// A storage whose bytes are filled in later (legacy checkpoints name their storages before
    /// their data); `bytes` must end up `elementCount * elementType.byteCount` long.
    init(key: String, elementType: ElementType, location: String, elementCount: Int, bytes: [UInt8]) {
        self.key = key
        self.elementType = elementType
        self.location = location
        self.elementCount = elementCount
        filled = Mutex(bytes)
    }
}

// MARK: - Tensor record

/// A tensor as a file describes it: a view (shape, strides in elements, offset in elements) into
/// a `Storage`, with its element type and autograd flags. No libtorch is involved; a later layer
/// turns records into tensors.
///
/// Records made by the loaders have been checked: every element the view reaches lies inside
/// its storage.
public struct TensorRecord: Sendable, Equatable, CustomStringConvertible {
    /// The storage the tensor views.
    public let storage: Storage
    /// The tensor's element type (normally the storage's).
    public let elementType: ElementType
    /// The size of each dimension; empty for a 0-d tensor.
    public let shape: [Int]
    /// The step between neighbours along each dimension, in elements.
    public let strides: [Int]
    /// Where the view starts in the storage, in elements.
    public let storageOffset: Int
    /// Whether the tensor required gradients when it was saved.
    public let requiresGrad: Bool
    /// Whether the tensor was saved as an `nn.Parameter`.
    public let isParameter: Bool

    /// A view into `storage`, checked to lie inside it.
    ///
    /// - Throws: `TorchFileError` when the shape, strides or offset are negative, mismatched or
    ///   reach outside the storage, or when the element type's size does not divide the storage.
    public init(storage: Storage, elementType: ElementType? = nil, shape: [Int], strides: [Int]? = nil,
                storageOffset: Int = 0, requiresGrad: Bool = false, isParameter: Bool = false) throws {
        self.init(unchecked: storage, elementType: elementType ?? storage.elementType, shape: shape,
                  strides: strides ?? TensorRecord.contiguousStrides(for: shape), storageOffset: storageOffset,
                  requiresGrad: requiresGrad, isParameter: isParameter)
        if let problem = viewProblem() {
            throw TorchFileError(action: "creating a tensor record", path: nil, message: problem)
        }
    }

    /// A contiguous tensor of `elementType` and `shape` whose elements are `contiguousBytes`
    /// (little-endian, row-major), in a storage of its own; this is how tensors to be written are
    /// made.
    ///
    /// - Throws: `TorchFileError` when the byte count does not match the shape.
    public init(contiguousBytes: [UInt8], elementType: ElementType, shape: [Int],
                requiresGrad: Bool = false, isParameter: Bool = false) throws {
        guard let count = TensorRecord.elementCount(of: shape),
              let byteCount = checkedProduct(count, elementType.byteCount),
              byteCount == contiguousBytes.count else {
            throw TorchFileError(action: "creating a tensor record", path: nil,
                                 message: "\(contiguousBytes.count) bytes do not hold a \(elementType) tensor of shape \(shape)")
        }
        let storage = Storage(key: "", elementType: elementType, location: "cpu", elementCount: count,
                              bytes: contiguousBytes)
        self.init(unchecked: storage, elementType: elementType, shape: shape,
                  strides: TensorRecord.contiguousStrides(for: shape), storageOffset: 0,
                  requiresGrad: requiresGrad, isParameter: isParameter)
    }

    /// A record without checks; callers check with `viewProblem()`.
    init(unchecked storage: Storage, elementType: ElementType, shape: [Int], strides: [Int],
         storageOffset: Int, requiresGrad: Bool, isParameter: Bool) {
        self.storage = storage
        self.elementType = elementType
        self.shape = shape
        self.strides = strides
        self.storageOffset = storageOffset
        self.requiresGrad = requiresGrad
        self.isParameter = isParameter
    }

    /// The same view with other autograd flags.
    public func with(requiresGrad: Bool, isParameter: Bool) -> TensorRecord {
        TensorRecord(unchecked: storage, elementType: elementType, shape: shape, strides: strides,
                     storageOffset: storageOffset, requiresGrad: requiresGrad, isParameter: isParameter)
    }

    // MARK: Geometry

    /// The number of elements (1 for a 0-d tensor); 0 when the shape is invalid.
    public var elementCount: Int { TensorRecord.elementCount(of: shape) ?? 0 }

    /// Whether the elements lie in row-major order without gaps (dimensions of size 1 may have
    /// any stride, as in PyTorch).
    public var isContiguous: Bool {
        guard strides.count == shape.count else { return false }
        if shape.contains(0) { return true }
        var expected = 1
        for dimension in shape.indices.reversed() where shape[dimension] != 1 {
            guard strides[dimension] == expected else { return false }
            expected = expected &* shape[dimension]
        }
        return true
    }

    /// The row-major strides of `shape`.
    public static func contiguousStrides(for shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var step = 1
        for dimension in shape.indices.reversed() {
            strides[dimension] = step
            step = step.multipliedReportingOverflow(by: max(shape[dimension], 1)).partialValue
        }
        return strides
    }

    /// The product of `shape`, or `nil` when a size is negative or the product overflows.
    static func elementCount(of shape: [Int]) -> Int? {
        var count = 1
        for size in shape {
            guard size >= 0, let product = checkedProduct(count, size) else { return nil }
            count = product
        }
        return count
    }

    /// Why the view is invalid (negative sizes, mismatched ranks, elements outside the storage),
    /// or `nil` when it is valid.
    func viewProblem() -> String? {
        guard strides.count == shape.count else {
            return "the tensor has \(shape.count) sizes but \(strides.count) strides"
        }
        guard shape.allSatisfy({ $0 >= 0 }) else { return "the tensor has a negative size in \(shape)" }
        guard strides.allSatisfy({ $0 >= 0 }) else { return "the tensor has a negative stride in \(strides)" }
        guard storageOffset >= 0 else { return "the tensor has a negative storage offset \(storageOffset)" }
        guard let count = TensorRecord.elementCount(of: shape) else {
            return "the tensor's shape \(shape) has more elements than can be addressed"
        }
        guard let storageByteCount = checkedProduct(storage.elementCount, storage.elementType.byteCount) else {
            return "the storage is too large"
        }
        if count == 0 { return nil }
        var last = storageOffset
        for (size, stride) in zip(shape, strides) {
            guard let step = checkedProduct(size - 1, stride), let sum = checkedSum(last, step) else {
                return "the tensor's strides \(strides) reach beyond any storage"
            }
            last = sum
        }
        let available = storageByteCount / elementType.byteCount
        guard last < available else {
            return "the \(elementType) tensor of shape \(shape), strides \(strides) and offset \(storageOffset) "
                + "reaches element \(last) of a storage of \(available) elements"
        }
        return nil
    }

    // MARK: Contents

    /// The tensor's elements in row-major order, little-endian, without gaps: the view
    /// materialised (a strided gather, bounds-checked).
    ///
    /// - Throws: `TorchFileError` when the view reaches outside its storage.
    public func contiguousBytes() throws -> [UInt8] {
        if let problem = viewProblem() {
            throw TorchFileError(action: "reading the elements of a tensor", path: nil, message: problem)
        }
        let elementSize = elementType.byteCount
        let count = elementCount
        let byteCount = count * elementSize
        guard byteCount > 0 else { return [] }
        let start = storageOffset * elementSize
        if isContiguous {
            if start == 0 && byteCount == storage.bytes.count { return storage.bytes }
            return Array(storage.bytes[start ..< start + byteCount])
        }
        // The innermost dimensions that are laid out contiguously form runs copied at once.
        var runElements = 1
        var outerRank = shape.count
        while outerRank > 0 && (shape[outerRank - 1] == 1 || strides[outerRank - 1] == runElements) {
            runElements *= shape[outerRank - 1]
            outerRank -= 1
        }
        let runBytes = runElements * elementSize
        let outerShape = Array(shape[..<outerRank])
        let outerStrides = Array(strides[..<outerRank])
        return storage.bytes.withUnsafeBytes { source -> [UInt8] in
            [UInt8](unsafeUninitializedCapacity: byteCount) { destination, initialized in
                guard let sourceBase = source.baseAddress, let destinationBase = destination.baseAddress else { return }
                var index = [Int](repeating: 0, count: outerRank)
                var sourceElement = storageOffset
                var written = 0
                while written < byteCount {
                    memcpy(destinationBase + written, sourceBase + sourceElement * elementSize, runBytes)
                    written += runBytes
                    // Advance the odometer over the outer dimensions.
                    var dimension = outerRank - 1
                    while dimension >= 0 {
                        index[dimension] += 1
                        sourceElement += outerStrides[dimension]
                        if index[dimension] < outerShape[dimension] { break }
                        sourceElement -= outerStrides[dimension] * outerShape[dimension]
                        index[dimension] = 0
                        dimension -= 1
                    }
                }
                initialized = byteCount
            }
        }
    }

    // MARK: Equality and description

    /// Records are equal when their element types, shapes, autograd flags and elements are equal;
    /// layout (strides, offsets, storage sharing) is not compared.
    public static func == (lhs: TensorRecord, rhs: TensorRecord) -> Bool {
        guard lhs.elementType == rhs.elementType, lhs.shape == rhs.shape,
              lhs.requiresGrad == rhs.requiresGrad, lhs.isParameter == rhs.isParameter else { return false }
        guard let left = try? lhs.contiguousBytes(), let right = try? rhs.contiguousBytes() else { return false }
        return left == right
    }

    /// A summary such as `tensor(float32, shape: [3, 4])`, with strides and offset when the view
    /// is not plain.
    public var description: String {
        "tensor(\(elementType), shape: \(shape)" + (isContiguous ? "" : ", strides: \(strides)")
            + (storageOffset == 0 ? "" : ", offset: \(storageOffset)")
            + (isParameter ? ", parameter" : "") + (requiresGrad ? ", requires grad" : "") + ")"
    }
}

// MARK: - Overflow-checked arithmetic

/// `a * b`, or `nil` when it overflows.
@inline(__always) func checkedProduct(_ a: Int, _ b: Int) -> Int? {
    let result = a.multipliedReportingOverflow(by: b)
    return result.overflow ? nil : result.partialValue
}

/// `a + b`, or `nil` when it overflows.
@inline(__always) func checkedSum(_ a: Int, _ b: Int) -> Int? {
    let result = a.addingReportingOverflow(b)
    return result.overflow ? nil : result.partialValue
}
