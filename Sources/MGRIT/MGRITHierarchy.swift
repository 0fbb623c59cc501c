/// The levels of the MGRIT hierarchy for a problem of `stepCount` fine steps,
/// and which points of each level a ``TimePartition`` gives each rank: exactly
/// what ``MGRITSolver`` builds (it builds its levels from this type), so a cost
/// model or a schedule can plan without constructing a solver.
///
/// Level `l` has the points `j = 0 … nₗ−1` at fine indices `j·Mₗ` (`M₀ = 1`,
/// `Mₗ₊₁ = m·Mₗ`, `nₗ = ⌊N/Mₗ⌋ + 1`). Levels are added while the next one has at
/// least ``MGRITOptions/minCoarseSize`` points and fewer than the current one,
/// up to ``MGRITOptions/maxLevels``.
public struct MGRITHierarchy: Sendable, Equatable {
    /// Coarsening factor `m` between consecutive levels.
    public let coarsening: Int
    /// Points of each level; level 0 (fine) has `stepCount + 1`, the last is the coarsest.
    public let pointsPerLevel: [Int]
    /// Fine indices between consecutive points of each level, `Mₗ = mˡ` (level 0: 1).
    public let strides: [Int]

    /// - Throws: ``MGRITError/invalidOption(_:)`` for bad options,
    ///   ``MGRITError/invalidProblem(_:)`` for `stepCount < 1`.
    public init(stepCount n: Int, options: MGRITOptions) throws {
        try options.validate()
        guard n >= 1 else { throw MGRITError.invalidProblem("the problem has \(n) time steps (layers); need at least 1") }
        var counts = [n + 1], strides = [1]
        while counts.count < options.maxLevels {
            let next = (counts.last! - 1) / options.coarsening + 1
            guard next >= options.minCoarseSize, next < counts.last! else { break }
            counts.append(next)
            strides.append(strides.last! * options.coarsening)
        }
        coarsening = options.coarsening
        pointsPerLevel = counts
        self.strides = strides
    }

    /// Number of levels (1: a sequential solve on the fine level).
    public var levelCount: Int { pointsPerLevel.count }

    /// The points of `level` that each position of `partition` owns, in that
    /// level's indices, by position (0 = earliest times): the points whose fine
    /// index `j·Mₗ` lies in the position's fine range. Empty for a position that
    /// owns no point there (it idles on that level); the ranges tile
    /// `0 ..< pointsPerLevel[level]` in order.
    ///
    /// - Precondition: `0 ≤ level < levelCount`, and `partition` covers this
    ///   hierarchy's `pointsPerLevel[0]` fine points.
    public func ownedPoints(level: Int, partition: TimePartition) -> [Range<Int>] {
        let stride = strides[level], last = pointsPerLevel[level] - 1
        return partition.ranges.map { r in
            // First point at or after the range's start; last one before its end.
            let lo = (r.lowerBound + stride - 1) / stride
            let hi = r.isEmpty ? lo - 1 : min((r.upperBound - 1) / stride, last)
            return lo ..< max(hi + 1, lo)
        }
    }
}
