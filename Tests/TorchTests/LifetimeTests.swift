import Foundation
import Testing
@testable import Torch

/// Handles are freed deterministically: loops of operations neither leak handles nor grow the
/// process's memory, and errors leave nothing behind.
@Suite(.serialized) struct LifetimeTests {
    static func residentBytes() -> Int {
        guard let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = statm.split(separator: " ")
        return fields.count > 1 ? (Int(fields[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE))) : 0
    }

    /// Runs in a child process of its own, so that no other test's tensors are counted.
    @Test func hundredThousandOperationsDoNotGrowMemory() async {
        await #expect(processExitsWith: .success) {
            let a = try Tensor.ones([64, 64])
            let b = try Tensor.full([64, 64], value: 0.5)
            func work(_ iterations: Int) throws {
                for _ in 0..<iterations {
                    let c = try (a * b + a).relu()
                    _ = try c.sum()
                }
            }
            try work(2_000)  // warm up allocator caches
            let handlesBefore = Tensor.liveCount
            let memoryBefore = LifetimeTests.residentBytes()
            try work(25_000)  // 4 operations each: 100,000 operations
            let growth = LifetimeTests.residentBytes() - memoryBefore
            if Tensor.liveCount != handlesBefore {
                print("leaked \(Tensor.liveCount - handlesBefore) tensor handles")
                exit(1)
            }
            if growth >= 8 << 20 {
                print("resident memory grew by \(growth) bytes")
                exit(2)
            }
        }
    }

    @Test func failedOperationsLeaveNoHandles() async {
        await #expect(processExitsWith: .success) {
            let a = try Tensor.zeros([2, 3])
            let before = Tensor.liveCount
            for _ in 0..<1000 {
                _ = try? a.matmul(a)
                _ = try? a.reshaped([7])
                _ = try? Tensor.cat([a, try Tensor.zeros([3])])
            }
            if Tensor.liveCount != before { exit(1) }
        }
    }

    @Test func autogradGraphsAreReleased() async {
        await #expect(processExitsWith: .success) {
            let weight = try Tensor.randn([32, 32], generator: Generator(seed: 1)).setRequiresGrad()
            let before = Tensor.liveCount
            for _ in 0..<500 {
                let loss = try weight.matmul(weight).relu().sum()
                try loss.backward()
                try weight.setGrad(nil)
            }
            if Tensor.liveCount != before { exit(1) }
        }
    }

    @Test func viewsKeepTheirStorageAlive() throws {
        var view: Tensor?
        do {
            let base = try Tensor([1, 2, 3, 4, 5, 6] as [Float], shape: [2, 3])
            view = try base.t().slice(0, 1, nil)
        }
        #expect(try view!.contiguous().toArray(of: Float.self) == [2, 5, 3, 6])
    }

    @Test func mistypedOperatorCallsAreErrorsNotCrashes() throws {
        let a = try Tensor.zeros([2, 2])
        #expect(throws: TorchError.self) { try dispatch("aten::conv3d", "", [.int(1), .tensor(a)]) }
        #expect(throws: TorchError.self) { try dispatch("aten::no_such_operator", "", []) }
        #expect(throws: TorchError.self) { try dispatch("aten::add", "Tensor", [.tensor(a), .tensor(a), .string("x")]) }
        #expect(throws: TorchError.self) { try dispatch("aten::relu", "", [.tensor(a), .tensor(a)]) }
        #expect(throws: TorchError.self) { try a.to(.cuda(0)) }
        #expect(throws: TorchError.self) { try Tensor.zeros([-1]) }
    }
}
