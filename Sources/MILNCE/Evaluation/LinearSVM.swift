import CLinear
import FoundationEssentials
import Glibc
import Synchronization

// MARK: - Options

/// Which LIBLINEAR solver trains a `LinearSVM`.
public enum LinearSVMSolver: String, Sendable, Codable, CaseIterable {
    /// As scikit-learn's `dual="auto"`: the dual solver when there are fewer samples than
    /// features, the primal solver otherwise.
    case automatic
    /// LIBLINEAR's `L2R_L2LOSS_SVC`: a trust-region Newton method on the primal problem.
    case primal
    /// LIBLINEAR's `L2R_L2LOSS_SVC_DUAL`: coordinate descent on the dual problem.
    case dual

    /// The solver `automatic` stands for with this many samples and features.
    public func resolved(sampleCount: Int, featureCount: Int) -> LinearSVMSolver {
        switch self {
        case .automatic: return sampleCount < featureCount ? .dual : .primal
        case .primal, .dual: return self
        }
    }
}

/// The settings of a `LinearSVM`: those of scikit-learn's `LinearSVC` (L2-regularised squared
/// hinge loss, one-vs-rest).
///
/// LIBLINEAR 2.3 fixes the iteration limit of both solvers at 1000, which is scikit-learn's
/// default `max_iter`.
public struct LinearSVMOptions: Sendable, Codable, Equatable {
    /// The inverse regularisation strength `C` (scikit-learn's default is 1; the HMDB-51
    /// evaluation uses 100).
    public var cost: Double
    /// The stopping tolerance (`tol`).
    public var tolerance: Double
    /// The value of the constant feature appended to every sample to learn an intercept
    /// (scikit-learn's `intercept_scaling`; LIBLINEAR's `bias`), or `nil` for no intercept. Its
    /// weight is regularised like the others.
    public var interceptScaling: Double?
    /// The solver.
    public var solver: LinearSVMSolver

    /// Creates options; the defaults are scikit-learn's `LinearSVC()`.
    public init(cost: Double = 1, tolerance: Double = 1e-4, interceptScaling: Double? = 1,
                solver: LinearSVMSolver = .automatic) {
        self.cost = cost
        self.tolerance = tolerance
        self.interceptScaling = interceptScaling
        self.solver = solver
    }
}

// MARK: - Errors

/// Why a `LinearSVM` could not be trained or applied.
public enum LinearSVMError: Error, CustomStringConvertible, Equatable {
    /// No training samples.
    case emptyTrainingSet
    /// The number of features per sample is not positive.
    case invalidFeatureCount(Int)
    /// The feature values do not fill whole samples.
    case featureCountMismatch(valueCount: Int, featureCount: Int, during: String)
    /// There are not as many labels as samples.
    case labelCountMismatch(sampleCount: Int, labelCount: Int)
    /// All training samples carry the same label.
    case singleClass(label: Int)
    /// A feature value is NaN or infinite.
    case nonFiniteFeature(sample: Int, feature: Int, value: Float, during: String)
    /// A setting is out of range (LIBLINEAR's `check_parameter` message, or ours).
    case invalidParameter(String)
    /// The problem exceeds LIBLINEAR's 32-bit sizes.
    case problemTooLarge(sampleCount: Int, featureCount: Int)
    /// A sample index given to an internal entry point is out of range.
    case sampleIndexOutOfRange(index: Int, sampleCount: Int)
    /// LIBLINEAR returned no model.
    case trainingFailed

    /// What failed, on what, and why.
    public var description: String {
        switch self {
        case .emptyTrainingSet:
            return "training a linear SVM: the training set is empty"
        case let .invalidFeatureCount(count):
            return "training a linear SVM: the feature count must be positive, got \(count)"
        case let .featureCountMismatch(valueCount, featureCount, during):
            return "\(during): \(valueCount) feature values are not a whole number of samples "
                + "of \(featureCount) features"
        case let .labelCountMismatch(sampleCount, labelCount):
            return "training a linear SVM: \(sampleCount) samples but \(labelCount) labels"
        case let .singleClass(label):
            return "training a linear SVM: every sample has the label \(label); at least two classes are needed"
        case let .nonFiniteFeature(sample, feature, value, during):
            return "\(during): feature \(feature) of sample \(sample) is \(value); features must be finite"
        case let .invalidParameter(message):
            return "training a linear SVM: invalid setting: \(message)"
        case let .problemTooLarge(sampleCount, featureCount):
            return "training a linear SVM: \(sampleCount) samples of \(featureCount) features exceed "
                + "LIBLINEAR's 32-bit limits"
        case let .sampleIndexOutOfRange(index, sampleCount):
            return "linear SVM: sample index \(index) is outside 0..<\(sampleCount)"
        case .trainingFailed:
            return "training a linear SVM: LIBLINEAR returned no model"
        }
    }
}

