/// Computes `produce(0)`, `produce(1)`, ..., `produce(count - 1)` on background threads ahead of
/// a consumer that takes the outputs in index order with `next()`.
///
/// - Bounded: a worker starts index `i` only when `i < taken + capacity`, where `taken` is the
///   number of outputs the consumer has taken, so at most `capacity` outputs are in production or
///   waiting at any time.
/// - Ordered and deterministic: the consumer sees index order whatever the thread timing.
/// - Errors surface: when `produce(i)` throws, the outputs before `i` are still handed out, then
///   `next()` throws that error; no index after `i` is started.
/// - Threads end when the consumer goes away: releasing the prefetcher (or `stop()`) drops waiting
///   outputs, and each worker returns after the index in hand. The workers hold the shared state,
///   never the prefetcher itself.
///
///     let squares = OrderedPrefetcher(count: 100, threads: 4, capacity: 8) { $0 * $0 }
///     while let square = try squares.next() { print(square) }
public final class OrderedPrefetcher<Output: Sendable>: Sendable {
    private let shared: PrefetchState<Output>

    /// Starts `threads` threads (at most one per index, at least one) named `name-0`, `name-1`, ...
    /// over `count` indices, at most `capacity` of them ahead of the consumer.
    public init(count: Int, threads: Int, capacity: Int, name: String = "prefetch",
                produce: @escaping @Sendable (Int) throws -> Output) {
        let count = max(0, count)
        shared = PrefetchState(count: count, capacity: max(1, capacity), produce: produce)
        let workers = max(1, min(threads, max(count, 1)))
        shared.lock.withLock { $0.runningThreads = workers }
        for index in 0..<workers {
            startThread(named: "\(name)-\(index)") { [shared] in shared.work() }
        }
    }

    deinit { shared.stop() }

    /// The number of indices.
    public var count: Int { shared.count }

    /// The next output in index order, waiting for it if needed; nil after the last one or after
    /// `stop()`. Throws the error `produce` threw for this index (then the sequence ends).
    public func next() throws -> Output? {
        try shared.next()
    }

    /// Stops the workers (each finishes the index in hand) and drops the outputs not yet taken;
    /// `next()` then returns nil.
    public func stop() {
        shared.stop()
    }

    /// Waits until every worker thread has returned (after `stop()` or after the last index).
    public func waitForThreads() {
        shared.lock.withLock(when: { $0.runningThreads == 0 }) { _ in }
    }

    /// How long `next()` has waited for outputs in total.
    public var waitingTime: Duration {
        shared.lock.withLock { $0.waited }
    }

    /// The worker threads still running.
    public var runningThreadCount: Int {
        shared.lock.withLock { $0.runningThreads }
    }
}

/// What the workers and the consumer of one prefetcher share.
final class PrefetchState<Output: Sendable>: Sendable {
    struct Progress: Sendable {
        /// The next index a worker takes.
        var nextIndex = 0
        /// The outputs the consumer has taken.
        var taken = 0
        /// One past the last index handed out: `count`, or one past an index that failed.
        var end: Int
        var ready: [Int: Result<Output, any Error>] = [:]
        var stopped = false
        var runningThreads = 0
        var waited = Duration.zero
    }

    let count: Int
    let capacity: Int
    let produce: @Sendable (Int) throws -> Output
    let lock: ConditionLock<Progress>

    init(count: Int, capacity: Int, produce: @escaping @Sendable (Int) throws -> Output) {
        self.count = count
        self.capacity = capacity
        self.produce = produce
        lock = ConditionLock(Progress(end: count))
    }

    func work() {
        let capacity = self.capacity
        while true {
            let index = lock.withLock(when: { $0.stopped || $0.nextIndex >= $0.end || $0.nextIndex < $0.taken + capacity }) {
                progress -> Int? in
                guard !progress.stopped, progress.nextIndex < progress.end else { return nil }
                progress.nextIndex += 1
                return progress.nextIndex - 1
            }
            guard let index else { break }
            let output = Result { try produce(index) }
            lock.withLock { progress in
                guard !progress.stopped else { return }
                progress.ready[index] = output
                if case .failure = output { progress.end = min(progress.end, index + 1) }
            }
            lock.broadcast()
        }
        lock.withLock { $0.runningThreads -= 1 }
        lock.broadcast()
    }

    func next() throws -> Output? {
        let start = ContinuousClock.now
        let output = lock.withLock(when: { $0.stopped || $0.taken >= $0.end || $0.ready[$0.taken] != nil }) {
            progress -> Result<Output, any Error>? in
            progress.waited += ContinuousClock.now - start
            guard !progress.stopped, progress.taken < progress.end,
                  let output = progress.ready.removeValue(forKey: progress.taken) else { return nil }
            progress.taken += 1
            if case .failure = output {
                progress.stopped = true
                progress.ready.removeAll()
            }
            return output
        }
        lock.broadcast()
        return try output?.get()
    }

    func stop() {
        lock.withLock { progress in
            progress.stopped = true
            progress.ready.removeAll()
        }
        lock.broadcast()
    }
}
