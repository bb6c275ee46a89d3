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
        #expect(learningRates == (0..<3).map { 1e-3 * step.schedule.multiplier(at: $0) })
        #expect(try (step.model.text.fc2.weight - fcBefore).abs().max().item() > 0)
        // The word embedding is frozen: no gradient, no optimiser state, unchanged.
        #expect(embedding.grad == nil)
        let index = step.model.parameters.firstIndex { $0 === embedding }!
        #expect((step.optimizer as! Adam).states[index] == nil)
        #expect(try (embedding - frozenBefore).abs().max().item() == 0)
    }

    @Test func aBatchThatDoesNotSplitIsAnError() throws {
        let generator = try Generator(seed: 2)
        let step = try makeStep(generator: generator, microBatches: 3)
        let (video, text) = try batch(generator)
        #expect(throws: ModelError.self) { try step.run(video: video, text: text) }
    }
}
