import FoundationEssentials
import POSIX

// MARK: - Ordered prefetch

/// Runs `produce(0), produce(1), ...` on background threads ahead of a consumer that takes the
/// results in index order. At most `capacity` results wait at any time (a bounded queue), so
/// decoding stays a little ahead of the network without filling memory.
final class OrderedPrefetch<Output>: @unchecked Sendable {
    private let count: Int
    private let capacity: Int
    private let produce: (Int) -> Output
    private let condition = Condition()
    /// The next index a worker takes.
    private var nextIndex = 0
    /// The next index the consumer takes.
    private var consumed = 0
    private var ready: [Int: Output] = [:]
    private var stopped = false
    private var runningWorkers = 0

    /// Starts `threadCount` workers over `count` indices.
    init(count: Int, threadCount: Int, capacity: Int, produce: @escaping (Int) -> Output) {
        self.count = max(0, count)
        self.capacity = max(1, capacity)
        self.produce = produce
        let workers = max(1, min(threadCount, max(1, count)))
        runningWorkers = workers
        for index in 0..<workers {
            startThread(named: "milnce-eval-reader-\(index)") { [self] in work() }
        }
    }

    deinit { stop() }

    /// Stops the workers after the item in hand and drops waiting results.
    func stop() {
        condition.lock()
        stopped = true
        ready.removeAll()
        condition.broadcast()
        condition.unlock()
    }

    /// Waits until every worker has returned (after `stop()` or the last index).
    func waitForWorkers() {
        condition.lock()
        while runningWorkers > 0 { condition.wait() }
        condition.unlock()
    }

    private func work() {
        defer {
            condition.lock()
            runningWorkers -= 1
            condition.broadcast()
            condition.unlock()
        }
        while true {
            condition.lock()
            while !stopped && nextIndex < count && nextIndex >= consumed + capacity {
                condition.wait()
            }
            if stopped || nextIndex >= count {
                condition.unlock()
                return
            }
            let index = nextIndex
            nextIndex += 1
            condition.unlock()

            let output = produce(index)

            condition.lock()
            if !stopped { ready[index] = output }
            condition.broadcast()
            condition.unlock()
        }
    }

    /// The next result in index order, waiting for it; nil after the last one or after `stop()`.
    func next() -> Output? {
        condition.lock()
        defer { condition.unlock() }
        guard consumed < count else { return nil }
        while !stopped && ready[consumed] == nil {
            condition.wait()
        }
        guard !stopped, let output = ready.removeValue(forKey: consumed) else { return nil }
        consumed += 1
        condition.broadcast()
        return output
    }
}
