import Foundation
import Synchronization
import Testing
import TestSupport
@testable import Torch

/// Two ranks in one process, each on its own thread with its own Gloo process group.
@Suite struct DistributedTests {
    func runRanks(_ size: Int, _ body: @escaping @Sendable (ProcessGroup) throws -> Void) throws {
        let folder = try TestEnvironment.temporaryDirectory("store")
        let path = folder.appendingPathComponent("store").path
        let errors = ErrorBox()
        let group = DispatchGroup()
        for rank in 0..<size {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                do {
                    let store = try Store(file: path, worldSize: size)
                    let processGroup = try ProcessGroup(store: store, rank: rank, size: size, backend: .gloo,
                                                        timeoutSeconds: 60)
                    try body(processGroup)
                } catch {
                    errors.append("rank \(rank): \(error)")
                }
            }
        }
        group.wait()
        #expect(errors.values.isEmpty, "\(errors.values)")
    }

    @Test func collectivesCombineRanks() throws {
        try runRanks(2) { group in
            let value = try Tensor([Float(group.rank + 1), 10], shape: [2])
            try group.allReduce([value])
            #expect(try value.toArray(of: Float.self) == [3, 20])

            let averaged = try Tensor([Float(group.rank) * 4], shape: [1])
            try group.allReduce([averaged], .average)
            #expect(try averaged.toArray(of: Float.self) == [2])

            let shared = try Tensor([Float(group.rank) + 7], shape: [1])
            try group.broadcast([shared], from: 1)
            #expect(try shared.toArray(of: Float.self) == [8])

            let gathered = try group.allGather(Tensor([Int64(group.rank), Int64(group.rank * 100)], shape: [1, 2]))
            #expect(try gathered.map { try $0.toArray(of: Int64.self) } == [[0, 0], [1, 100]])
            try group.barrier()
        }
    }

    /// Gradients held as views of two buckets are summed across ranks: a bucket whose gradients
    /// are complete starts during backward, one with an unused parameter at `finish()`; after the
    /// reducer is gone, backward runs without its hooks.
    @Test func gradientBucketsAreSummedWhileBackwardRuns() throws {
        try runRanks(2) { group in
            let factor = Double(group.rank + 1)
            let a = try Tensor([1, 2, 3] as [Float]).setRequiresGrad()
            let b = try Tensor([4, 5] as [Float]).setRequiresGrad()
            let unused = try Tensor([6] as [Float]).setRequiresGrad()
            let flat = try Tensor.zeros([6])
            // Reverse order, as backward produces them: [unused | b | a], buckets [unused, b] and [a].
            try unused.setGrad(flat.narrow(0, start: 0, length: 1))
            try b.setGrad(flat.narrow(0, start: 1, length: 2))
            try a.setGrad(flat.narrow(0, start: 3, length: 3))
            let buckets = [try flat.narrow(0, start: 0, length: 3), try flat.narrow(0, start: 3, length: 3)]
            var reducer: GradientReducer? = try GradientReducer(group: group, parameters: [a, b, unused],
                                                                bucketOfParameter: [1, 0, 0], buckets: buckets)
            for round in 1...2 {
                _ = try flat.zeroInPlace()
                try reducer!.prepare()
                try ((a * factor).sum() + (b * (10 * factor)).sum()).backward()
                let started = try reducer!.finish()
                // Bucket 0 waits for the unused parameter, and bucket 1 may not start before bucket 0.
                #expect(started == 0, "round \(round)")
                #expect(try flat.toArray(of: Float.self) == [0, 30, 30, 3, 3, 3], "round \(round)")
            }
            reducer = try GradientReducer(group: group, parameters: [a, b], bucketOfParameter: [1, 0],
                                          buckets: [try flat.narrow(0, start: 1, length: 2), try flat.narrow(0, start: 3, length: 3)])
            _ = try flat.zeroInPlace()
            try reducer!.prepare()
            try ((a * factor).sum() + (b * (10 * factor)).sum()).backward()
            #expect(try reducer!.finish() == 2, "both buckets complete during backward")
            #expect(try flat.toArray(of: Float.self) == [0, 30, 30, 3, 3, 3])
            reducer = nil
            _ = try flat.zeroInPlace()
            try (a * factor).sum().backward()
            #expect(try a.grad!.toArray(of: Float.self) == [Float(factor), Float(factor), Float(factor)])
        }
    }

    @Test func badArgumentsAreErrors() throws {
        let folder = try TestEnvironment.temporaryDirectory("store")
        let store = try Store(file: folder.appendingPathComponent("s").path, worldSize: 1)
        #expect(throws: TorchError.self) { try ProcessGroup(store: store, rank: 3, size: 2, backend: .gloo) }
        if !Runtime.hasNCCL || !Runtime.isCUDAAvailable {
            #expect(throws: TorchError.self) { try ProcessGroup(store: store, rank: 0, size: 1, backend: .nccl) }
        }
    }
}

/// Collects errors from several threads.
final class ErrorBox: Sendable {
    private let storage = Mutex<[String]>([])

    /// Adds one error's message.
    func append(_ message: String) { storage.withLock { $0.append(message) } }

    /// The messages so far.
    var values: [String] { storage.withLock { $0 } }
}
