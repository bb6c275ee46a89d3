import Foundation
import MILNCE
import Testing
import TestSupport
import Torch

/// The reference's `compute_metrics`, run on a raw float32 matrix; prints the metrics as JSON,
/// or the name of the exception NumPy/Python raised.
private let referenceMetricsScript = """
import json, sys
\(PythonOracles.computeMetrics)
compute_metrics = compute_metrics_with_count

path, rows, columns = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
x = np.fromfile(path, dtype='<f4').reshape(rows, columns)
try:
    with np.errstate(all='ignore'):
        metrics, count = compute_metrics(x)
    # repr() keeps every digit; the test parses the strings.
    print(json.dumps({'R1': repr(metrics['R1']), 'R5': repr(metrics['R5']), 'R10': repr(metrics['R10']),
                      'MR': repr(float(metrics['MR'])), 'rank_count': int(count)}))
except Exception as error:
    print(json.dumps({'error': type(error).__name__}))
"""

/// A generated similarity matrix.
private struct MatrixCase: CustomTestStringConvertible, Sendable {
    var name: String
    var rows: Int
    var columns: Int
    var seed: UInt64
    /// How values are drawn.
    var kind: Kind

    enum Kind: Sendable {
        /// Normal floats: ties are rare.
        case gaussian
        /// Small integers 0..<levels: many ties.
        case integers(levels: Int)
        /// Normal floats with a fraction of NaNs (diagonal included) and some infinities.
        case withNaN(fraction: Double)
        /// A diagonal of NaNs only.
        case nanDiagonal
    }

    var testDescription: String { "\(name) \(rows)x\(columns)" }

    func values() -> [Float] {
        var random = SeededGenerator(seed: seed)
        var result = [Float](repeating: 0, count: rows * columns)
        for index in result.indices {
            switch kind {
            case .gaussian:
                result[index] = Float(random.normal())
            case let .integers(levels):
                result[index] = Float(Int.random(in: 0..<levels, using: &random))
            case let .withNaN(fraction):
                let draw = Double.random(in: 0..<1, using: &random)
                if draw < fraction {
                    result[index] = .nan
                } else if draw < fraction * 1.3 {
                    result[index] = Bool.random(using: &random) ? .infinity : -.infinity
                } else {
                    result[index] = Float(Int.random(in: 0..<6, using: &random))
                }
            case .nanDiagonal:
                result[index] = index / columns == index % columns ? .nan : Float(random.normal())
            }
        }
        return result
    }
}

private let matrixCases: [MatrixCase] = [
    MatrixCase(name: "random", rows: 64, columns: 64, seed: 1, kind: .gaussian),
    MatrixCase(name: "random", rows: 301, columns: 301, seed: 2, kind: .gaussian),
    MatrixCase(name: "many ties", rows: 40, columns: 40, seed: 3, kind: .integers(levels: 3)),
    MatrixCase(name: "ties", rows: 50, columns: 50, seed: 4, kind: .integers(levels: 12)),
    MatrixCase(name: "all equal", rows: 7, columns: 7, seed: 5, kind: .integers(levels: 1)),
    MatrixCase(name: "NaN and infinities", rows: 45, columns: 45, seed: 6, kind: .withNaN(fraction: 0.15)),
    MatrixCase(name: "non-square", rows: 20, columns: 57, seed: 7, kind: .gaussian),
    MatrixCase(name: "non-square ties", rows: 33, columns: 40, seed: 8, kind: .integers(levels: 4)),
    MatrixCase(name: "single", rows: 1, columns: 1, seed: 9, kind: .gaussian),
    MatrixCase(name: "single row", rows: 1, columns: 12, seed: 10, kind: .integers(levels: 3)),
    MatrixCase(name: "NaN diagonal", rows: 9, columns: 9, seed: 11, kind: .nanDiagonal),
]

