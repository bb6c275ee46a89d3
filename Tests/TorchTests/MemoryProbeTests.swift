import Foundation
import Testing
import TestSupport

/// The probe process that memory and lifetime checks run in: its failures reach the test.
@Suite("Memory probe")
struct MemoryProbeTests {
    @Test("a probe that crashes fails with its output and the signal")
    func crashCarriesTheOutput() {
        let error = #expect(throws: TestSupportError.self) { try MemoryProbe.run("crash") }
        #expect(error?.description.contains("about to crash") == true, "\(String(describing: error))")
        #expect(error?.description.contains("killed by signal") == true, "\(String(describing: error))")
    }

    @Test("a probe that cannot run its workload fails with its output and status")
    func failureCarriesTheOutput() {
        let error = #expect(throws: TestSupportError.self) { try MemoryProbe.run("no-such-workload") }
        #expect(error?.description.contains("unknown workload no-such-workload") == true, "\(String(describing: error))")
        #expect(error?.description.contains("exit status 1") == true, "\(String(describing: error))")
    }

    @Test("a probe that runs too long is killed and fails")
    func timeoutFails() throws {
        let error = #expect(throws: TestSupportError.self) {
            try MemoryProbe.run("tensor-operations", timeoutSeconds: 0.05)
        }
        #expect(error?.description.contains("killed after") == true, "\(String(describing: error))")
    }

    @Test("a figure the probe did not print is an error, not a zero")
    func missingFigureIsAnError() throws {
        let report = try MemoryProbe.run("autograd-graphs")
        #expect(try report.figure("leaked-handles") >= 0)
        #expect(try report.figure("peak-resident-kilobytes") > 0)
        #expect(throws: TestSupportError.self) { try report.figure("no-such-figure") }
    }
}
