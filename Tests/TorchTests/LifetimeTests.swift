import Foundation
import Testing
import TestSupport
@testable import Torch

/// Handles are freed deterministically: loops of operations neither leak handles nor grow the
/// process's memory, and errors leave nothing behind. The loops run in a `MemoryProbe` process of
/// their own, so that no other test's tensors or allocations are counted.
@Suite(.serialized) struct LifetimeTests {
    @Test func hundredThousandOperationsDoNotGrowMemory() throws {
        let report = try MemoryProbe.run("tensor-operations")
        #expect(try report.figure("leaked-handles") == 0, "\(report)")
        let growth = try report.figure("resident-growth-bytes")
        #expect(growth < 8 << 20, "resident memory grew by \(growth) bytes\n\(report)")
    }

    @Test func failedOperationsLeaveNoHandles() throws {
        let report = try MemoryProbe.run("failed-operations")
        #expect(try report.figure("failed-operations") == 3000, "every operation of the loop must fail\n\(report)")
        #expect(try report.figure("leaked-handles") == 0, "\(report)")
    }

    @Test func autogradGraphsAreReleased() throws {
        let report = try MemoryProbe.run("autograd-graphs")
        #expect(try report.figure("leaked-handles") == 0, "\(report)")
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
