// MARK: - Element types

/// The element type of a stored tensor, with its names in each file format.
public enum ElementType: String, CaseIterable, Sendable, CustomStringConvertible {
    /// 32-bit IEEE floating point (`torch.float32`).
    case float32
    /// 64-bit IEEE floating point (`torch.float64`).
    case float64
    /// 16-bit IEEE floating point (`torch.float16`).
    case float16
    /// Brain floating point: the top 16 bits of a `float32` (`torch.bfloat16`).
    case bfloat16
    /// Signed 64-bit integer (`torch.int64`, what PyTorch calls long).
    case int64
    /// Signed 32-bit integer (`torch.int32`).
    case int32
    /// Signed 16-bit integer (`torch.int16`).
    case int16
    /// Signed 8-bit integer (`torch.int8`).
    case int8
    /// Unsigned 8-bit integer (`torch.uint8`).
    case uint8
    /// Boolean, one byte of 0 or 1 (`torch.bool`).
    case bool

    /// Bytes per element.
    public var byteCount: Int {
        switch self {
        case .uint8, .int8, .bool: 1
        case .int16, .float16, .bfloat16: 2
        case .int32, .float32: 4
        case .int64, .float64: 8
        }
    }

    /// Whether the type holds floating-point values.
    public var isFloatingPoint: Bool {
        switch self {
        case .float16, .float32, .float64, .bfloat16: true
        default: false
        }
    }

    /// PyTorch's name of the type, e.g. `float32` (as in `torch.float32`).
    public var description: String { rawValue }

    // MARK: PyTorch

    /// The PyTorch storage class that holds elements of this type in a checkpoint, e.g.
    /// `FloatStorage` (pickled as the global `torch.FloatStorage`).
    public var storageClassName: String {
        switch self {
        case .float32: "FloatStorage"
        case .float64: "DoubleStorage"
        case .float16: "HalfStorage"
        case .bfloat16: "BFloat16Storage"
        case .int64: "LongStorage"
        case .int32: "IntStorage"
        case .int16: "ShortStorage"
        case .int8: "CharStorage"
        case .uint8: "ByteStorage"
        case .bool: "BoolStorage"
        }
    }

    /// The type whose PyTorch storage class is `storageClassName` (e.g. `FloatStorage`), if any.
    public init?(storageClassName: String) {
        guard let type = ElementType.allCases.first(where: { $0.storageClassName == storageClassName }) else {
            return nil
        }
        self = type
    }

    // MARK: safetensors

    /// The safetensors name of the type, e.g. `F32`, `BF16`, `I64`, `BOOL`.
    public var safetensorsName: String {
        switch self {
        case .float32: "F32"
        case .float64: "F64"
        case .float16: "F16"
        case .bfloat16: "BF16"
        case .int64: "I64"
        case .int32: "I32"
        case .int16: "I16"
        case .int8: "I8"
        case .uint8: "U8"
        case .bool: "BOOL"
        }
    }

    /// The type whose safetensors name is `safetensorsName`, if any.
    public init?(safetensorsName: String) {
        guard let type = ElementType.allCases.first(where: { $0.safetensorsName == safetensorsName }) else {
            return nil
        }
        self = type
    }

    // MARK: NumPy

    /// The NumPy type description of the type in little-endian byte order, e.g. `<f4`, `<i8`,
    /// `|u1`, `|b1`; `nil` for `bfloat16`, which NumPy does not have.
    public var numpyDescription: String? {
        switch self {
        case .float32: "<f4"
        case .float64: "<f8"
        case .float16: "<f2"
        case .bfloat16: nil
        case .int64: "<i8"
        case .int32: "<i4"
        case .int16: "<i2"
        case .int8: "|i1"
        case .uint8: "|u1"
        case .bool: "|b1"
        }
    }

    /// The type of a NumPy kind character and item size (`("f", 4)` is `float32`), if supported.
    init?(numpyKind kind: Character, itemSize: Int) {
        switch (kind, itemSize) {
        case ("f", 2): self = .float16
        case ("f", 4): self = .float32
        case ("f", 8): self = .float64
        case ("i", 1): self = .int8
        case ("i", 2): self = .int16
        case ("i", 4): self = .int32
        case ("i", 8): self = .int64
        case ("u", 1): self = .uint8
        case ("b", 1): self = .bool
        default: return nil
        }
    }
}
