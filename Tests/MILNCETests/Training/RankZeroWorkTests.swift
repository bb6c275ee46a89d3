import Foundation
@testable import MILNCE
import POSIX
import Synchronization
import Testing
import TestSupport
import Torch

/// Rank 0's lone work (building the caption index) against the other ranks' wait: two stores on
/// one file stand for two ranks.
@Suite("Work only rank 0 does")
struct RankZeroWorkTests {
    /// Two views of one file store, as rank 0 and rank 1 hold them.
    private func stores() throws -> (rankZero: Store, other: Store, folder: URL) {
        let folder = try TestEnvironment.temporaryDirectory("rank-zero")
        let path = folder.appendingPathComponent("store").path
        return (try Store(file: path, worldSize: 2).prefixed("milnce/"),
                try Store(file: path, worldSize: 2).prefixed("milnce/"), folder)
    }

    @Test("the other ranks wait as long as rank 0 works, and hear that it is done")
    func waitingOutlastsTheWork() throws {
        let folder = try TestEnvironment.temporaryDirectory("rank-zero")
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("store").path
        let waiter = RankZeroWork(store: try Store(file: path, worldSize: 2).prefixed("milnce/"),
                                  key: "caption-index-0", name: "the caption index")
        let announced = Mutex<Result<Void, any Error>?>(nil)
        startThread(named: "rank-zero") {
            let result = Result {
                let worker = RankZeroWork(store: try Store(file: path, worldSize: 2).prefixed("milnce/"),
                                          key: "caption-index-0", name: "the caption index")
                usleep(1_500_000)
                try worker.announce(failure: nil)
            }
            announced.withLock { $0 = result }
        }
        let start = ContinuousClock.now
        let reports = Mutex<[Double]>([])
        try waiter.waitForRankZero(pollSeconds: 0.05, reportSeconds: 0.5) { waited in reports.withLock { $0.append(waited) } }
        let waited = start.elapsedSeconds
        #expect(waited >= 1.4, "the wait ended after \(waited) s, before rank 0 announced")
        #expect(reports.withLock { $0.count } >= 2, "a waiting rank reports while it waits")
        #expect(reports.withLock { $0 }.allSatisfy { $0 < waited })
        while announced.withLock({ $0 == nil }) { usleep(1000) }
        try announced.withLock { $0 }!.get()
    }

    @Test("a failure on rank 0 reaches the waiting ranks with its reason")
    func failureReachesTheWaitingRanks() throws {
        let (rankZero, other, folder) = try stores()
        defer { try? FileManager.default.removeItem(at: folder) }
        try RankZeroWork(store: rankZero, key: "caption-index-0", name: "the caption index /x/captions.index")
            .announce(failure: "reading the train CSV: no such file")
        let waiter = RankZeroWork(store: other, key: "caption-index-0", name: "the caption index /x/captions.index")
        #expect {
            try waiter.waitForRankZero(pollSeconds: 0.01) { _ in }
        } throws: { error in
            "\(error)".contains("rank 0 could not make the caption index /x/captions.index: reading the train CSV: no such file")
        }
        // A launcher's restart waits for the new attempt, not the failed one.
        let restarted = RankZeroWork(store: other, key: "caption-index-1", name: "the caption index")
        try RankZeroWork(store: rankZero, key: "caption-index-1", name: "the caption index").announce(failure: nil)
        try restarted.waitForRankZero(pollSeconds: 0.01) { _ in }
    }
}
