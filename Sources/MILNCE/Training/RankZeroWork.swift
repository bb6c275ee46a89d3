import FoundationEssentials
import Glibc
import POSIX
import Torch

/// Work that rank 0 does alone while the other ranks wait, for longer than a collective may wait:
/// building HowTo100M's caption index can take an hour, and `--dist_timeout` is minutes.
///
/// Rank 0 publishes how the work ended under a key of the rendezvous store; the other ranks poll
/// that key (each poll a non-blocking `add` of 0) instead of waiting in a barrier, so a busy rank 0
/// is never taken for a dead one. A rank 0 that dies is still noticed: the store's server goes
/// with it (TCP), or the launcher stops the job (torchrun, SLURM).
struct RankZeroWork {
    /// The store the ranks met through.
    let store: Store
    /// The key of this piece of work (distinct per launcher restart).
    let key: String
    /// What the work is, in words, for the waiting ranks' messages ("the caption index").
    let name: String

    private static let pending = 0, succeeded = 1, failed = 2

    /// Rank 0: publishes that the work succeeded, or why it failed.
    func announce(failure: String?) throws {
        if let failure { try store.set(key + "/failure", Array(failure.utf8)) }
        try store.add(key, failure == nil ? RankZeroWork.succeeded : RankZeroWork.failed)
    }

    /// The other ranks: waits, with no time limit, until rank 0 announces the work's end; calls
    /// `report` with the seconds waited every `reportSeconds`. Throws `TrainingError.rankFailure`
    /// with rank 0's reason when the work failed, and the store's error when rank 0 is gone.
    func waitForRankZero(pollSeconds: Double = 1, reportSeconds: Double = 60, report: (Double) -> Void) throws {
        let start = ContinuousClock.now
        var reported = 0.0
        while true {
            switch try store.add(key, 0) {
            case RankZeroWork.pending:
                let waited = start.elapsedSeconds
                if waited - reported >= reportSeconds {
                    reported = waited
                    report(waited)
                }
                usleep(useconds_t(max(0.001, pollSeconds) * 1_000_000))
            case RankZeroWork.succeeded:
                return
            default:
                let reason = (try? store.get(key + "/failure")).map { String(decoding: $0, as: UTF8.self) } ?? "no reason given"
                throw TrainingError.rankFailure("rank 0 could not make \(name): \(reason)")
            }
        }
    }
}
