import Comm

// The solve driver and the cycles (XBraid's drive.c): iterations, residual
// checks and stopping, the V- and F-cycle recursion, the skipped first
// down-cycle, and the planning of level visits from that same recursion.

extension MGRITSolver {
    // MARK: - Solve

    /// Iterates until a tolerance of ``options`` is met or `maxIterations` cycles ran.
    ///
    /// Without a warm start point 0 and the owned C-points are reset to the problem's
    /// initial guess (the F-points' values are never read: the first relaxation
    /// recomputes them, ``resetToInitialGuess(cPointsOnly:)``); with one, the current
    /// states are the start (only point 0 is refreshed from the problem's initial
    /// condition). On return the fine states are consistent: every F-point is `Φ` of
    /// its predecessor.
    ///
    /// - Throws: ``MGRITError/nonFinite(_:)`` if a residual norm is NaN or
    ///   infinite (on every rank alike, so no rank hangs); errors of the problem
    ///   or the communicator.
    public func solve(warmStart: Bool = false) throws -> MGRITStatistics {
        let start = monotonicSeconds()
        for L in levels { L.resetCounters(); L.consistent = false; L.allocate(problem); L.deltaValid = false }
        reduceSeconds = 0
        if warmStart {
            if let u0 = state(at: 0) { try problem.initialGuess(at: 0, into: u0) }
        } else {
            try resetToInitialGuess(cPointsOnly: true)
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
            let first = options.firstIteration(warmStart: warmStart)
            for k in 1 ... options.maxIterations {
                stats.iterations = k
                if k == 1 && first != .cycle {
                    if first == .nested { try nestedIteration() } else { try skipCycle() }
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
                    if let stall = detectStall(stats.residuals, iteration: k) { stats.stall = stall; break }
                }
                try restrictRHS(levels[1])
                try coarseCycle()
                try correct(levels[0])
            }
            if !stats.converged && !levels[0].consistent && !levels[0].cPointsOnly { try fRelax(levels[0]) }
            if stats.stall != nil && options.sequentialOnStall {
                let before = levels[0].steps
                try solveSequentially()
                stats.stall!.sequentialSteps = levels[0].steps - before
            }
        }
        try completeSends()
        stats.statesAllocated = stateCount
        stats.stepsPerLevel = levels.map(\.steps)
        stats.secondsPerLevel = levels.map(\.seconds)
        stats.visitsPerLevel = levels.map(\.visits)
        stats.postSecondsPerLevel = levels.map(\.postSeconds)
        stats.pollSecondsPerLevel = levels.map(\.pollSeconds)
        stats.waitSecondsPerLevel = levels.map(\.waitSeconds)
        // The communicator's parts nest in the level's time; max(0, …) absorbs rounding.
        stats.computeSecondsPerLevel = levels.map { max(0, $0.seconds - ($0.postSeconds + $0.pollSeconds + $0.waitSeconds)) }
        stats.reduceSeconds = reduceSeconds
        if options.deltaCorrection {
            stats.tangentStepsPerLevel = levels.map(\.tangentSteps)
            stats.tangentProductsPerLevel = levels.map(\.tangentProducts)
            stats.tangentAppliesPerLevel = levels.map(\.tangentApplies)
            stats.deltaSecondsPerLevel = levels.map(\.tangentSeconds)
            stats.deltaDoubles = deltaDoubles
        }
        stats.seconds = seconds(since: start)
        return stats
    }

    /// The stall of ``MGRITOptions/stallIterations``, if the last `k` of `residuals`
    /// each failed to fall below ``MGRITOptions/stallRatio`` × its predecessor.
    func detectStall(_ residuals: [Double], iteration: Int) -> MGRITStall? {
        guard let k = options.stallIterations, residuals.count > k else { return nil }
        let tail = Array(residuals.suffix(k + 1))
        guard zip(tail, tail.dropFirst()).allSatisfy({ $1 > options.stallRatio * $0 }) else { return nil }
        return MGRITStall(iteration: iteration, level: 0, residuals: tail, ratio: options.stallRatio)
    }