@Suite("Retrieval metrics")
struct RetrievalMetricsTests {
    @Test("agree exactly with the reference's NumPy code", arguments: matrixCases)
    fileprivate func agreesWithNumPy(_ matrix: MatrixCase) throws {
        let values = matrix.values()
        let directory = try TestEnvironment.temporaryDirectory("metrics")
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = try EvaluationOracle.writeFloats(values, named: "similarity.f32", in: directory)
        let reference = try #require(try EvaluationOracle.json(
            referenceMetricsScript, arguments: [file.path, "\(matrix.rows)", "\(matrix.columns)"]) as? [String: Any])

        let metrics = try RetrievalMetrics(similarity: values, rows: matrix.rows, columns: matrix.columns)
        if let error = reference["error"] as? String {
            // Python divides by zero when no row produced a rank; we return NaN metrics instead.
            #expect(error == "ZeroDivisionError")
            #expect(metrics.count == 0 && metrics.rankCount == 0)
            #expect(metrics.r1.isNaN && metrics.r5.isNaN && metrics.r10.isNaN && metrics.medianRank.isNaN)
            return
        }
        func number(_ key: String) -> Double? { (reference[key] as? String).flatMap(Double.init) }
        #expect(metrics.r1 == number("R1"))
        #expect(metrics.r5 == number("R5"))
        #expect(metrics.r10 == number("R10"))
        #expect(metrics.medianRank == number("MR"))
        #expect(metrics.rankCount == reference["rank_count"] as? Int)
    }

    @Test("more queries than candidates is an error, as NumPy's broadcasting fails")
    func moreRowsThanColumns() throws {
        let matrix = MatrixCase(name: "tall", rows: 6, columns: 4, seed: 12, kind: .gaussian)
        let directory = try TestEnvironment.temporaryDirectory("metrics")
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = try EvaluationOracle.writeFloats(matrix.values(), named: "similarity.f32", in: directory)
        let reference = try #require(try EvaluationOracle.json(
            referenceMetricsScript, arguments: [file.path, "6", "4"]) as? [String: Any])
        #expect(reference["error"] as? String == "ValueError")
        #expect(throws: RetrievalMetricsError.moreQueriesThanCandidates(rows: 6, columns: 4)) {
            try RetrievalMetrics(similarity: matrix.values(), rows: 6, columns: 4)
        }
    }

    @Test("ties give a row several ranks, NaN diagonals none")
    func tiesAndNaN() throws {
        // Row 0: the diagonal 2 ties with one other value and is below one: ranks 1 and 2.
        // Row 1: a NaN diagonal: no rank. Row 2: the best value alone: rank 0.
        let similarity: [Float] = [
            2, 2, 3,
            1, .nan, 0,
            -1, -2, 5,
        ]
        let ranks = try RetrievalMetrics.ranks(similarity: similarity, rows: 3, columns: 3)
        #expect(ranks == [[1, 2], [], [0]])
        let metrics = try RetrievalMetrics(similarity: similarity, rows: 3, columns: 3)
        #expect(metrics.count == 2)
        #expect(metrics.rankCount == 3)
        #expect(metrics.r1 == 1.0 / 3)
        #expect(metrics.r5 == 1)
        #expect(metrics.medianRank == 2)
    }

    @Test("the median of an even count is the mean of the middle ranks")
    func evenMedian() {
        let metrics = RetrievalMetrics(ranksPerQuery: [[0], [3], [8], [1]])
        #expect(metrics.medianRank == 3) // (1 + 3) / 2 + 1
        #expect(metrics.r1 == 0.25)
        #expect(metrics.r5 == 0.75)
        #expect(metrics.r10 == 1)
    }

    @Test("an infinite diagonal never matches, as inf - inf is NaN")
    func infiniteDiagonal() throws {
        let metrics = try RetrievalMetrics(similarity: [.infinity, 1, 0, .infinity], rows: 2, columns: 2)
        #expect(metrics.count == 0)
        #expect(metrics.r1.isNaN)
    }

    @Test("embeddings with a NaN or infinite row give an error naming the rows, not metrics")
    func nonFiniteEmbeddings() throws {
        let text = try Tensor([1, 0, Float.nan, 1, 0, 1], shape: [3, 2])
        let video = try Tensor([1, 0, 0, 1, 1, 1, 2, -Float.infinity], shape: [4, 2])
        #expect(throws: EvaluationError.nonFiniteEmbeddings(what: "the text embeddings", rows: [1], rowCount: 3)) {
            try RetrievalShare.metrics(text: text, video: video)
        }
        let finiteText = try Tensor([1, 0, 0, 1, 1, 1], shape: [3, 2])
        #expect(throws: EvaluationError.nonFiniteEmbeddings(what: "the video embeddings", rows: [3], rowCount: 4)) {
            try RetrievalShare.metrics(text: finiteText, video: video)
        }
    }

    @Test("rejects malformed shapes")
    func rejectsBadShapes() {
        #expect(throws: RetrievalMetricsError.shapeMismatch(valueCount: 5, rows: 2, columns: 3)) {
            try RetrievalMetrics(similarity: [1, 2, 3, 4, 5], rows: 2, columns: 3)
        }
        #expect(throws: RetrievalMetricsError.moreQueriesThanCandidates(rows: 3, columns: 2)) {
            try RetrievalMetrics(similarity: [Float](repeating: 0, count: 6), rows: 3, columns: 2)
        }
        #expect(throws: RetrievalMetricsError.negativeDimension(rows: -1, columns: 2)) {
            try RetrievalMetrics(similarity: [], rows: -1, columns: 2)
        }
    }

    @Test("an empty matrix gives NaN metrics")
    func emptyMatrix() throws {
        let metrics = try RetrievalMetrics(similarity: [], rows: 0, columns: 0)
        #expect(metrics.count == 0)
        #expect(metrics.medianRank.isNaN)
    }

    @Test("encodes to JSON under the reference's keys, NaN as null, and decodes back")
    func json() throws {
        let metrics = RetrievalMetrics(ranksPerQuery: [[0], [2, 3], [12]])
        let data = try JSONEncoder().encode(metrics)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(object["R1"] as? Double == 0.25)
        #expect(object["R5"] as? Double == 0.75)
        #expect(object["R10"] as? Double == 0.75)
        #expect(object["MR"] as? Double == 3.5)
        #expect(object["count"] as? Int == 3)
        #expect(object["rank_count"] as? Int == 4)
        #expect(try JSONDecoder().decode(RetrievalMetrics.self, from: data) == metrics)

        let empty = RetrievalMetrics(ranksPerQuery: [[]])
        let emptyData = try JSONEncoder().encode(empty)
        let emptyObject = try #require(try JSONSerialization.jsonObject(with: emptyData) as? [String: Any])
        #expect(emptyObject["R1"] is NSNull)
        let decoded = try JSONDecoder().decode(RetrievalMetrics.self, from: emptyData)
        #expect(decoded.r1.isNaN && decoded.count == 0)
    }
}