// MARK: - Model

/// A linear support vector classifier trained with LIBLINEAR, equivalent to scikit-learn's
/// `LinearSVC` (L2-regularised squared hinge loss, one-vs-rest, regularised intercept).
///
/// Features are a row-major `[Float]` matrix with `featureCount` columns. Labels are integers;
/// `classes` lists them sorted, and decision values come in that order, as scikit-learn's
/// `classes_`. With two classes there is one decision value per sample, positive for
/// `classes[1]`, as in scikit-learn.
///
/// The samples are given to LIBLINEAR grouped by class in sorted label order (stably), which is
/// the order scikit-learn's bundled LIBLINEAR trains on. Where the optimisation converges tightly
/// (overlapping classes, or the dual solver) decision values agree with scikit-learn's to about
/// 1e-4; on separable data with a large `C` the primal solver stops early, and LIBLINEAR 2.3's
/// trust-region steps (preconditioned conjugate gradients) differ from those of scikit-learn's
/// bundled copy, so the two stop at different nearby solutions.
///
/// Training is reproducible: LIBLINEAR's dual solver visits samples in an order drawn from the
/// C library's `rand()`, which is seeded with `randomSeed` right before each training run, under
/// a lock shared by every `LinearSVM`. (Other code calling `rand()` on another thread while a
/// model trains would still change the order.)
///
/// A model may be used from several threads: prediction only reads it.
// @unchecked: wraps LIBLINEAR's model pointer, which is only read after training.
public final class LinearSVM: @unchecked Sendable {
    /// The distinct training labels, ascending.
    public let classes: [Int]
    /// The number of features per sample (without the intercept's constant feature).
    public let featureCount: Int
    /// The options the model was trained with.
    public let options: LinearSVMOptions
    /// The solver that trained the model (`automatic` resolved).
    public let solver: LinearSVMSolver
    /// The number of training samples.
    public let sampleCount: Int

    /// The LIBLINEAR model, owned by this object.
    private var handle: UnsafeMutablePointer<CLinear.model>?
    /// For each decision column, its column in LIBLINEAR's output, and whether to negate it.
    private let columnMap: [ColumnSource]

    /// Where one of our decision columns comes from in LIBLINEAR's output.
    private struct ColumnSource {
        var column: Int
        var negate: Bool
    }

    /// The number of decision values per sample: 1 for two classes, else the class count.
    public var decisionColumnCount: Int { columnMap.count }

    // MARK: Training

    /// Trains a model on `labels.count` samples of `featureCount` features each.
    ///
    /// - Throws: `LinearSVMError` for an empty training set, mismatched lengths, a single class,
    ///   non-finite features or invalid options.
    public convenience init(features: [Float], featureCount: Int, labels: [Int],
                            options: LinearSVMOptions = LinearSVMOptions()) throws {
        guard featureCount > 0 else { throw LinearSVMError.invalidFeatureCount(featureCount) }
        guard features.count % featureCount == 0 else {
            throw LinearSVMError.featureCountMismatch(valueCount: features.count, featureCount: featureCount,
                                                      during: "training a linear SVM")
        }
        let sampleCount = features.count / featureCount
        guard sampleCount == labels.count else {
            throw LinearSVMError.labelCountMismatch(sampleCount: sampleCount, labelCount: labels.count)
        }
        let trained = try features.withUnsafeBufferPointer { buffer in
            try LinearSVM.fit(features: buffer, featureCount: featureCount, samples: Array(0..<sampleCount),
                              labels: labels, options: options)
        }
        self.init(trained)
    }

    /// Trains on the rows `samples` of a row-major matrix, `labels[i]` being the label of
    /// row `samples[i]`. Lets a caller train on a subset without copying it.
    convenience init(features: UnsafeBufferPointer<Float>, featureCount: Int, samples: [Int], labels: [Int],
                     options: LinearSVMOptions) throws {
        self.init(try LinearSVM.fit(features: features, featureCount: featureCount, samples: samples,
                                    labels: labels, options: options))
    }

