import Testing
@testable import Torch

@Suite struct TensorTests {
    @Test func createsFromArraysAndReadsBack() throws {
        let x = try Tensor([1, 2, 3, 4, 5, 6] as [Float], shape: [2, 3])
        #expect(x.shape == [2, 3])
        #expect(x.dtype == .float32)
        #expect(x.device == .cpu)
        #expect(try x.toArray(of: Float.self) == [1, 2, 3, 4, 5, 6])
        let y = try (x * 2.0).sum()
        #expect(try y.item() == 42)
    }

    @Test func libtorchErrorsAreThrown() throws {
        let a = try Tensor.zeros([2, 3])
        let b = try Tensor.zeros([4, 5])
        #expect(throws: TorchError.self) { try a.matmul(b) }
        #expect(throws: TorchError.self) { try Tensor([1, 2, 3] as [Float], shape: [2, 2]) }
    }

    @Test func autogradComputesGradients() throws {
        let x = try Tensor([1, 2, 3] as [Float]).setRequiresGrad()
        let y = try (x * x).sum()
        try y.backward()
        #expect(try x.grad!.toArray(of: Float.self) == [2, 4, 6])
    }

    @Test func conv3dRuns() throws {
        let g = try Generator(seed: 0)
        let x = try Tensor.randn([1, 3, 4, 8, 8], generator: g)
        let w = try Tensor.randn([5, 3, 3, 3, 3], generator: g)
        let y = try x.conv3d(weight: w, padding: [1, 1, 1])
        #expect(y.shape == [1, 5, 4, 8, 8])
    }
}
