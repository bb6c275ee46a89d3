import Glibc

/// A value guarded by a mutex, with a condition variable to wait until the value is ready for
/// something: `pthread_mutex_t` and `pthread_cond_t`, freed in `deinit`.
///
///     let queue = ConditionLock<[Int]>([])
///     queue.withLock { $0.append(1) }
///     queue.broadcast()
///     let first = queue.withLock(when: { !$0.isEmpty }) { $0.removeFirst() }
///
/// Use `Synchronization.Mutex` where nothing waits for a change; this type is for the places
/// where threads do.
public final class ConditionLock<State> {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var state: State

    /// A lock guarding `initial`.
    public init(_ initial: State) {
        state = initial
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    /// Runs `body` on the value, holding the lock.
    public func withLock<Result>(_ body: (inout State) throws -> Result) rethrows -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&state)
    }

    /// Waits until `isReady` holds for the value (woken by `broadcast()`), then runs `body` on it,
    /// holding the lock throughout.
    public func withLock<Result>(when isReady: (State) -> Bool, _ body: (inout State) throws -> Result) rethrows
        -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while !isReady(state) { pthread_cond_wait(condition, mutex) }
        return try body(&state)
    }

    /// As `withLock(when:_:)`, but waits for at most `timeoutSeconds`: nil when the time ran out
    /// before `isReady` held (then `body` is not run).
    public func withLock<Result>(when isReady: (State) -> Bool, timeoutSeconds: Double,
                                 _ body: (inout State) throws -> Result) rethrows -> Result? {
        var deadline = timespec()
        clock_gettime(CLOCK_REALTIME, &deadline)
        let whole = timeoutSeconds.rounded(.down)
        deadline.tv_sec += Int(whole)
        deadline.tv_nsec += Int((timeoutSeconds - whole) * 1e9)
        if deadline.tv_nsec >= 1_000_000_000 {
            deadline.tv_sec += 1
            deadline.tv_nsec -= 1_000_000_000
        }
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while !isReady(state) {
            if pthread_cond_timedwait(condition, mutex, &deadline) == ETIMEDOUT, !isReady(state) { return nil }
        }
        return try body(&state)
    }

    /// Wakes every thread waiting in `withLock(when:_:)`, to check the value again.
    public func broadcast() {
        pthread_cond_broadcast(condition)
    }
}

// @unchecked: wraps a pthread mutex and condition variable; the value is reached only with the mutex held.
extension ConditionLock: @unchecked Sendable where State: Sendable {}
