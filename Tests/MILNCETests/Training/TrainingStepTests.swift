import Foundation
import Testing
import TestSupport
import Torch
@testable import MILNCE

/// The training step on its own: the frozen embedding stays frozen, the schedule advances, bad
/// batches are errors. (That the loss falls on real data is checked by the demo's test.)
@Suite struct TrainingStepTests {
    func makeStep(generator: Generator, microBatches: Int = 1) throws -> TrainingStep {
        let model = MILNCEModel(video: try S3DG(generator: generator),
                                text: try SentenceEmbedding(vocabularySize: 50, generator: generator))
        return TrainingStep(model: model, optimizer: Adam(parameters: model.parameters, learningRate: 1e-3),
                            schedule: CosineSchedule(baseLearningRate: 1e-3, warmupSteps: 0, totalSteps: 100),
                            group: nil, device: .cpu, microBatches: microBatches)
    }

    func batch(_ generator: Generator) throws -> (Tensor, Tensor) {
        (try Tensor.randint(0, 256, shape: [4, 3, 8, 32, 32], generator: generator, dtype: .uint8),
         try Tensor.randint(1, 50, shape: [4, 2, 6], generator: generator))
    }

    @Test func stepsUpdateTrainableParametersOnly() throws {
        let generator = try Generator(seed: 11)
        let step = try makeStep(generator: generator)
        let (video, text) = try batch(generator)
        let embedding = step.model.text.wordEmbedding.weight
        let frozenBefore = try embedding.clone()
        let fcBefore = try step.model.text.fc2.weight.clone()
        var learningRates: [Double] = []
        for _ in 0..<3 {
            let outcome = try step.run(video: video, text: text)
            #expect(outcome.loss.isFinite)
            learningRates.append(outcome.learningRate)
        }
        #expect(step.schedule.stepsTaken == 3)
        // The rates of PyTorch's LambdaLR with the reference's schedule (no warmup, 100 steps).
        let torchRates = try JSONDecoder().decode([Double].self, from: Data(runPython(
            PythonOracles.scheduledLearningRates, arguments: ["0.001", "0", "100", "3"]).utf8))
        try #require(torchRates.count == 3)
        for (ours, torch) in zip(learningRates, torchRates) { #expect(abs(ours - torch) <= 1e-15, "\(learningRates) vs \(torchRates)") }
        #expect(try (step.model.text.fc2.weight - fcBefore).abs().max().item() > 0)
        // The word embedding is frozen: no gradient, no optimiser state, unchanged.
        #expect(embedding.grad == nil)
        let index = step.model.parameters.firstIndex { $0 === embedding }!
        #expect((step.optimizer as! Adam).states[index] == nil)
        #expect(try (embedding - frozenBefore).abs().max().item() == 0)
    }

    /// After a step, each gradient is that step's alone (the buffer is zeroed first): equal, bit
    /// for bit, to a plain backward pass from the same weights and buffers on the same batch.
    @Test func eachStepsGradientsAreItsOwn() throws {
        let generator = try Generator(seed: 5)
        let step = try makeStep(generator: generator)
        let (video, text) = try batch(generator)
        _ = try step.run(video: video, text: text)
        let twin = try makeStep(generator: try Generator(seed: 99))
        try twin.model.load(stateDict: Dictionary(try step.model.stateDict().map { ($0.name, try $0.tensor.clone()) },
                                                  uniquingKeysWith: { a, _ in a }))
        _ = try step.run(video: video, text: text)

        twin.model.train()
        let (v, t) = try twin.embed(video: twin.prepareVideo(video), text: twin.prepareText(text))
        try milNCELoss(video: v, text: t).backward()
        let ours = step.model.namedParameters(), plain = twin.model.namedParameters()
        for (mine, reference) in zip(ours, plain) where mine.tensor.requiresGrad {
            let a = try #require(mine.tensor.grad), b = try #require(reference.tensor.grad)
            #expect(try (a - b).abs().max().item() == 0, "\(mine.name)")
        }
    }

    /// The gradients are views of one flat buffer, parameters in reverse order, in buckets.
    @Test func theGradientBufferHoldsEveryGradient() throws {
        let generator = try Generator(seed: 8)
        let model = MILNCEModel(video: try S3DG(generator: generator),
                                text: try SentenceEmbedding(vocabularySize: 50, generator: generator))
        let buffer = try GradientBuffer(parameters: model.parameters, bucketBytes: 4 << 20)
        let trainable = model.parameters.filter(\.requiresGrad)
        #expect(buffer.parameters.count == trainable.count)
        #expect(buffer.flat.count == trainable.reduce(0) { $0 + $1.count })
        #expect(buffer.buckets.reduce(0) { $0 + $1.count } == buffer.flat.count)
        #expect(buffer.buckets.count >= 3, "4 MiB buckets over \(buffer.flat.count * 4) bytes")
        try buffer.attach()
        _ = try withoutGrad { try buffer.flat.fillInPlace(3) }
        for parameter in trainable {
            let gradient = try #require(parameter.grad)
            #expect(gradient.shape == parameter.shape)
            #expect(try gradient.min().item() == 3 && gradient.max().item() == 3)
        }
        // Backward accumulates into the views: the buffer, read in reverse parameter order, is the gradients.
        try buffer.zero()
        let (video, text) = try batch(generator)
        model.train()
        let clips = try video.to(.float32) / 255
        try milNCELoss(video: model.video(clips), text: model.text(text.reshaped([-1, 6]))).backward()
        let expected = try Tensor.cat(trainable.reversed().map { try #require($0.grad).reshaped([-1]) })
        #expect(try (expected - buffer.flat).abs().max().item() == 0)
        #expect(try buffer.flat.abs().max().item() > 0)
        #expect(buffer.bucketOfParameter.last == 0, "the last parameter's gradient comes first")
    }

    /// A NaN loss stops the step before the optimiser touches any parameter.
    @Test func aNonFiniteLossStopsBeforeTheUpdate() throws {
        let generator = try Generator(seed: 3)
        let step = try makeStep(generator: generator)
        let (video, text) = try batch(generator)
        _ = try withoutGrad { try step.model.text.fc2.weight.fillInPlace(.nan) }
        let before = try step.model.parameters.map { try $0.bytes() }
        #expect(throws: TrainingError.self) { try step.run(video: video, text: text) }
        for (parameter, saved) in zip(step.model.parameters, before) { #expect(try parameter.bytes() == saved) }
        #expect((step.optimizer as! Adam).states.isEmpty)
        #expect(step.schedule.stepsTaken == 0)
    }

    @Test func aBatchThatDoesNotSplitIsAnError() throws {
        let generator = try Generator(seed: 2)
        let step = try makeStep(generator: generator, microBatches: 3)
        let (video, text) = try batch(generator)
        #expect(throws: ModelError.self) { try step.run(video: video, text: text) }
    }
}
