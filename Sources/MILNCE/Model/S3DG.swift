import Torch

// S3D-G, the video network of MIL-NCE (REFERENCE.md section 1), with the reference's module
// names so that its state_dict keys are ours.

/// `STConv3D`: a 3-d convolution, BatchNorm and ReLU; separable blocks factor a 3x3x3 kernel into
/// a 1x3x3 spatial and a 3x1x1 temporal convolution, each with its own BatchNorm and ReLU.
public final class STConv3D: Module {
    let conv1: Conv3d
    let bn1: BatchNorm3d
    let conv2: Conv3d?
    let bn2: BatchNorm3d?

    /// - Parameters: `kernel`, `stride` and `padding` over (T, H, W).
    public init(_ input: Int, _ output: Int, kernel: [Int], stride: [Int] = [1, 1, 1], padding: [Int] = [0, 0, 0],
                separable: Bool = false, generator: Generator? = nil) throws {
        if separable && kernel[0] != 1 {
            conv1 = try Conv3d(input, output, kernel: [1, kernel[1], kernel[2]], stride: [1, stride[1], stride[2]],
                               padding: [0, padding[1], padding[2]], bias: false, generator: generator)
            bn1 = try BatchNorm3d(output)
            conv2 = try Conv3d(output, output, kernel: [kernel[0], 1, 1], stride: [stride[0], 1, 1],
                               padding: [padding[0], 0, 0], bias: false, generator: generator)
            bn2 = try BatchNorm3d(output)
        } else {
            conv1 = try Conv3d(input, output, kernel: kernel, stride: stride, padding: padding, bias: false,
                               generator: generator)
            bn1 = try BatchNorm3d(output)
            conv2 = nil
            bn2 = nil
        }
        super.init()
        register(child: conv1, as: "conv1")
        register(child: bn1, as: "bn1")
        if let conv2, let bn2 {
            register(child: conv2, as: "conv2")
            register(child: bn2, as: "bn2")
        }
    }

    public func callAsFunction(_ input: Tensor) throws -> Tensor {
        var output = try bn1(conv1(input)).reluInPlace()
        if let conv2, let bn2 {
            output = try bn2(conv2(output)).reluInPlace()
        }
        return output
    }
}

/// `SelfGating`: channels re-weighted by a sigmoid of a linear map of their mean over T, H, W.
public final class SelfGating: Module {
    let fc: Linear

    public init(_ channels: Int, generator: Generator? = nil) throws {
        fc = try Linear(channels, channels, generator: generator)
        super.init()
        register(child: fc, as: "fc")
    }

    public func callAsFunction(_ input: Tensor) throws -> Tensor {
        let average = try input.mean([2, 3, 4])
        let weights = try fc(average).sigmoid()
        return try weights.reshaped(weights.shape + [1, 1, 1]) * input
    }
}

/// The gated Inception block: four branches (1x1x1; 1x1x1 then separable 3x3x3, twice; max
/// pooling then 1x1x1), each gated, concatenated over channels.
public final class InceptionBlock: Module {
    let branch0: STConv3D
    let branch1a: STConv3D, branch1b: STConv3D
    let branch2a: STConv3D, branch2b: STConv3D
    let branch3b: STConv3D
    let gates: [SelfGating]
    /// Channels of the output.
    public let outputChannels: Int

    public init(_ input: Int, _ b0: Int, _ b1a: Int, _ b1b: Int, _ b2a: Int, _ b2b: Int, _ b3b: Int,
                generator: Generator? = nil) throws {
        branch0 = try STConv3D(input, b0, kernel: [1, 1, 1], generator: generator)
        branch1a = try STConv3D(input, b1a, kernel: [1, 1, 1], generator: generator)
        branch1b = try STConv3D(b1a, b1b, kernel: [3, 3, 3], padding: [1, 1, 1], separable: true, generator: generator)
        branch2a = try STConv3D(input, b2a, kernel: [1, 1, 1], generator: generator)
        branch2b = try STConv3D(b2a, b2b, kernel: [3, 3, 3], padding: [1, 1, 1], separable: true, generator: generator)
        branch3b = try STConv3D(input, b3b, kernel: [1, 1, 1], generator: generator)
        gates = try [b0, b1b, b2b, b3b].map { try SelfGating($0, generator: generator) }
        outputChannels = b0 + b1b + b2b + b3b
        super.init()
        register(child: branch0, as: "conv_b0")
        register(child: branch1a, as: "conv_b1_a")
        register(child: branch1b, as: "conv_b1_b")
        register(child: branch2a, as: "conv_b2_a")
        register(child: branch2b, as: "conv_b2_b")
        register(child: branch3b, as: "conv_b3_b")
        for (index, gate) in gates.enumerated() { register(child: gate, as: "gating_b\(index)") }
    }