    /// Solves the fine level exactly by the sequential pass, `uᵢ = Φ(uᵢ₋₁)` for
    /// `i = 1 … N` in time order, relayed rank to rank as the coarsest level is
    /// (`N` fine steps over all ranks, no parallelism): the layer-serial pass on
    /// the solver's own states. Point 0 must hold the initial condition (it does
    /// after any ``solve(warmStart:)``). Not counted as a visit.
    public func solveSequentially() throws {
        let f = levels[0]
        try coarsestSolve(f)
        f.visits -= 1
        f.consistent = true
        try completeSends()
    }

    /// Recomputes every owned fine point `i ≥ 1` exactly once as `Φ(uᵢ₋₁)`
    /// (F-relaxation, then C-relaxation), in time order within each interval.
    /// A problem whose fine step also accumulates something (the adjoint's weight
    /// gradients) sees each fine step exactly once. Costs `N` fine steps over all ranks.
    /// Returns the fine level's counters over the sweep (outside the solve's statistics).
    @discardableResult
    public func sweep() throws -> MGRITSweepStatistics {
        let f = levels[0]
        let before = (steps: f.steps, seconds: f.seconds, post: f.postSeconds, poll: f.pollSeconds, wait: f.waitSeconds)
        if f.cPointsOnly {
            try fRelax(f) { c in try self.update(f, point: c, from: self.predecessor(f, c)) }
        } else {
            try fRelax(f)
            try cRelax(f)
        }
        try completeSends()
        var s = MGRITSweepStatistics()
        s.steps = f.steps - before.steps
        s.seconds = f.seconds - before.seconds
        s.postSeconds = f.postSeconds - before.post
        s.pollSeconds = f.pollSeconds - before.poll
        s.waitSeconds = f.waitSeconds - before.wait
        // The communicator's parts nest in the level's time; max(0, …) absorbs rounding.
        s.computeSeconds = max(0, s.seconds - (s.postSeconds + s.pollSeconds + s.waitSeconds))
        return s
    }

    // MARK: - Cycles

    /// One V- or F-cycle (``MGRITOptions/cycle``) on levels `1 …`, whose level-1
    /// right-hand side is set: per level relax, restrict, recurse, correct, F-relax.
    func coarseCycle() throws {
        try cycle(options.cycle, from: 1)
    }

    /// One `shape` cycle on levels `l …` (`l ≥ 1`) whose level-`l` right-hand side is set.
    func cycle(_ shape: MGRITCycle, from l: Int) throws {
        try shape.traverse(
            from: l, coarsest: levels.count - 1,
            down: { l in
                let L = levels[l]
                try relax(L)
                _ = try restrict(L, measure: false)
                try restrictRHS(levels[l + 1])
            },
            solveCoarsest: { try coarsestSolve(levels[levels.count - 1]) },
            up: { l in
                try correct(levels[l])
                try fRelax(levels[l])
            })
    }

    /// First iteration with ``MGRITOptions/skipFirstDown``: inject the initial
    /// guess down with `g = 0`, solve the coarsest level, correct and interpolate up.
    /// Visits every level once.
    func skipCycle() throws {
        try injectDown()
        try coarsestSolve(levels[levels.count - 1])
        for l in stride(from: levels.count - 2, through: 0, by: -1) {
            try correct(levels[l])
            if l > 0 { try fRelax(levels[l]) }
        }
    }