    /// What training produced.
    private struct Trained {
        var handle: UnsafeMutablePointer<CLinear.model>
        var columnMap: [ColumnSource]
        var classes: [Int]
        var featureCount: Int
        var options: LinearSVMOptions
        var solver: LinearSVMSolver
        var sampleCount: Int
    }

    private init(_ trained: Trained) {
        handle = trained.handle
        columnMap = trained.columnMap
        classes = trained.classes
        featureCount = trained.featureCount
        options = trained.options
        solver = trained.solver
        sampleCount = trained.sampleCount
    }

    /// Validates the input, builds the LIBLINEAR problem, trains, and maps LIBLINEAR's class
    /// order to the sorted one.
    private static func fit(features: UnsafeBufferPointer<Float>, featureCount: Int, samples: [Int],
                            labels: [Int], options: LinearSVMOptions) throws -> Trained {
        guard featureCount > 0 else { throw LinearSVMError.invalidFeatureCount(featureCount) }
        guard features.count % featureCount == 0 else {
            throw LinearSVMError.featureCountMismatch(valueCount: features.count, featureCount: featureCount,
                                                      during: "training a linear SVM")
        }
        guard samples.count == labels.count else {
            throw LinearSVMError.labelCountMismatch(sampleCount: samples.count, labelCount: labels.count)
        }
        guard !samples.isEmpty else { throw LinearSVMError.emptyTrainingSet }
        let rowCount = features.count / featureCount
        for sample in samples where sample < 0 || sample >= rowCount {
            throw LinearSVMError.sampleIndexOutOfRange(index: sample, sampleCount: rowCount)
        }
        guard options.cost.isFinite, options.cost > 0 else {
            throw LinearSVMError.invalidParameter("the cost C must be positive and finite, got \(options.cost)")
        }
        guard options.tolerance.isFinite, options.tolerance > 0 else {
            throw LinearSVMError.invalidParameter("the tolerance must be positive and finite, got \(options.tolerance)")
        }
        if let scaling = options.interceptScaling, !(scaling.isFinite && scaling > 0) {
            throw LinearSVMError.invalidParameter("the intercept scaling must be positive and finite, got \(scaling)")
        }
        let columns = featureCount + (options.interceptScaling == nil ? 0 : 1)
        guard samples.count < Int(Int32.max), columns < Int(Int32.max) else {
            throw LinearSVMError.problemTooLarge(sampleCount: samples.count, featureCount: featureCount)
        }

        let classes = Array(Set(labels)).sorted()
        guard classes.count >= 2 else { throw LinearSVMError.singleClass(label: labels[0]) }
        let classIndex = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, $0) })
        let labelIndices = labels.map { classIndex[$0] ?? 0 }
        // Stable grouping by class in sorted label order: LIBLINEAR then keeps this order.
        let order = labels.indices.sorted { (labelIndices[$0], $0) < (labelIndices[$1], $1) }

        let solver = options.solver.resolved(sampleCount: samples.count, featureCount: featureCount)
        var storage = try LinearProblem(features: features, featureCount: featureCount,
                                        rows: order.map { samples[$0] },
                                        targets: order.map { Double(labelIndices[$0]) },
                                        bias: options.interceptScaling)
        defer { storage.deallocate() }

        var parameters = parameter()
        parameters.solver_type = Int32(solver == .dual ? L2R_L2LOSS_SVC_DUAL : L2R_L2LOSS_SVC)
        parameters.eps = options.tolerance
        parameters.C = options.cost
        parameters.nr_weight = 0
        parameters.weight_label = nil
        parameters.weight = nil
        parameters.p = 0.1
        parameters.init_sol = nil

        let problem = storage.problem
        let result: UnsafeMutablePointer<CLinear.model>? = try withUnsafePointer(to: problem) { problem in
            try withUnsafePointer(to: parameters) { parameters in
                if let message = check_parameter(problem, parameters) {
                    throw LinearSVMError.invalidParameter(String(cString: message))
                }
                return LinearSVM.trainReproducibly(problem, parameters)
            }
        }
        guard let trained = result else { throw LinearSVMError.trainingFailed }

        // LIBLINEAR's `label` array holds our class indices in its own order.
        let modelClassCount = Int(trained.pointee.nr_class)
        var modelLabels = [Int32](repeating: 0, count: modelClassCount)
        get_labels(trained, &modelLabels)
        var map: [ColumnSource] = []
        if classes.count == 2 {
            // One column, positive for LIBLINEAR's first label; ours is positive for classes[1].
            map = [ColumnSource(column: 0, negate: modelLabels.first != 1)]
        } else {
            for index in classes.indices {
                guard let column = modelLabels.firstIndex(of: Int32(index)) else {
                    var victim: UnsafeMutablePointer<CLinear.model>? = trained
                    free_and_destroy_model(&victim)
                    throw LinearSVMError.trainingFailed
                }
                map.append(ColumnSource(column: column, negate: false))
            }
        }
        return Trained(handle: trained, columnMap: map, classes: classes, featureCount: featureCount,
                       options: options, solver: solver, sampleCount: samples.count)
    }

    deinit {
        if handle != nil { free_and_destroy_model(&handle) }
    }

    /// Held while LIBLINEAR trains: its message function and the C library's `rand()` state,
    /// which its dual solver draws its visiting order from, are global.
    private static let libraryLock = Mutex(())

    /// The seed of the C library's generator before each training run.
    static let randomSeed: UInt32 = 1

    /// `train` with LIBLINEAR's progress messages routed nowhere and `rand()` seeded right before,
    /// under a lock: the same problem then gives the same model in every run and on every call,
    /// whatever else the process drew from `rand()` in between.
    private static func trainReproducibly(_ problem: UnsafePointer<CLinear.problem>,
                                          _ parameters: UnsafePointer<CLinear.parameter>)
        -> UnsafeMutablePointer<CLinear.model>? {
        var model: UnsafeMutablePointer<CLinear.model>?
        libraryLock.withLock { _ in
            set_print_string_function { _ in }
            srand(randomSeed)
            model = train(problem, parameters)
        }
        return model
    }

    // MARK: Coefficients

    /// The weights of each decision column (scikit-learn's `coef_`): `decisionColumnCount` rows of
    /// `featureCount` values.
    public var weights: [[Double]] {
        guard let model = handle else { return [] }
        let stride = Int(model.pointee.nr_class == 2 ? 1 : model.pointee.nr_class)
        return columnMap.map { entry in
            (0..<featureCount).map { feature in
                let value = model.pointee.w[feature * stride + entry.column]
                return entry.negate ? -value : value
            }
        }
    }

    /// The intercept of each decision column (scikit-learn's `intercept_`), zero without one.
    public var intercepts: [Double] {
        guard let model = handle, let scaling = options.interceptScaling else {
            return Array(repeating: 0, count: columnMap.count)
        }
        let stride = Int(model.pointee.nr_class == 2 ? 1 : model.pointee.nr_class)
        return columnMap.map { entry in
            let value = model.pointee.w[featureCount * stride + entry.column] * scaling
            return entry.negate ? -value : value
        }
    }

    // MARK: Prediction

    /// The decision values of row-major samples: `decisionColumnCount` per sample, sample after
    /// sample (scikit-learn's `decision_function`).
    public func decisionValues(features: [Float]) throws -> [Double] {
        guard features.count % featureCount == 0 else {
            throw LinearSVMError.featureCountMismatch(valueCount: features.count, featureCount: featureCount,
                                                      during: "computing linear SVM decision values")
        }
        return try features.withUnsafeBufferPointer { buffer in
            try decisionValues(features: buffer, samples: Array(0..<(features.count / featureCount)))
        }
    }

    /// The decision values of the rows `samples` of a row-major matrix.
    func decisionValues(features: UnsafeBufferPointer<Float>, samples: [Int]) throws -> [Double] {
        guard features.count % featureCount == 0 else {
            throw LinearSVMError.featureCountMismatch(valueCount: features.count, featureCount: featureCount,
                                                      during: "computing linear SVM decision values")
        }
        guard let model = handle else { throw LinearSVMError.trainingFailed }
        let rowCount = features.count / featureCount
        let columns = columnMap.count
        var result = [Double](repeating: 0, count: samples.count * columns)
        var raw = [Double](repeating: 0, count: Int(model.pointee.nr_class))
        var nodes = [feature_node](repeating: feature_node(index: -1, value: 0), count: featureCount + 2)
        for (position, sample) in samples.enumerated() {
            guard sample >= 0, sample < rowCount else {
                throw LinearSVMError.sampleIndexOutOfRange(index: sample, sampleCount: rowCount)
            }
            var count = 0
            let base = sample * featureCount
            for feature in 0..<featureCount {
                let value = features[base + feature]
                guard value.isFinite else {
                    throw LinearSVMError.nonFiniteFeature(sample: sample, feature: feature, value: value,
                                                          during: "computing linear SVM decision values")
                }
                if value != 0 {
                    nodes[count] = feature_node(index: Int32(feature + 1), value: Double(value))
                    count += 1
                }
            }
            if let scaling = options.interceptScaling {
                nodes[count] = feature_node(index: Int32(featureCount + 1), value: scaling)
                count += 1
            }
            nodes[count] = feature_node(index: -1, value: 0)
            _ = predict_values(model, nodes, &raw)
            for (column, entry) in columnMap.enumerated() {
                let value = raw[entry.column]
                result[position * columns + column] = entry.negate ? -value : value
            }
        }
        return result
    }

    /// The predicted label of each row-major sample: for two classes `classes[1]` where the
    /// decision value is positive, else the class of the largest decision value (the first on a
    /// tie), as scikit-learn.
    public func predict(features: [Float]) throws -> [Int] {
        let values = try decisionValues(features: features)
        return predictions(decisionValues: values)
    }

    /// The labels that decision values (`decisionColumnCount` per sample) stand for.
    public func predictions(decisionValues values: [Double]) -> [Int] {
        let columns = columnMap.count
        guard columns > 0 else { return [] }
        return stride(from: 0, to: values.count - values.count % columns, by: columns).map { start in
            classes[LinearSVM.winningColumn(values[start..<(start + columns)], classCount: classes.count)]
        }
    }

    /// The index into the sorted classes chosen by one sample's decision values.
    static func winningColumn(_ values: ArraySlice<Double>, classCount: Int) -> Int {
        if classCount == 2 { return (values.first ?? 0) > 0 ? 1 : 0 }
        var best = 0
        var bestValue = -Double.infinity
        for (offset, value) in values.enumerated() where offset == 0 || value > bestValue {
            best = offset
            bestValue = value
        }
        return best
    }
}

