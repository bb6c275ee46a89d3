// Tensor operations, each a call to the ATen operator of the same name through the dispatcher,
// so that autograd, autocast and every device libtorch supports come with it.

// MARK: - Factories

extension Tensor {
    private static func factoryOptions(_ dtype: DType, _ device: Device) -> [Argument] {
        [.dtype(dtype), .none, .device(device)]
    }

    /// A tensor of zeros.
    public static func zeros(_ shape: [Int], dtype: DType = .float32, device: Device = .cpu) throws -> Tensor {
        try dispatchTensor("aten::zeros", "", [.ints(shape)] + factoryOptions(dtype, device))
    }

    /// A tensor of ones.
    public static func ones(_ shape: [Int], dtype: DType = .float32, device: Device = .cpu) throws -> Tensor {
        try dispatchTensor("aten::ones", "", [.ints(shape)] + factoryOptions(dtype, device))
    }

    /// A tensor filled with `value`.
    public static func full(_ shape: [Int], value: Double, dtype: DType = .float32,
                            device: Device = .cpu) throws -> Tensor {
        try dispatchTensor("aten::full", "", [.ints(shape), .double(value)] + factoryOptions(dtype, device))
    }

    /// Standard normal samples.
    public static func randn(_ shape: [Int], generator: Generator? = nil, dtype: DType = .float32,
                             device: Device = .cpu) throws -> Tensor {
        try dispatchTensor("aten::randn", "generator",
                           [.ints(shape), .generator(generator)] + factoryOptions(dtype, device))
    }

    /// Uniform samples in [0, 1).
    public static func rand(_ shape: [Int], generator: Generator? = nil, dtype: DType = .float32,
                            device: Device = .cpu) throws -> Tensor {
        try dispatchTensor("aten::rand", "generator",
                           [.ints(shape), .generator(generator)] + factoryOptions(dtype, device))
    }

    /// Uniform integers in `low ..< high`.
    public static func randint(_ low: Int, _ high: Int, shape: [Int], generator: Generator? = nil,
                               dtype: DType = .int64, device: Device = .cpu) throws -> Tensor {
        try dispatchTensor("aten::randint", "low_generator",
                           [.int(low), .int(high), .ints(shape), .generator(generator)]
                               + factoryOptions(dtype, device))
    }

    /// A random permutation of `0 ..< count`.
    public static func randperm(_ count: Int, generator: Generator? = nil, device: Device = .cpu) throws -> Tensor {
        try dispatchTensor("aten::randperm", "generator",
                           [.int(count), .generator(generator)] + factoryOptions(.int64, device))
    }

    /// `start, start + step, ...` up to but excluding `end`.
    public static func arange(_ start: Double, _ end: Double, step: Double = 1, dtype: DType = .float32,
                              device: Device = .cpu) throws -> Tensor {
        try dispatchTensor("aten::arange", "start_step",
                           [.double(start), .double(end), .double(step)] + factoryOptions(dtype, device))
    }

    /// The identity matrix.
    public static func eye(_ count: Int, dtype: DType = .float32, device: Device = .cpu) throws -> Tensor {
        try dispatchTensor("aten::eye", "", [.int(count)] + factoryOptions(dtype, device))
    }

    /// Zeros of this tensor's shape, dtype and device.
    public func zerosLike() throws -> Tensor {
        try dispatchTensor("aten::zeros_like", "", [.tensor(self)])
    }

    /// Ones of this tensor's shape, dtype and device.
    public func onesLike() throws -> Tensor {
        try dispatchTensor("aten::ones_like", "", [.tensor(self)])
    }

    /// Fills in place with uniform samples in [low, high).
    @discardableResult
    public func uniformInPlace(_ low: Double, _ high: Double, generator: Generator? = nil) throws -> Tensor {
        try dispatchTensor("aten::uniform_", "", [.tensor(self), .double(low), .double(high), .generator(generator)])
    }

    /// Fills in place with normal samples.
    @discardableResult
    public func normalInPlace(mean: Double = 0, std: Double = 1, generator: Generator? = nil) throws -> Tensor {
        try dispatchTensor("aten::normal_", "", [.tensor(self), .double(mean), .double(std), .generator(generator)])
    }
}

// MARK: - Conversion and copies

