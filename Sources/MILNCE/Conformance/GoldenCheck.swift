import FoundationEssentials
import Torch

/// Runs a golden fixture through this build on a device and precision, and compares every tensor
/// the fixture records with it (`milnce check`): the evaluation-mode mixed_5c features and both
/// embeddings, and one training-mode forward and backward (embeddings, loss, gradients, and the
/// BatchNorm buffers after it).
public struct GoldenCheck {
    /// What a compared tensor is.
    public enum Part: String, Sendable, Codable, CaseIterable {
        case evaluation = "evaluation"
        case trainingEmbedding = "training embedding"
        case trainingLoss = "training loss"
        case gradient = "gradient"
        case buffer = "BatchNorm buffer"
    }

    /// The largest error each part may have; nil: reported but not judged (only required to be
    /// finite), for training-mode tensors in reduced precision.
    public struct Tolerances: Sendable, Equatable {
        public var evaluation: Double
        public var trainingEmbedding: Double?
        public var trainingLoss: Double?
        public var gradient: Double?
        public var buffer: Double?
        /// Why training-mode tensors are not judged, when they are not.
        public var unjudgedReason: String?

        /// The tolerance of `part`.
        public func tolerance(of part: Part) -> Double? {
            switch part {
            case .evaluation: evaluation
            case .trainingEmbedding: trainingEmbedding
            case .trainingLoss: trainingLoss
            case .gradient: gradient
            case .buffer: buffer
            }
        }

        /// float32 without TensorFloat-32 (any CPU; CUDA with `--tf32 0`).
        public static let float32 = Tolerances(evaluation: 1e-5, trainingEmbedding: 3e-3, trainingLoss: 5e-4,
                                               gradient: 1e-1, buffer: 1e-4, unjudgedReason: nil)
        /// float32 with TensorFloat-32 convolutions or matrix products on CUDA.
        public static let tensorFloat32 = Tolerances(
            evaluation: 5e-3, unjudgedReason: "TF32 rounds inputs to 10 bits, which training-mode BatchNorm over the "
                + "fixture's few values amplifies far beyond any useful tolerance; run with --tf32 0 to judge them")
        /// bfloat16 autocast.
        public static let bfloat16 = Tolerances(
            evaluation: 2e-2, unjudgedReason: "bfloat16 keeps 8 bits, which training-mode BatchNorm over the fixture's "
                + "few values amplifies to errors of order 1 (PyTorch itself: 0.5 for the video embedding, up to 2 "
                + "for gradients); check fp32 with --tf32 0 to judge them")

        /// The tolerances of a run: `reducedMatrixPrecision` is whether TF32 is allowed in
        /// convolutions or matrix products on a CUDA device.
        public static func of(precision: Precision, tensorFloat32: Bool) -> Tolerances {
            switch precision {
            case .bf16: .bfloat16
            case .fp32: tensorFloat32 ? .tensorFloat32 : .float32
            }
        }

        init(evaluation: Double, trainingEmbedding: Double? = nil, trainingLoss: Double? = nil, gradient: Double? = nil,
             buffer: Double? = nil, unjudgedReason: String?) {
            self.evaluation = evaluation
            self.trainingEmbedding = trainingEmbedding
            self.trainingLoss = trainingLoss
            self.gradient = gradient
            self.buffer = buffer
            self.unjudgedReason = unjudgedReason
        }

        /// Where the tolerances come from, for `--help` and the README.
        public static let justification = """
        Tolerances (relative error ‖ours − fixture‖ / ‖fixture‖; the loss as an absolute difference):
          evaluation mode (mixed_5c features, video and text embeddings): 1e-5 in fp32 (CPU, or CUDA \
        with --tf32 0), 5e-3 in fp32 with TF32 on CUDA (PyTorch's default for convolutions), 2e-2 in bf16.
          training mode, fp32 without TF32: embeddings 3e-3, loss 5e-4, gradients 1e-1, BatchNorm buffers 1e-4. \
        In training mode BatchNorm uses the batch's statistics, and at mixed_5c the public fixture (batch 2, \
        16x64x64) normalises 16 values whose variance is 1e-6, so float32 rounding is amplified: the fixture \
        itself lies 3.7e-4 (embeddings), 1.1e-5 (loss), 1.9e-2 (gradients) and 9e-6 (buffers) from the exact \
        (float64) result, and PyTorch 2.11 in float32 on an AVX2 CPU lies 7.2e-4, 1.1e-4, 3.3e-2 and 1.0e-5 \
        from it, so PyTorch itself misses the AVX-512-made fixture by up to 8.4e-4, 1.2e-4, 2.1e-2 and \
        2.5e-6. Any correct float32 implementation lands within the sum of two such distances; the \
        tolerances are two to five times that sum, and still an order of magnitude below what a wrong operation \
        gives (errors of order 1). `bench/golden_reference.py` prints PyTorch's own errors on any device.
          training mode in bf16 or with TF32: reported but not judged (they must be finite): the same \
        amplification turns their rounding into errors of order 1, for PyTorch as for this build.
        """
    }

