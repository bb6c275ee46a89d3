import Foundation
import Testing
import TestSupport
import TorchFiles
@testable import Torch

/// What `torch.optim` did over some steps (`PythonOracles.optimizerSteps`): the same initial
/// parameters and gradients for our optimiser, and PyTorch's parameters after every step.
struct TorchOptimizerRun {
    /// The tensors of `steps.pth`, by name.
    let tensors: [String: Tensor]
    /// The learning rate of each step (the reference's `LambdaLR`).
    let learningRates: [Double]
    /// The number of steps.
    let steps: Int

    /// The parameters: 0 to 2 trained, 3 frozen.
    static let parameterCount = 4

    /// Runs PyTorch's `optimizer` ("adam" or "sgd") for `steps` steps.
    init(optimizer: String, learningRate: Double, momentum: Double = 0, weightDecay: Double = 0, steps: Int = 10,
         warmup: Int = 3, seed: Int = 1) throws {
        try TestEnvironment.requireOracle("torch")
        let folder = try TestEnvironment.temporaryDirectory("optimizer")
        defer { try? FileManager.default.removeItem(at: folder) }
        let configuration: [String: Any] = ["optimizer": optimizer, "lr": learningRate, "momentum": momentum,
                                            "weight_decay": weightDecay, "steps": steps, "seed": seed,
                                            "warmup": warmup, "total": steps]
        let json = String(decoding: try JSONSerialization.data(withJSONObject: configuration), as: UTF8.self)
        let output = try runPython(PythonOracles.optimizerSteps, arguments: [folder.path, json])
        struct Printed: Decodable { var lrs: [Double] }
        learningRates = try JSONDecoder().decode(Printed.self, from: Data(output.utf8)).lrs
        tensors = Dictionary(try loadNamedTensors(from: folder.appendingPathComponent("steps.pth")).map { ($0.name, $0.tensor) },
                             uniquingKeysWith: { a, _ in a })
        self.steps = steps
    }

    /// Fresh copies of the initial parameters, the frozen one without `requiresGrad`.
    func makeParameters() throws -> [Tensor] {
        try (0..<Self.parameterCount).map { index in
            let parameter = try #require(tensors["initial.\(index)"]).clone()
            return try parameter.setRequiresGrad(index != 3)
        }
    }

    /// Gives each parameter the gradient PyTorch's had at `step` (none where it had none).
    func setGradients(of parameters: [Tensor], step: Int) throws {
        for (index, parameter) in parameters.enumerated() {
            try parameter.setGrad(tensors["grad.\(step).\(index)"]?.clone())
        }
    }

    /// `‖a − b‖ / ‖b‖` in float64.
    static func relativeError(_ a: Tensor, _ b: Tensor) throws -> Double {
        let x = try a.to(.float64), y = try b.to(.float64)
        return try (x - y).norm().item() / max(try y.norm().item(), 1e-30)
    }

    /// Compares `parameters` with PyTorch's after `step`: each within `tolerance` (relative);
    /// returns the largest error.
    @discardableResult
    func expectParameters(_ parameters: [Tensor], afterStep step: Int, tolerance: Double = 1e-6,
                          sourceLocation: SourceLocation = #_sourceLocation) throws -> Double {
        var largest = 0.0
        for (index, parameter) in parameters.enumerated() {
            let expected = try #require(tensors["after.\(step).\(index)"], sourceLocation: sourceLocation)
            let error = try Self.relativeError(parameter, expected)
            largest = max(largest, error)
            #expect(error <= tolerance, "parameter \(index) after step \(step): relative error \(error)",
                    sourceLocation: sourceLocation)
        }
        return largest
    }

    /// Takes PyTorch's steps with `optimizer` on `parameters` (its learning rate and gradients at
    /// each), comparing the parameters after every step; returns the largest relative error.
    func replay(_ optimizer: Optimizer, on parameters: [Tensor],
                sourceLocation: SourceLocation = #_sourceLocation) throws -> Double {
        var largest = 0.0
        for step in 0..<steps {
            optimizer.learningRate = learningRates[step]
            try setGradients(of: parameters, step: step)
            try optimizer.step()
            largest = max(largest, try expectParameters(parameters, afterStep: step, sourceLocation: sourceLocation))
        }
        return largest
    }

    /// Checks that training moved every trained parameter well away from its start (so that
    /// agreement after the steps says something about the updates) and left the frozen one.
    func expectMoved(_ parameters: [Tensor], sourceLocation: SourceLocation = #_sourceLocation) throws {
        for index in 0..<Self.parameterCount {
            let initial = try #require(tensors["initial.\(index)"], sourceLocation: sourceLocation)
            let moved = try Self.relativeError(parameters[index], initial)
            if index == 3 {
                #expect(moved == 0, "the frozen parameter changed", sourceLocation: sourceLocation)
            } else {
                #expect(moved > 0.05, "parameter \(index) moved by only \(moved)", sourceLocation: sourceLocation)
            }
        }
    }
}

