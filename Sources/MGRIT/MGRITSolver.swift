import Comm

/// Multigrid-reduction-in-time solver (FAS, V- and F-cycles, F/FCF relaxation)
/// for any ``MGRITProblem``, distributed over the ranks of a ``Communicator``.
///
/// ## Grids
/// Level `l` has the points `j = 0 … nₗ−1` at fine indices `j·Mₗ`
/// (`M₀ = 1`, `Mₗ₊₁ = m·Mₗ`, `nₗ = ⌊N/Mₗ⌋ + 1`); C-points of level `l` are the
/// multiples of `m` and form level `l+1`. A fine point `N` that is not a C-point
/// is an F-point of the last, possibly shorter interval, so every coarse step
/// spans exactly `m` steps of the level below (XBraid's grid).
///
/// ## Algorithm (Falgout et al. 2014, "Parallel time integration with multigrid";
/// FAS as in XBraid)
/// Level `l` solves `uⱼ = Φₗ(uⱼ₋₁) + gⱼ` (`g = 0` on the fine level).
/// - F-relaxation: `uⱼ = Φₗ(uⱼ₋₁) + gⱼ` for the F-points of each interval, in order.
/// - C-relaxation: the same at C-points `j ≥ 1`.
/// - Restriction (FAS with injection): `Uⱼ = u_{jm}`,
///   `Gⱼ = Φₗ(u_{jm−1}) + g_{jm} − Φₗ₊₁(Uⱼ₋₁)`; the fine residual
///   `r_{jm} = Φ(u_{jm−1}) + g_{jm} − u_{jm}` is measured on the way.
/// - Correction: since injection restricts, the FAS correction `u += U − Rᵤ`
///   is the replacement `u_{jm} = Uⱼ`; F-points follow by F-relaxation. On the
///   fine level that F-relaxation is deferred to the next iteration's first
///   F-relaxation (or a final one), which computes the same values.
/// - Coarsest level: exact sequential solve (relayed rank to rank, see below).
///
/// ## Distribution
/// Each rank owns a contiguous range of fine points (``TimePartition``) and, on
/// every level, the points whose fine index it owns — possibly none. The only
/// cross-rank operations are (1) sending the last owned point of a level to the
/// next rank that owns points there (after every F-relaxation, in the
/// restriction, and in the coarsest solve), with receives posted first, polled
/// between intervals (so a message above MPI's eager limit moves during the work)
/// and waited for as late as possible, into buffers the solver owns for its lifetime (a send
/// completes only when its buffer is needed again or the solve ends), and
/// (2) one `allreduceSum` per iteration for the residual norm (none, or one per
/// solve, with a fixed iteration count: ``MGRITOptions/residualCheck``). F-relaxation
/// computes the rank's last interval first and sends its last point at once, so
/// the right neighbour's wait overlaps the middle intervals. The coarsest level is
/// solved by a *sequential relay*: each rank waits for its left neighbour's last
/// point, propagates its own points, and sends on; it is small (≤ `m`·minCoarse
/// points or `maxLevels` reached) and needs no gather.
///
/// Every point is computed by the same operations in the same order whatever
/// the rank count, and the residual norm sums per-point squared norms in global
/// point order (a slot vector reduced with `allreduceSum`, where adding zeros is
/// exact), so results are bitwise independent of the number of ranks (for more
/// than 65536 fine C-points the per-rank partial sums are reduced instead, which
/// changes the norm only by rounding).
///
/// ## Memory (states of the problem's size)
/// Fine level: `N+1` (``MGRITStorage/allPoints``). Coarse levels: `uⱼ` and `gⱼ`
/// for every point, `2·Σₗ≥₁ nₗ ≈ 2N/(m−1)` (⅔N for m = 4), plus 2 scratch states
/// per level and two message buffers per level of ``MGRITProblem/bufferCount``.
public final class MGRITSolver<P: MGRITProblem> {
    public let problem: P
    public let options: MGRITOptions
    public let comm: any Communicator
    public let partition: TimePartition
    /// This rank's position in ``partition`` (0 = earliest times).
    public let position: Int

    private var levels: [Level] = []
    private let bufferCount: Int
    private let clock = ContinuousClock()