extension Tensor {
    /// This tensor with another dtype (the same tensor if it already has it).
    public func to(_ dtype: DType) throws -> Tensor {
        try dispatchTensor("aten::to", "dtype", [.tensor(self), .dtype(dtype)])
    }

    /// This tensor with another dtype, laid out in `memoryFormat`: one copy that converts and
    /// lays out at once (the same tensor if nothing changes).
    public func to(_ dtype: DType, memoryFormat: MemoryFormat) throws -> Tensor {
        try dispatchTensor("aten::to", "dtype", [.tensor(self), .dtype(dtype), .bool(false), .bool(false),
                                                 .memoryFormat(memoryFormat)])
    }

    /// This tensor on another device (the same tensor if it is already there).
    public func to(_ device: Device, nonBlocking: Bool = false) throws -> Tensor {
        try dispatchTensor("aten::to", "dtype_layout",
                           [.tensor(self), .none, .none, .device(device), .none, .bool(nonBlocking)])
    }

    /// This tensor on another device and with another dtype.
    public func to(_ device: Device, _ dtype: DType, nonBlocking: Bool = false) throws -> Tensor {
        try dispatchTensor("aten::to", "dtype_layout",
                           [.tensor(self), .dtype(dtype), .none, .device(device), .none, .bool(nonBlocking)])
    }

    /// This tensor in host memory.
    public func cpu() throws -> Tensor { try to(.cpu) }

    /// A contiguous tensor in the given memory format (this one if already so).
    public func contiguous(_ format: MemoryFormat = .contiguous) throws -> Tensor {
        try dispatchTensor("aten::contiguous", "", [.tensor(self), .memoryFormat(format)])
    }

    /// A copy with its own storage (differentiable).
    public func clone() throws -> Tensor {
        try dispatchTensor("aten::clone", "", [.tensor(self)])
    }

    /// The same data, cut from the autograd graph.
    public func detach() throws -> Tensor {
        try dispatchTensor("aten::detach", "", [.tensor(self)])
    }

    /// A copy in page-locked host memory (for asynchronous copies to a GPU).
    public func pinned() throws -> Tensor {
        try dispatchTensor("aten::pin_memory", "", [.tensor(self)])
    }

    /// Copies `source` into this tensor in place (broadcasting, converting dtype and device).
    @discardableResult
    public func copy(from source: Tensor, nonBlocking: Bool = false) throws -> Tensor {
        try dispatchTensor("aten::copy_", "", [.tensor(self), .tensor(source), .bool(nonBlocking)])
    }

    /// Sets every element to zero, in place.
    @discardableResult
    public func zeroInPlace() throws -> Tensor {
        try dispatchTensor("aten::zero_", "", [.tensor(self)])
    }

    /// Sets every element to `value`, in place.
    @discardableResult
    public func fillInPlace(_ value: Double) throws -> Tensor {
        try dispatchTensor("aten::fill_", "Scalar", [.tensor(self), .double(value)])
    }
}

// MARK: - Shape

extension Tensor {
    /// The elements with a new shape (a view when possible); one size may be -1.
    public func reshaped(_ shape: [Int]) throws -> Tensor {
        try dispatchTensor("aten::reshape", "", [.tensor(self), .ints(shape)])
    }

    /// A view with a new shape; fails unless the strides allow it.
    public func view(_ shape: [Int]) throws -> Tensor {
        try dispatchTensor("aten::view", "", [.tensor(self), .ints(shape)])
    }

    /// The dimensions reordered.
    public func permuted(_ dimensions: [Int]) throws -> Tensor {
        try dispatchTensor("aten::permute", "", [.tensor(self), .ints(dimensions)])
    }

    /// Two dimensions swapped.
    public func transposed(_ first: Int, _ second: Int) throws -> Tensor {
        try dispatchTensor("aten::transpose", "int", [.tensor(self), .int(first), .int(second)])
    }

    /// The matrix transpose of a 2-d tensor.
    public func t() throws -> Tensor {
        try dispatchTensor("aten::t", "", [.tensor(self)])
    }

    /// A size-1 dimension inserted at `dimension`.
    public func unsqueezed(_ dimension: Int) throws -> Tensor {
        try dispatchTensor("aten::unsqueeze", "", [.tensor(self), .int(dimension)])
    }

