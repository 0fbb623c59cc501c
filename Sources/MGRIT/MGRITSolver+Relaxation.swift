import Comm

// Relaxation, restriction and correction (XBraid's relax.c, restrict and
// interpolation): the work on one level, in the order that makes the results
// bitwise independent of the rank count. Cross-rank exchanges are in
// MGRITSolver+Communication.swift.

extension MGRITSolver {
    /// Relaxation of one visit of level `L` (not the coarsest): the level's
    /// F- or FCF-relaxation (``MGRITOptions/relaxation(onLevel:)``). Counts the visit.
    func relax(_ L: Level) throws {
        L.visits += 1
        let fcf = options.relaxation(onLevel: L.index) == .FCF
        if L.cPointsOnly {
            // F-point values live only during an F-relaxation, so C-relaxation runs inside it
            // (each interval's end is updated once that interval's successor has used its old
            // value), and the final F-relaxation runs inside the restriction.
            if fcf {
                let w = options.cRelaxationWeight(onLevel: L.index)
                for _ in 0 ..< options.sweeps(onLevel: L.index) {
                    try fRelax(L) { c in try self.cUpdate(L, point: c, weight: w) }
                }
            }
            return
        }
        // With Delta correction the last F-relaxation before the restriction propagates the
        // tangents (a consistent level relaxed by F alone runs it anyway: same states).
        let tangents = buildsDelta(L)
        if fcf {
            if !L.consistent { try fRelax(L) }
            let n = options.sweeps(onLevel: L.index)
            for s in 0 ..< n {
                try cRelax(L, weight: options.cRelaxationWeight(onLevel: L.index))
                try fRelax(L, tangents: tangents && s == n - 1)
            }
        } else if !L.consistent || tangents {
            try fRelax(L, tangents: tangents)
        }
    }

    /// Whether the next restriction of `L` builds the next level's Δ (propagates tangents):
    /// always with Delta correction, except for a problem whose tangents do not depend on
    /// the state once that Δ is built in this solve (it would come out bitwise the same).
    @inline(__always)
    func buildsDelta(_ L: Level) -> Bool {
        L.propagatesTangents && !(problem.tangentsIndependentOfState && levels[L.index + 1].deltaValid)
    }

    /// `y = Φ(x)` from point j−1 to j on level L (in fine indices), with Delta correction
    /// (a coarse level whose Δ is valid) `y = Φ(x) + Δⱼ·x`.
    @inline(__always)
    func phi(_ L: Level, from x: P.State, into y: P.State, point j: Int) throws {
        try problem.step(from: x, into: y, start: (j - 1) * L.stride, stop: j * L.stride, level: L.index)
        L.steps += 1
        if L.deltaValid {
            let t0 = monotonicSeconds()
            problem.applyTangent(L.delta[j - L.lo], to: x, addingTo: y)
            L.tangentApplies += 1
            L.tangentSeconds += seconds(since: t0)
        }
    }

    /// ``phi(_:from:into:point:)`` that also propagates the tangent `t` through the same
    /// (corrected) step: `t ← (Φ'(x) + Δⱼ)·t`, after setting `t = I` if `identityFirst`.
    func phiTangent(_ L: Level, from x: P.State, into y: P.State, point j: Int, tangent t: P.Tangent,
                    identityFirst: Bool) throws {
        let t0 = monotonicSeconds()
        defer { L.tangentSeconds += seconds(since: t0) }
        let d: P.Tangent? = L.deltaValid ? L.delta[j - L.lo] : nil
        if identityFirst {   // t = Φ'(x) (+ Δⱼ): no products with the identity
            try problem.stepSettingTangent(from: x, into: y, tangent: t, start: (j - 1) * L.stride, stop: j * L.stride, level: L.index)
            L.steps += 1
            L.tangentSteps += 1
            if let d {
                problem.tangentSum(1, d, 1, t)
                problem.applyTangent(d, to: x, addingTo: y)
                L.tangentApplies += 1
            }
            return
        }
        if let d {
            problem.tangentProduct(d, t, into: L.tangentScratch!)   // Δⱼ·t before t changes
            L.tangentProducts += 1
        }
        try problem.step(from: x, into: y, tangent: t, start: (j - 1) * L.stride, stop: j * L.stride, level: L.index)
        L.steps += 1
        L.tangentSteps += 1
        if let d {
            problem.tangentSum(1, L.tangentScratch!, 1, t)
            problem.applyTangent(d, to: x, addingTo: y)
            L.tangentApplies += 1
        }
    }

    /// End (fine index of level L) of the interval whose step into point `j` it is: the
    /// C-point `j` itself, or the next C-point after an F-point.
    @inline(__always)
    func intervalEnd(_ L: Level, _ j: Int) -> Int { L.isC(j) ? j : (j / L.m + 1) * L.m }