    private enum Kind: Int { case relax = 0, restrict = 1, coarsest = 2 }

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
        var steps = 0
        var seconds = 0.0
        /// True while every F-point equals Φ(predecessor) + g: set by F-relaxation,
        /// cleared by anything that changes a C-point or g. An F-relaxation of a
        /// consistent level would recompute the same values, so it is skipped.
        var consistent = false

        var owns: Bool { lo <= hi }

        init(index: Int, m: Int, stride: Int, count: Int, lo: Int, hi: Int, left: Int?, right: Int?,
             problem: P, withRHS: Bool, cPointsOnly: Bool, bufferCount: Int) {
            self.index = index
            self.m = m
            self.stride = stride
            self.count = count
            self.lo = lo
            self.hi = hi
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
        }

        /// Drops the point states (a coarse level's are rebuilt by every cycle).
        func release() {
            allocated = false
            u = []
            g = withRHS ? [] : nil
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
        }

        @inline(__always) func isC(_ j: Int) -> Bool { j % m == 0 }
        /// First C-point ≥ lo and last C-point ≤ hi.
        var firstC: Int { (lo + m - 1) / m * m }
        var lastC: Int { hi / m * m }
    }

    /// Builds the hierarchy and allocates every state and buffer.
    ///
    /// - Parameters:
    ///   - partition: who owns which fine points; default: block distribution over `comm` in rank order.
    /// - Throws: ``MGRITError`` for bad options, a problem with `stepCount < 1`, or a
    ///   partition that does not match the communicator.
    public init(problem: P, options: MGRITOptions = MGRITOptions(), comm: any Communicator,
                partition: TimePartition? = nil) throws {
        try options.validate()
        let n = problem.stepCount
        guard n >= 1 else { throw MGRITError.invalidProblem("the problem has \(n) time steps (layers); need at least 1") }
        let part = try partition ?? TimePartition.block(stepCount: n, size: comm.size)
        guard part.ranges.last!.upperBound == n + 1 else {
            throw MGRITError.invalidProblem("partition covers \(part.ranges.last!.upperBound) points, the problem has \(n + 1)")
        }
        guard part.ranks.count == comm.size, let pos = part.ranks.firstIndex(of: comm.rank) else {
            throw MGRITError.invalidProblem("partition has \(part.ranks.count) ranks, the communicator \(comm.size)")
        }
        guard problem.bufferCount >= 1 else { throw MGRITError.invalidProblem("bufferCount is \(problem.bufferCount)") }
        self.problem = problem
        self.options = options
        self.comm = comm
        self.partition = part
        self.position = pos
        self.bufferCount = problem.bufferCount

        // Level sizes.
        var counts = [n + 1], strides = [1]
        while counts.count < options.maxLevels {
            let next = (counts.last! - 1) / options.coarsening + 1
            guard next >= options.minCoarseSize, next < counts.last! else { break }
            counts.append(next)
            strides.append(strides.last! * options.coarsening)
        }
        for l in counts.indices {
            let stride = strides[l]
            // Owned points of every position on this level.
            let owned: [(Int, Int)] = part.ranges.map { r in
                let lo = (r.lowerBound + stride - 1) / stride
                let hi = r.isEmpty ? lo - 1 : (r.upperBound - 1) / stride
                return (lo, min(hi, counts[l] - 1))
            }
            let (lo, hi) = owned[pos]
            var left: Int? = nil, right: Int? = nil
            if lo <= hi {
                left = (0 ..< pos).last(where: { owned[$0].0 <= owned[$0].1 }).map { part.ranks[$0] }
                right = (pos + 1 ..< owned.count).first(where: { owned[$0].0 <= owned[$0].1 }).map { part.ranks[$0] }
            }
            levels.append(Level(index: l, m: options.coarsening, stride: stride, count: counts[l], lo: lo, hi: hi,
                                left: left, right: right, problem: problem, withRHS: l > 0,
                                cPointsOnly: l == 0 && options.storage == .cPointsOnly, bufferCount: bufferCount))
        }
        try resetToInitialGuess()
    }

    // MARK: - Public access to the fine level

    /// Number of levels of the hierarchy.
    public var levelCount: Int { levels.count }
    /// Points of each level.
    public var pointsPerLevel: [Int] { levels.map(\.count) }
    /// Fine points this rank owns (possibly empty).
    public var ownedRange: Range<Int> { levels[0].lo ..< levels[0].hi + 1 }
    /// States the solver holds on this rank (all levels, including scratch and ghosts).
    public var stateCount: Int { levels.reduce(0) { $0 + $1.stateCount } }

    /// Frees the states of the coarse levels, which every cycle rebuilds from the
    /// fine level; the next ``solve(warmStart:)`` allocates them again. Lets a
    /// caller that keeps the solver (for warm starts) hold only the fine states
    /// between solves.
    public func releaseCoarseLevels() {
        for L in levels.dropFirst() { L.release() }
    }

    /// The current state at fine point `index` if this rank owns it, else nil.
    /// Writing into it before ``solve(warmStart:)`` with `warmStart: true` sets a warm start.
    public func state(at index: Int) -> P.State? {
        let f = levels[0]
        guard index >= f.lo, index <= f.hi, f.stores(index) else { return nil }
        return f.u[index - f.lo]
    }

    /// Rewrites every owned fine point with the problem's initial guess.
    public func resetToInitialGuess() throws {
        let f = levels[0]
        for j in f.lo ..< f.hi + 1 where f.stores(j) { try problem.initialGuess(at: j, into: f.u[j - f.lo]) }
    }

    // MARK: - Solve

    /// Iterates until a tolerance of ``options`` is met or `maxIterations` cycles ran.
    ///
    /// Without a warm start every owned fine point is reset to the problem's
    /// initial guess; with one, the current states are the start (only point 0 is
    /// refreshed from the problem's initial condition). On return the fine states
    /// are consistent: every F-point is `Φ` of its predecessor.
    ///
    /// - Throws: ``MGRITError/nonFinite(_:)`` if a residual norm is NaN or
    ///   infinite (on every rank alike, so no rank hangs); errors of the problem
    ///   or the communicator.
    public func solve(warmStart: Bool = false) throws -> MGRITStatistics {
        let start = clock.now
        for L in levels { L.steps = 0; L.seconds = 0; L.consistent = false; L.allocate(problem) }
        if warmStart {
            if let u0 = state(at: 0) { try problem.initialGuess(at: 0, into: u0) }
        } else {
            try resetToInitialGuess()
        }
        var stats = MGRITStatistics()
        stats.levels = levels.count
        stats.pointsPerLevel = levels.map(\.count)

        if levels.count == 1 {
            try coarsestSolve(levels[0])
            stats.residuals = [0]
            stats.iterations = 1
            stats.converged = true
        } else {
            var firstResidual: Double? = nil
            for k in 1 ... options.maxIterations {
                stats.iterations = k
                if k == 1 && options.skipFirstDown {
                    try skipCycle()
                    continue
                }
                try relax(levels[0])
                let measure = switch options.residualCheck {
                case .everyIteration: true
                case .lastIteration: k == options.maxIterations
                case .never: false
                }
                if let r = try restrict(levels[0], measure: measure) {
                    guard r.isFinite else {
                        throw MGRITError.nonFinite("fine residual norm is \(r) at iteration \(k) (NaN/Inf in a state, or divergence)")
                    }
                    stats.residuals.append(r)
                    if firstResidual == nil { firstResidual = r }
                    if let t = options.absoluteTolerance, r <= t { stats.converged = true }
                    if let t = options.relativeTolerance, let r1 = firstResidual, r <= t * r1 { stats.converged = true }
                    if stats.converged { break }   // the state after relaxation is consistent
                }
                try restrictRHS(levels[1])
                switch options.cycle {
                case .V: try vCycle(1)
                case .F: try fCycle(1)
                }
                try correct(levels[0])
            }
            if !stats.converged && !levels[0].consistent && !levels[0].cPointsOnly { try fRelax(levels[0]) }
        }
        try completeSends()
        stats.statesAllocated = stateCount
        stats.stepsPerLevel = levels.map(\.steps)
        stats.secondsPerLevel = levels.map(\.seconds)
        stats.seconds = seconds(since: start)
        return stats
    }

    /// Recomputes every owned fine point `i ≥ 1` exactly once as `Φ(uᵢ₋₁)`
    /// (F-relaxation, then C-relaxation), in time order within each interval.
    /// A problem whose fine step also accumulates something (the adjoint's weight
    /// gradients) sees each fine step exactly once. Costs `N` fine steps over all ranks.
    public func sweep() throws {
        let f = levels[0]
        if f.cPointsOnly {
            try fRelax(f) { c in try self.update(f, point: c, from: self.predecessor(f, c)) }
        } else {
            try fRelax(f)
            try cRelax(f)
        }
        try completeSends()
    }

    // MARK: - Cycles

    private func relax(_ L: Level) throws {
        if L.cPointsOnly {
            // F-point values live only during an F-relaxation, so C-relaxation runs inside it
            // (each interval's end is updated once that interval's successor has used its old
            // value), and the final F-relaxation runs inside the restriction.
            if options.relaxation == .FCF {
                for _ in 0 ..< options.sweeps {
                    try fRelax(L) { c in try self.update(L, point: c, from: self.predecessor(L, c)) }
                }
            }
            return
        }
        if !L.consistent { try fRelax(L) }
        if options.relaxation == .FCF {
            for _ in 0 ..< options.sweeps {
                try cRelax(L)
                try fRelax(L)
            }
        }
    }

    /// V-cycle on the coarse problem of level `l ≥ 1` whose right-hand side is set.
    private func vCycle(_ l: Int) throws {
        let L = levels[l]
        if l == levels.count - 1 { return try coarsestSolve(L) }
        try relax(L)
        _ = try restrict(L, measure: false)
        try restrictRHS(levels[l + 1])
        try vCycle(l + 1)
        try correct(L)
        try fRelax(L)
    }

    /// F-cycle: `F(l) = relax, restrict, F(l+1), V(l+1), correct, F-relax`.
    private func fCycle(_ l: Int) throws {
        let L = levels[l]
        if l == levels.count - 1 { return try coarsestSolve(L) }
        try relax(L)
        _ = try restrict(L, measure: false)
        try restrictRHS(levels[l + 1])
        try fCycle(l + 1)
        if l + 1 < levels.count - 1 { try vCycle(l + 1) }
        try correct(L)
        try fRelax(L)
    }

    /// First iteration with ``MGRITOptions/skipFirstDown``: inject the initial
    /// guess down with `g = 0`, solve the coarsest level, correct and interpolate up.
    private func skipCycle() throws {
        for l in 0 ..< levels.count - 1 {
            let L = levels[l], C = levels[l + 1]
            C.consistent = false
            guard L.owns, L.firstC <= L.hi else { continue }
            for c in stride(from: L.firstC, through: L.lastC, by: L.m) {
                let J = c / L.m - C.lo
                problem.copy(L.u[c - L.lo], into: C.u[J])
                problem.sum(0, C.u[J], 0, C.g![J])
            }
        }
        try coarsestSolve(levels[levels.count - 1])
        for l in stride(from: levels.count - 2, through: 0, by: -1) {
            try correct(levels[l])
            if l > 0 { try fRelax(levels[l]) }
        }
    }

    // MARK: - Relaxation, restriction, correction

    @inline(__always)
    private func phi(_ L: Level, from x: P.State, into y: P.State, point j: Int) throws {
        // Point j−1 → j on level L, in fine indices.
        try problem.step(from: x, into: y, start: (j - 1) * L.stride, stop: j * L.stride, level: L.index)
        L.steps += 1
    }

    /// uⱼ = Φ(pred) + gⱼ for owned point j.
    @inline(__always)
    private func update(_ L: Level, point j: Int, from pred: P.State) throws {
        let uj = L.u[j - L.lo]
        try phi(L, from: pred, into: uj, point: j)
        if let g = L.g { problem.sum(1, g[j - L.lo], 1, uj) }
    }

    /// The value at point j − 1: owned, or the ghost (the left neighbour's last point).
    @inline(__always)
    private func predecessor(_ L: Level, _ j: Int) -> P.State {
        j == L.lo ? L.ghost : L.u[j - 1 - L.lo]
    }

    private func tag(_ L: Level, _ kind: Kind) -> Int { L.index * 4 + kind.rawValue }

    private func postReceive(_ L: Level, _ kind: Kind) throws -> CommRequest? {
        guard let left = L.leftRank else { return nil }
        return try comm.irecv(L.recvBuffer, count: bufferCount, from: left, tag: tag(L, kind))
    }

    private func finishReceive(_ L: Level, _ request: inout CommRequest?) throws {
        guard let r = request else { return }
        var rs = [r]
        try comm.waitAll(&rs)
        problem.unpack(from: UnsafeBufferPointer(start: L.recvBuffer, count: bufferCount), into: L.ghost)
        request = nil
    }

    /// Lets a pending receive progress between pieces of work and takes its
    /// value into the ghost as soon as it is there (then ``finishReceive`` has
    /// nothing left to wait for).
    private func poll(_ L: Level, _ request: inout CommRequest?) throws {
        guard let r = request else { return }
        var rs = [r]
        guard try comm.testAll(&rs) else { return }
        problem.unpack(from: UnsafeBufferPointer(start: L.recvBuffer, count: bufferCount), into: L.ghost)
        request = nil
    }

    /// Sends the last owned point to the right neighbour. The previous send from
    /// this level's buffer is completed first (it has long been received: the
    /// receiver consumes a level's messages in order); this one stays pending.
    private func sendLast(_ L: Level, _ kind: Kind) throws {
        guard let right = L.rightRank else { return }
        if !L.pendingSends.isEmpty { try comm.waitAll(&L.pendingSends) }
        problem.pack(L.u[L.hi - L.lo], into: UnsafeMutableBufferPointer(start: L.sendBuffer, count: bufferCount))
        L.pendingSends.append(try comm.isend(L.sendBuffer, count: bufferCount, to: right, tag: tag(L, kind)))
    }

    /// Completes every level's pending send (end of a solve or sweep: no request
    /// outlives the call that started it).
    private func completeSends() throws {
        for L in levels where !L.pendingSends.isEmpty {
            let t0 = clock.now
            try comm.waitAll(&L.pendingSends)
            L.seconds += seconds(since: t0)
        }
    }

    /// F-relaxation. Leaves `ghost` equal to the left neighbour's last point.
    ///
    /// `atC`, if given, is called for every owned C-point `c ≥ 1` as soon as its
    /// predecessor `c − 1` has its new value, and after the interval starting at `c`
    /// has been relaxed (intervals run from right to left) — so it may overwrite `u_c`.
    private func fRelax(_ L: Level, atC: ((Int) throws -> Void)? = nil) throws {
        L.consistent = true
        guard L.owns else { return }
        let t0 = clock.now
        defer { L.seconds += seconds(since: t0) }
        var recv = try postReceive(L, .relax)
        let m = L.m
        func run(_ from: Int, _ through: Int) throws {   // F-points from … through, from ≥ lo
            var j = from
            while j <= through { try update(L, point: j, from: predecessor(L, j)); j += 1 }
        }
        if L.firstC <= L.hi {
            try run(L.lastC + 1, L.hi)                      // last interval first: its end goes right
            try sendLast(L, .relax)
            var c = L.lastC
            while c > L.firstC { try run(c - m + 1, c - 1); try atC?(c); try poll(L, &recv); c -= m }
            if L.lo < L.firstC {                            // head: F-points of the left rank's interval
                try finishReceive(L, &recv)
                try run(L.lo, L.firstC - 1)
                try atC?(L.firstC)
            } else if L.firstC >= 1, let atC {              // lo is a C-point: its predecessor is the ghost
                try finishReceive(L, &recv)
                try atC(L.firstC)
            }
        } else {                                            // only F-points: continue the left interval
            try finishReceive(L, &recv)
            try run(L.lo, L.hi)
            try sendLast(L, .relax)
        }
        try finishReceive(L, &recv)
    }

    /// C-relaxation at C-points j ≥ 1 (uses the ghost left by the preceding F-relaxation).
    private func cRelax(_ L: Level) throws {
        L.consistent = false
        guard L.owns, L.firstC <= L.hi else { return }
        let t0 = clock.now
        defer { L.seconds += seconds(since: t0) }
        for c in stride(from: max(L.firstC, L.m), through: L.lastC, by: L.m) {
            try update(L, point: c, from: predecessor(L, c))
        }
    }

    /// Injection into level `l+1` and the first part of its FAS right-hand side,
    /// `Gⱼ = Φₗ(u_{jm−1}) + g_{jm}`; returns the global fine residual norm when `measure`.
    private func restrict(_ L: Level, measure: Bool) throws -> Double? {
        let C = levels[L.index + 1]
        C.consistent = false
        let t0 = clock.now
        var squares: [(Int, Double)] = []
        C.allocate(problem)
        func at(_ c: Int) throws {
            let uc = L.u[c - L.lo]
            let G = C.g![c / L.m - C.lo]
            try phi(L, from: predecessor(L, c), into: G, point: c)
            if let g = L.g { problem.sum(1, g[c - L.lo], 1, G) }
            if measure {
                problem.copy(G, into: L.tmp)
                problem.sum(-1, uc, 1, L.tmp)
                let r = problem.norm(L.tmp)
                squares.append((c / L.m - 1, r * r))
            }
        }
        if L.owns, L.firstC <= L.hi {
            for c in stride(from: L.firstC, through: L.lastC, by: L.m) {
                problem.copy(L.u[c - L.lo], into: C.u[c / L.m - C.lo])
            }
        }
        L.seconds += seconds(since: t0)
        if L.cPointsOnly {
            try fRelax(L, atC: at)                  // the final F-relaxation, fused
        } else if L.owns, L.firstC <= L.hi {
            let t1 = clock.now
            for c in stride(from: max(L.firstC, L.m), through: L.lastC, by: L.m) { try at(c) }
            L.seconds += seconds(since: t1)
        }
        guard measure else { return nil }
        return try globalNorm(squares, slots: C.count - 1)
    }

    /// Second part of the FAS right-hand side on level C: `Gⱼ −= Φ_C(Uⱼ₋₁)`.
    private func restrictRHS(_ C: Level) throws {
        guard C.owns else { return }
        let t0 = clock.now
        defer { C.seconds += seconds(since: t0) }
        var recv = try postReceive(C, .restrict)
        try sendLast(C, .restrict)
        let g = C.g!
        var j = C.hi
        while j >= max(C.lo, 1) {                 // the receive is needed only for j = lo: do it last
            if j == C.lo { try finishReceive(C, &recv) }
            try phi(C, from: predecessor(C, j), into: C.tmp, point: j)
            problem.sum(-1, C.tmp, 1, g[j - C.lo])
            try poll(C, &recv)
            j -= 1
        }
        try finishReceive(C, &recv)
    }

    /// FAS correction with injection: `u_{jm} = Uⱼ` at the C-points j ≥ 1.
    private func correct(_ L: Level) throws {
        let C = levels[L.index + 1]
        L.consistent = false
        guard L.owns, L.firstC <= L.hi else { return }
        for c in stride(from: max(L.firstC, L.m), through: L.lastC, by: L.m) {
            problem.copy(C.u[c / L.m - C.lo], into: L.u[c - L.lo])
        }
    }

    /// Exact solve `uⱼ = Φ(uⱼ₋₁) + gⱼ` in time order, relayed from rank to rank.
    private func coarsestSolve(_ L: Level) throws {
        guard L.owns else { return }
        let t0 = clock.now
        defer { L.seconds += seconds(since: t0) }
        var recv = try postReceive(L, .coarsest)
        try finishReceive(L, &recv)
        var j = max(L.lo, 1)
        while j <= L.hi { try update(L, point: j, from: predecessor(L, j)); j += 1 }
        try sendLast(L, .coarsest)
    }

    /// √(Σ squares) over all ranks, summed in global slot order when affordable.
    private func globalNorm(_ squares: [(Int, Double)], slots: Int) throws -> Double {
        if slots <= 65536 {
            var v = [Double](repeating: 0, count: max(slots, 1))
            for (i, s) in squares { v[i] = s }
            let all = comm.size > 1 ? try comm.allreduceSum(v) : v
            return all.reduce(0, +).squareRoot()
        }
        let local = squares.reduce(0) { $0 + $1.1 }
        return (comm.size > 1 ? try comm.allreduceSum(local) : local).squareRoot()
    }

    private func seconds(since t: ContinuousClock.Instant) -> Double {
        let d = clock.now - t
        return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }
}
