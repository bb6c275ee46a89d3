import CTorch

/// Where a tensor lives: the CPU or a CUDA device.
public enum Device: Equatable, Hashable, Sendable, CustomStringConvertible {
    case cpu
    case cuda(Int)

    /// The first CUDA device when one is present, else the CPU.
    public static var best: Device { Runtime.isCUDAAvailable ? .cuda(0) : .cpu }

    /// Parses `cpu`, `cuda` and `cuda:N`.
    public init?(_ text: String) {
        if text == "cpu" {
            self = .cpu
        } else if text == "cuda" {
            self = .cuda(0)
        } else if text.hasPrefix("cuda:"), let index = Int(text.dropFirst(5)), index >= 0 {
            self = .cuda(index)
        } else {
            return nil
        }
    }

    /// Whether this is a CUDA device.
    public var isCUDA: Bool { if case .cuda = self { true } else { false } }

    public var description: String {
        switch self {
        case .cpu: "cpu"
        case .cuda(let index): "cuda:\(index)"
        }
    }

    var typeCode: Int32 {
        switch self {
        case .cpu: Int32(CT_DEVICE_CPU)
        case .cuda: Int32(CT_DEVICE_CUDA)
        }
    }

    var index: Int {
        switch self {
        case .cpu: 0
        case .cuda(let index): index
        }
    }

    init(typeCode: Int32, index: Int32) {
        self = typeCode == Int32(CT_DEVICE_CUDA) ? .cuda(Int(index)) : .cpu
    }
}

/// A tensor memory layout.
public enum MemoryFormat: Int64, Sendable {
    case contiguous = 0
    case preserve = 1
    case channelsLast = 2
    /// NDHWC for 5-d tensors: faster 3-D convolutions on recent GPUs.
    case channelsLast3d = 3
}
