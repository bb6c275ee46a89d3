import Testing
@testable import Torch

/// Process-wide runtime settings. This is the only test in this process that changes TF32 (the
/// commands' `--tf32` is tested in child processes), and it reads the defaults before any change.
@Suite struct RuntimeTests {
    @Test func tf32DefaultsArePyTorchsAndTheSwitchesAreSeparate() {
        // PyTorch's defaults, as `torch.backends.cudnn.allow_tf32` (True) and
        // `torch.backends.cuda.matmul.allow_tf32` (False) report them; the flags exist without CUDA.
        #expect(Runtime.allowsTF32Convolutions == true)
        #expect(Runtime.allowsTF32MatrixProducts == false)
        #expect(Runtime.tf32Description == "TF32 convolutions on, matrix products off")

        let convolutions = Runtime.allowsTF32Convolutions, products = Runtime.allowsTF32MatrixProducts
        defer {
            Runtime.allowsTF32Convolutions = convolutions
            Runtime.allowsTF32MatrixProducts = products
        }
        Runtime.allowsTF32Convolutions = false
        #expect(!Runtime.allowsTF32Convolutions && !Runtime.allowsTF32MatrixProducts)
        Runtime.allowsTF32MatrixProducts = true
        #expect(!Runtime.allowsTF32Convolutions && Runtime.allowsTF32MatrixProducts)
        Runtime.setTF32(true)
        #expect(Runtime.allowsTF32Convolutions && Runtime.allowsTF32MatrixProducts)
        Runtime.setTF32(nil)
        #expect(Runtime.allowsTF32Convolutions && Runtime.allowsTF32MatrixProducts, "nil leaves the settings alone")
        Runtime.setTF32(false)
        #expect(!Runtime.allowsTF32Convolutions && !Runtime.allowsTF32MatrixProducts)
        // Float32 matrix products still run on the CPU (the flags are CUDA's).
        #expect(throws: Never.self) { _ = try Tensor.ones([2, 2]).matmul(Tensor.ones([2, 2])) }
    }
}
