import FoundationEssentials
import TorchFiles

// Conversion between libtorch tensors and the records of PyTorch, safetensors and NumPy files.

extension DType {
    /// The dtype of a file's element type.
    public init(_ elementType: ElementType) {
        switch elementType {
        case .float32: self = .float32
        case .float64: self = .float64
        case .float16: self = .float16
        case .bfloat16: self = .bfloat16
        case .int64: self = .int64
        case .int32: self = .int32
        case .int16: self = .int16
        case .int8: self = .int8
        case .uint8: self = .uint8
        case .bool: self = .bool
        }
    }

    /// The element type files use for this dtype.
    public var elementType: ElementType {
        switch self {
        case .float32: .float32
        case .float64: .float64
        case .float16: .float16
        case .bfloat16: .bfloat16
        case .int64: .int64
        case .int32: .int32
        case .int16: .int16
        case .int8: .int8
        case .uint8: .uint8
        case .bool: .bool
        }
    }
}

extension Tensor {
    /// A CPU tensor holding a copy of a file's tensor record (its view materialised).
    public convenience init(_ record: TensorRecord) throws {
        let dtype = DType(record.elementType)
        let handle: OpaquePointer
        if record.isContiguous && record.elementType == record.storage.elementType {
            let start = record.storageOffset * dtype.byteCount
            let byteCount = record.elementCount * dtype.byteCount
            handle = try record.storage.bytes.withUnsafeBytes { storage in
                try Tensor.makeHandle(bytes: UnsafeRawBufferPointer(rebasing: storage[start..<(start + byteCount)]),
                                      dtype: dtype, shape: record.shape, pinned: false)
            }
        } else {
            handle = try record.contiguousBytes().withUnsafeBytes {
                try Tensor.makeHandle(bytes: $0, dtype: dtype, shape: record.shape, pinned: false)
            }
        }
        self.init(owning: handle)
    }

    /// This tensor's elements as a contiguous record for writing to a file (copied to the CPU).
    public func record(requiresGrad: Bool = false, isParameter: Bool = false) throws -> TensorRecord {
        try TensorRecord(contiguousBytes: bytes(), elementType: dtype.elementType, shape: shape,
                         requiresGrad: requiresGrad, isParameter: isParameter)
    }
}

/// Named tensors loaded from a file, in the file's order.
public typealias NamedTensors = [(name: String, tensor: Tensor)]

/// Reads the tensors of a state dict saved by `torch.save` (zip or legacy format) or as
/// safetensors, chosen by content.
public func loadNamedTensors(from url: URL) throws -> NamedTensors {
    if url.pathExtension == "safetensors" {
        return try Safetensors.load(contentsOf: url).tensors.map { ($0.name, try Tensor($0.tensor)) }
    }
    let value = try TorchFile.load(contentsOf: url)
    guard let records = value.asTensorDictionary else {
        throw TorchFileError(action: "reading a state dict", path: url.path,
                             message: "the file does not hold a dictionary of named tensors")
    }
    return try records.map { ($0.name, try Tensor($0.tensor)) }
}
