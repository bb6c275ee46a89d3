import Foundation
import Testing
import TestSupport
import Torch
import Video
@testable import MILNCE

/// The PSNR of two equally long byte arrays, in dB.
private func psnr(_ a: [UInt8], _ b: [UInt8]) -> Double {
    var sum = 0.0
    for index in 0..<min(a.count, b.count) {
        let difference = Double(Int(a[index]) - Int(b[index]))
        sum += difference * difference
    }
    return sum == 0 ? .infinity : 10 * log10(255 * 255 / (sum / Double(a.count)))
}

/// Training-sized clips: 16 frames at 5 fps, 224-pixel crops, 2 captions of 6 words.
private func clipOptions(threads: Int, batchSize: Int = 3) -> LoaderOptions {
    var options = LoaderOptions()
    options.batchSize = batchSize
    options.threads = threads
    options.sampling = ClipSamplingOptions(numCandidates: 2, maxWords: 6, minTimeSeconds: 5, numFrames: 16, framesPerSecond: 5)
    options.size = 224
    options.seed = 5
    return options
}

@Suite(.serialized) struct StoreClipTests {
    @Test func clipsOf100SampledCaptionsMatchTheRawClipsInTimeAndPixels() throws {
        let set = try StoreTestSet.get()
        let store = try VideoStore(at: try ReferenceStore.get().folder.path)
        let options = clipOptions(threads: 1)
        let sampler = try ClipSampler(index: set.index, tokenizer: set.tokenizer, options: options.sampling)
        let good = set.goodVideos
        var random = SplitMix64(seed: 2024)
        var offsets: [Double] = []
        var worstPSNR = Double.infinity
        for _ in 0..<100 {
            let key = good[random.uniformInt(in: 0...(good.count - 1))]
            let video = try #require(set.trainList.videoPaths.firstIndex(of: key))
            let sample = try sampler.sample(video: video, using: &random)
            let request = ClipRequest(startSeconds: Double(sample.startSeekSeconds), frameCount: 16, framesPerSecond: 5,
                                      size: 224, cropOffset: CropOffset(horizontal: random.uniformDouble(),
                                                                        vertical: random.uniformDouble()),
                                      flipped: random.uniformDouble() > 0.5, durationSeconds: sample.decodeSeconds)
            let raw = try VideoReader(url: set.videoRoot.appendingPathComponent(key)).clip(request)
            let stored = try store.reader(forKey: key).clip(request)
            #expect(raw.decodedFrameCount == stored.decodedFrameCount, "\(key) at \(sample.startSeekSeconds) s")
            for frame in 0..<min(raw.decodedFrameCount, stored.decodedFrameCount) {
                let rawFrame = StoreTestSet.sourceFrame(of: try #require(raw.frame(frame)))
                let storedFrame = StoreTestSet.sourceFrame(of: try #require(stored.frame(frame)))
                offsets.append(Double(abs(rawFrame - storedFrame)) / Double(StoreTestSet.framesPerSecond))
            }
            worstPSNR = min(worstPSNR, psnr(raw.pixels, stored.pixels))
        }
        let worstOffset = offsets.max() ?? .infinity
        print(String(format: "store against raw over 100 sampled clips (%d frames): largest time offset %.3f s, "
                     + "%d frames offset, worst clip PSNR %.2f dB", offsets.count, worstOffset,
                     offsets.filter { $0 > 0 }.count, worstPSNR))
        #expect(offsets.count >= 100 * 16)
        #expect(worstOffset <= 0.1)
        #expect(worstPSNR >= 30)
    }

    @Test func theStoreLoaderGivesTheRawLoadersSamplesAndIsTheSameOnAnyThreadCount() throws {
        let set = try StoreTestSet.get()
        let store = try VideoStore(at: try ReferenceStore.get().folder.path)
        let list = TrainList(videoPaths: set.goodVideos)
        let indexPath = set.folder.appendingPathComponent("good-captions.index").path
        if !FileManager.default.fileExists(atPath: indexPath) {
            try CaptionIndex.build(trainList: list, captionRoot: set.captionRoot, to: indexPath)
        }
        let index = try CaptionIndex(contentsOf: indexPath, expecting: list)
        func loader(threads: Int, fromStore: Bool) throws -> TrainingLoader {
            let options = clipOptions(threads: threads)
            let sampler = try ClipSampler(index: index, tokenizer: set.tokenizer, options: options.sampling)
            let order = try DistributedOrder(datasetCount: list.count, seed: 9)
            return fromStore
                ? try TrainingLoader(trainList: list, sampler: sampler, videos: .store(store), order: order, options: options)
                : try TrainingLoader(trainList: list, sampler: sampler, videoRoot: set.videoRoot, order: order, options: options)
        }
        let one = try collect(try loader(threads: 1, fromStore: true), epoch: 1)
        let three = try collect(try loader(threads: 3, fromStore: true), epoch: 1)
        #expect(one.count == 2 && one == three)
        let raw = try collect(try loader(threads: 2, fromStore: false), epoch: 1)
        #expect(raw.count == one.count)
        for (fromRaw, fromStore) in zip(raw, one) {
            #expect(fromRaw.videos == fromStore.videos && fromRaw.tokens == fromStore.tokens)
            #expect(fromStore.failures.isEmpty)
            #expect(psnr(fromRaw.pixels, fromStore.pixels) >= 30)
        }
        // A store that cannot give the clips asked for is refused before any work.
        var faster = clipOptions(threads: 1)
        faster.sampling.framesPerSecond = 10
        let order = try DistributedOrder(datasetCount: list.count, seed: 9)
        #expect { try TrainingLoader(trainList: list, sampler: ClipSampler(index: index, tokenizer: set.tokenizer,
                                                                          options: faster.sampling),
                                     videos: .store(store), order: order, options: faster) } throws: { "\($0)".contains("--fps") }
        var larger = clipOptions(threads: 1)
        larger.size = 288
        #expect { try TrainingLoader(trainList: list, sampler: ClipSampler(index: index, tokenizer: set.tokenizer,
                                                                          options: larger.sampling),
                                     videos: .store(store), order: order, options: larger) } throws: { "\($0)".contains("--short_side") }
    }

    @Test func aVideoMissingFromTheStoreIsSubstitutedAndReported() throws {
        let set = try StoreTestSet.get()
        let store = try VideoStore(at: try ReferenceStore.get().folder.path)
        let list = set.trainList
        let options = clipOptions(threads: 2, batchSize: 10)
        let sampler = try ClipSampler(index: set.index, tokenizer: set.tokenizer, options: options.sampling)
        let order = try DistributedOrder(datasetCount: list.count, seed: 9)
        let loader = try TrainingLoader(trainList: list, sampler: sampler, videos: .store(store), order: order, options: options)
        let batches = try collect(loader, epoch: 0)
        let failures = batches.flatMap(\.failures)
        #expect(!failures.isEmpty)
        #expect(failures.allSatisfy { $0.contains("bad_videos.csv") })
        #expect(batches.flatMap(\.videos).allSatisfy { !StoreTestSet.badVideos.contains(list.videoPaths[$0]) })
    }
}