    /// One compared tensor.
    public struct Line: Sendable, Codable {
        /// The fixture's name for it (`eval_mixed5c`, `grad.fc.weight`, ...).
        public var name: String
        public var part: Part
        /// The relative error (the absolute difference for the loss); infinite when not finite.
        public var error: Double
        /// The tolerance, or nil when the tensor is not judged.
        public var tolerance: Double?

        /// Whether the tensor is judged against a tolerance.
        public var isJudged: Bool { tolerance != nil }
        /// Within tolerance (or, when not judged, finite).
        public var passed: Bool { tolerance.map { error <= $0 } ?? error.isFinite }
    }

    /// The outcome of a check.
    public struct Report: Sendable, Codable {
        public var fixture: String
        public var device: String
        public var precision: String
        public var tf32Convolutions: Bool
        public var tf32MatrixProducts: Bool
        public var lines: [Line]
        /// Why training-mode tensors were not judged, when they were not.
        public var unjudgedReason: String?
        /// Every line passed.
        public var passed: Bool { lines.allSatisfy(\.passed) }
        /// The largest error / tolerance over the judged lines.
        public var largestRatio: Double {
            lines.compactMap { line in line.tolerance.map { line.error / $0 } }.max() ?? 0
        }
    }

    public let fixture: GoldenFixture
    public let device: Device
    public let precision: Precision

    public init(fixture: GoldenFixture, device: Device, precision: Precision) {
        self.fixture = fixture
        self.device = device
        self.precision = precision
    }

    /// Whether TensorFloat-32 can take part in this run (CUDA, float32, and allowed).
    public var usesTensorFloat32: Bool {
        device.isCUDA && precision == .fp32 && (Runtime.allowsTF32Convolutions || Runtime.allowsTF32MatrixProducts)
    }

    /// The tolerances of this run.
    public var tolerances: Tolerances { .of(precision: precision, tensorFloat32: usesTensorFloat32) }

    /// Runs the model on the fixture's input in evaluation and training mode and compares.
    public func run() throws -> Report {
        let model = try fixture.makeModel()
        try model.move(to: device)
        let video = try fixture.tensor("video").to(device)
        let text = try fixture.tensor("text").to(device)
        var outputs: [(String, Part, Tensor)] = []

        model.eval()
        try withoutGrad {
            let (features, videoEmbedding, textEmbedding) = try inPrecision {
                (try model.video.features(video), try model.video(video), try model.text(text))
            }
            outputs += [("eval_mixed5c", .evaluation, features), ("eval_video_embd", .evaluation, videoEmbedding),
                        ("eval_text_embd", .evaluation, textEmbedding)]
        }

        model.train()
        let (videoEmbedding, textEmbedding) = try inPrecision { (try model.video(video), try model.text(text)) }
        let loss = try milNCELoss(video: videoEmbedding.to(.float32), text: textEmbedding.to(.float32))
        try loss.backward()
        outputs += [("train_video_embd", .trainingEmbedding, videoEmbedding),
                    ("train_text_embd", .trainingEmbedding, textEmbedding)]
        let state = Dictionary(model.stateDict().map { ($0.name, $0.tensor) }, uniquingKeysWith: { first, _ in first })
        for name in fixture.gradientNames {
            guard let gradient = state[name]?.grad else {
                throw GoldenFixtureError(folder: fixture.folder, problem: "the model has no gradient for '\(name)'",
                                         remedy: "the fixture's grad.\(name) names a parameter this model does not train")
            }
            outputs.append(("grad." + name, .gradient, gradient))
        }
        for name in fixture.bufferNames {
            guard let buffer = state[name] else {
                throw GoldenFixtureError(folder: fixture.folder, problem: "the model has no buffer '\(name)'",
                                         remedy: "the fixture's after_train_step.\(name) names a buffer this model lacks")
            }
            outputs.append(("after_train_step." + name, .buffer, buffer))
        }

        let tolerances = self.tolerances
        var lines = try outputs.map { name, part, value in
            Line(name: name, part: part, error: try GoldenFixture.relativeError(value, fixture.tensor(name)),
                 tolerance: tolerances.tolerance(of: part))
        }
        let lossValue = try loss.item(), expectedLoss = try fixture.tensor("train_loss").item()
        let lossError = lossValue.isFinite ? Swift.abs(lossValue - expectedLoss) : .infinity
        lines.insert(Line(name: "train_loss", part: .trainingLoss, error: lossError,
                          tolerance: tolerances.trainingLoss), at: 5)
        return Report(fixture: fixture.folder.path, device: "\(device)", precision: precision.rawValue,
                      tf32Convolutions: Runtime.allowsTF32Convolutions, tf32MatrixProducts: Runtime.allowsTF32MatrixProducts,
                      lines: lines, unjudgedReason: tolerances.unjudgedReason)
    }

    /// `body` under bfloat16 autocast in bf16, as training runs it.
    private func inPrecision<R>(_ body: () throws -> R) throws -> R {
        precision == .bf16 ? try withAutocast(on: device, dtype: .bfloat16, body) : try body()
    }
}
