import Foundation
import MILNCE
import Testing
import TestSupport

/// Fits scikit-learn's `LinearSVC` on raw float32 training features and JSON labels and prints
/// its classes, chosen dual setting, decision values and predictions on the test features.
private let scikitLearnScript = """
import json, sys, warnings
import numpy as np
from sklearn.svm import LinearSVC
from sklearn.svm._classes import _validate_dual_parameter

train_path, labels_path, test_path, dimension, cost = sys.argv[1:6]
dimension = int(dimension)
x_train = np.fromfile(train_path, dtype='<f4').reshape(-1, dimension)
y_train = np.array(json.load(open(labels_path)))
x_test = np.fromfile(test_path, dtype='<f4').reshape(-1, dimension)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter('always')
    model = LinearSVC(C=float(cost)).fit(x_train, y_train)
decision = model.decision_function(x_test)
print(json.dumps({
    'classes': [int(c) for c in model.classes_],
    'dual': bool(_validate_dual_parameter('auto', 'squared_hinge', 'l2', 'ovr', x_train)),
    'decision': np.asarray(decision, dtype=np.float64).ravel().tolist(),
    'columns': 1 if decision.ndim == 1 else int(decision.shape[1]),
    'predictions': [int(p) for p in model.predict(x_test)],
    'warnings': [str(w.message) for w in caught],
}))
"""

/// A generated classification problem: Gaussian blobs around random class centres.
private struct BlobProblem: CustomTestStringConvertible, Sendable {
    var classCount: Int
    var trainCount: Int
    var testCount: Int
    var dimension: Int
    var seed: UInt64
    /// Distance scale of the class centres relative to the unit noise.
    var separation: Double = 1.5

    var testDescription: String { "\(classCount) classes, \(trainCount) samples of \(dimension) features" }

    /// Training features, training labels, test features.
    func generate() -> (train: [Float], labels: [Int], test: [Float]) {
        var random = SeededGenerator(seed: seed)
        // Labels are spread non-contiguously so that label order and class index differ.
        let labelValues = (0..<classCount).map { $0 * 3 - 7 }
        let centres = (0..<classCount).map { _ in
            (0..<dimension).map { _ in random.normal() * separation / Double(dimension).squareRoot() * 4 }
        }
        func sample(_ count: Int) -> ([Float], [Int]) {
            var features: [Float] = []
            var labels: [Int] = []
            for index in 0..<count {
                // Every class appears, in a shuffled order.
                let classIndex = index < classCount ? classCount - 1 - index : Int.random(in: 0..<classCount, using: &random)
                labels.append(labelValues[classIndex])
                for feature in 0..<dimension {
                    features.append(Float(centres[classIndex][feature] + random.normal()))
                }
            }
            return (features, labels)
        }
        let (train, labels) = sample(trainCount)
        let (test, _) = sample(testCount)
        return (train, labels, test)
    }
}

/// Problems on which scikit-learn's solver converges tightly: overlapping classes (the primal
/// solver) or fewer samples than features (the dual solver, which converges on separable data).
private let blobProblems: [BlobProblem] = [
    BlobProblem(classCount: 5, trainCount: 300, testCount: 200, dimension: 64, seed: 21, separation: 0.25),
    BlobProblem(classCount: 12, trainCount: 1200, testCount: 200, dimension: 64, seed: 22, separation: 0.25),
    BlobProblem(classCount: 51, trainCount: 3000, testCount: 300, dimension: 32, seed: 23, separation: 0.3),
    // Fewer samples than features: the dual solver.
    BlobProblem(classCount: 8, trainCount: 200, testCount: 150, dimension: 1024, seed: 24),
    BlobProblem(classCount: 51, trainCount: 400, testCount: 200, dimension: 1024, seed: 25),
    // Two classes: one decision column.
    BlobProblem(classCount: 2, trainCount: 300, testCount: 200, dimension: 48, seed: 26, separation: 0.25),
    BlobProblem(classCount: 2, trainCount: 120, testCount: 100, dimension: 400, seed: 27),
]

