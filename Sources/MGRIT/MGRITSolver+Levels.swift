import Comm

// Levels and their storage (XBraid's grid.c): one `Level` per level of the
// hierarchy, holding this rank's points, right-hand sides, ghost, scratch and
// message buffers, and the counters behind ``MGRITStatistics``.

extension MGRITSolver {
    final class Level {
        let index: Int
        /// Coarsening to the next level (irrelevant on the coarsest).
        let m: Int
        /// Fine indices per point of this level.
        let stride: Int
        let count: Int
        /// Owned points `lo … hi` (empty when `lo > hi`).
        let lo: Int, hi: Int
        let leftRank: Int?, rightRank: Int?
        var u: [P.State]
        var g: [P.State]?
        /// Whether only C-points (and the last point) have their own state; F-point
        /// slots then alias two scratch states by parity (see ``MGRITStorage``).
        let cPointsOnly: Bool
        let withRHS: Bool
        let ghost: P.State
        let tmp: P.State
        let sendBuffer: UnsafeMutablePointer<Double>
        let recvBuffer: UnsafeMutablePointer<Double>
        /// The send from ``sendBuffer`` still in flight (at most one): completed
        /// only before the buffer is packed again or at the end of a solve, so the
        /// sender never waits for the receiver to reach its receive (a message
        /// above the MPI eager limit completes only then).
        var pendingSends: [CommRequest] = []
        /// True while every F-point equals Φ(predecessor) + g: set by F-relaxation,
        /// cleared by anything that changes a C-point or g. An F-relaxation of a
        /// consistent level would recompute the same values, so it is skipped.
        var consistent = false

        // Counters of one solve (reset by `resetCounters`), read into MGRITStatistics.
        var steps = 0
        /// Times the cycle entered this level (see ``MGRITStatistics/visitsPerLevel``).
        var visits = 0
        /// Wall seconds on this level; the three below are the parts of it spent
        /// inside the communicator (they nest in it: every halo call on this level
        /// happens inside one of its timed regions).
        var seconds = 0.0
        var postSeconds = 0.0
        var pollSeconds = 0.0
        var waitSeconds = 0.0

        var owns: Bool { lo <= hi }

        // Delta correction (``MGRITOptions/deltaCorrection``).
        /// Whether this level's steps are corrected (levels ≥ 1): ``delta`` holds Δⱼ of
        /// every owned point (index j − lo), valid while ``deltaValid``.
        let hasDelta: Bool
        var delta: [P.Tangent] = []
        var deltaValid = false
        /// Whether this level restricts with Delta correction: its final F-relaxation before
        /// the restriction propagates tangents through each interval, into the next level's
        /// ``delta`` slots (or ``tailTangent`` for the interval that ends on the right rank),
        /// and sends the tail's tangent on with the last point.
        let propagatesTangents: Bool
        let tailTangent: P.Tangent?
        /// Δⱼ·T of a corrected tangent step, and the coarse step's own linearisation.
        let tangentScratch: P.Tangent?
        let tangentCount: Int
        let tangentSendBuffer: UnsafeMutablePointer<Double>?
        let tangentRecvBuffer: UnsafeMutablePointer<Double>?
        var pendingTangentSends: [CommRequest] = []
        /// Linearised steps (``MGRITProblem/step(from:into:tangent:start:stop:level:)``) and tangent
        /// products and applications on this level, and the seconds in them (inside ``seconds``).
        var tangentSteps = 0
        var tangentProducts = 0
        var tangentApplies = 0
        var tangentSeconds = 0.0

