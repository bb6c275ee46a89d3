import CTorch

/// Process-wide facts and settings of the libtorch runtime.
public enum Runtime {
    /// libtorch's version, e.g. `2.11.0`.
    public static var torchVersion: String { String(cString: ct_torch_version()) }

    /// Whether a CUDA device can be used.
    public static var isCUDAAvailable: Bool { ct_cuda_is_available() }

    /// The number of CUDA devices.
    public static var cudaDeviceCount: Int { Int(ct_cuda_device_count()) }

    /// Whether this build can create NCCL process groups.
    public static var hasNCCL: Bool { ct_has_nccl() }

    /// Threads libtorch uses for intra-op parallelism on the CPU.
    public static var threadCount: Int {
        get { Int(ct_num_threads()) }
        set { ct_set_num_threads(Int32(newValue)) }
    }

    /// cuDNN's autotuner (`torch.backends.cudnn.benchmark`).
    public static func setCuDNNBenchmark(_ enabled: Bool) { ct_set_cudnn_benchmark(enabled) }

    /// Whether cuDNN's float32 convolutions may compute in TensorFloat-32
    /// (`torch.backends.cudnn.allow_tf32`). libtorch's default, and PyTorch's, is true. A process-wide
    /// flag that exists (and reads back) without CUDA too; it changes nothing on the CPU.
    public static var allowsTF32Convolutions: Bool {
        get { ct_allow_tf32_cudnn() }
        set { ct_set_allow_tf32_cudnn(newValue) }
    }

    /// Whether cuBLAS's float32 matrix products may compute in TensorFloat-32
    /// (`torch.backends.cuda.matmul.allow_tf32`). libtorch's default, and PyTorch's, is false.
    public static var allowsTF32MatrixProducts: Bool {
        get { ct_allow_tf32_cublas() }
        set { ct_set_allow_tf32_cublas(newValue) }
    }

    /// Allows or forbids TensorFloat-32 in both convolutions and matrix products; nil leaves
    /// PyTorch's defaults (convolutions on, matrix products off) as they are.
    public static func setTF32(_ enabled: Bool?) {
        guard let enabled else { return }
        allowsTF32Convolutions = enabled
        allowsTF32MatrixProducts = enabled
    }

    /// The TF32 settings in words, e.g. `TF32 convolutions on, matrix products off`.
    public static var tf32Description: String {
        "TF32 convolutions \(allowsTF32Convolutions ? "on" : "off"), matrix products \(allowsTF32MatrixProducts ? "on" : "off")"
    }

    /// Waits for every queued operation on a CUDA device.
    public static func synchronize(_ device: Device) throws {
        if case .cuda(let index) = device {
            try check(ct_cuda_synchronize(Int32(index)), "synchronising \(device)")
        }
    }

    /// Makes `device` the current CUDA device of this thread.
    public static func setCurrentDevice(_ device: Device) throws {
        if case .cuda(let index) = device {
            try check(ct_cuda_set_device(Int32(index)), "selecting \(device)")
        }
    }

    /// Peak bytes allocated by libtorch on a CUDA device since the last reset.
    public static func peakMemory(on device: Device) throws -> Int {
        guard case .cuda(let index) = device else { return 0 }
        var result: Int64 = 0
        try check(ct_cuda_peak_memory(Int32(index), &result), "reading memory statistics of \(device)")
        return Int(result)
    }

    /// Resets the peak returned by `peakMemory(on:)`.
    public static func resetPeakMemory(on device: Device) throws {
        if case .cuda(let index) = device {
            try check(ct_cuda_reset_peak_memory(Int32(index)), "resetting memory statistics of \(device)")
        }
    }
}
