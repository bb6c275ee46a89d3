import FoundationEssentials
import POSIX
import Synchronization
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
    /// Samples whose video filled only part of the clip: black frames pad the rest, as the
    /// reference pads clips near the end of a video.
    public var paddedSamples: Int
}

/// The training data pipeline: each rank's share of every epoch in the order of PyTorch's
/// DistributedSampler, cut into batches (drop_last), every sample decoded in-process by a pool of
/// threads straight into its place in a batch tensor, finished batches handed out in order.
///
/// Every random choice of a sample is drawn from a generator keyed by (seed, epoch, video,
/// attempt), so a batch's contents do not depend on thread timing and any batch of any epoch can
/// be produced again: resuming mid-epoch gives the batches an uninterrupted run would have seen.
/// A sample whose video or captions are missing or broken, or whose clip holds no frame of its
/// video, is replaced by another video (chosen the same keyed way) and reported in the batch's
/// `failures`; training never stops on bad data.
public final class TrainingLoader: Sendable {
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

    /// The batches of `epoch` from batch `first` on, produced in the background. Throws when the
    /// first batches' memory cannot be allocated.
    public func epoch(_ epoch: Int, startingAt first: Int = 0) throws -> EpochBatches {
        let batches = try order.batches(epoch: epoch, batchSize: options.batchSize)
        guard first >= 0 && first <= batches.count else {
            throw LoaderError.invalidOptions("batch \(first) is outside epoch \(epoch)'s \(batches.count) batches")
        }
        return try EpochBatches(loader: self, epoch: epoch, batches: Array(batches.dropFirst(first)), firstNumber: first)
    }

    // MARK: Producing one sample

    /// The generator of attempt `attempt` at the sample of `video` in `epoch`.
    func generator(epoch: Int, video: Int, attempt: Int) -> SplitMix64 {
        SplitMix64(seed: options.seed, epoch: epoch, rank: attempt, sample: video)
    }

    /// Opens the video file of train-list entry `video`: the one place where a sample's video is opened.
    func openReader(video: Int) throws -> VideoReader {
        try videos.reader(ofPath: trainList.videoPaths[video])
    }

    /// Produces the sample of `original` in `epoch` into `slot`: its clip and its caption tokens,
    /// from another video when it fails, black with no words when every attempt fails.
    func produce(epoch: Int, video original: Int, into slot: SampleSlot) -> SampleOutcome {
        var failures: [SampleFailure] = []
        var video = original
        for attempt in 0...options.maximumSubstitutions {
            var random = generator(epoch: epoch, video: original, attempt: attempt)
            if attempt > 0 { video = random.uniformInt(in: 0...(trainList.count - 1)) }
            do {
                let fill = try produceAttempt(video: video, random: &random, into: slot)
                return SampleOutcome(video: video, failures: failures, isBlank: false, isPadded: fill.isPadded)
            } catch {
                failures.append(SampleFailure(video: video, path: failurePath(video: video, error: error),
                                              reason: "\(error)"))
            }
        }
        slot.clear()
        return SampleOutcome(video: video, failures: failures, isBlank: true, isPadded: false)
    }

    /// One attempt: the caption sample, the crop offsets and the flip, in that order, from `random`;
    /// then the clip, decoded into the slot. A clip with no frame of the video is a failure.
    private func produceAttempt(video: Int, random: inout SplitMix64, into slot: SampleSlot) throws -> ClipFill {
        let o = options
        let sample = try sampler.sample(video: video, using: &random)
        let horizontal = o.centerCrop ? 0.5 : random.uniformDouble()
        let vertical = o.centerCrop ? 0.5 : random.uniformDouble()
        let flipped = o.randomFlip && random.uniformDouble() > 0.5
        let request = ClipRequest(
            startSeconds: Double(sample.startSeekSeconds), frameCount: o.sampling.numFrames,
            framesPerSecond: o.sampling.framesPerSecond, size: o.size, cropping: o.cropOnly ? .window : .scaledSquare,
            cropOffset: CropOffset(horizontal: horizontal, vertical: vertical), flipped: flipped,
            durationSeconds: sample.decodeSeconds)
        guard sample.tokens.count * MemoryLayout<Int64>.size == slot.tokens.count else {
            throw LoaderError.invalidOptions("the caption sample has \(sample.tokens.count) tokens, "
                                             + "not \(slot.tokens.count / MemoryLayout<Int64>.size)")
        }
        let reader = try openReader(video: video)
        let fill = try reader.decode(request, into: slot.pixels)
        if fill.decodedFrameCount == 0, let reason = fill.emptyReason {
            throw VideoError.emptyClip(path: reader.url.path, reason: reason)
        }
        sample.tokens.withUnsafeBytes { slot.tokens.copyMemory(from: $0) }
        return fill
    }

