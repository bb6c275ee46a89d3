import Foundation
import Testing
import TestSupport
@testable import MILNCE

@Suite struct DistributedOrderTests {
    private struct Setting: Encodable {
        let count: Int, world: Int, rank: Int, epoch: Int, seed: UInt64, shuffle: Bool, dropLast: Bool, batch: Int
    }

    /// Every rank's indices and batches against PyTorch's own `DistributedSampler` (with
    /// `set_epoch`) and a `DataLoader` with `drop_last=True`.
    @Test func ordersAndBatchesMatchPyTorch() throws {
        var settings: [Setting] = []
        let shapes: [(count: Int, world: Int)] = [(1000, 1), (1000, 8), (1001, 8), (7, 3), (2, 5), (1, 4), (0, 2),
                                                  (12345, 16), (999, 4), (64, 64), (10, 3)]
        for (count, world) in shapes {
            for epoch in [0, 1, 7] {
                for rank in Set([0, world / 2, world - 1]) {
                    for (seed, shuffle, dropLast) in [(UInt64(0), true, false), (12, true, false), (0, true, true), (3, false, false)] {
                        settings.append(Setting(count: count, world: world, rank: rank, epoch: epoch, seed: seed,
                                                shuffle: shuffle, dropLast: dropLast, batch: [1, 3, 8, 256][(count + rank) % 4]))
                    }
                }
            }
        }
        // HowTo100M's size, as the reference trains it on 8 GPUs.
        settings.append(Setting(count: 1_238_911, world: 8, rank: 5, epoch: 2, seed: 0, shuffle: true, dropLast: false,
                                batch: 32))
        struct Answer: Decodable { let indices: [Int]; let batches: [[Int]] }
        let answers: [Answer] = try PythonOracle.run("""
        import json, sys, torch
        from torch.utils.data import DataLoader
        from torch.utils.data.distributed import DistributedSampler
        out = []
        for s in json.load(open(sys.argv[1])):
            dataset = list(range(s["count"]))
            sampler = DistributedSampler(dataset, num_replicas=s["world"], rank=s["rank"], shuffle=s["shuffle"],
                                         seed=s["seed"], drop_last=s["dropLast"])
            sampler.set_epoch(s["epoch"])
            loader = DataLoader(dataset, batch_size=s["batch"], sampler=sampler, drop_last=True)
            out.append({"indices": list(sampler), "batches": [b.tolist() for b in loader]})
        print(json.dumps(out))
        """, input: settings)
        try #require(answers.count == settings.count)
        for (setting, answer) in zip(settings, answers) {
            let order = try DistributedOrder(datasetCount: setting.count, worldSize: setting.world, rank: setting.rank,
                                             seed: setting.seed, shuffle: setting.shuffle, dropLast: setting.dropLast)
            #expect(try order.indices(epoch: setting.epoch) == answer.indices, "\(setting)")
            #expect(order.samplesPerRank == answer.indices.count, "\(setting)")
            #expect(try order.batches(epoch: setting.epoch, batchSize: setting.batch) == answer.batches, "\(setting)")
            #expect(order.batchCount(batchSize: setting.batch) == answer.batches.count, "\(setting)")
        }
    }

    /// The ranks of one epoch together cover the dataset (padding repeats the start).
    @Test func ranksTogetherCoverTheDataset() throws {
        let count = 1003, world = 8
        var seen: [Int] = []
        for rank in 0..<world {
            seen += try DistributedOrder(datasetCount: count, worldSize: world, rank: rank).indices(epoch: 4)
        }
        #expect(seen.count == 1008)
        #expect(Set(seen) == Set(0..<count))
        let first = try DistributedOrder(datasetCount: count, worldSize: 1, rank: 0)
        #expect(try first.indices(epoch: 0) != first.indices(epoch: 1))
    }

    @Test func invalidSettingsAreTypedErrors() throws {
        #expect(throws: DistributedOrderError.self) { try DistributedOrder(datasetCount: 10, worldSize: 0, rank: 0) }
        #expect(throws: DistributedOrderError.self) { try DistributedOrder(datasetCount: 10, worldSize: 2, rank: 2) }
        #expect(throws: DistributedOrderError.self) { try DistributedOrder(datasetCount: -1) }
        let order = try DistributedOrder(datasetCount: 10)
        #expect(throws: DistributedOrderError.self) { try order.indices(epoch: -1) }
        #expect(throws: DistributedOrderError.self) { try order.batches(epoch: 0, batchSize: 0) }
    }
}
