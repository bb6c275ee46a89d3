import FoundationEssentials
import Glibc

/// The reference's learning-rate schedule (`get_cosine_schedule_with_warmup` under PyTorch's
/// `LambdaLR`): a linear warmup from 0, then half a cosine period down to 0, stepped once per batch.
public struct CosineSchedule: Sendable, Equatable {
    /// The learning rate the multiplier scales.
    public var baseLearningRate: Double
    /// Batches of linear warmup.
    public var warmupSteps: Int
    /// Batches in the whole run (batches per epoch × epochs).
    public var totalSteps: Int
    /// Steps taken so far (`LambdaLR.last_epoch`).
    public var stepsTaken: Int = 0

    public init(baseLearningRate: Double, warmupSteps: Int, totalSteps: Int, stepsTaken: Int = 0) {
        self.baseLearningRate = baseLearningRate
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
        self.stepsTaken = stepsTaken
    }

    /// The multiplier after `step` steps.
    public func multiplier(at step: Int) -> Double {
        if step < warmupSteps {
            return Double(step) / Double(max(1, warmupSteps))
        }
        let progress = Double(step - warmupSteps) / Double(max(1, totalSteps - warmupSteps))
        return max(0, 0.5 * (1 + cos(Double.pi * 0.5 * 2 * progress)))
    }

    /// The learning rate of the next optimiser step.
    public var learningRate: Double { baseLearningRate * multiplier(at: stepsTaken) }

    /// Advances by one batch.
    public mutating func step() { stepsTaken += 1 }
}
