import Torch

/// The optimiser of a run (`--optimizer`, spelled as the reference spells it).
public enum OptimizerKind: String, Sendable, CaseIterable {
    /// `torch.optim.Adam` (the reference's default).
    case adam
    /// `torch.optim.SGD` with momentum (`--momentum`).
    case sgd
}

/// How the model's weights start (`--weight_init`, spelled as the reference spells it).
public enum WeightInitialization: String, Sendable, CaseIterable {
    /// PyTorch's default initialisation of each layer.
    case uniform
    /// He-normal convolution weights, unit BatchNorm scales and zero shifts.
    case kaimingNormal = "kaiming_normal"
}

extension OptimizerKind {
    /// A new optimiser of this kind over `parameters`.
    func makeOptimizer(parameters: [Tensor], learningRate: Double, momentum: Double) -> Optimizer {
        switch self {
        case .adam: Adam(parameters: parameters, learningRate: learningRate)
        case .sgd: SGD(parameters: parameters, learningRate: learningRate, momentum: momentum)
        }
    }
}