    private func failurePath(video: Int, error: Error) -> String {
        if let error = error as? VideoError { return error.path }
        if error is ClipSamplingError, let index = sampler.index, let path = try? index.captionPath(ofVideo: video) {
            return path
        }
        return videos.location(ofPath: trainList.videoPaths[video])
    }
}

/// Where one sample goes: its share of the batch's video and text memory.
struct SampleSlot {
    /// `3 x T x S x S` bytes of the video tensor.
    var pixels: UnsafeMutableRawBufferPointer
    /// `K x W` int64 tokens of the text tensor.
    var tokens: UnsafeMutableRawBufferPointer

    /// A black clip with no words.
    func clear() {
        if let base = pixels.baseAddress { base.initializeMemory(as: UInt8.self, repeating: 0, count: pixels.count) }
        if let base = tokens.baseAddress { base.initializeMemory(as: UInt8.self, repeating: 0, count: tokens.count) }
    }
}

/// What became of one sample.
struct SampleOutcome: Sendable {
    /// The video used, after substitutions.
    var video: Int
    /// The attempts that failed, in order.
    var failures: [SampleFailure]
    /// Whether every attempt failed and the sample is black with no words.
    var isBlank: Bool
    /// Whether black frames pad the clip.
    var isPadded: Bool
}

// MARK: - Batches of an epoch

/// The batches of one epoch, produced by the loader's threads ahead of their use.
///
/// The samples are produced by an `OrderedPrefetcher`, at most `prefetchBatches` batches ahead of
/// the consumer, each written by its thread straight into its batch's tensors. The consumer
/// allocates each batch's memory before the threads may start on it, outside any lock the threads
/// share. When the sequence is released (a loop left early, an error thrown), the threads stop
/// after the sample in hand and end.
public final class EpochBatches: Sequence, IteratorProtocol {
    /// What the threads share: released when the last of them has ended.
    let context: EpochContext
    private let samples: OrderedPrefetcher<SampleOutcome>
    private let firstNumber: Int
    /// Batches handed out.
    private var taken = 0
    private var stopped = false
    private var failure: Error?

    init(loader: TrainingLoader, epoch: Int, batches: [[Int]], firstNumber: Int) throws {
        let o = loader.options
        context = EpochContext(loader: loader, epoch: epoch, batches: batches)
        self.firstNumber = firstNumber
        for index in 0..<Swift.min(o.prefetchBatches, batches.count) { try context.allocateBatch(index) }
        samples = OrderedPrefetcher(count: batches.count * o.batchSize, threads: o.threads,
                                    capacity: o.prefetchBatches * o.batchSize, name: "milnce-loader") { [context] slot in
            try context.produceSample(slot)
        }
    }

    deinit { samples.stop() }

    /// The number of batches this sequence yields.
    public var count: Int { context.batches.count }

    /// Seconds the consumer has waited for data.
    public var waitingSeconds: Double { samples.waitingTime.inSeconds }

    /// Why the batches ended before the end of the epoch, when something other than `stop()`
    /// ended them (a batch tensor could not be allocated or written); nil otherwise.
    public var error: Error? { failure }

    /// Stops the workers (they finish the sample in hand) and drops prepared batches.
    public func stop() {
        stopped = true
        samples.stop()
    }