    /// The size-1 dimension `dimension` removed.
    public func squeezed(_ dimension: Int) throws -> Tensor {
        try dispatchTensor("aten::squeeze", "dim", [.tensor(self), .int(dimension)])
    }

    /// Dimensions `start ... end` merged into one.
    public func flattened(from start: Int = 0, to end: Int = -1) throws -> Tensor {
        try dispatchTensor("aten::flatten", "using_ints", [.tensor(self), .int(start), .int(end)])
    }

    /// Elements `start ..< end` (by `step`) along `dimension`; nil bounds mean the whole range.
    public func slice(_ dimension: Int, _ start: Int?, _ end: Int?, step: Int = 1) throws -> Tensor {
        try dispatchTensor("aten::slice", "Tensor",
                           [.tensor(self), .int(dimension), start.map { .int($0) } ?? .none,
                            end.map { .int($0) } ?? .none, .int(step)])
    }

    /// The sub-tensor at `index` along `dimension` (that dimension removed).
    public func select(_ dimension: Int, _ index: Int) throws -> Tensor {
        try dispatchTensor("aten::select", "int", [.tensor(self), .int(dimension), .int(index)])
    }

    /// `length` elements from `start` along `dimension` (a view).
    public func narrow(_ dimension: Int, start: Int, length: Int) throws -> Tensor {
        try dispatchTensor("aten::narrow", "", [.tensor(self), .int(dimension), .int(start), .int(length)])
    }

    /// The entries at `indices` (an int64 tensor) along `dimension`.
    public func indexSelect(_ dimension: Int, _ indices: Tensor) throws -> Tensor {
        try dispatchTensor("aten::index_select", "", [.tensor(self), .int(dimension), .tensor(indices)])
    }

    /// A view with size-1 dimensions repeated to `shape` (-1 keeps a size).
    public func expanded(_ shape: [Int]) throws -> Tensor {
        try dispatchTensor("aten::expand", "", [.tensor(self), .ints(shape)])
    }

    /// The elements reversed along `dimensions`.
    public func flipped(_ dimensions: [Int]) throws -> Tensor {
        try dispatchTensor("aten::flip", "", [.tensor(self), .ints(dimensions)])
    }

    /// A view of the same storage with explicit sizes, strides and offset (in elements).
    public func asStrided(_ shape: [Int], strides: [Int], offset: Int = 0) throws -> Tensor {
        try dispatchTensor("aten::as_strided", "", [.tensor(self), .ints(shape), .ints(strides), .int(offset)])
    }

    /// Tensors joined along `dimension`.
    public static func cat(_ tensors: [Tensor], dimension: Int = 0) throws -> Tensor {
        try dispatchTensor("aten::cat", "", [.tensors(tensors), .int(dimension)])
    }

    /// Tensors stacked along a new `dimension`.
    public static func stack(_ tensors: [Tensor], dimension: Int = 0) throws -> Tensor {
        try dispatchTensor("aten::stack", "", [.tensors(tensors), .int(dimension)])
    }

    /// Consecutive pieces of `size` elements along `dimension` (the last may be smaller).
    public func split(size: Int, dimension: Int = 0) throws -> [Tensor] {
        try dispatchTensors("aten::split", "Tensor", [.tensor(self), .int(size), .int(dimension)])
    }

    /// `count` nearly equal pieces along `dimension`.
    public func chunked(_ count: Int, dimension: Int = 0) throws -> [Tensor] {
        try dispatchTensors("aten::chunk", "", [.tensor(self), .int(count), .int(dimension)])
    }
}

// MARK: - Arithmetic

