import FoundationEssentials

// The layers S3D-G and the text network are built from, with PyTorch's parameter names,
// default initialisation and forward computations.

/// Uniform initialisation in [-bound, bound] as PyTorch's default for convolutions and linear
/// layers (`kaiming_uniform_(a=√5)` gives bound = 1/√fan_in).
private func uniform(_ shape: [Int], bound: Double, generator: Generator?) throws -> Tensor {
    try Tensor.empty(shape).uniformInPlace(-bound, bound, generator: generator)
}

/// A 3-d convolution `Conv3d(in, out, kernel, stride, padding)` (`weight`, optional `bias`).
public final class Conv3d: Module {
    /// `out x in x kT x kH x kW`.
    public let weight: Tensor
    /// `out`, or nil.
    public let bias: Tensor?
    /// Strides over T, H, W.
    public let stride: [Int]
    /// Zero padding over T, H, W.
    public let padding: [Int]

    /// A convolution with PyTorch's default initialisation drawn from `generator`.
    public init(_ inputChannels: Int, _ outputChannels: Int, kernel: [Int], stride: [Int] = [1, 1, 1],
                padding: [Int] = [0, 0, 0], bias: Bool = true, generator: Generator? = nil) throws {
        guard kernel.count == 3, stride.count == 3, padding.count == 3 else {
            throw TorchError(operation: "Conv3d", message: "kernel, stride and padding need 3 values each")
        }
        let fanIn = inputChannels * kernel.reduce(1, *)
        let bound = 1 / Double(fanIn).squareRoot()
        weight = try uniform([outputChannels, inputChannels] + kernel, bound: bound, generator: generator)
        self.bias = bias ? try uniform([outputChannels], bound: bound, generator: generator) : nil
        self.stride = stride
        self.padding = padding
        super.init()
        try register(parameter: weight, as: "weight")
        if let b = self.bias { try register(parameter: b, as: "bias") }
    }

    /// Convolves a `B x in x T x H x W` input.
    public func callAsFunction(_ input: Tensor) throws -> Tensor {
        try input.conv3d(weight: weight, bias: bias, stride: stride, padding: padding)
    }
}

/// Batch normalisation over the channels of a 5-d input (`BatchNorm3d`, eps 1e-5, momentum 0.1):
/// `weight`, `bias`, and buffers `running_mean`, `running_var`, `num_batches_tracked`.
public final class BatchNorm3d: Module {
    public let weight: Tensor
    public let bias: Tensor
    public let runningMean: Tensor
    public let runningVariance: Tensor
    /// Count of training batches seen (int64, as PyTorch).
    public let batchesTracked: Tensor
    public let epsilon: Double
    public let momentum: Double

    public init(_ channels: Int, epsilon: Double = 1e-5, momentum: Double = 0.1) throws {
        weight = try Tensor.ones([channels])
        bias = try Tensor.zeros([channels])
        runningMean = try Tensor.zeros([channels])
        runningVariance = try Tensor.ones([channels])
        batchesTracked = try Tensor.zeros([], dtype: .int64)
        self.epsilon = epsilon
        self.momentum = momentum
        super.init()
        try register(parameter: weight, as: "weight")
        try register(parameter: bias, as: "bias")
        register(buffer: runningMean, as: "running_mean")
        register(buffer: runningVariance, as: "running_var")
        register(buffer: batchesTracked, as: "num_batches_tracked")
    }

    /// Normalises with batch statistics in training (updating the running statistics and the
    /// batch count) and with the running statistics in evaluation.
    public func callAsFunction(_ input: Tensor) throws -> Tensor {
        if isTraining {
            try withoutGrad { _ = try batchesTracked.addInPlace(1) }
        }
        return try input.batchNorm(weight: weight, bias: bias, runningMean: runningMean,
                                   runningVariance: runningVariance, training: isTraining,
                                   momentum: momentum, epsilon: epsilon)
    }
}

/// A fully connected layer `Linear(in, out)`: `weight` (`out x in`) and `bias`.
public final class Linear: Module {
    public let weight: Tensor
    public let bias: Tensor?

    public init(_ inputFeatures: Int, _ outputFeatures: Int, bias: Bool = true, generator: Generator? = nil) throws {
        let bound = 1 / Double(inputFeatures).squareRoot()
        weight = try uniform([outputFeatures, inputFeatures], bound: bound, generator: generator)
        self.bias = bias ? try uniform([outputFeatures], bound: bound, generator: generator) : nil
        super.init()
        try register(parameter: weight, as: "weight")
        if let b = self.bias { try register(parameter: b, as: "bias") }
    }

    /// `x Wᵀ + b` over the last dimension.
    public func callAsFunction(_ input: Tensor) throws -> Tensor {
        try input.linear(weight: weight, bias: bias)
    }
}

/// A lookup table `Embedding(count, dimension)`: `weight` (`count x dimension`), optionally frozen
/// (no gradient, as `nn.Embedding.from_pretrained`).
public final class Embedding: Module {
    public let weight: Tensor

    /// An embedding with PyTorch's default N(0, 1) initialisation.
    public init(_ count: Int, _ dimension: Int, frozen: Bool = false, generator: Generator? = nil) throws {
        weight = try Tensor.empty([count, dimension]).normalInPlace(generator: generator)
        super.init()
        try register(parameter: weight, as: "weight", frozen: frozen)
    }

    /// An embedding holding `weight` (copied by reference), frozen unless stated otherwise.
    public init(pretrained weight: Tensor, frozen: Bool = true) throws {
        guard weight.rank == 2 else {
            throw TorchError(operation: "Embedding", message: "pretrained weight must be 2-d, got \(weight.shape)")
        }
        self.weight = weight
        super.init()
        try register(parameter: weight, as: "weight", frozen: frozen)
    }

    /// The rows for `indices` (int64, any shape); the result has one more dimension.
    public func callAsFunction(_ indices: Tensor) throws -> Tensor {
        try weight.embedding(indices)
    }
}