    /// First iteration of a cold solve with ``MGRITOptions/fmg`` (nested iteration): inject
    /// the initial guess down with `g = 0`, solve the coarsest level, then on each level `l`
    /// from the coarsest but one up to 1 take the level below's solution at the C-points and
    /// run one V-cycle on levels `l …` for level `l`'s own problem (its `g` stays 0: only the
    /// levels below it get FAS right-hand sides); last, interpolate to the fine level, whose
    /// F-relaxation is the next iteration's. Each V-cycle builds the Δ of the levels below
    /// its own from that level's uncorrected steps; they are dropped before a finer level takes
    /// over, so that no Δ outlives the level that defined it (a problem whose tangents do not
    /// depend on the state would otherwise keep them for the whole solve).
    func nestedIteration() throws {
        try injectDown()
        let coarsest = levels.count - 1
        try coarsestSolve(levels[coarsest])
        for l in stride(from: coarsest - 1, through: 1, by: -1) {
            try correct(levels[l])   // the first relaxation F-relaxes it (not consistent)
            try cycle(.V, from: l)
            for C in levels[(l + 1)...] { C.deltaValid = false }
        }
        try correct(levels[0])
    }

    /// `Uⱼ = u_{jm}` and `Gⱼ = 0` on every coarse level, from the fine level down (the start of
    /// the skipped first down-cycle and of nested iteration). Visits every level but the coarsest.
    func injectDown() throws {
        for l in 0 ..< levels.count - 1 {
            let L = levels[l], C = levels[l + 1]
            L.visits += 1
            C.consistent = false
            guard L.owns, L.firstC <= L.hi else { continue }
            for c in stride(from: L.firstC, through: L.lastC, by: L.m) {
                let J = c / L.m - C.lo
                problem.copy(L.u[c - L.lo], into: C.u[J])
                problem.sum(0, C.u[J], 0, C.g![J])
            }
        }
    }
}

// MARK: - The cycle recursion, shared by the solver and the planning of visits

extension MGRITCycle {
    /// One cycle on levels `l … coarsest` (`1 ≤ l ≤ coarsest`): `down(k)` relaxes
    /// level `k` and restricts to `k + 1`, `up(k)` corrects level `k` from `k + 1`
    /// and F-relaxes it, `solveCoarsest()` solves the coarsest level.
    /// `V(l) = down, V(l+1), up`; `F(l) = down, F(l+1), V(l+1), up` with the
    /// `V(l+1)` left out when `l+1` is the coarsest (it would repeat an exact solve).
    /// ``MGRITSolver`` runs its cycles through this and ``visits(levelCount:iterations:first:converged:)``
    /// counts through it, so the plan and the solver cannot drift apart.
    func traverse(from l: Int, coarsest: Int, down: (Int) throws -> Void, solveCoarsest: () throws -> Void,
                  up: (Int) throws -> Void) rethrows {
        if l == coarsest { return try solveCoarsest() }
        try down(l)
        try traverse(from: l + 1, coarsest: coarsest, down: down, solveCoarsest: solveCoarsest, up: up)
        if self == .F && l + 1 < coarsest {
            try MGRITCycle.V.traverse(from: l + 1, coarsest: coarsest, down: down, solveCoarsest: solveCoarsest, up: up)
        }
        try up(l)
    }

    /// Visits of each level in one full iteration on a hierarchy of `levelCount`
    /// levels: level 0 once, then as this cycle's recursion enters each coarse
    /// level (a V-cycle: every level once). A visit of a level above the coarsest
    /// is one relax–restrict–…–correct–F-relax pass over it; of the coarsest, one
    /// exact solve. `levelCount == 1` (a sequential solve): `[1]`.
    ///
    /// - Precondition: `levelCount ≥ 1`.
    public func visitsPerIteration(levelCount: Int) -> [Int] {
        precondition(levelCount >= 1, "a hierarchy has at least one level")
        var v = [Int](repeating: 0, count: levelCount)
        v[0] = 1
        guard levelCount > 1 else { return v }
        addVisits(from: 1, to: &v)
        return v
    }

    /// Adds the visits of one of these cycles on levels `l …` (`1 ≤ l < v.count`) to `v`.
    func addVisits(from l: Int, to v: inout [Int]) {
        let coarsest = v.count - 1
        traverse(from: l, coarsest: coarsest, down: { v[$0] += 1 }, solveCoarsest: { v[coarsest] += 1 }, up: { _ in })
    }