extension Tensor {
    /// Element-wise sum (broadcasting).
    public static func + (lhs: Tensor, rhs: Tensor) throws -> Tensor {
        try dispatchTensor("aten::add", "Tensor", [.tensor(lhs), .tensor(rhs)])
    }
    /// Element-wise difference (broadcasting).
    public static func - (lhs: Tensor, rhs: Tensor) throws -> Tensor {
        try dispatchTensor("aten::sub", "Tensor", [.tensor(lhs), .tensor(rhs)])
    }
    /// Element-wise product (broadcasting).
    public static func * (lhs: Tensor, rhs: Tensor) throws -> Tensor {
        try dispatchTensor("aten::mul", "Tensor", [.tensor(lhs), .tensor(rhs)])
    }
    /// Element-wise quotient (broadcasting; true division).
    public static func / (lhs: Tensor, rhs: Tensor) throws -> Tensor {
        try dispatchTensor("aten::div", "Tensor", [.tensor(lhs), .tensor(rhs)])
    }
    /// Adds a scalar to every element.
    public static func + (lhs: Tensor, rhs: Double) throws -> Tensor {
        try dispatchTensor("aten::add", "Scalar", [.tensor(lhs), .double(rhs)])
    }
    /// Subtracts a scalar from every element.
    public static func - (lhs: Tensor, rhs: Double) throws -> Tensor {
        try dispatchTensor("aten::sub", "Scalar", [.tensor(lhs), .double(rhs)])
    }
    /// Multiplies every element by a scalar.
    public static func * (lhs: Tensor, rhs: Double) throws -> Tensor {
        try dispatchTensor("aten::mul", "Scalar", [.tensor(lhs), .double(rhs)])
    }
    /// Divides every element by a scalar.
    public static func / (lhs: Tensor, rhs: Double) throws -> Tensor {
        try dispatchTensor("aten::div", "Scalar", [.tensor(lhs), .double(rhs)])
    }
    /// Element-wise negation.
    public static prefix func - (operand: Tensor) throws -> Tensor {
        try dispatchTensor("aten::neg", "", [.tensor(operand)])
    }

    /// `self + alpha * other`, in place.
    @discardableResult
    public func addInPlace(_ other: Tensor, alpha: Double = 1) throws -> Tensor {
        try dispatchTensor("aten::add_", "Tensor", [.tensor(self), .tensor(other), .double(alpha)])
    }
    /// `self + value`, in place (an integer scalar: keeps integer dtypes).
    @discardableResult
    public func addInPlace(_ value: Int) throws -> Tensor {
        try dispatchTensor("aten::add_", "Scalar", [.tensor(self), .int(value)])
    }
    /// `self + value`, in place.
    @discardableResult
    public func addInPlace(_ value: Double) throws -> Tensor {
        try dispatchTensor("aten::add_", "Scalar", [.tensor(self), .double(value)])
    }
    /// `self * other`, in place.
    @discardableResult
    public func multiplyInPlace(_ other: Tensor) throws -> Tensor {
        try dispatchTensor("aten::mul_", "Tensor", [.tensor(self), .tensor(other)])
    }
    /// `self * factor`, in place.
    @discardableResult
    public func multiplyInPlace(_ factor: Double) throws -> Tensor {
        try dispatchTensor("aten::mul_", "Scalar", [.tensor(self), .double(factor)])
    }
    /// `self / divisor`, in place.
    @discardableResult
    public func divideInPlace(_ divisor: Double) throws -> Tensor {
        try dispatchTensor("aten::div_", "Scalar", [.tensor(self), .double(divisor)])
    }
    /// `self + value * first * second`, in place.
    @discardableResult
    public func addProductInPlace(_ first: Tensor, _ second: Tensor, value: Double = 1) throws -> Tensor {
        try dispatchTensor("aten::addcmul_", "", [.tensor(self), .tensor(first), .tensor(second), .double(value)])
    }
    /// `self + value * numerator / denominator`, in place.
    @discardableResult
    public func addQuotientInPlace(_ numerator: Tensor, _ denominator: Tensor, value: Double = 1) throws -> Tensor {
        try dispatchTensor("aten::addcdiv_", "", [.tensor(self), .tensor(numerator), .tensor(denominator), .double(value)])
    }
    /// `self + weight * (end - self)`, in place.
    @discardableResult
    public func lerpInPlace(_ end: Tensor, weight: Double) throws -> Tensor {
        try dispatchTensor("aten::lerp_", "Scalar", [.tensor(self), .tensor(end), .double(weight)])
    }