/// Our optimisers agree with `torch.optim` over ten steps of a warmup and cosine schedule: the
/// same initial parameters and gradients, the parameters compared after every step, the state
/// at the end. One parameter is frozen and one misses its gradient on some steps, as PyTorch
/// skips parameters without a gradient.
@Suite(.serialized) struct OptimizerTests {
    @Test(arguments: [Adam.Implementation.fused, .perTensor], [0.0, 0.05])
    func adamMatchesTorchOptimAdam(implementation: Adam.Implementation, weightDecay: Double) throws {
        let torch = try TorchOptimizerRun(optimizer: "adam", learningRate: 0.1, weightDecay: weightDecay)
        let parameters = try torch.makeParameters()
        let adam = Adam(parameters: parameters, learningRate: 0.1, weightDecay: weightDecay, implementation: implementation)
        let largest = try torch.replay(adam, on: parameters)
        print("Adam \(implementation), weight decay \(weightDecay): largest relative error \(largest)")
        try torch.expectMoved(parameters)

        // The state: none for the frozen parameter; the steps each parameter was updated (parameter
        // 2 missed its gradient on 3 of the 10), and the moments.
        #expect(adam.states.keys.sorted() == [0, 1, 2])
        for (index, state) in adam.states {
            let steps = try #require(torch.tensors["state.\(index).step"])
            #expect(try state.step.item() == steps.item(), "step of parameter \(index)")
            #expect(try TorchOptimizerRun.relativeError(state.expAvg, #require(torch.tensors["state.\(index).exp_avg"])) <= 1e-6)
            #expect(try TorchOptimizerRun.relativeError(state.expAvgSq, #require(torch.tensors["state.\(index).exp_avg_sq"])) <= 1e-6)
        }
        #expect(try adam.states[2]?.step.item() == 7)
    }

    @Test(arguments: [0.9, 0.0], [0.0, 0.05])
    func sgdMatchesTorchOptimSGD(momentum: Double, weightDecay: Double) throws {
        let torch = try TorchOptimizerRun(optimizer: "sgd", learningRate: 0.1, momentum: momentum, weightDecay: weightDecay)
        let parameters = try torch.makeParameters()
        let sgd = SGD(parameters: parameters, learningRate: 0.1, momentum: momentum, weightDecay: weightDecay)
        let largest = try torch.replay(sgd, on: parameters)
        print("SGD momentum \(momentum), weight decay \(weightDecay): largest relative error \(largest)")
        try torch.expectMoved(parameters)

        // PyTorch keeps a momentum buffer only with momentum.
        #expect(sgd.momentumBuffers.keys.sorted() == (momentum == 0 ? [] : [0, 1, 2]))
        for (index, buffer) in sgd.momentumBuffers {
            let expected = try #require(torch.tensors["state.\(index).momentum_buffer"])
            #expect(try TorchOptimizerRun.relativeError(buffer, expected) <= 1e-6, "momentum buffer of parameter \(index)")
        }
    }
}
