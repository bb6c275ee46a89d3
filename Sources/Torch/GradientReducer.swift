import CTorch

/// Sums gradients across the ranks of a process group while backward still runs, as DDP's reducer
/// does: each bucket (a contiguous tensor whose parts are the gradients of some parameters) starts
/// its all-reduce as soon as all of its parameters' gradients are complete and every earlier
/// bucket has started, so that every rank starts the same collectives in the same order.
///
/// Use: `prepare()` before each backward pass, `finish()` after it (it starts any bucket not yet
/// started and waits for all of them).
public final class GradientReducer {
    let handle: OpaquePointer
    /// The group the sums run over (kept alive with the reducer).
    public let group: ProcessGroup
    private let buckets: [Tensor]

    /// - Parameters:
    ///   - parameters: leaves that require gradients; `bucketOfParameter[i]` is parameter i's bucket.
    ///   - buckets: contiguous tensors that hold the parameters' gradients (as views).
    public init(group: ProcessGroup, parameters: [Tensor], bucketOfParameter: [Int], buckets: [Tensor]) throws {
        guard parameters.count == bucketOfParameter.count else {
            throw TorchError(operation: "gradient reducer",
                             message: "\(parameters.count) parameters but \(bucketOfParameter.count) bucket numbers")
        }
        var result: OpaquePointer?
        try withExtendedLifetime((group, parameters, buckets)) {
            let parameterHandles: [OpaquePointer?] = parameters.map { $0.handle }
            let bucketHandles: [OpaquePointer?] = buckets.map { $0.handle }
            let numbers = bucketOfParameter.map(Int64.init)
            try check(ct_gradient_reducer_new(group.handle, parameterHandles, numbers, Int64(parameters.count),
                                              bucketHandles, Int64(buckets.count), &result),
                      "setting up the gradient all-reduce")
        }
        handle = result!
        self.group = group
        self.buckets = buckets
    }

    deinit {
        ct_gradient_reducer_free(handle)
    }

    /// Arms the reducer for the next backward pass.
    public func prepare() throws {
        try check(ct_gradient_reducer_prepare(handle), "preparing the gradient all-reduce")
    }

    /// Starts the buckets not started yet and waits for every bucket's sum; returns how many
    /// buckets started while backward was running.
    @discardableResult
    public func finish() throws -> Int {
        var started: Int64 = 0
        try check(ct_gradient_reducer_finish(handle, &started), "all-reduce")
        return Int(started)
    }
}
