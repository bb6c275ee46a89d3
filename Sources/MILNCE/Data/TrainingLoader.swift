import FoundationEssentials
import POSIX
import Torch
import Video

/// How training clips are cut and batched.
public struct LoaderOptions: Sendable, Equatable {
    /// Clips per batch on this rank.
    public var batchSize = 32
    /// Decoding threads (`--num_thread_reader` on this rank).
    public var threads = 4
    /// Finished batches kept ready ahead of the training step.
    public var prefetchBatches = 2
    /// Caption sampling: candidates, words, minimum clip time, frames and frame rate.
    public var sampling = ClipSamplingOptions()
    /// Side of the square frames.
    public var size = 224
    /// Crop a `size` window without scaling (training); else the largest square scaled to `size`.
    public var cropOnly = true
    /// Centre the crop instead of placing it at random.
    public var centerCrop = false
    /// Mirror clips left to right with probability 0.5.
    public var randomFlip = true
    /// Allocate batches in page-locked memory (for asynchronous copies to a GPU).
    public var pinMemory = false
    /// Seed of every random choice (sample order, captions, seek, crop, flip, substitutions).
    public var seed: UInt64 = 1
    /// Attempts at other videos before a sample is left black with no words.
    public var maximumSubstitutions = 20

    /// The defaults: batches of 32 from 4 threads, 224-pixel random crops, random flips.
    public init() {}

    /// Checks the options before any work starts.
    public func validate() throws {
        try sampling.validate()
        guard batchSize > 0 else { throw LoaderError.invalidOptions("the batch size must be positive") }
        guard threads > 0 else { throw LoaderError.invalidOptions("--num_thread_reader must be positive") }
        guard size > 0 else { throw LoaderError.invalidOptions("--video_size must be positive") }
        guard prefetchBatches > 0 else { throw LoaderError.invalidOptions("prefetch must be positive") }
    }
}

/// Errors of the loader itself (a sample's failure is not one: it is substituted and counted).
public enum LoaderError: Error, CustomStringConvertible {
    /// The options, or the data they are used with, cannot make batches (the message says why).
    case invalidOptions(String)
    /// The loader was stopped before the batch was ready.
    case stopped

    /// What is wrong, in words.
    public var description: String {
        switch self {
        case .invalidOptions(let message): "loader options: \(message)"
        case .stopped: "the loader was stopped"
        }
    }
}

/// A sample that could not be used, and why.
public struct SampleFailure: Sendable, CustomStringConvertible {
    /// The video's number in the training list.
    public var video: Int
    /// The file involved (video or caption file).
    public var path: String
    /// The error.
    public var reason: String

    /// The path and the reason.
    public var description: String { "\(path): \(reason)" }
}

/// One batch: `video` uint8 `B x 3 x T x S x S`, `text` int64 `B x K x W`.
public struct TrainingBatch {
    /// The batch's number in its epoch.
    public var number: Int
    /// The clips, uint8 `B x 3 x T x S x S` (RGB, channel-major, as decoded).
    public var video: Tensor
    /// The token rows of each clip's captions, int64 `B x K x W` (zero is padding).
    public var text: Tensor
    /// The videos used, after substitutions.
    public var videos: [Int]
    /// Samples that failed and were replaced by another video, in sample order.
    public var failures: [SampleFailure]
    /// Samples left black with no words because every attempt at them failed.
    public var blankSamples: Int
}

/// The training data pipeline: each rank's share of every epoch in the order of PyTorch's
/// DistributedSampler, cut into batches (drop_last), every sample decoded in-process by a pool of
/// threads into batch tensors, finished batches handed out in order from a bounded queue.
///
/// Every random choice of a sample is drawn from a generator keyed by (seed, epoch, video,
/// attempt), so a batch's contents do not depend on thread timing and any batch of any epoch can
/// be produced again: resuming mid-epoch gives the batches an uninterrupted run would have seen.
/// A sample whose video or captions are missing or broken is replaced by another video (chosen
/// the same keyed way) and reported in the batch's `failures`; training never stops on bad data.
public final class TrainingLoader: @unchecked Sendable {
    /// How clips are cut and batched.
    public let options: LoaderOptions
    /// This rank's share of every epoch.
    public let order: DistributedOrder
    let sampler: ClipSampler
    let trainList: TrainList
    /// Where the videos are read from.
    let videos: TrainingVideoSource