    /// Visits of the first iteration `first` replaces (``MGRITFirstIteration/skipDown``,
    /// ``MGRITFirstIteration/nested``) on `levelCount ≥ 2` levels: the injection visits
    /// every level once; nested iteration adds one V-cycle from each level `l = 1 …
    /// levelCount − 2`.
    static func visitsOfFirst(_ first: MGRITFirstIteration, levelCount: Int) -> [Int] {
        var v = [Int](repeating: 1, count: levelCount)
        if first == .nested {
            for l in stride(from: levelCount - 2, through: 1, by: -1) { MGRITCycle.V.addVisits(from: l, to: &v) }
        }
        return v
    }

    /// Visits of each level in a whole solve of `iterations` iterations, as
    /// ``MGRITStatistics/visitsPerLevel`` reports them (identical on every rank).
    ///
    /// - Parameters:
    ///   - iterations: ``MGRITStatistics/iterations`` (≥ 0); ignored for a
    ///     one-level hierarchy, which is one sequential solve (`[1]`).
    ///   - first: what the first iteration does (``MGRITOptions/firstIteration(warmStart:)``):
    ///     with ``MGRITFirstIteration/skipDown`` it only injects, solves the coarsest level
    ///     and interpolates up, visiting every level once; ``MGRITFirstIteration/nested``
    ///     adds one V-cycle from every coarse level but the coarsest.
    ///   - converged: ``MGRITStatistics/converged``: the last iteration stopped at
    ///     its residual check, after relaxing level 0, and visited no coarse level.
    public func visits(levelCount: Int, iterations: Int, first: MGRITFirstIteration = .cycle, converged: Bool = false) -> [Int] {
        precondition(levelCount >= 1 && iterations >= 0, "need levelCount ≥ 1 and iterations ≥ 0")
        guard levelCount > 1 else { return [iterations > 0 ? 1 : 0] }
        let cycle = visitsPerIteration(levelCount: levelCount)
        var v = [Int](repeating: 0, count: levelCount)
        for k in 0 ..< iterations {   // k = 0 is the first iteration
            if k == 0 && first != .cycle {
                for (l, n) in Self.visitsOfFirst(first, levelCount: levelCount).enumerated() { v[l] += n }
            } else if converged && k == iterations - 1 {
                v[0] += 1
            } else {
                for l in v.indices { v[l] += cycle[l] }
            }
        }
        return v
    }
}

extension MGRITOptions {
    /// ``MGRITCycle/visits(levelCount:iterations:first:converged:)`` for this configuration's
    /// cycle and first iteration (``firstIteration(warmStart:)``).
    public func plannedVisits(levelCount: Int, iterations: Int, converged: Bool = false, warmStart: Bool = false) -> [Int] {
        cycle.visits(levelCount: levelCount, iterations: iterations, first: firstIteration(warmStart: warmStart), converged: converged)
    }
}

extension MGRITOptions {
    /// Residual-norm checks (each one global reduction on more than one rank) in a
    /// solve of `iterations` iterations (``MGRITStatistics/iterations``) on
    /// `levelCount` levels, as ``MGRITSolver/solve(warmStart:)`` makes them: per
    /// ``residualCheck``, never in a skipped first down-cycle or a nested first iteration
    /// (``firstIteration(warmStart:)``), none for a one-level hierarchy (a sequential solve).
    public func plannedResidualChecks(levelCount: Int, iterations: Int, warmStart: Bool = false) -> Int {
        guard levelCount > 1 else { return 0 }
        let replaced = firstIteration(warmStart: warmStart) != .cycle
        return (1 ... max(iterations, 1)).filter { k in
            guard k <= iterations, !(k == 1 && replaced) else { return false }
            return switch residualCheck {
            case .everyIteration: true
            case .lastIteration: k == maxIterations
            case .never: false
            }
        }.count
    }
}