    /// Element-wise square root.
    public func sqrt() throws -> Tensor { try dispatchTensor("aten::sqrt", "", [.tensor(self)]) }
    /// Element-wise exponential.
    public func exp() throws -> Tensor { try dispatchTensor("aten::exp", "", [.tensor(self)]) }
    /// Element-wise natural logarithm.
    public func log() throws -> Tensor { try dispatchTensor("aten::log", "", [.tensor(self)]) }
    /// Element-wise absolute value.
    public func abs() throws -> Tensor { try dispatchTensor("aten::abs", "", [.tensor(self)]) }
    /// Element-wise power.
    public func pow(_ exponent: Double) throws -> Tensor {
        try dispatchTensor("aten::pow", "Tensor_Scalar", [.tensor(self), .double(exponent)])
    }
    /// Elements limited to `[minimum, maximum]` (nil: unbounded).
    public func clamped(min minimum: Double? = nil, max maximum: Double? = nil) throws -> Tensor {
        try dispatchTensor("aten::clamp", "", [.tensor(self), minimum.map { .double($0) } ?? .none,
                                               maximum.map { .double($0) } ?? .none])
    }
    /// Element-wise maximum of two tensors.
    public func maximum(_ other: Tensor) throws -> Tensor {
        try dispatchTensor("aten::maximum", "", [.tensor(self), .tensor(other)])
    }

    /// Matrix product (batched and broadcast as `torch.matmul`).
    public func matmul(_ other: Tensor) throws -> Tensor {
        try dispatchTensor("aten::matmul", "", [.tensor(self), .tensor(other)])
    }

    /// Element-wise `self == value`.
    public func equal(_ value: Double) throws -> Tensor {
        try dispatchTensor("aten::eq", "Scalar", [.tensor(self), .double(value)])
    }
    /// Element-wise `self == other`.
    public func equal(_ other: Tensor) throws -> Tensor {
        try dispatchTensor("aten::eq", "Tensor", [.tensor(self), .tensor(other)])
    }
    /// Element-wise `self > value`.
    public func greater(_ value: Double) throws -> Tensor {
        try dispatchTensor("aten::gt", "Scalar", [.tensor(self), .double(value)])
    }
    /// Element-wise `self > other`.
    public func greater(_ other: Tensor) throws -> Tensor {
        try dispatchTensor("aten::gt", "Tensor", [.tensor(self), .tensor(other)])
    }
    /// Element-wise `self < value`.
    public func less(_ value: Double) throws -> Tensor {
        try dispatchTensor("aten::lt", "Scalar", [.tensor(self), .double(value)])
    }
    /// Element-wise finiteness.
    public func isFinite() throws -> Tensor {
        try dispatchTensor("aten::isfinite", "", [.tensor(self)])
    }
    /// `self` where `condition`, else `other`.
    public func selecting(where condition: Tensor, else other: Tensor) throws -> Tensor {
        try dispatchTensor("aten::where", "self", [.tensor(condition), .tensor(self), .tensor(other)])
    }
}

// MARK: - Reductions

extension Tensor {
    /// The sum of all elements.
    public func sum() throws -> Tensor {
        try dispatchTensor("aten::sum", "", [.tensor(self)])
    }
    /// Sums over `dimensions`.
    public func sum(_ dimensions: [Int], keepingDimensions: Bool = false) throws -> Tensor {
        try dispatchTensor("aten::sum", "dim_IntList", [.tensor(self), .ints(dimensions), .bool(keepingDimensions)])
    }
    /// The mean of all elements.
    public func mean() throws -> Tensor {
        try dispatchTensor("aten::mean", "", [.tensor(self)])
    }
    /// Means over `dimensions`.
    public func mean(_ dimensions: [Int], keepingDimensions: Bool = false) throws -> Tensor {
        try dispatchTensor("aten::mean", "dim", [.tensor(self), .ints(dimensions), .bool(keepingDimensions)])
    }
    /// The largest element.
    public func max() throws -> Tensor {
        try dispatchTensor("aten::max", "", [.tensor(self)])
    }
    /// The smallest element.
    public func min() throws -> Tensor {
        try dispatchTensor("aten::min", "", [.tensor(self)])
    }
    /// Largest values along `dimension`, with their indices.
    public func max(_ dimension: Int, keepingDimension: Bool = false) throws -> (values: Tensor, indices: Tensor) {
        let (values, indices) = try dispatchPair("aten::max", "dim", [.tensor(self), .int(dimension), .bool(keepingDimension)])
        return (values, indices)
    }
    /// Index of the largest value along `dimension`.
    public func argmax(_ dimension: Int, keepingDimension: Bool = false) throws -> Tensor {
        try dispatchTensor("aten::argmax", "", [.tensor(self), .int(dimension), .bool(keepingDimension)])
    }
    /// `log(sum(exp(x)))` over `dimensions`, computed stably.
    public func logsumexp(_ dimensions: [Int], keepingDimensions: Bool = false) throws -> Tensor {
        try dispatchTensor("aten::logsumexp", "", [.tensor(self), .ints(dimensions), .bool(keepingDimensions)])
    }
    /// Values sorted along `dimension` and their original indices (stable sort).
    public func sorted(_ dimension: Int = -1, descending: Bool = false) throws -> (values: Tensor, indices: Tensor) {
        let (values, indices) = try dispatchPair("aten::sort", "stable",
                                                 [.tensor(self), .bool(true), .int(dimension), .bool(descending)])
        return (values, indices)
    }
    /// The Euclidean norm of all elements.
    public func norm() throws -> Tensor {
        try dispatchTensor("aten::linalg_vector_norm", "", [.tensor(self), .double(2)])
    }
    /// Whether every element is non-zero.
    public func all() throws -> Tensor {
        try dispatchTensor("aten::all", "", [.tensor(self)])
    }
}