    /// Where the running tangent of the interval ending at C-point `c` lives on this rank:
    /// the next level's Δ slot of `c` if owned, the tail tangent if `c` lies on the right;
    /// nil for the last, shorter interval (ends at an F-point: no coarse point).
    func tangentSlot(_ L: Level, endingAt c: Int) -> P.Tangent? {
        guard c <= L.count - 1 else { return nil }
        if c > L.hi { return L.tailTangent }
        let C = levels[L.index + 1]
        return C.delta[c / L.m - C.lo]
    }

    /// ``update(_:point:from:)`` for an F-point that also propagates its interval's tangent.
    @inline(__always)
    func updateTangent(_ L: Level, point j: Int, from pred: P.State) throws {
        guard let t = tangentSlot(L, endingAt: intervalEnd(L, j)) else { return try update(L, point: j, from: pred) }
        let uj = L.u[j - L.lo]
        try phiTangent(L, from: pred, into: uj, point: j, tangent: t, identityFirst: L.isC(j - 1))
        if let g = L.g { problem.sum(1, g[j - L.lo], 1, uj) }
    }

    /// uⱼ = Φ(pred) + gⱼ for owned point j.
    @inline(__always)
    func update(_ L: Level, point j: Int, from pred: P.State) throws {
        let uj = L.u[j - L.lo]
        try phi(L, from: pred, into: uj, point: j)
        if let g = L.g { problem.sum(1, g[j - L.lo], 1, uj) }
    }

    /// C-relaxation at owned C-point c ≥ 1: `u_c = Φ(u_{c−1}) + g_c`, or with a
    /// weight ω ≠ 1 `u_c ← (1 − ω)·u_c + ω·(Φ(u_{c−1}) + g_c)` through the level's
    /// scratch state (ω = 1 takes the unweighted path: bitwise no weight at all).
    @inline(__always)
    func cUpdate(_ L: Level, point c: Int, weight w: Double) throws {
        guard w != 1 else { return try update(L, point: c, from: predecessor(L, c)) }
        try phi(L, from: predecessor(L, c), into: L.tmp, point: c)
        if let g = L.g { problem.sum(1, g[c - L.lo], 1, L.tmp) }
        problem.sum(w, L.tmp, 1 - w, L.u[c - L.lo])
    }

    /// The value at point j − 1: owned, or the ghost (the left neighbour's last point).
    @inline(__always)
    func predecessor(_ L: Level, _ j: Int) -> P.State {
        j == L.lo ? L.ghost : L.u[j - 1 - L.lo]
    }

    /// F-relaxation. Leaves `ghost` equal to the left neighbour's last point.
    ///
    /// `atC`, if given, is called for every owned C-point `c ≥ 1` as soon as its
    /// predecessor `c − 1` has its new value, and after the interval starting at `c`
    /// has been relaxed (intervals run from right to left) — so it may overwrite `u_c`.
    ///
    /// With `tangents` (a level that restricts with Delta correction) every F-point step
    /// also propagates its interval's tangent (``updateTangent(_:point:from:)``), from the
    /// identity at the interval's C-point or from the one the left rank sent with its last
    /// point; the tangent of an interval that continues on the right rank goes there.
    /// The step into each interval's end, which completes its tangent, is the restriction's.
    func fRelax(_ L: Level, tangents: Bool = false, atC: ((Int) throws -> Void)? = nil) throws {
        L.consistent = true
        let tangents = tangents && buildsDelta(L)
        if tangents { levels[L.index + 1].deltaValid = false }   // its Δ slots are rewritten now
        guard L.owns else { return }
        let t0 = monotonicSeconds()
        defer { L.seconds += seconds(since: t0) }
        var recv = try postReceive(L, .relax)
        var tangentRecv = tangents ? try postTangentReceive(L) : nil
        let m = L.m
        func run(_ from: Int, _ through: Int) throws {   // F-points from … through, from ≥ lo
            var j = from
            if tangents {
                while j <= through { try updateTangent(L, point: j, from: predecessor(L, j)); j += 1 }
            } else {
                while j <= through { try update(L, point: j, from: predecessor(L, j)); j += 1 }
            }
        }
        func finish() throws {
            try finishReceive(L, &recv)
            try finishTangentReceive(L, &tangentRecv)
        }
        func send() throws {
            try sendLast(L, .relax)
            if tangents { try sendTangent(L) }
        }
        if L.firstC <= L.hi {
            try run(L.lastC + 1, L.hi)                      // last interval first: its end goes right
            try send()
            var c = L.lastC
            while c > L.firstC { try run(c - m + 1, c - 1); try atC?(c); try poll(L, &recv); c -= m }
            if L.lo < L.firstC {                            // head: F-points of the left rank's interval
                try finish()
                try run(L.lo, L.firstC - 1)
                try atC?(L.firstC)
            } else if L.firstC >= 1, let atC {              // lo is a C-point: its predecessor is the ghost
                try finish()
                try atC(L.firstC)
            }
        } else {                                            // only F-points: continue the left interval
            try finish()
            try run(L.lo, L.hi)
            try send()
        }
        try finish()
    }

