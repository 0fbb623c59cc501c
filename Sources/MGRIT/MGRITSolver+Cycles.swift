// The solve driver and the cycles (XBraid's drive.c): iterations, residual
// checks and stopping, the V- and F-cycle recursion and the skipped first
// down-cycle.

extension MGRITSolver {
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

    /// V-cycle on the coarse problem of level `l ≥ 1` whose right-hand side is set.
    func vCycle(_ l: Int) throws {
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
    func fCycle(_ l: Int) throws {
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
    func skipCycle() throws {
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
}
