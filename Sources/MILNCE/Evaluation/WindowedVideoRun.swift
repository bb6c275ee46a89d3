// The evaluation loop shared by every command: videos decoded on reader threads (a bounded queue
// ahead of the network), batched, moved to the device as uint8, divided by 255 there, and run
// through the video network without gradients and in evaluation mode. Videos that cannot be
// decoded are recorded as failures and left out.

import FoundationEssentials
import POSIX
import Torch
import Video

// MARK: - Options

/// How an evaluation runs: the windows it decodes and how work is batched.
public struct EvaluationRunOptions: Sendable, Equatable {
    /// The windows decoded for each item.
    public var clips: EvaluationClipSettings
    /// Items (each with all its windows) per network batch (`--batch_size`, 16 by default).
    public var batchSize: Int
    /// Threads decoding videos ahead of the network (`--num_thread_reader`).
    public var readerThreads: Int
    /// Words per caption (`max_words`, 30 in the reference's evaluations).
    public var maxWords: Int

    /// Options; the defaults are the reference's, with one reader thread per core.
    public init(clips: EvaluationClipSettings = EvaluationClipSettings(), batchSize: Int = 16,
                readerThreads: Int = ProcessInfo.processInfo.activeProcessorCount, maxWords: Int = 30) {
        self.clips = clips
        self.batchSize = batchSize
        self.readerThreads = readerThreads
        self.maxWords = maxWords
    }

    /// Checks that every value is usable.
    ///
    /// - Throws: `EvaluationError.invalidSettings` naming the first bad value.
    public func validate() throws {
        try clips.validate()
        guard batchSize >= 1 else {
            throw EvaluationError.invalidSettings("the batch size must be at least 1, got \(batchSize)")
        }
        guard readerThreads >= 1 else {
            throw EvaluationError.invalidSettings("the number of reader threads must be at least 1, got \(readerThreads)")
        }
        guard maxWords >= 1 else {
            throw EvaluationError.invalidSettings("the number of words per caption must be at least 1, got \(maxWords)")
        }
    }

    /// Decoded items allowed to wait for the network: two batches, and enough to keep every
    /// reader busy.
    var queueCapacity: Int { max(2 * batchSize, readerThreads + batchSize) }
}

/// Which output of the video network is collected for each window.
public enum VideoOutput: String, Sendable, Codable, CaseIterable {
    /// The joint-space embedding (`fc`, 512-d): retrieval.
    case embedding
    /// The mixed_5c feature averaged over time and space (1024-d): linear evaluation.
    case mixed5c

    /// The output's size for a network.
    func dimension(of network: S3DG) -> Int {
        switch self {
        case .embedding: return network.fc.weight.shape.first ?? 0
        case .mixed5c: return S3DG.featureDimension
        }
    }
}

// MARK: - Running

/// What the video loop gives back.
struct WindowedVideoResult {
    /// The items whose windows were decoded and run, in order.
    var items: [Int]
    /// Their outputs on the device: `items.count x dimension` when windows are averaged,
    /// `items.count x windowCount x dimension` otherwise.
    var outputs: Tensor
    /// The items that could not be decoded.
    var failures: [EvaluationFailure]
    /// Decoded windows that held no frame of the video (black padding only).
    var emptyWindowCount: Int
}

/// One pass of a video network over decoded items.
struct WindowedVideoRun {
    var network: S3DG
    var device: Device
    var options: EvaluationRunOptions
    var output: VideoOutput
    /// Whether the window outputs of an item are averaged (retrieval and embedding) or kept.
    var averagesWindows: Bool

