import FoundationEssentials

// MARK: - Errors

/// Why retrieval metrics could not be computed from a similarity matrix.
public enum RetrievalMetricsError: Error, CustomStringConvertible, Equatable {
    /// The number of similarity values is not `rows × columns`.
    case shapeMismatch(valueCount: Int, rows: Int, columns: Int)
    /// A dimension is negative.
    case negativeDimension(rows: Int, columns: Int)
    /// More queries than candidates: some queries have no true match on the diagonal.
    case moreQueriesThanCandidates(rows: Int, columns: Int)

    /// What failed, on what, and why.
    public var description: String {
        switch self {
        case let .shapeMismatch(valueCount, rows, columns):
            return "computing retrieval metrics: \(valueCount) similarity values do not form a "
                + "\(rows) x \(columns) matrix (expected \(rows * columns))"
        case let .negativeDimension(rows, columns):
            return "computing retrieval metrics: the matrix dimensions \(rows) x \(columns) are negative"
        case let .moreQueriesThanCandidates(rows, columns):
            return "computing retrieval metrics: \(rows) queries but only \(columns) candidates; "
                + "every query needs its true match on the diagonal, so rows must not exceed columns"
        }
    }
}

// MARK: - Metrics

/// Recall at 1, 5 and 10 and the median rank of a text-to-video similarity matrix, computed
/// exactly as the reference's `compute_metrics`.
///
/// Rows are queries and the true match of row `i` is column `i`. Each row's values are negated
/// and sorted ascending (NaN last); every position whose sorted value minus the diagonal value is
/// exactly zero in `Float` arithmetic is one rank of that row. Ties therefore give a row several
/// ranks, and a NaN or infinite diagonal value gives it none (`inf - inf` is NaN). The recalls are
/// fractions of all ranks, and `medianRank` is NumPy's median of all ranks (the mean of the two
/// middle ones for an even count) plus one.
///
/// When no row yields a rank, every metric is NaN and `count` is zero. (The reference raises
/// `ZeroDivisionError` there.)
public struct RetrievalMetrics: Equatable, Sendable {
    /// Fraction of ranks equal to 0 (the true match scored highest).
    public var r1: Double
    /// Fraction of ranks below 5.
    public var r5: Double
    /// Fraction of ranks below 10.
    public var r10: Double
    /// The median rank plus one (1 is best).
    public var medianRank: Double
    /// Number of queries (rows) that produced at least one rank.
    public var count: Int
    /// Number of ranks the metrics were computed over (`len(ind)` in the reference): more than
    /// `count` when ties give a row several ranks.
    public var rankCount: Int

    /// Creates metrics from their values.
    public init(r1: Double, r5: Double, r10: Double, medianRank: Double, count: Int, rankCount: Int) {
        self.r1 = r1
        self.r5 = r5
        self.r10 = r10
        self.medianRank = medianRank
        self.count = count
        self.rankCount = rankCount
    }

    /// Computes the metrics of a row-major `rows × columns` similarity matrix whose true matches
    /// lie on the diagonal.
    ///
    /// - Throws: `RetrievalMetricsError` when `similarity` does not hold `rows × columns` values
    ///   or when there are more rows than columns.
    public init(similarity: [Float], rows: Int, columns: Int) throws {
        let ranks = try RetrievalMetrics.ranks(similarity: similarity, rows: rows, columns: columns)
        self.init(ranksPerQuery: ranks)
    }