// MARK: - Neural-network operations

extension Tensor {
    /// 3-d convolution of a `B x C x T x H x W` input.
    public func conv3d(weight: Tensor, bias: Tensor? = nil, stride: [Int] = [1, 1, 1],
                       padding: [Int] = [0, 0, 0], dilation: [Int] = [1, 1, 1], groups: Int = 1) throws -> Tensor {
        try dispatchTensor("aten::conv3d", "", [.tensor(self), .tensor(weight), .tensor(bias), .ints(stride),
                                                .ints(padding), .ints(dilation), .int(groups)])
    }

    /// Batch normalisation; in training, normalises with batch statistics and updates the running
    /// statistics in place (`momentum` as PyTorch).
    public func batchNorm(weight: Tensor?, bias: Tensor?, runningMean: Tensor?, runningVariance: Tensor?,
                          training: Bool, momentum: Double = 0.1, epsilon: Double = 1e-5) throws -> Tensor {
        try dispatchTensor("aten::batch_norm", "", [.tensor(self), .tensor(weight), .tensor(bias), .tensor(runningMean),
                                                    .tensor(runningVariance), .bool(training), .double(momentum),
                                                    .double(epsilon), .bool(true)])
    }

    /// 3-d max pooling.
    public func maxPool3d(kernel: [Int], stride: [Int], padding: [Int] = [0, 0, 0],
                          ceilMode: Bool = false) throws -> Tensor {
        try dispatchTensor("aten::max_pool3d", "", [.tensor(self), .ints(kernel), .ints(stride), .ints(padding),
                                                    .ints([1, 1, 1]), .bool(ceilMode)])
    }

    /// Constant padding; `padding` lists (before, after) pairs from the last dimension backwards,
    /// as `torch.nn.functional.pad`.
    public func constantPadded(_ padding: [Int], value: Double = 0) throws -> Tensor {
        try dispatchTensor("aten::constant_pad_nd", "", [.tensor(self), .ints(padding), .double(value)])
    }

    /// `max(0, x)`.
    public func relu() throws -> Tensor { try dispatchTensor("aten::relu", "", [.tensor(self)]) }
    /// `max(0, x)`, in place.
    @discardableResult
    public func reluInPlace() throws -> Tensor { try dispatchTensor("aten::relu_", "", [.tensor(self)]) }
    /// The logistic function.
    public func sigmoid() throws -> Tensor { try dispatchTensor("aten::sigmoid", "", [.tensor(self)]) }

    /// `x Wᵀ + b`.
    public func linear(weight: Tensor, bias: Tensor? = nil) throws -> Tensor {
        try dispatchTensor("aten::linear", "", [.tensor(self), .tensor(weight), .tensor(bias)])
    }

    /// Rows of this weight matrix picked by `indices` (an int64 tensor of any shape).
    public func embedding(_ indices: Tensor) throws -> Tensor {
        try dispatchTensor("aten::embedding", "", [.tensor(self), .tensor(indices)])
    }

    /// Softmax along `dimension`.
    public func softmax(_ dimension: Int) throws -> Tensor {
        try dispatchTensor("aten::softmax", "int", [.tensor(self), .int(dimension)])
    }

    /// Log-softmax along `dimension`.
    public func logSoftmax(_ dimension: Int) throws -> Tensor {
        try dispatchTensor("aten::log_softmax", "int", [.tensor(self), .int(dimension)])
    }
}