        init(index: Int, m: Int, stride: Int, count: Int, owned: Range<Int>, left: Int?, right: Int?,
             problem: P, withRHS: Bool, cPointsOnly: Bool, bufferCount: Int,
             hasDelta: Bool = false, propagatesTangents: Bool = false) {
            self.hasDelta = hasDelta
            self.propagatesTangents = propagatesTangents
            tailTangent = propagatesTangents ? problem.makeTangent() : nil
            tangentScratch = hasDelta ? problem.makeTangent() : nil
            let tc = propagatesTangents ? problem.tangentBufferCount : 0
            tangentCount = tc
            tangentSendBuffer = propagatesTangents ? .allocate(capacity: tc) : nil
            tangentSendBuffer?.initialize(repeating: 0, count: tc)
            tangentRecvBuffer = propagatesTangents ? .allocate(capacity: tc) : nil
            tangentRecvBuffer?.initialize(repeating: 0, count: tc)
            self.index = index
            self.m = m
            self.stride = stride
            self.count = count
            self.lo = owned.lowerBound
            self.hi = owned.upperBound - 1
            self.leftRank = left
            self.rightRank = right
            self.cPointsOnly = cPointsOnly
            self.withRHS = withRHS
            u = []
            g = nil
            ghost = problem.makeState()
            tmp = problem.makeState()
            sendBuffer = .allocate(capacity: bufferCount)
            sendBuffer.initialize(repeating: 0, count: bufferCount)
            recvBuffer = .allocate(capacity: bufferCount)
            recvBuffer.initialize(repeating: 0, count: bufferCount)
            allocate(problem)
        }

        var allocated = false

        /// Creates the point states (again, after ``release()``).
        func allocate(_ problem: P) {
            guard !allocated else { return }
            allocated = true
            let owned = max(0, hi - lo + 1)
            if cPointsOnly {
                let scratch = [problem.makeState(), problem.makeState()]
                let last = hi == count - 1 && !isC(hi) ? problem.makeState() : nil
                u = (lo ..< lo + owned).map { j in
                    isC(j) ? problem.makeState() : (j == count - 1 ? last! : scratch[j % 2])
                }
            } else {
                u = (0 ..< owned).map { _ in problem.makeState() }
            }
            g = withRHS ? (0 ..< owned).map { _ in problem.makeState() } : nil
            delta = hasDelta ? (0 ..< owned).map { _ in problem.makeTangent() } : []
            deltaValid = false
        }

        /// Drops the point states (a coarse level's are rebuilt by every cycle).
        func release() {
            allocated = false
            u = []
            g = withRHS ? [] : nil
            delta = []
            deltaValid = false
        }

        /// Tangents held (Δ store, tail and scratch) and tangent message buffers, in doubles
        /// of ``MGRITProblem/tangentBufferCount`` each.
        var tangentsHeld: Int { delta.count + (tailTangent == nil ? 0 : 1) + (tangentScratch == nil ? 0 : 1) + (propagatesTangents ? 2 : 0) }

        /// Zeroes the counters at the start of a solve.
        func resetCounters() {
            steps = 0
            visits = 0
            seconds = 0
            postSeconds = 0
            pollSeconds = 0
            waitSeconds = 0
            tangentSteps = 0
            tangentProducts = 0
            tangentApplies = 0
            tangentSeconds = 0
        }

        /// Distinct states held (points, right-hand sides, ghost and scratch).
        var stateCount: Int {
            guard allocated else { return 2 }
            let pts = cPointsOnly ? u.indices.filter { isC(lo + $0) }.count + 2 + (hi == count - 1 && !isC(hi) ? 1 : 0) : u.count
            return pts + (g?.count ?? 0) + 2
        }

        /// Whether point j has a state of its own.
        func stores(_ j: Int) -> Bool { !cPointsOnly || isC(j) || j == count - 1 }

        deinit {
            // A send still in flight (a solve that threw) may be read by MPI later:
            // keep its buffer rather than free memory that is in use.
            if pendingSends.isEmpty { sendBuffer.deallocate() }
            recvBuffer.deallocate()
            if pendingTangentSends.isEmpty { tangentSendBuffer?.deallocate() }
            tangentRecvBuffer?.deallocate()
        }

        @inline(__always) func isC(_ j: Int) -> Bool { j % m == 0 }
        /// First C-point ≥ lo and last C-point ≤ hi.
        var firstC: Int { (lo + m - 1) / m * m }
        var lastC: Int { hi / m * m }
    }
}