    /// Computes the metrics from the 0-based ranks each query produced (several for a tie, none
    /// for a query that was not found).
    public init(ranksPerQuery: [[Int]]) {
        let all = ranksPerQuery.flatMap { $0 }
        count = ranksPerQuery.reduce(0) { $0 + ($1.isEmpty ? 0 : 1) }
        rankCount = all.count
        guard !all.isEmpty else {
            r1 = .nan
            r5 = .nan
            r10 = .nan
            medianRank = .nan
            return
        }
        let total = Double(all.count)
        r1 = Double(all.reduce(0) { $0 + ($1 == 0 ? 1 : 0) }) / total
        r5 = Double(all.reduce(0) { $0 + ($1 < 5 ? 1 : 0) }) / total
        r10 = Double(all.reduce(0) { $0 + ($1 < 10 ? 1 : 0) }) / total
        let sorted = all.sorted()
        let middle = sorted.count / 2
        let median: Double
        if sorted.count % 2 == 1 {
            median = Double(sorted[middle])
        } else {
            median = (Double(sorted[middle - 1]) + Double(sorted[middle])) / 2
        }
        medianRank = median + 1
    }

    /// The 0-based ranks of every query of a row-major similarity matrix, row by row, as the
    /// reference finds them (see the type's documentation).
    public static func ranks(similarity: [Float], rows: Int, columns: Int) throws -> [[Int]] {
        guard rows >= 0, columns >= 0 else {
            throw RetrievalMetricsError.negativeDimension(rows: rows, columns: columns)
        }
        let (expected, overflow) = rows.multipliedReportingOverflow(by: columns)
        guard !overflow, expected == similarity.count else {
            throw RetrievalMetricsError.shapeMismatch(valueCount: similarity.count, rows: rows, columns: columns)
        }
        guard rows <= columns else {
            throw RetrievalMetricsError.moreQueriesThanCandidates(rows: rows, columns: columns)
        }
        var result: [[Int]] = []
        result.reserveCapacity(rows)
        similarity.withUnsafeBufferPointer { values in
            for row in 0..<rows {
                let start = row * columns
                let diagonal = -values[start + row]
                // Sorting ascending puts every value below the diagonal value first (NaN sorts
                // last and compares false), then the values whose difference to it is zero.
                var below = 0
                var equal = 0
                for column in 0..<columns {
                    let value = -values[start + column]
                    if value - diagonal == 0 {
                        equal += 1
                    } else if value < diagonal {
                        below += 1
                    }
                }
                result.append(Array(below..<(below + equal)))
            }
        }
        return result
    }
}

// MARK: - JSON

extension RetrievalMetrics: Codable {
    private enum CodingKeys: String, CodingKey {
        case r1 = "R1", r5 = "R5", r10 = "R10", medianRank = "MR", count, rankCount = "rank_count"
    }

    /// Encodes the metrics under the reference's keys (`R1`, `R5`, `R10`, `MR`) plus `count` and
    /// `rank_count`; a NaN metric becomes `null`.
    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        func put(_ value: Double, _ key: CodingKeys) throws {
            if value.isFinite { try container.encode(value, forKey: key) } else { try container.encodeNil(forKey: key) }
        }
        try put(r1, .r1)
        try put(r5, .r5)
        try put(r10, .r10)
        try put(medianRank, .medianRank)
        try container.encode(count, forKey: .count)
        try container.encode(rankCount, forKey: .rankCount)
    }

    /// Decodes metrics written by `encode(to:)`; `null` becomes NaN.
    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        func get(_ key: CodingKeys) throws -> Double {
            try container.decodeIfPresent(Double.self, forKey: key) ?? .nan
        }
        r1 = try get(.r1)
        r5 = try get(.r5)
        r10 = try get(.r10)
        medianRank = try get(.medianRank)
        count = try container.decode(Int.self, forKey: .count)
        rankCount = try container.decodeIfPresent(Int.self, forKey: .rankCount) ?? count
    }
}

extension RetrievalMetrics: CustomStringConvertible {
    /// The metrics on one line, e.g. `R@1: 0.0512 - R@5: 0.1580 - R@10: 0.2420 - Median R: 37.0`.
    public var description: String {
        func percent(_ value: Double) -> String { String(cFormat: "%.4f", value) }
        return "R@1: \(percent(r1)) - R@5: \(percent(r5)) - R@10: \(percent(r10)) - Median R: \(medianRank)"
    }
}