@Suite("Linear SVM")
struct LinearSVMTests {
    @Test("matches scikit-learn's LinearSVC(C=100)", arguments: blobProblems)
    fileprivate func matchesScikitLearn(_ problem: BlobProblem) throws {
        let (train, labels, test) = problem.generate()
        let directory = try TestEnvironment.temporaryDirectory("svm")
        defer { try? FileManager.default.removeItem(at: directory) }
        let trainFile = try EvaluationOracle.writeFloats(train, named: "train.f32", in: directory)
        let testFile = try EvaluationOracle.writeFloats(test, named: "test.f32", in: directory)
        let labelFile = try EvaluationOracle.writeJSON(labels, named: "labels.json", in: directory)
        let reference = try #require(try EvaluationOracle.json(
            scikitLearnScript,
            arguments: [trainFile.path, labelFile.path, testFile.path, "\(problem.dimension)", "100"]) as? [String: Any])

        let svm = try LinearSVM(features: train, featureCount: problem.dimension, labels: labels,
                                options: LinearSVMOptions(cost: 100))
        #expect(svm.classes == reference["classes"] as? [Int])
        let referenceDual = try #require(reference["dual"] as? Bool)
        #expect(svm.solver == (referenceDual ? .dual : .primal))
        #expect(svm.decisionColumnCount == reference["columns"] as? Int)
        #expect(svm.decisionColumnCount == (problem.classCount == 2 ? 1 : problem.classCount))

        let decision = try svm.decisionValues(features: test)
        let expected = try #require(reference["decision"] as? [Double])
        try #require(decision.count == expected.count)
        let scale = expected.map(abs).max() ?? 1
        let difference = zip(decision, expected).map { abs($0 - $1) }.max() ?? 0
        print("LinearSVM vs scikit-learn, \(problem.testDescription) (\(svm.solver)): "
            + "max |decision difference| = \(difference), max |decision| = \(scale)")
        #expect(difference <= 1e-3 * max(scale, 1))

        let predictions = try svm.predict(features: test)
        let expectedPredictions = try #require(reference["predictions"] as? [Int])
        let disagreements = zip(predictions, expectedPredictions).filter { $0 != $1 }.count
        #expect(disagreements == 0, "\(disagreements) of \(predictions.count) predictions differ")
        #expect(svm.predictions(decisionValues: decision) == predictions)
    }

    @Test("on separable data the primal solvers stop early at nearby points")
    func separablePrimal() throws {
        // Both LIBLINEAR 2.3 (preconditioned conjugate gradients) and scikit-learn's bundled copy
        // (plain conjugate gradients) stop the trust-region Newton method once the gradient is
        // 1e-4 x min(positives, negatives) / samples of its initial norm; on separable data with
        // C = 100 that is far from the optimum, so the two stop at different nearby points.
        let problem = BlobProblem(classCount: 5, trainCount: 300, testCount: 400, dimension: 64, seed: 28)
        let (train, labels, test) = problem.generate()
        let directory = try TestEnvironment.temporaryDirectory("svm")
        defer { try? FileManager.default.removeItem(at: directory) }
        let trainFile = try EvaluationOracle.writeFloats(train, named: "train.f32", in: directory)
        let testFile = try EvaluationOracle.writeFloats(test, named: "test.f32", in: directory)
        let labelFile = try EvaluationOracle.writeJSON(labels, named: "labels.json", in: directory)
        let reference = try #require(try EvaluationOracle.json(
            scikitLearnScript, arguments: [trainFile.path, labelFile.path, testFile.path, "64", "100"]) as? [String: Any])
        let svm = try LinearSVM(features: train, featureCount: 64, labels: labels, options: LinearSVMOptions(cost: 100))
        #expect(svm.solver == .primal)
        let predictions = try svm.predict(features: test)
        let expected = try #require(reference["predictions"] as? [Int])
        let agreement = Double(zip(predictions, expected).filter { $0 == $1 }.count) / Double(expected.count)
        let decision = try svm.decisionValues(features: test)
        let expectedDecision = try #require(reference["decision"] as? [Double])
        let difference = zip(decision, expectedDecision).map { abs($0 - $1) }.max() ?? 0
        print("LinearSVM vs scikit-learn on separable data (primal): prediction agreement \(agreement), "
            + "max |decision difference| = \(difference)")
        #expect(agreement >= 0.97)
    }

    @Test("the automatic solver is scikit-learn's dual=\"auto\"")
    func automaticSolver() throws {
        let shapes = [(9, 10), (10, 10), (11, 10), (1, 1024), (40000, 1024)]
        let script = """
        import json
        from sklearn.svm._classes import _validate_dual_parameter
        class Shape:
            def __init__(self, shape): self.shape = shape
        shapes = \(shapes.map { [$0.0, $0.1] })
        print(json.dumps([bool(_validate_dual_parameter('auto', 'squared_hinge', 'l2', 'ovr', Shape(tuple(s))))
                          for s in shapes]))
        """
        let dual = try #require(try EvaluationOracle.json(script) as? [Bool])
        #expect(shapes.map { LinearSVMSolver.automatic.resolved(sampleCount: $0.0, featureCount: $0.1) == .dual } == dual)
        #expect(LinearSVMSolver.primal.resolved(sampleCount: 1, featureCount: 100) == .primal)
    }

    @Test("weights and intercepts give the decision values")
    func coefficients() throws {
        let problem = BlobProblem(classCount: 4, trainCount: 120, testCount: 10, dimension: 16, seed: 31)
        let (train, labels, test) = problem.generate()
        let svm = try LinearSVM(features: train, featureCount: 16, labels: labels)
        let weights = svm.weights
        let intercepts = svm.intercepts
        #expect(weights.count == 4 && intercepts.count == 4)
        let decision = try svm.decisionValues(features: test)
        for sample in 0..<10 {
            for column in 0..<4 {
                var value = intercepts[column]
                for feature in 0..<16 { value += weights[column][feature] * Double(test[sample * 16 + feature]) }
                #expect(abs(value - decision[sample * 4 + column]) < 1e-9)
            }
        }
    }

    @Test("binary decision values are positive for the larger label")
    func binarySign() throws {
        // Label 5 lives at +x, label 2 at -x; given in an order where 5 comes first.
        let features: [Float] = [3, 0, 2.5, 1, -3, 0, -2, -1, 4, 0.5, -3.5, 0.2]
        let labels = [5, 5, 2, 2, 5, 2]
        let svm = try LinearSVM(features: features, featureCount: 2, labels: labels, options: LinearSVMOptions(cost: 10))
        #expect(svm.classes == [2, 5])
        let values = try svm.decisionValues(features: [10, 0, -10, 0])
        #expect(values.count == 2)
        #expect(values[0] > 0 && values[1] < 0)
        #expect(try svm.predict(features: [10, 0, -10, 0]) == [5, 2])
    }

    @Test("both solvers can be chosen explicitly and agree")
    func explicitSolvers() throws {
        let problem = BlobProblem(classCount: 3, trainCount: 150, testCount: 60, dimension: 20, seed: 41)
        let (train, labels, test) = problem.generate()
        let primal = try LinearSVM(features: train, featureCount: 20, labels: labels,
                                   options: LinearSVMOptions(cost: 1, tolerance: 1e-7, solver: .primal))
        let dual = try LinearSVM(features: train, featureCount: 20, labels: labels,
                                 options: LinearSVMOptions(cost: 1, tolerance: 1e-7, solver: .dual))
        #expect(primal.solver == .primal && dual.solver == .dual)
        let a = try primal.decisionValues(features: test)
        let b = try dual.decisionValues(features: test)
        #expect(zip(a, b).map { abs($0 - $1) }.max() ?? 1 < 1e-4)
    }

    @Test("training twice on the same data gives the same model (LIBLINEAR's random order is seeded)")
    func reproducible() throws {
        // Overlapping classes with a large C and fewer samples than features: the dual solver's
        // coordinate descent, whose visiting order comes from the C library's rand(), stops at
        // its iteration limit, so where it stops depends on that order.
        let problem = BlobProblem(classCount: 4, trainCount: 120, testCount: 40, dimension: 200, seed: 51,
                                  separation: 0.05)
        let (train, labels, test) = problem.generate()
        let options = LinearSVMOptions(cost: 100, solver: .dual)
        var models: [LinearSVM] = []
        for _ in 0..<2 {
            models.append(try LinearSVM(features: train, featureCount: 200, labels: labels, options: options))
            // Other code of the process drawing from the same generator between two runs.
            for _ in 0..<7 { _ = rand() }
        }
        let weights = models.map(\.weights)
        let largestDifference = zip(weights[0].joined(), weights[1].joined()).map { abs($0 - $1) }.max() ?? 0
        let sameWeights = weights[0] == weights[1]
        #expect(sameWeights, "the weights differ by up to \(largestDifference)")
        let sameIntercepts = models[0].intercepts == models[1].intercepts
        #expect(sameIntercepts)
        let sameDecisions = try models[0].decisionValues(features: test) == models[1].decisionValues(features: test)
        #expect(sameDecisions)
    }

    @Test("rejects bad input with typed errors")
    func errors() {
        #expect(throws: LinearSVMError.emptyTrainingSet) {
            try LinearSVM(features: [], featureCount: 3, labels: [])
        }
        #expect(throws: LinearSVMError.labelCountMismatch(sampleCount: 2, labelCount: 3)) {
            try LinearSVM(features: [1, 2, 3, 4], featureCount: 2, labels: [0, 1, 1])
        }
        #expect(throws: LinearSVMError.featureCountMismatch(valueCount: 5, featureCount: 2, during: "training a linear SVM")) {
            try LinearSVM(features: [1, 2, 3, 4, 5], featureCount: 2, labels: [0, 1])
        }
        #expect(throws: LinearSVMError.invalidFeatureCount(0)) {
            try LinearSVM(features: [1, 2], featureCount: 0, labels: [0, 1])
        }
        #expect(throws: LinearSVMError.singleClass(label: 4)) {
            try LinearSVM(features: [1, 2, 3, 4], featureCount: 2, labels: [4, 4])
        }
        #expect(throws: LinearSVMError.nonFiniteFeature(sample: 1, feature: 0, value: .infinity, during: "training a linear SVM")) {
            try LinearSVM(features: [1, 2, .infinity, 4], featureCount: 2, labels: [0, 1])
        }
        #expect(throws: LinearSVMError.self) {
            try LinearSVM(features: [1, 2, .nan, 4], featureCount: 2, labels: [0, 1])
        }
        #expect(throws: LinearSVMError.self) {
            try LinearSVM(features: [1, 2, 3, 4], featureCount: 2, labels: [0, 1], options: LinearSVMOptions(cost: 0))
        }
        #expect(throws: LinearSVMError.self) {
            try LinearSVM(features: [1, 2, 3, 4], featureCount: 2, labels: [0, 1], options: LinearSVMOptions(tolerance: -1))
        }
    }

    @Test("rejects bad prediction input")
    func predictionErrors() throws {
        let svm = try LinearSVM(features: [1, 0, -1, 0], featureCount: 2, labels: [1, 0])
        #expect(throws: LinearSVMError.self) { try svm.decisionValues(features: [1, 2, 3]) }
        #expect(throws: LinearSVMError.self) { try svm.decisionValues(features: [1, .nan]) }
        #expect(try svm.decisionValues(features: []).isEmpty)
    }
}
