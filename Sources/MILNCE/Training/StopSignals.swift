import Glibc
import Synchronization
import Torch

/// A request to stop training, from a signal.
public enum StopRequest: Int32, Sendable, Comparable {
    /// SIGINT (Ctrl-C): stop at the next step boundary without saving.
    case interrupt = 1
    /// SIGUSR1 (SLURM's warning before the end of a job, `--signal=USR1@120`): save and stop.
    case userSignal = 2
    /// SIGTERM (preemption, `scancel`, the end of a job): save and stop.
    case terminate = 3

    /// The signal's name.
    public var signalName: String {
        switch self {
        case .interrupt: "SIGINT"
        case .userSignal: "SIGUSR1"
        case .terminate: "SIGTERM"
        }
    }

    /// Whether the stopping point is saved.
    public var savesCheckpoint: Bool { self != .interrupt }

    /// The exit status of a run stopped by this request: 128 + the signal's number, and 143
    /// (SIGTERM's) for SIGUSR1 too, as schedulers expect of a preempted job.
    public var exitStatus: Int32 { self == .interrupt ? 130 : 143 }

    /// Weaker first: SIGINT, SIGUSR1, SIGTERM (a rank that must save wins over one that need not).
    public static func < (a: StopRequest, b: StopRequest) -> Bool { a.rawValue < b.rawValue }
}

/// The signals that stop training (SIGTERM, SIGUSR1, SIGINT), caught once `install()` has run.
///
/// While the epoch loop runs, a signal is only recorded, and the loop stops at the next step
/// boundary: SIGTERM and SIGUSR1 after saving a checkpoint, SIGINT without saving; a second
/// SIGINT stops at once. Outside the loop (set-up, building the caption index, the final
/// evaluation) nothing is half-done that a checkpoint could keep, so a signal ends the process at
/// once with a message and the same exit status.
public enum StopSignals {
    /// Catches SIGTERM, SIGUSR1 and SIGINT from now on (idempotent), and unblocks them: a parent
    /// may have started this process with them blocked.
    public static func install() {
        _ = stopSignalState  // initialised here, never in a handler
        var signals = sigset_t()
        sigemptyset(&signals)
        for number in [SIGTERM, SIGUSR1, SIGINT] {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = handleStopSignal
            action.sa_flags = SA_RESTART
            sigemptyset(&action.sa_mask)
            sigaction(number, &action, nil)
            sigaddset(&signals, number)
        }
        pthread_sigmask(SIG_UNBLOCK, &signals, nil)
    }

    /// Records the signals from now on without ending the process, for a process that passes them
    /// on (the launcher of `--multiprocessing-distributed` workers); read them with `takePending()`.
    public static func recordOnly() {
        install()
        setTraining(true)
    }

    /// The strongest request received and not yet taken, if any.
    static var pending: StopRequest? {
        StopRequest(rawValue: stopSignalState.received.load(ordering: .acquiring))
    }

    /// The strongest request received since the last call, if any.
    public static func takePending() -> StopRequest? {
        StopRequest(rawValue: stopSignalState.received.exchange(0, ordering: .acquiringAndReleasing))
    }

    /// Marks the epoch loop as running (signals are recorded) or not (signals end the process).
    static func setTraining(_ running: Bool) {
        stopSignalState.training.store(running, ordering: .releasing)
    }
}

/// The state a signal handler may touch: lock-free atomics only.
private final class StopSignalState: Sendable {
    let received = Atomic<Int32>(0)
    let training = Atomic<Bool>(false)
}

private let stopSignalState = StopSignalState()

private func handleStopSignal(_ number: Int32) {
    let request: StopRequest = number == SIGINT ? .interrupt : number == SIGUSR1 ? .userSignal : .terminate
    let state = stopSignalState
    if state.training.load(ordering: .acquiring) {
        let previous = state.received.load(ordering: .acquiring)
        if !(request == .interrupt && previous == StopRequest.interrupt.rawValue) {
            if request.rawValue > previous { state.received.store(request.rawValue, ordering: .releasing) }
            return
        }
    }
    let message: StaticString = switch (request, state.training.load(ordering: .acquiring)) {
    case (.interrupt, true): "\nmilnce: SIGINT again: stopping at once without saving a checkpoint\n"
    case (.interrupt, _): "\nmilnce: SIGINT: stopping at once (no training step was under way; nothing to save)\n"
    case (.userSignal, _): "\nmilnce: SIGUSR1: stopping at once (no training step was under way; nothing to save)\n"
    case (.terminate, _): "\nmilnce: SIGTERM: stopping at once (no training step was under way; nothing to save)\n"
    }
    message.withUTF8Buffer { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
    _exit(request.exitStatus)
}

/// All ranks agree, after every step, on whether to stop: the strongest request of any rank
/// (an all-reduce of one number), so that every rank stops after the same step and the saved
/// checkpoint is consistent.
final class StopAgreement {
    private let group: ProcessGroup?
    private let device: Device

    init(group: ProcessGroup?, device: Device) {
        self.group = group
        self.device = device
    }

    /// The request every rank acts on now, or nil to go on.
    func agreedRequest() throws -> StopRequest? {
        let local = StopSignals.pending?.rawValue ?? 0
        guard let group, group.size > 1 else { return StopRequest(rawValue: local) }
        let flag = try Tensor(scalar: Float(local))
        let shared = group.backend == .nccl ? try flag.to(device) : flag
        try group.allReduce([shared], .maximum)
        return StopRequest(rawValue: Int32(try shared.item()))
    }
}
