import CTorch

// MARK: - Gradients

extension Tensor {
    /// Whether operations on this tensor are recorded for differentiation.
    public var requiresGrad: Bool {
        withExtendedLifetime(self) {
            var result = false
            _ = ct_tensor_requires_grad(handle, &result)
            return result
        }
    }

    /// Starts or stops recording operations on this (leaf) tensor; returns `self`.
    @discardableResult
    public func setRequiresGrad(_ flag: Bool = true) throws -> Tensor {
        try withExtendedLifetime(self) {
            try check(ct_tensor_set_requires_grad(handle, flag), "setting requires_grad")
        }
        return self
    }

    /// The gradient accumulated by `backward()`, or nil when there is none.
    public var grad: Tensor? {
        withExtendedLifetime(self) {
            var result: OpaquePointer?
            guard ct_tensor_grad(handle, &result) == 0, let result else { return nil }
            return Tensor(owning: result)
        }
    }

    /// Replaces the accumulated gradient (nil clears it, as `zero_grad(set_to_none=True)`).
    public func setGrad(_ gradient: Tensor?) throws {
        try withExtendedLifetime((self, gradient)) {
            try check(ct_tensor_set_grad(handle, gradient?.handle), "setting a gradient")
        }
    }

    /// Computes the gradient of this tensor (a scalar, unless `gradient` is given) with respect
    /// to every leaf that requires it, accumulating into their `grad`.
    public func backward(gradient: Tensor? = nil, retainGraph: Bool = false) throws {
        try Tensor.backward([self], gradients: [gradient], retainGraph: retainGraph)
    }

    /// Backward from several roots at once.
    public static func backward(_ roots: [Tensor], gradients: [Tensor?]? = nil, retainGraph: Bool = false) throws {
        let gradients = gradients ?? Array(repeating: nil, count: roots.count)
        guard gradients.count == roots.count else {
            throw TorchError(operation: "backward", message: "\(roots.count) roots but \(gradients.count) gradients")
        }
        try withExtendedLifetime((roots, gradients)) {
            let rootHandles: [OpaquePointer?] = roots.map { $0.handle }
            let gradientHandles: [OpaquePointer?] = gradients.map { $0?.handle }
            try check(ct_backward(rootHandles, gradientHandles, Int64(roots.count), retainGraph), "backward")
        }
    }
}

// MARK: - Scopes

/// Runs `body` without recording operations for autograd (as `torch.no_grad()`), on this thread.
public func withoutGrad<R>(_ body: () throws -> R) rethrows -> R {
    let previous = ct_grad_enabled()
    ct_set_grad_enabled(false)
    defer { ct_set_grad_enabled(previous) }
    return try body()
}

/// Runs `body` with gradient recording on or off, on this thread.
public func withGrad<R>(enabled: Bool, _ body: () throws -> R) rethrows -> R {
    let previous = ct_grad_enabled()
    ct_set_grad_enabled(enabled)
    defer { ct_set_grad_enabled(previous) }
    return try body()
}

/// Whether operations are being recorded for autograd on this thread.
public var isGradEnabled: Bool { ct_grad_enabled() }

/// Runs `body` under automatic mixed precision on `device` (as `torch.autocast`): eligible
/// operations (convolutions, matrix products) compute in `dtype`, typically bfloat16 on CUDA.
public func withAutocast<R>(on device: Device, dtype: DType = .bfloat16, _ body: () throws -> R) throws -> R {
    var previousEnabled = false
    var previousDType: Int32 = 0
    try check(ct_autocast_enter(device.typeCode, dtype.rawValue, &previousEnabled, &previousDType),
              "entering autocast on \(device)")
    defer { _ = ct_autocast_exit(device.typeCode, previousEnabled, previousDType) }
    return try body()
}
