import FoundationEssentials
import Glibc

/// An optimiser over a list of parameters: PyTorch's update rules, with state that can be saved
/// in a checkpoint and restored.
///
/// The parameter list is the model's full `parameters` list (frozen ones included), so that the
/// parameter numbers in saved state match PyTorch's `optimizer.state_dict()`; parameters without
/// a gradient are skipped and get no state.
public protocol Optimizer: AnyObject {
    /// The parameters, in the order of PyTorch's `model.parameters()`.
    var parameters: [Tensor] { get }
    /// The learning rate of the next step (a schedule sets it before each step).
    var learningRate: Double { get set }
    /// Applies one update from the parameters' accumulated gradients.
    func step() throws
    /// Clears every parameter's gradient (PyTorch's `zero_grad(set_to_none=True)`).
    func zeroGrad() throws
}

extension Optimizer {
    public func zeroGrad() throws {
        for parameter in parameters { try parameter.setGrad(nil) }
    }
}

/// Adam (`torch.optim.Adam`: betas (0.9, 0.999), eps 1e-8, no AMSGrad).
public final class Adam: Optimizer {
    /// The per-parameter state, named as PyTorch names it.
    public struct State {
        /// Steps taken (a float32 scalar tensor, as PyTorch).
        public var step: Tensor
        /// First-moment estimate (`exp_avg`).
        public var expAvg: Tensor
        /// Second-moment estimate (`exp_avg_sq`).
        public var expAvgSq: Tensor

        public init(step: Tensor, expAvg: Tensor, expAvgSq: Tensor) {
            self.step = step
            self.expAvg = expAvg
            self.expAvgSq = expAvgSq
        }
    }

    /// How updates are computed: one fused libtorch kernel over all parameters (fast, the default),
    /// or PyTorch's single-tensor algorithm step by step.
    public enum Implementation: Sendable { case fused, perTensor }

    public let parameters: [Tensor]
    public var learningRate: Double
    public var beta1: Double
    public var beta2: Double
    public var epsilon: Double
    public var weightDecay: Double
    public var implementation: Implementation
    /// State by parameter number (only for parameters that have been updated).
    public var states: [Int: State] = [:]

    public init(parameters: [Tensor], learningRate: Double = 1e-3, beta1: Double = 0.9, beta2: Double = 0.999,
                epsilon: Double = 1e-8, weightDecay: Double = 0, implementation: Implementation = .fused) {
        self.parameters = parameters
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        self.implementation = implementation
    }

    private func state(for index: Int, _ parameter: Tensor) throws -> State {
        if let existing = states[index] { return existing }
        let created = State(step: try Tensor.zeros([], device: parameter.device),
                            expAvg: try parameter.zerosLike(), expAvgSq: try parameter.zerosLike())
        states[index] = created
        return created
    }

    public func step() throws {
        try withoutGrad {
            var params: [Tensor] = [], grads: [Tensor] = [], averages: [Tensor] = []
            var squares: [Tensor] = [], steps: [Tensor] = []
            for (index, parameter) in parameters.enumerated() where parameter.requiresGrad {
                guard let grad = parameter.grad else { continue }
                let state = try state(for: index, parameter)
                params.append(parameter); grads.append(grad); averages.append(state.expAvg)
                squares.append(state.expAvgSq); steps.append(state.step)
            }
            guard !params.isEmpty else { return }
            switch implementation {
            case .fused:
                try dispatch("aten::_foreach_add_", "Scalar", [.tensors(steps), .double(1)])
                try dispatch("aten::_fused_adam_", "", [
                    .tensors(params), .tensors(grads), .tensors(averages), .tensors(squares), .tensors([]),
                    .tensors(steps), .double(learningRate), .double(beta1), .double(beta2),
                    .double(weightDecay), .double(epsilon), .bool(false), .bool(false),
                ])
            case .perTensor:
                for i in params.indices {
                    try perTensorStep(params[i], grads[i], averages[i], squares[i], steps[i])
                }
            }
        }
    }

    /// PyTorch's `_single_tensor_adam`.
    private func perTensorStep(_ parameter: Tensor, _ gradient: Tensor, _ expAvg: Tensor, _ expAvgSq: Tensor,
                               _ stepCount: Tensor) throws {
        try stepCount.addInPlace(1.0)
        let grad = weightDecay != 0 ? try gradient + (parameter * weightDecay) : gradient
        try expAvg.lerpInPlace(grad, weight: 1 - beta1)
        try expAvgSq.multiplyInPlace(beta2).addProductInPlace(grad, grad, value: 1 - beta2)
        let step = try stepCount.item()
        let biasCorrection1 = 1 - Glibc.pow(beta1, step)
        let biasCorrection2 = 1 - Glibc.pow(beta2, step)
        let stepSize = learningRate / biasCorrection1
        let denominator = try (expAvgSq.sqrt() / biasCorrection2.squareRoot()).addInPlace(epsilon)
        try parameter.addQuotientInPlace(expAvg, denominator, value: -stepSize)
    }
}

/// Stochastic gradient descent with momentum (`torch.optim.SGD`, dampening 0, no Nesterov).
public final class SGD: Optimizer {
    public let parameters: [Tensor]
    public var learningRate: Double
    public var momentum: Double
    public var weightDecay: Double
    /// `momentum_buffer` by parameter number.
    public var momentumBuffers: [Int: Tensor] = [:]

    public init(parameters: [Tensor], learningRate: Double, momentum: Double = 0.9, weightDecay: Double = 0) {
        self.parameters = parameters
        self.learningRate = learningRate
        self.momentum = momentum
        self.weightDecay = weightDecay
    }

    public func step() throws {
        try withoutGrad {
            for (index, parameter) in parameters.enumerated() where parameter.requiresGrad {
                guard let gradient = parameter.grad else { continue }
                var direction = weightDecay != 0 ? try gradient + (parameter * weightDecay) : gradient
                if momentum != 0 {
                    if let buffer = momentumBuffers[index] {
                        try buffer.multiplyInPlace(momentum).addInPlace(direction)
                        direction = buffer
                    } else {
                        let buffer = try direction.clone().detach()
                        momentumBuffers[index] = buffer
                        direction = buffer
                    }
                }
                try parameter.addInPlace(direction, alpha: -learningRate)
            }
        }
    }
}