    /// Decodes `count` items with `decode` (on the reader threads), runs the network, and
    /// collects the outputs. `describe` gives the failure record of an item, less its reason.
    func run(count: Int, progress: ProgressDisplay?,
             decode: @escaping @Sendable (Int) throws -> DecodedWindows,
             describe: @escaping (Int) -> EvaluationFailure) throws -> WindowedVideoResult {
        try options.validate()
        let clips = options.clips
        let dimension = output.dimension(of: network)
        // An item that fails to decode is a result too: it is counted and the others go on.
        let prefetch = OrderedPrefetcher<Result<DecodedWindows, any Error>>(
            count: count, threads: options.readerThreads, capacity: options.queueCapacity,
            name: "milnce-eval-reader") { index in Result { try decode(index) } }
        defer {
            prefetch.stop()
            prefetch.waitForThreads()
        }

        var items: [Int] = []
        var outputs: [Tensor] = []
        var failures: [EvaluationFailure] = []
        var emptyWindows = 0
        var pendingItems: [Int] = []
        var pendingWindows: [DecodedWindows] = []

        func flush() throws {
            guard !pendingItems.isEmpty else { return }
            let batch = try runBatch(pendingWindows, clips: clips, dimension: dimension)
            outputs.append(batch)
            items += pendingItems
            pendingItems.removeAll(keepingCapacity: true)
            pendingWindows.removeAll(keepingCapacity: true)
        }

        try withEvaluationMode(network) {
            try withoutGrad {
                for index in 0..<count {
                    guard let result = try prefetch.next() else { break }
                    switch result {
                    case .success(let windows):
                        if windows.pixels.count == clips.windowCount * clips.windowByteCount {
                            emptyWindows += windows.emptyWindowCount
                            pendingItems.append(index)
                            pendingWindows.append(windows)
                        } else {
                            var failure = describe(index)
                            failure.path = windows.path.path
                            failure.reason = "decoded \(windows.pixels.count) bytes, not \(clips.windowCount) windows"
                            failures.append(failure)
                        }
                    case .failure(let error):
                        var failure = describe(index)
                        if let path = (error as? VideoError)?.path, !path.isEmpty { failure.path = path }
                        failure.reason = "\(error)"
                        failures.append(failure)
                    }
                    if pendingItems.count >= options.batchSize { try flush() }
                    progress?.update(index + 1, status: failures.isEmpty ? "" : "\(failures.count) failed")
                }
                try flush()
            }
        }
        let shape = averagesWindows ? [0, dimension] : [0, clips.windowCount, dimension]
        let all = outputs.isEmpty ? try Tensor.zeros(shape, device: device)
            : outputs.count == 1 ? outputs[0] : try Tensor.cat(outputs, dimension: 0)
        return WindowedVideoResult(items: items, outputs: all, failures: failures, emptyWindowCount: emptyWindows)
    }

    /// Runs the network on the windows of a batch of items; returns `B x D` or `B x W x D`.
    private func runBatch(_ batch: [DecodedWindows], clips: EvaluationClipSettings, dimension: Int) throws -> Tensor {
        let windows = clips.windowCount
        let perItem = windows * clips.windowByteCount
        let input = try Tensor.empty([batch.count * windows, 3, clips.frameCount, clips.size, clips.size],
                                     dtype: .uint8)
        try input.withUnsafeMutableBytes { bytes in
            guard let base = bytes.baseAddress else { return }
            for (position, item) in batch.enumerated() {
                item.pixels.withUnsafeBytes { source in
                    guard let from = source.baseAddress else { return }
                    (base + position * perItem).copyMemory(from: from, byteCount: perItem)
                }
            }
        }
        let video = try input.to(device).to(.float32).divideInPlace(255)
        let result: Tensor
        switch output {
        case .embedding: result = try network(video)
        case .mixed5c: result = try network.features(video)
        }
        let grouped = try result.view([batch.count, windows, dimension])
        return averagesWindows ? try grouped.mean([1]) : grouped
    }
}

// MARK: - Modes

/// Runs `body` with `module` and all its descendants in evaluation mode, then gives each of them
/// back the mode it had.
func withEvaluationMode<R>(_ module: Module, _ body: () throws -> R) rethrows -> R {
    var modes: [(module: Module, isTraining: Bool)] = []
    func record(_ module: Module) {
        modes.append((module, module.isTraining))
        for child in module.children { record(child.module) }
    }
    record(module)
    module.eval()
    // Parents first: each module's own mode is set after its parent's has reached it.
    defer { for entry in modes { entry.module.train(entry.isTraining) } }
    return try body()
}