    /// A loader of `trainList`'s videos under `videoRoot`, with captions sampled by `sampler`
    /// from its caption index, in the order `order`. The sampler's settings must be those of
    /// `options.sampling`, its index and `order` must cover the train list's videos.
    public convenience init(trainList: TrainList, sampler: ClipSampler, videoRoot: URL, order: DistributedOrder,
                            options: LoaderOptions) throws {
        try self.init(trainList: trainList, sampler: sampler, videos: .folder(videoRoot), order: order, options: options)
    }

    /// A loader of `trainList`'s videos from `videos` (files under a folder, or a store made by
    /// `milnce prepare`), otherwise as above: the same samples, crops and flips from either.
    /// Throws when a store's frame rate or frame size cannot give the clips `options` ask for.
    public init(trainList: TrainList, sampler: ClipSampler, videos: TrainingVideoSource, order: DistributedOrder,
                options: LoaderOptions) throws {
        try options.validate()
        try videos.check(for: options)
        guard let index = sampler.index else { throw LoaderError.invalidOptions("the clip sampler needs a caption index") }
        guard index.videoCount == trainList.count else {
            throw LoaderError.invalidOptions("the caption index \(index.path) has \(index.videoCount) videos, "
                                             + "the train list \(trainList.count)")
        }
        guard order.datasetCount == trainList.count else {
            throw LoaderError.invalidOptions("the sample order covers \(order.datasetCount) videos, "
                                             + "the train list has \(trainList.count)")
        }
        guard sampler.options == options.sampling else {
            throw LoaderError.invalidOptions("the clip sampler's settings differ from the loader's")
        }
        self.trainList = trainList
        self.sampler = sampler
        self.videos = videos
        self.order = order
        self.options = options
    }

    /// Batches per epoch on this rank.
    public var batchesPerEpoch: Int { order.batchCount(batchSize: options.batchSize) }

    /// The batches of `epoch` from batch `first` on, produced in the background.
    public func epoch(_ epoch: Int, startingAt first: Int = 0) throws -> EpochBatches {
        let batches = try order.batches(epoch: epoch, batchSize: options.batchSize)
        guard first >= 0 && first <= batches.count else {
            throw LoaderError.invalidOptions("batch \(first) is outside epoch \(epoch)'s \(batches.count) batches")
        }
        return EpochBatches(loader: self, epoch: epoch, batches: Array(batches.dropFirst(first)), firstNumber: first)
    }

    // MARK: Producing one sample

    struct SampleResult {
        var video: Int
        var pixels: [UInt8]
        var tokens: [Int64]
        var failures: [SampleFailure]
        /// Whether every attempt failed and the sample is black with no words.
        var isBlank = false
    }

    /// The generator of attempt `attempt` at the sample of `video` in `epoch`.
    func generator(epoch: Int, video: Int, attempt: Int) -> SplitMix64 {
        SplitMix64(seed: options.seed, epoch: epoch, rank: attempt, sample: video)
    }

    func produce(epoch: Int, video original: Int) -> SampleResult {
        var failures: [SampleFailure] = []
        var video = original
        let o = options
        for attempt in 0...o.maximumSubstitutions {
            var random = generator(epoch: epoch, video: original, attempt: attempt)
            if attempt > 0 { video = random.uniformInt(in: 0...(trainList.count - 1)) }
            do {
                let sample = try sampler.sample(video: video, using: &random)
                let horizontal = o.centerCrop ? 0.5 : random.uniformDouble()
                let vertical = o.centerCrop ? 0.5 : random.uniformDouble()
                let flipped = o.randomFlip && random.uniformDouble() > 0.5
                let request = ClipRequest(
                    startSeconds: Double(sample.startSeekSeconds), frameCount: o.sampling.numFrames,
                    framesPerSecond: o.sampling.framesPerSecond, size: o.size,
                    cropping: o.cropOnly ? .window : .scaledSquare,
                    cropOffset: CropOffset(horizontal: horizontal, vertical: vertical), flipped: flipped,
                    durationSeconds: sample.decodeSeconds)
                let clip = try videos.reader(ofPath: trainList.videoPaths[video]).clip(request)
                return SampleResult(video: video, pixels: clip.pixels, tokens: sample.tokens, failures: failures)
            } catch {
                failures.append(SampleFailure(video: video, path: failurePath(video: video, error: error),
                                              reason: "\(error)"))
            }
        }
        return blankSample(video: video, failures: failures)
    }

