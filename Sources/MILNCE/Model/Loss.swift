import Torch

/// The MIL-NCE loss (REFERENCE.md section 3) for `N` video embeddings and `N·K` text embeddings,
/// the K candidate captions of clip i in rows i·K ..< i·K + K.
///
/// With x = v·tᵀ viewed as N x N x K: for clip i, the positive score is the logsumexp over k of
/// x[i, i, k]; the denominator the logsumexp over x[i, :, :] and x[:, i, :]; the loss the mean of
/// (denominator − positive). Computed with the reference's operations, in its order.
public func milNCELoss(video: Tensor, text: Tensor) throws -> Tensor {
    let n = video.shape.first ?? 0
    guard video.rank == 2, text.rank == 2, n > 0, text.shape[0] % n == 0, text.shape[1] == video.shape[1] else {
        throw ModelError.badInput("MIL-NCE needs N x D video and N·K x D text embeddings, got \(video.shape) and \(text.shape)")
    }
    let x = try video.matmul(text.t()).view([n, n, -1])
    let eye = try Tensor.eye(n, dtype: x.dtype, device: x.device).reshaped([n, n, 1])
    let nominator = try (x * eye).sum([1]).logsumexp([1])
    let denominator = try Tensor.cat([x, x.permuted([1, 0, 2])], dimension: 1).view([n, -1]).logsumexp([1])
    return try (denominator - nominator).mean()
}
