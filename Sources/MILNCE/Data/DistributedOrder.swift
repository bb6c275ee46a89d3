// The order in which each rank visits the dataset in an epoch: PyTorch's
// `DistributedSampler(dataset)` with `set_epoch(epoch)`, then a `DataLoader` with `drop_last`.

import Torch

// MARK: - Errors

/// Settings that do not describe a distributed order.
public struct DistributedOrderError: Error, CustomStringConvertible, Sendable {
    /// What is wrong.
    public let message: String

    public var description: String { "choosing the distributed sample order: \(message)" }
}

// MARK: - Order

/// Which samples a rank sees in an epoch, exactly as `torch.utils.data.DistributedSampler`:
/// shuffle with `torch.randperm(n, generator)` where the generator is seeded with `seed + epoch`,
/// pad by repeating the order's start up to a multiple of the world size (or, with `dropLast`,
/// cut down to one), then keep every `worldSize`-th index starting at `rank`.
public struct DistributedOrder: Sendable, Equatable {
    /// The dataset's length (videos, for HowTo100M).
    public let datasetCount: Int
    /// The number of ranks.
    public let worldSize: Int
    /// This rank.
    public let rank: Int
    /// The sampler's seed (PyTorch's default is 0).
    public let seed: UInt64
    /// Whether the order is shuffled (the reference: yes).
    public let shuffle: Bool
    /// Whether the sampler drops the tail instead of padding (the reference: no).
    public let dropLast: Bool

    /// The order for `rank` of `worldSize` over `datasetCount` samples.
    public init(datasetCount: Int, worldSize: Int = 1, rank: Int = 0, seed: UInt64 = 0, shuffle: Bool = true,
                dropLast: Bool = false) throws {
        guard datasetCount >= 0 else { throw DistributedOrderError(message: "the dataset length \(datasetCount) is negative") }
        guard worldSize >= 1 else { throw DistributedOrderError(message: "the world size \(worldSize) is not positive") }
        guard rank >= 0 && rank < worldSize else {
            throw DistributedOrderError(message: "rank \(rank) is outside 0..<\(worldSize)")
        }
        self.datasetCount = datasetCount
        self.worldSize = worldSize
        self.rank = rank
        self.seed = seed
        self.shuffle = shuffle
        self.dropLast = dropLast
    }

    /// Samples per rank and epoch (`num_samples`).
    public var samplesPerRank: Int {
        if dropLast && datasetCount % worldSize != 0 {
            return (datasetCount - worldSize + worldSize - 1) / worldSize
        }
        return (datasetCount + worldSize - 1) / worldSize
    }

    /// Samples of all ranks per epoch (`total_size`).
    public var totalSize: Int { samplesPerRank * worldSize }

    /// The dataset indices this rank visits in `epoch`, in order.
    public func indices(epoch: Int) throws -> [Int] {
        guard epoch >= 0 else { throw DistributedOrderError(message: "the epoch \(epoch) is negative") }
        var order: [Int]
        if shuffle {
            let generator = try Generator(seed: seed &+ UInt64(epoch))
            order = try Tensor.randperm(datasetCount, generator: generator).toArray(of: Int64.self).map { Int($0) }
        } else {
            order = Array(0..<datasetCount)
        }
        let total = totalSize
        if !dropLast {
            let padding = total - order.count
            if padding > 0 && !order.isEmpty {
                let start = order
                while order.count < total { order.append(contentsOf: start.prefix(total - order.count)) }
            }
        } else {
            order.removeLast(max(0, order.count - total))
        }
        guard order.count == total else {
            throw DistributedOrderError(message: "the padded order has \(order.count) indices, \(total) expected")
        }
        return Array(stride(from: rank, to: total, by: worldSize).map { order[$0] })
    }

    /// Full batches per epoch for a per-rank batch of `batchSize` (the loader drops the last,
    /// partial one).
    public func batchCount(batchSize: Int) -> Int {
        batchSize > 0 ? samplesPerRank / batchSize : 0
    }

    /// This rank's batches in `epoch`: consecutive runs of `batchSize` indices, the partial
    /// last one dropped.
    public func batches(epoch: Int, batchSize: Int) throws -> [[Int]] {
        guard batchSize > 0 else { throw DistributedOrderError(message: "the batch size \(batchSize) is not positive") }
        let order = try indices(epoch: epoch)
        return (0..<batchCount(batchSize: batchSize)).map { Array(order[($0 * batchSize)..<(($0 + 1) * batchSize)]) }
    }
}
