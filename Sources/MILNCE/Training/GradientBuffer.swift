import Torch

/// The trainable parameters' gradients as views into one persistent flat buffer (as DDP's
/// `gradient_as_bucket_view`): zeroing them is one fill, and averaging them across ranks is an
/// all-reduce of the buffer in place, with no copy in or out.
///
/// Parameters are laid out in reverse order, as DDP lays out its buckets, because backward produces
/// the last layers' gradients first; consecutive ranges of the buffer form the buckets that can
/// be all-reduced while backward still runs (the first small, so that communication starts early).
/// Each view has its parameter's strides (channels_last weights get channels_last gradients).
final class GradientBuffer {
    /// The trainable parameters, in the model's order.
    let parameters: [Tensor]
    /// All gradients, end to end.
    let flat: Tensor
    /// Each parameter's gradient: a view into `flat` with the parameter's shape and strides.
    let views: [Tensor]
    /// Consecutive ranges of `flat`, in the order backward fills them.
    let buckets: [Tensor]
    /// The bucket of each parameter.
    let bucketOfParameter: [Int]

    /// - Parameters: `bucketBytes`: the size of a bucket (the first is at most 1 MiB).
    init(parameters all: [Tensor], bucketBytes: Int = 25 << 20) throws {
        let parameters = all.filter(\.requiresGrad)
        self.parameters = parameters
        guard let first = parameters.first else {
            throw TrainingError.invalidConfiguration("the model has no trainable parameter")
        }
        guard parameters.allSatisfy({ $0.dtype == first.dtype && $0.device == first.device }) else {
            throw TrainingError.invalidConfiguration("the trainable parameters do not share one dtype and device")
        }
        let total = parameters.reduce(0) { $0 + $1.count }
        let flat = try Tensor.zeros([total], dtype: first.dtype, device: first.device)
        self.flat = flat
        let elementBytes = first.dtype.byteCount
        var offsets = Array(repeating: 0, count: parameters.count)
        var bucketOf = Array(repeating: 0, count: parameters.count)
        var bucketRanges: [(start: Int, count: Int)] = []
        var offset = 0, bucketStart = 0
        for index in parameters.indices.reversed() {
            offsets[index] = offset
            bucketOf[index] = bucketRanges.count
            offset += parameters[index].count
            let cap = bucketRanges.isEmpty ? Swift.min(1 << 20, bucketBytes) : bucketBytes
            if (offset - bucketStart) * elementBytes >= cap || index == 0 {
                bucketRanges.append((bucketStart, offset - bucketStart))
                bucketStart = offset
            }
        }
        views = try parameters.indices.map { index in
            try flat.asStrided(parameters[index].shape, strides: parameters[index].strides, offset: offsets[index])
        }
        buckets = try bucketRanges.map { try flat.narrow(0, start: $0.start, length: $0.count) }
        bucketOfParameter = bucketOf
    }

    /// Makes the views the parameters' gradients again (anything may have cleared or replaced them).
    func attach() throws {
        for (parameter, view) in zip(parameters, views) { try parameter.setGrad(view) }
    }

    /// Sets every gradient to zero.
    func zero() throws {
        try withoutGrad { _ = try flat.zeroInPlace() }
    }
}