    /// C-relaxation at C-points j ≥ 1 (uses the ghost left by the preceding
    /// F-relaxation), with weight `weight` (``cUpdate(_:point:weight:)``).
    func cRelax(_ L: Level, weight: Double = 1) throws {
        L.consistent = false
        guard L.owns, L.firstC <= L.hi else { return }
        let t0 = monotonicSeconds()
        defer { L.seconds += seconds(since: t0) }
        for c in stride(from: max(L.firstC, L.m), through: L.lastC, by: L.m) {
            try cUpdate(L, point: c, weight: weight)
        }
    }

    /// Injection into level `l+1` and the first part of its FAS right-hand side,
    /// `Gⱼ = Φₗ(u_{jm−1}) + g_{jm}`; returns the global fine residual norm when `measure`.
    func restrict(_ L: Level, measure: Bool) throws -> Double? {
        let C = levels[L.index + 1]
        C.consistent = false
        let t0 = monotonicSeconds()
        var squares: [(Int, Double)] = []
        C.allocate(problem)
        let tangents = buildsDelta(L)   // decided before the fused F-relaxation below invalidates Δ
        func at(_ c: Int) throws {
            let uc = L.u[c - L.lo]
            let G = C.g![c / L.m - C.lo]
            if tangents {   // the interval's last step completes its tangent
                try phiTangent(L, from: predecessor(L, c), into: G, point: c, tangent: C.delta[c / L.m - C.lo], identityFirst: false)
            } else {
                try phi(L, from: predecessor(L, c), into: G, point: c)
            }
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
            try fRelax(L, tangents: true, atC: at)  // the final F-relaxation, fused
        } else if L.owns, L.firstC <= L.hi {
            let t1 = monotonicSeconds()
            for c in stride(from: max(L.firstC, L.m), through: L.lastC, by: L.m) { try at(c) }
            L.seconds += seconds(since: t1)
        }
        guard measure else { return nil }
        return try globalNorm(squares, slots: C.count - 1)
    }

    /// Second part of the FAS right-hand side on level C: `Gⱼ −= Φ_C(Uⱼ₋₁)`. With Delta
    /// correction it first completes `Δⱼ = P − Φ_C'(Uⱼ₋₁)` from the product `P` of the level
    /// below's linearised steps (left in ``Level/delta`` by the restriction), and subtracts the
    /// corrected step `Φ_C(Uⱼ₋₁) + Δⱼ·Uⱼ₋₁`.
    func restrictRHS(_ C: Level) throws {
        // Δ is valid afterwards on every rank alike, owner of points of C or not (``buildsDelta(_:)``
        // must decide the same on all ranks: the tangent messages depend on it).
        defer { if C.hasDelta { C.deltaValid = true } }
        guard C.owns else { return }
        let t0 = monotonicSeconds()
        defer { C.seconds += seconds(since: t0) }
        var recv = try postReceive(C, .restrict)
        try sendLast(C, .restrict)
        let g = C.g!
        var j = C.hi
        while j >= max(C.lo, 1) {                 // the receive is needed only for j = lo: do it last
            if j == C.lo { try finishReceive(C, &recv) }
            if C.hasDelta && !C.deltaValid {   // a valid Δ was kept (independent of the state): phi applies it
                let pred = predecessor(C, j), d = C.delta[j - C.lo], s = C.tangentScratch!
                try phiTangent(C, from: pred, into: C.tmp, point: j, tangent: s, identityFirst: true)   // Φ_C, Φ_C'
                let t1 = monotonicSeconds()
                problem.tangentSum(-1, s, 1, d)
                problem.applyTangent(d, to: pred, addingTo: C.tmp)
                C.tangentApplies += 1
                C.tangentSeconds += seconds(since: t1)
            } else {
                try phi(C, from: predecessor(C, j), into: C.tmp, point: j)
            }
            problem.sum(-1, C.tmp, 1, g[j - C.lo])
            try poll(C, &recv)
            j -= 1
        }
        try finishReceive(C, &recv)
    }

    /// FAS correction with injection: `u_{jm} = Uⱼ` at the C-points j ≥ 1.
    func correct(_ L: Level) throws {
        let C = levels[L.index + 1]
        L.consistent = false
        guard L.owns, L.firstC <= L.hi else { return }
        for c in stride(from: max(L.firstC, L.m), through: L.lastC, by: L.m) {
            problem.copy(C.u[c / L.m - C.lo], into: L.u[c - L.lo])
        }
    }

    /// Exact solve `uⱼ = Φ(uⱼ₋₁) + gⱼ` in time order, relayed from rank to rank.
    /// Counts a visit of the coarsest level (on every rank, owner or not).
    func coarsestSolve(_ L: Level) throws {
        L.visits += 1
        guard L.owns else { return }
        let t0 = monotonicSeconds()
        defer { L.seconds += seconds(since: t0) }
        var recv = try postReceive(L, .coarsest)
        try finishReceive(L, &recv)
        var j = max(L.lo, 1)
        while j <= L.hi { try update(L, point: j, from: predecessor(L, j)); j += 1 }
        try sendLast(L, .coarsest)
    }
}