    /// A black clip with no words, for a sample whose every attempt failed.
    func blankSample(video: Int, failures: [SampleFailure]) -> SampleResult {
        let o = options
        return SampleResult(video: video, pixels: [UInt8](repeating: 0, count: 3 * o.sampling.numFrames * o.size * o.size),
                            tokens: [Int64](repeating: 0, count: o.sampling.numCandidates * o.sampling.maxWords),
                            failures: failures, isBlank: true)
    }

    private func failurePath(video: Int, error: Error) -> String {
        if let error = error as? VideoError { return error.path }
        if error is ClipSamplingError, let index = sampler.index, let path = try? index.captionPath(ofVideo: video) {
            return path
        }
        return videos.location(ofPath: trainList.videoPaths[video])
    }
}

/// The batches of one epoch, produced by the loader's threads ahead of their use.
///
/// The worker threads share the production state, not this object: when the sequence is
/// released (a loop left early, an error thrown), the workers stop after the sample in hand and
/// their threads end.
public final class EpochBatches: Sequence, IteratorProtocol, @unchecked Sendable {
    let production: EpochProduction

    init(loader: TrainingLoader, epoch: Int, batches: [[Int]], firstNumber: Int) {
        production = EpochProduction(loader: loader, epoch: epoch, batches: batches, firstNumber: firstNumber)
        production.startWorkers()
    }

    deinit {
        production.stop()
    }

    /// The number of batches this sequence yields.
    public var count: Int { production.batches.count }

    /// Seconds the consumer has waited for data.
    public var waitingSeconds: Double { production.waitingSeconds }

    /// Why the batches ended before the end of the epoch, when something other than `stop()`
    /// ended them (a batch tensor could not be allocated); nil otherwise.
    public var error: Error? { production.error }

    /// Stops the workers (they finish the sample in hand) and drops prepared batches.
    public func stop() {
        production.stop()
    }

    /// The next batch in order, waiting for the workers if needed; nil at the end of the epoch.
    public func next() -> TrainingBatch? {
        production.next()
    }

    /// The loader threads running in this process, over all epochs' batches.
    public static var runningWorkerCount: Int { WorkerCount.shared.value }
}

// MARK: - Production

/// The number of running loader threads.
private final class WorkerCount: @unchecked Sendable {
    static let shared = WorkerCount()
    private let lock = Lock()
    private var count = 0

    var value: Int {
        lock.lock()
        defer { lock.unlock() }
        return count
    }

    func add(_ change: Int) {
        lock.lock()
        count += change
        lock.unlock()
    }
}

/// The state one epoch's workers and its consumer share: the slots still to produce, the
/// batches in production, and the stop flag.
final class EpochProduction: @unchecked Sendable {
    let loader: TrainingLoader
    let epoch: Int
    let batches: [[Int]]
    let firstNumber: Int
    private let condition = Condition()
    /// Slots handed to workers: the next (batch, position) to produce.
    private var nextSlot = 0
    /// Batches the consumer has taken.
    private var consumed = 0
    private var pending: [Int: PendingBatch] = [:]
    private var stopped = false
    private var failure: Error?
    private var waited = 0.0

    final class PendingBatch {
        var video: Tensor
        var text: Tensor
        var remaining: Int
        var videos: [Int]
        /// The failures of each position, so that they are reported in sample order.
        var failures: [[SampleFailure]]
        var blankSamples = 0
        init(video: Tensor, text: Tensor, count: Int) {
            self.video = video
            self.text = text
            self.remaining = count
            self.videos = Array(repeating: -1, count: count)
            self.failures = Array(repeating: [], count: count)
        }
    }

    init(loader: TrainingLoader, epoch: Int, batches: [[Int]], firstNumber: Int) {
        self.loader = loader
        self.epoch = epoch
        self.batches = batches
        self.firstNumber = firstNumber
    }

    func startWorkers() {
        for index in 0..<loader.options.threads {
            // The thread holds this state (not the `EpochBatches` handle) until `work` returns.
            WorkerCount.shared.add(1)
            startThread(named: "milnce-loader-\(index)") { [self] in
                work()
                WorkerCount.shared.add(-1)
            }
        }
    }