    public func callAsFunction(_ input: Tensor) throws -> Tensor {
        let b0 = try gates[0](branch0(input))
        let b1 = try gates[1](branch1b(branch1a(input)))
        let b2 = try gates[2](branch2b(branch2a(input)))
        let pooled = try input.maxPool3d(kernel: [3, 3, 3], stride: [1, 1, 1], padding: [1, 1, 1])
        let b3 = try gates[3](branch3b(pooled))
        return try Tensor.cat([b0, b1, b2, b3], dimension: 1)
    }
}

/// Max pooling with TensorFlow's "SAME" padding: zeros before and after each of T, H, W (the
/// extra one after), then pooling with ceil mode.
struct MaxPool3dSame {
    let kernel: [Int]
    let stride: [Int]

    func callAsFunction(_ input: Tensor) throws -> Tensor {
        // constant_pad_nd takes (before, after) pairs from the last dimension (W) backwards.
        var padding: [Int] = []
        for dimension in [2, 1, 0] {
            let along = max(kernel[dimension] - stride[dimension], 0)
            padding += [along / 2, along - along / 2]
        }
        let padded = padding.allSatisfy { $0 == 0 } ? input : try input.constantPadded(padding)
        return try padded.maxPool3d(kernel: kernel, stride: stride, ceilMode: true)
    }
}

/// The S3D-G video network: `B x 3 x T x H x W` clips in [0, 1] to the 1024-d mixed_5c feature and
/// the embedding (`fc`). Fully convolutional over T, H and W.
public final class S3DG: Module {
    /// Whether the input is rearranged 2x2x2 space-to-depth before `conv1` (the released
    /// pretrained model's layout); training uses the plain layout.
    public let spaceToDepth: Bool
    let conv1: STConv3D
    let conv2b: STConv3D
    let conv2c: STConv3D
    let gating: SelfGating
    let mixed3b: InceptionBlock, mixed3c: InceptionBlock
    let mixed4b: InceptionBlock, mixed4c: InceptionBlock, mixed4d: InceptionBlock
    let mixed4e: InceptionBlock, mixed4f: InceptionBlock
    let mixed5b: InceptionBlock, mixed5c: InceptionBlock
    let fc: Linear
    let maxpool2a = MaxPool3dSame(kernel: [1, 3, 3], stride: [1, 2, 2])
    let maxpool3a = MaxPool3dSame(kernel: [1, 3, 3], stride: [1, 2, 2])
    let maxpool4a = MaxPool3dSame(kernel: [3, 3, 3], stride: [2, 2, 2])
    let maxpool5a = MaxPool3dSame(kernel: [2, 2, 2], stride: [2, 2, 2])

    /// Channels of the mixed_5c feature.
    public static let featureDimension = 1024