    /// The next batch in order, waiting for the workers if needed; nil at the end of the epoch,
    /// after `stop()`, or after an error (see `error`).
    public func next() -> TrainingBatch? {
        guard !stopped, failure == nil, taken < count else { return nil }
        let batchSize = context.loader.options.batchSize
        var outcomes: [SampleOutcome] = []
        do {
            // The memory of the batch the threads may reach once this one is under way.
            let ahead = taken + context.loader.options.prefetchBatches
            if ahead < count { try context.allocateBatch(ahead) }
            for _ in 0..<batchSize {
                guard let outcome = try samples.next() else { return nil }
                outcomes.append(outcome)
            }
        } catch {
            failure = error
            samples.stop()
            return nil
        }
        guard let memory = context.takeBatch(taken) else { return nil }
        defer { taken += 1 }
        return TrainingBatch(number: firstNumber + taken, video: memory.video, text: memory.text,
                             videos: outcomes.map(\.video), failures: outcomes.flatMap(\.failures),
                             blankSamples: outcomes.filter(\.isBlank).count,
                             paddedSamples: outcomes.filter(\.isPadded).count)
    }
}

/// What one epoch's loader threads share: the loader, the epoch's batches and their memory.
final class EpochContext: Sendable {
    let loader: TrainingLoader
    let epoch: Int
    let batches: [[Int]]
    /// The memory of the batches allocated and not yet handed out, by index.
    private let memory = Mutex<[Int: BatchMemory]>([:])

    init(loader: TrainingLoader, epoch: Int, batches: [[Int]]) {
        self.loader = loader
        self.epoch = epoch
        self.batches = batches
    }

    /// Allocates batch `index`'s tensors (outside the lock) and makes them available to the threads.
    func allocateBatch(_ index: Int) throws {
        let batch = try BatchMemory(options: loader.options)
        memory.withLock { $0[index] = batch }
    }

    /// Removes batch `index`'s memory, every sample of which has been written.
    func takeBatch(_ index: Int) -> BatchMemory? {
        memory.withLock { $0.removeValue(forKey: index) }
    }

    /// Produces sample `slot` of the epoch (batch `slot / B`, position `slot % B`) into its batch.
    func produceSample(_ slot: Int) throws -> SampleOutcome {
        let batchSize = loader.options.batchSize
        let batchIndex = slot / batchSize, position = slot % batchSize
        guard let batch = memory.withLock({ $0[batchIndex] }) else { throw LoaderError.stopped }
        return try batch.withSlot(position) { slot in
            loader.produce(epoch: epoch, video: batches[batchIndex][position], into: slot)
        }
    }
}

/// The tensors of one batch.
///
// @unchecked: wraps libtorch tensors (C handles); one thread writes each sample's slice, and the
// prefetcher's lock orders every write before the consumer reads.
final class BatchMemory: @unchecked Sendable {
    /// uint8 `B x 3 x T x S x S`.
    let video: Tensor
    /// int64 `B x K x W`.
    let text: Tensor
    private let pixelsPerSample: Int
    private let tokenBytesPerSample: Int

    /// Uninitialised tensors for a batch (every sample writes all of its bytes), pinned when asked.
    init(options o: LoaderOptions) throws {
        video = try Tensor.empty([o.batchSize, 3, o.sampling.numFrames, o.size, o.size], dtype: .uint8,
                                 pinned: o.pinMemory)
        text = try Tensor.empty([o.batchSize, o.sampling.numCandidates, o.sampling.maxWords], dtype: .int64,
                                pinned: o.pinMemory)
        pixelsPerSample = 3 * o.sampling.numFrames * o.size * o.size
        tokenBytesPerSample = o.sampling.numCandidates * o.sampling.maxWords * MemoryLayout<Int64>.size
    }

    /// Gives `body` sample `position`'s share of the memory.
    func withSlot<R>(_ position: Int, _ body: (SampleSlot) throws -> R) throws -> R {
        try video.withUnsafeMutableBytes { pixels in
            try text.withUnsafeMutableBytes { tokens in
                let pixelRange = (position * pixelsPerSample)..<((position + 1) * pixelsPerSample)
                let tokenRange = (position * tokenBytesPerSample)..<((position + 1) * tokenBytesPerSample)
                guard pixelRange.upperBound <= pixels.count, tokenRange.upperBound <= tokens.count else {
                    throw LoaderError.invalidOptions("sample \(position) lies outside its batch's tensors")
                }
                return try body(SampleSlot(pixels: UnsafeMutableRawBufferPointer(rebasing: pixels[pixelRange]),
                                           tokens: UnsafeMutableRawBufferPointer(rebasing: tokens[tokenRange])))
            }
        }
    }
}