    var waitingSeconds: Double {
        condition.lock()
        defer { condition.unlock() }
        return waited
    }

    var error: Error? {
        condition.lock()
        defer { condition.unlock() }
        return failure
    }

    func stop() {
        condition.lock()
        stopped = true
        pending.removeAll()
        condition.broadcast()
        condition.unlock()
    }

    private var batchSize: Int { loader.options.batchSize }

    private func work() {
        while true {
            condition.lock()
            while !stopped && nextSlot < batches.count * batchSize
                && nextSlot / batchSize >= consumed + loader.options.prefetchBatches {
                condition.wait()
            }
            if stopped || nextSlot >= batches.count * batchSize {
                condition.unlock()
                return
            }
            let slot = nextSlot
            nextSlot += 1
            let batchIndex = slot / batchSize
            let position = slot % batchSize
            let pendingBatch: PendingBatch
            if let existing = pending[batchIndex] {
                pendingBatch = existing
            } else {
                do {
                    pendingBatch = try makeBatch()
                } catch {
                    // Nothing can be produced without batch memory: end the epoch and say why.
                    failure = error
                    stopped = true
                    condition.broadcast()
                    condition.unlock()
                    return
                }
                pending[batchIndex] = pendingBatch
            }
            condition.unlock()

            var result = loader.produce(epoch: epoch, video: batches[batchIndex][position])
            if !write(result, into: pendingBatch, at: position) {
                result = loader.blankSample(video: result.video, failures: result.failures)
                _ = write(result, into: pendingBatch, at: position)
            }

            condition.lock()
            pendingBatch.videos[position] = result.video
            pendingBatch.failures[position] = result.failures
            if result.isBlank { pendingBatch.blankSamples += 1 }
            pendingBatch.remaining -= 1
            if pendingBatch.remaining == 0 { condition.broadcast() }
            condition.unlock()
        }
    }

    private func makeBatch() throws -> PendingBatch {
        let o = loader.options
        let video = try Tensor.empty([batchSize, 3, o.sampling.numFrames, o.size, o.size], dtype: .uint8, pinned: o.pinMemory)
        let text = try Tensor.empty([batchSize, o.sampling.numCandidates, o.sampling.maxWords], dtype: .int64, pinned: o.pinMemory)
        return PendingBatch(video: video, text: text, count: batchSize)
    }

    /// Copies a sample into its place in the batch; false when its sizes do not match the batch's.
    private func write(_ result: TrainingLoader.SampleResult, into batch: PendingBatch, at position: Int) -> Bool {
        let o = loader.options
        guard result.pixels.count == 3 * o.sampling.numFrames * o.size * o.size,
              result.tokens.count == o.sampling.numCandidates * o.sampling.maxWords else { return false }
        let wroteVideo = (try? batch.video.withUnsafeMutableBytes { bytes in
            result.pixels.withUnsafeBytes { source in
                let stride = source.count
                guard let target = bytes.baseAddress, let from = source.baseAddress,
                      (position + 1) * stride <= bytes.count else { return false }
                target.advanced(by: position * stride).copyMemory(from: from, byteCount: stride)
                return true
            }
        }) ?? false
        let wroteText = (try? batch.text.withUnsafeMutableBytes { bytes in
            result.tokens.withUnsafeBytes { source in
                let stride = source.count
                guard (position + 1) * stride <= bytes.count else { return false }
                guard stride > 0 else { return true }
                guard let target = bytes.baseAddress, let from = source.baseAddress else { return false }
                target.advanced(by: position * stride).copyMemory(from: from, byteCount: stride)
                return true
            }
        }) ?? false
        return wroteVideo && wroteText
    }

    func next() -> TrainingBatch? {
        let start = monotonicSeconds()
        condition.lock()
        defer { condition.unlock() }
        guard consumed < batches.count else { return nil }
        while !stopped && (pending[consumed]?.remaining ?? 1) > 0 {
            condition.wait()
        }
        guard !stopped, let ready = pending.removeValue(forKey: consumed) else { return nil }
        let number = firstNumber + consumed
        consumed += 1
        condition.broadcast()
        waited += monotonicSeconds() - start
        return TrainingBatch(number: number, video: ready.video, text: ready.text, videos: ready.videos,
                             failures: ready.failures.flatMap { $0 }, blankSamples: ready.blankSamples)
    }
}
