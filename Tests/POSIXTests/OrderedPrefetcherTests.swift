import Glibc
import POSIX
import Synchronization
import Testing

/// What the produce closures of a test saw: how many ran at once, at most.
private final class Occupancy: Sendable {
    private let counts = Mutex((current: 0, highest: 0, started: [Int]()))

    func enter(_ index: Int) {
        counts.withLock {
            $0.current += 1
            $0.highest = max($0.highest, $0.current)
            $0.started.append(index)
        }
    }

    func leave() { counts.withLock { $0.current -= 1 } }

    var highest: Int { counts.withLock { $0.highest } }
    var started: [Int] { counts.withLock { $0.started } }
}

/// An object the produce closure holds, to see when the workers have let it go.
private final class Token: Sendable {}

private struct Failure: Error, Equatable {
    var index: Int
}

/// A pseudo-random pause of up to 2 ms that depends on `index`, so that workers finish out of order.
private func pause(_ index: Int) {
    usleep(UInt32((index &* 7919) % 2000))
}

@Suite struct OrderedPrefetcherTests {
    @Test(arguments: [(1, 1), (3, 2), (4, 16), (8, 3)])
    func outputsArriveInIndexOrderWithAtMostCapacityAhead(threads: Int, capacity: Int) throws {
        let occupancy = Occupancy()
        let taken = Mutex(0)
        let early = Mutex([Int]())
        let prefetcher = OrderedPrefetcher(count: 60, threads: threads, capacity: capacity, name: "test") { index in
            occupancy.enter(index)
            defer { occupancy.leave() }
            // A worker may only start an index fewer than `capacity` ahead of what was taken (the
            // prefetcher counts an output as taken just before this test's count does).
            if index > taken.withLock({ $0 }) + capacity { early.withLock { $0.append(index) } }
            pause(index)
            return index * index
        }
        var outputs: [Int] = []
        while let output = try prefetcher.next() {
            outputs.append(output)
            taken.withLock { $0 += 1 }
        }
        #expect(outputs == (0..<60).map { $0 * $0 })
        #expect(occupancy.highest <= min(threads, capacity))
        #expect(early.withLock { $0 } == [])
        #expect(try prefetcher.next() == nil)
        prefetcher.waitForThreads()
        #expect(prefetcher.runningThreadCount == 0)
    }

    @Test func anErrorComesAfterTheOutputsBeforeItAndNothingAfterItStarts() throws {
        let occupancy = Occupancy()
        let prefetcher = OrderedPrefetcher(count: 40, threads: 3, capacity: 4) { index in
            occupancy.enter(index)
            defer { occupancy.leave() }
            pause(index)
            if index == 17 { throw Failure(index: index) }
            return index
        }
        var outputs: [Int] = []
        #expect(throws: Failure(index: 17)) {
            while let output = try prefetcher.next() { outputs.append(output) }
        }
        #expect(outputs == Array(0..<17))
        #expect(try prefetcher.next() == nil)
        prefetcher.waitForThreads()
        // Indices up to `capacity` past the failure may have been started before it was known.
        #expect(occupancy.started.allSatisfy { $0 < 17 + 4 })
    }

    @Test func releasingThePrefetcherEndsItsThreads() throws {
        weak var weakToken: Token?
        do {
            let token = Token()
            weakToken = token
            let prefetcher = OrderedPrefetcher(count: 1000, threads: 4, capacity: 2) { index in
                withExtendedLifetime(token) { index }
            }
            #expect(try prefetcher.next() == 0)
            // The workers now wait for room; the consumer goes away.
        }
        // The token lives in the produce closure, which the worker threads hold until they return.
        let deadline = ContinuousClock.now + .seconds(20)
        while weakToken != nil && ContinuousClock.now < deadline { usleep(5_000) }
        #expect(weakToken == nil, "the worker threads still hold the shared state")
    }

    @Test func stopEndsTheSequenceAndEmptyRangesEndAtOnce() throws {
        let prefetcher = OrderedPrefetcher(count: 100, threads: 2, capacity: 3) { $0 }
        #expect(try prefetcher.next() == 0)
        prefetcher.stop()
        #expect(try prefetcher.next() == nil)
        prefetcher.waitForThreads()
        #expect(prefetcher.runningThreadCount == 0)

        let empty = OrderedPrefetcher(count: 0, threads: 4, capacity: 1) { $0 }
        #expect(try empty.next() == nil)
        #expect(empty.count == 0)
    }

    @Test func theConsumersWaitingTimeIsMeasured() throws {
        let prefetcher = OrderedPrefetcher(count: 3, threads: 1, capacity: 1) { index in
            usleep(20_000)
            return index
        }
        while try prefetcher.next() != nil {}
        #expect(prefetcher.waitingTime >= .milliseconds(30))
        #expect(prefetcher.waitingTime < .seconds(30))
    }
}