    /// The network with `embeddingDimension` outputs (512 in MIL-NCE), initialised as PyTorch's
    /// defaults from `generator`. Child modules are registered by the caller-visible names of
    /// the reference (`conv1`, `conv_2b`, ..., `fc`).
    public init(embeddingDimension: Int = 512, spaceToDepth: Bool = false, generator: Generator? = nil) throws {
        self.spaceToDepth = spaceToDepth
        let g = generator
        conv1 = spaceToDepth
            ? try STConv3D(24, 64, kernel: [2, 4, 4], padding: [1, 2, 2], generator: g)
            : try STConv3D(3, 64, kernel: [3, 7, 7], stride: [2, 2, 2], padding: [1, 3, 3], generator: g)
        conv2b = try STConv3D(64, 64, kernel: [1, 1, 1], generator: g)
        conv2c = try STConv3D(64, 192, kernel: [3, 3, 3], padding: [1, 1, 1], separable: true, generator: g)
        gating = try SelfGating(192, generator: g)
        mixed3b = try InceptionBlock(192, 64, 96, 128, 16, 32, 32, generator: g)
        mixed3c = try InceptionBlock(mixed3b.outputChannels, 128, 128, 192, 32, 96, 64, generator: g)
        mixed4b = try InceptionBlock(mixed3c.outputChannels, 192, 96, 208, 16, 48, 64, generator: g)
        mixed4c = try InceptionBlock(mixed4b.outputChannels, 160, 112, 224, 24, 64, 64, generator: g)
        mixed4d = try InceptionBlock(mixed4c.outputChannels, 128, 128, 256, 24, 64, 64, generator: g)
        mixed4e = try InceptionBlock(mixed4d.outputChannels, 112, 144, 288, 32, 64, 64, generator: g)
        mixed4f = try InceptionBlock(mixed4e.outputChannels, 256, 160, 320, 32, 128, 128, generator: g)
        mixed5b = try InceptionBlock(mixed4f.outputChannels, 256, 160, 320, 32, 128, 128, generator: g)
        mixed5c = try InceptionBlock(mixed5b.outputChannels, 384, 192, 384, 48, 128, 128, generator: g)
        fc = try Linear(mixed5c.outputChannels, embeddingDimension, generator: g)
        super.init()
        register(child: conv1, as: "conv1")
        register(child: conv2b, as: "conv_2b")
        register(child: conv2c, as: "conv_2c")
        register(child: gating, as: "gating")
        for (name, block) in [("mixed_3b", mixed3b), ("mixed_3c", mixed3c), ("mixed_4b", mixed4b),
                              ("mixed_4c", mixed4c), ("mixed_4d", mixed4d), ("mixed_4e", mixed4e),
                              ("mixed_4f", mixed4f), ("mixed_5b", mixed5b), ("mixed_5c", mixed5c)] {
            register(child: block, as: name)
        }
        register(child: fc, as: "fc")
    }

    /// The 1024-d mixed_5c features (mean over T, H, W) of a `B x 3 x T x H x W` batch in [0, 1].
    public func features(_ video: Tensor) throws -> Tensor {
        guard video.rank == 5, video.shape[1] == 3 else {
            throw ModelError.badInput("video batch must be B x 3 x T x H x W, got \(video.shape)")
        }
        var net = spaceToDepth ? try Self.spaceToDepth(video) : video
        net = try conv1(net)
        if spaceToDepth { net = try net.slice(2, 1, nil).slice(3, 1, nil).slice(4, 1, nil) }
        net = try maxpool2a(net)
        net = try conv2c(conv2b(net))
        net = try gating(net)
        net = try maxpool3a(net)
        net = try mixed3c(mixed3b(net))
        net = try maxpool4a(net)
        net = try mixed4f(mixed4e(mixed4d(mixed4c(mixed4b(net)))))
        net = try maxpool5a(net)
        net = try mixed5c(mixed5b(net))
        return try net.mean([2, 3, 4])
    }

    /// The video embedding: `fc` of the mixed_5c features.
    public func callAsFunction(_ video: Tensor) throws -> Tensor {
        try fc(features(video))
    }

    /// `B,C,T,H,W` → `B,8C,T/2,H/2,W/2` as the released model's input layout.
    static func spaceToDepth(_ input: Tensor) throws -> Tensor {
        let s = input.shape
        let (b, c, t, h, w) = (s[0], s[1], s[2], s[3], s[4])
        guard t % 2 == 0, h % 2 == 0, w % 2 == 0 else {
            throw ModelError.badInput("space-to-depth needs even T, H and W, got \(s)")
        }
        return try input.view([b, c, t / 2, 2, h / 2, 2, w / 2, 2])
            .permuted([0, 3, 5, 7, 1, 2, 4, 6])
            .contiguous()
            .view([b, 8 * c, t / 2, h / 2, w / 2])
    }
}

/// Errors of the model layer.
public enum ModelError: Error, CustomStringConvertible {
    /// An input tensor of the wrong shape or type.
    case badInput(String)
    /// A checkpoint or word-vector file that does not fit the model.
    case badCheckpoint(String)

    public var description: String {
        switch self {
        case .badInput(let message): "bad model input: \(message)"
        case .badCheckpoint(let message): message
        }
    }
}
