import Glibc

/// A mutual-exclusion lock over `pthread_mutex_t`, freed in `deinit`.
///
///     let lock = Lock()
///     lock.withLock { counter += 1 }
public final class Lock: @unchecked Sendable {
    let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)

    /// A new, unlocked lock.
    public init() {
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Waits for the lock and takes it.
    public func lock() { pthread_mutex_lock(mutex) }

    /// Gives the lock back.
    public func unlock() { pthread_mutex_unlock(mutex) }

    /// Runs `body` holding the lock.
    public func withLock<Result>(_ body: () throws -> Result) rethrows -> Result {
        lock()
        defer { unlock() }
        return try body()
    }
}

/// A lock with a condition variable (`pthread_cond_t`): threads wait while holding the lock and
/// are woken by `signal` or `broadcast`, as with Foundation's `NSCondition`.
public final class Condition: @unchecked Sendable {
    private let lockObject = Lock()
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    /// A new condition, unlocked.
    public init() {
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        condition.deallocate()
    }

    /// Waits for the lock and takes it.
    public func lock() { lockObject.lock() }

    /// Gives the lock back.
    public func unlock() { lockObject.unlock() }

    /// Gives the lock back until woken, then takes it again. Call it in a loop that checks
    /// what it waits for: wake-ups can be spurious.
    public func wait() { pthread_cond_wait(condition, lockObject.mutex) }

    /// As `wait()`, but for at most `seconds`; false when the time ran out.
    @discardableResult
    public func wait(seconds: Double) -> Bool {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let whole = seconds.rounded(.down)
        var deadline = timespec(tv_sec: now.tv_sec + Int(whole),
                                tv_nsec: now.tv_nsec + Int((seconds - whole) * 1e9))
        if deadline.tv_nsec >= 1_000_000_000 {
            deadline.tv_sec += 1
            deadline.tv_nsec -= 1_000_000_000
        }
        return pthread_cond_timedwait(condition, lockObject.mutex, &deadline) == 0
    }

    /// Wakes one waiting thread.
    public func signal() { pthread_cond_signal(condition) }

    /// Wakes every waiting thread.
    public func broadcast() { pthread_cond_broadcast(condition) }

    /// Runs `body` holding the lock.
    public func withLock<Result>(_ body: () throws -> Result) rethrows -> Result {
        try lockObject.withLock(body)
    }
}