// MARK: - LIBLINEAR problem

/// A LIBLINEAR `problem` in one contiguous block of `feature_node`s (zero features omitted, the
/// intercept's constant feature appended, each row ended by index -1), freed by `deallocate()`.
struct LinearProblem {
    var problem: problem
    private let nodes: UnsafeMutableBufferPointer<feature_node>
    private let rowStarts: UnsafeMutableBufferPointer<UnsafeMutablePointer<feature_node>?>
    private let targets: UnsafeMutableBufferPointer<Double>

    /// Builds the problem of the given rows of a row-major matrix.
    init(features: UnsafeBufferPointer<Float>, featureCount: Int, rows: [Int], targets values: [Double],
         bias: Double?) throws {
        // First pass: validate and count the stored features.
        var stored = 0
        for row in rows {
            let base = row * featureCount
            for feature in 0..<featureCount {
                let value = features[base + feature]
                guard value.isFinite else {
                    throw LinearSVMError.nonFiniteFeature(sample: row, feature: feature, value: value,
                                                          during: "training a linear SVM")
                }
                if value != 0 { stored += 1 }
            }
        }
        let perRowExtra = bias == nil ? 1 : 2
        nodes = .allocate(capacity: stored + rows.count * perRowExtra)
        rowStarts = .allocate(capacity: rows.count)
        targets = .allocate(capacity: rows.count)
        _ = targets.initialize(from: values)

        var next = 0
        for (position, row) in rows.enumerated() {
            rowStarts[position] = nodes.baseAddress.map { $0 + next }
            let base = row * featureCount
            for feature in 0..<featureCount {
                let value = features[base + feature]
                if value != 0 {
                    nodes[next] = feature_node(index: Int32(feature + 1), value: Double(value))
                    next += 1
                }
            }
            if let bias {
                nodes[next] = feature_node(index: Int32(featureCount + 1), value: bias)
                next += 1
            }
            nodes[next] = feature_node(index: -1, value: 0)
            next += 1
        }

        problem = CLinear.problem()
        problem.l = Int32(rows.count)
        problem.n = Int32(featureCount + (bias == nil ? 0 : 1))
        problem.y = targets.baseAddress
        problem.x = rowStarts.baseAddress
        problem.bias = bias ?? -1
    }

    /// Frees the storage.
    mutating func deallocate() {
        nodes.deallocate()
        rowStarts.deallocate()
        targets.deallocate()
    }
}
