import Foundation
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
final class ErrorBox: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [String] = []
    func append(_ message: String) { lock.lock(); storage.append(message); lock.unlock() }
    var values: [String] { lock.lock(); defer { lock.unlock() }; return storage }
}
