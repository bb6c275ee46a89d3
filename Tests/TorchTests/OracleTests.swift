import Foundation
import Testing
import TestSupport
import TorchFiles
@testable import Torch

/// Operations and their gradients agree with Python's torch on the same inputs, and tensors
/// cross between Swift and Python files unchanged.
@Suite(.serialized) struct OracleTests {
    func requirePython() throws {
        try TestEnvironment.requireOracle("torch")
    }

    func save(_ tensors: [(String, Tensor)], to url: URL) throws {
        try TorchFile.save(.stateDict(tensors.map { ($0.0, try $0.1.record()) }), to: url)
    }

    func load(_ url: URL) throws -> [String: Tensor] {
        Dictionary(try loadNamedTensors(from: url).map { ($0.name, $0.tensor) }, uniquingKeysWith: { a, _ in a })
    }

    static func relativeError(_ a: Tensor, _ b: Tensor) throws -> Double {
        let x = try a.to(.float64), y = try b.to(.float64)
        let scale = try y.norm().item()
        return try (x - y).norm().item() / max(scale, 1e-30)
    }

    /// Each operation of the model, forward and backward, in Swift and in Python on the same inputs.
    @Test func operationsAndGradientsMatchPyTorch() throws {
        try requirePython()
        let g = try Generator(seed: 7)
        let x = try Tensor.randn([2, 3, 4, 6, 6], generator: g)
        let w = try Tensor.randn([5, 3, 3, 3, 3], generator: g) * 0.2
        let b = try Tensor.randn([5], generator: g)
        let gamma = try Tensor.rand([5], generator: g) + 0.5
        let beta = try Tensor.randn([5], generator: g)
        let fcw = try Tensor.randn([7, 5], generator: g)
        let fcb = try Tensor.randn([7], generator: g)
        let table = try Tensor.randn([11, 4], generator: g)
        let ids = try Tensor.randint(0, 11, shape: [3, 5], generator: g)
        let leaves = [x, w, b, gamma, beta, fcw, fcb, table]
        for leaf in leaves { try leaf.setRequiresGrad() }

        // The computation (mirrored line by line in Python below).
        let runningMean = try Tensor.zeros([5]), runningVar = try Tensor.ones([5])
        var y = try x.conv3d(weight: w, bias: b, stride: [1, 2, 2], padding: [1, 1, 1])
        y = try y.batchNorm(weight: gamma, bias: beta, runningMean: runningMean, runningVariance: runningVar,
                            training: true, momentum: 0.1, epsilon: 1e-5)
        y = try y.relu()
        y = try y.constantPadded([0, 1, 0, 1, 0, 0]).maxPool3d(kernel: [1, 3, 3], stride: [1, 2, 2], ceilMode: true)
        let pooled = try y.mean([2, 3, 4])
        let gate = try pooled.sigmoid()
        let features = try (pooled * gate).linear(weight: fcw, bias: fcb)
        let words = try table.embedding(ids).max(1).values
        let joint = try Tensor.cat([features.permuted([1, 0]).reshaped([-1]), words.reshaped([-1])])
        let score = try features.matmul(features.t()).logsumexp([1]).sum() + joint.softmax(0).max() + words.mean()
        try score.backward()

        let folder = try TestEnvironment.temporaryDirectory("oracle")
        defer { try? FileManager.default.removeItem(at: folder) }
        let names = ["x", "w", "b", "gamma", "beta", "fcw", "fcb", "table"]
        try save(Array(zip(names, try leaves.map { try $0.detach() })) + [("ids", ids)], to: folder.appendingPathComponent("in.pth"))
        try runPython("""
        import sys, torch
        import torch.nn.functional as F
        d = torch.load(sys.argv[1] + '/in.pth')
        x, w, b, gamma, beta, fcw, fcb, table, ids = [d[k] for k in ['x','w','b','gamma','beta','fcw','fcb','table','ids']]
        for t in (x, w, b, gamma, beta, fcw, fcb, table): t.requires_grad_(True)
        rm, rv = torch.zeros(5), torch.ones(5)
        y = F.conv3d(x, w, b, stride=[1, 2, 2], padding=[1, 1, 1])
        y = F.batch_norm(y, rm, rv, gamma, beta, training=True, momentum=0.1, eps=1e-5)
        y = F.relu(y)
        y = F.max_pool3d(F.pad(y, [0, 1, 0, 1, 0, 0]), [1, 3, 3], [1, 2, 2], ceil_mode=True)
        pooled = y.mean(dim=[2, 3, 4])
        gate = torch.sigmoid(pooled)
        features = F.linear(pooled * gate, fcw, fcb)
        words = F.embedding(ids, table).max(dim=1)[0]
        joint = torch.cat([features.permute(1, 0).reshape(-1), words.reshape(-1)])
        score = torch.logsumexp(features @ features.t(), dim=1).sum() + joint.softmax(0).max() + words.mean()
        score.backward()
        out = {'score': score.detach(), 'features': features.detach(), 'running_mean': rm, 'running_var': rv}
        for k, t in zip(['x','w','b','gamma','beta','fcw','fcb','table'], (x, w, b, gamma, beta, fcw, fcb, table)):
            out['grad_' + k] = t.grad
        torch.save(out, sys.argv[1] + '/out.pth')
        """, arguments: [folder.path])
        let expected = try load(folder.appendingPathComponent("out.pth"))
        #expect(try Self.relativeError(score, #require(expected["score"])) < 1e-6)
        #expect(try Self.relativeError(features, #require(expected["features"])) < 1e-6)
        #expect(try Self.relativeError(runningMean, #require(expected["running_mean"])) < 1e-6)
        #expect(try Self.relativeError(runningVar, #require(expected["running_var"])) < 1e-6)
        for (name, leaf) in zip(names, leaves) {
            let gradient = try #require(leaf.grad, "no gradient for \(name)")
            let error = try Self.relativeError(gradient, #require(expected["grad_" + name]))
            #expect(error < 1e-5, "gradient of \(name): relative error \(error)")
        }
    }

    /// Every dtype survives Swift → file → Python → file → Swift with names, shapes and values.
    @Test func tensorsRoundTripThroughPython() throws {
        try requirePython()
        let g = try Generator(seed: 3)
        let base = try Tensor.randn([3, 4], generator: g) * 100
        var tensors: [(String, Tensor)] = []
        for dtype in DType.allCases {
            tensors.append(("t_\(dtype)", try base.to(dtype)))
        }
        tensors.append(("scalar", try Tensor(scalar: Int64(-5))))
        tensors.append(("empty", try Tensor.zeros([0, 3])))
        tensors.append(("view", try base.t().slice(0, 1, nil)))
        let folder = try TestEnvironment.temporaryDirectory("roundtrip")
        defer { try? FileManager.default.removeItem(at: folder) }
        try save(tensors, to: folder.appendingPathComponent("a.pth"))
        try runPython("""
        import sys, torch
        d = torch.load(sys.argv[1] + '/a.pth', weights_only=True)
        assert list(d.keys())[0].startswith('t_'), list(d.keys())
        out = {k: (v * 1 if v.dtype != torch.bool else v.clone()) for k, v in d.items()}
        torch.save(out, sys.argv[1] + '/b.pth')
        """, arguments: [folder.path])
        let back = try loadNamedTensors(from: folder.appendingPathComponent("b.pth"))
        #expect(back.map(\.name) == tensors.map(\.0))
        for ((name, original), (_, loaded)) in zip(tensors, back) {
            #expect(loaded.dtype == original.dtype, "\(name)")
            #expect(loaded.shape == original.shape, "\(name)")
            #expect(try loaded.bytes() == original.contiguous().bytes(), "\(name)")
        }
    }
}
