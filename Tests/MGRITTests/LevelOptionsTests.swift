import Comm
import _TestSupport
import Foundation
import MGRIT
import Testing

/// The per-level options: a fine-level coarsening factor (``MGRITOptions/fineCoarsening``),
/// a fine-level relaxation (``MGRITOptions/fineRelaxation``) and the C-relaxation
/// weight ω (``MGRITOptions/cRelaxationWeight``, ``MGRITOptions/fineCRelaxationWeight``).
@Suite("MGRIT per-level options")
struct LevelOptionsTests {
    private static func maxRelativeError(_ solver: MGRITSolver<ScalarProblem>, _ exact: [Double]) -> Double {
        let scale = exact.map(abs).max()!
        return solver.ownedRange.compactMap { i in solver.state(at: i).map { abs($0.value - exact[i]) } }.max()! / scale
    }

    /// Bit patterns of every stored fine state, the residual history and the steps per level (one rank).
    private static func bits(_ p: ScalarProblem, _ options: MGRITOptions) throws -> [UInt64] {
        let s = try MGRITSolver(problem: p, options: options, comm: SerialCommunicator())
        let stats = try s.solve()
        return s.ownedRange.compactMap { s.state(at: $0)?.value.bitPattern } + stats.residuals.map(\.bitPattern)
            + stats.stepsPerLevel.map { UInt64($0) }
    }

    // MARK: - Hierarchy

    @Test func hierarchyUsesTheFineFactorOnLevelZeroOnly() throws {
        let h = try MGRITHierarchy(stepCount: 50, options: MGRITOptions(coarsening: 2, fineCoarsening: 5))
        // 50/5 + 1 = 11, then halving: 10/2 + 1 = 6, 5/2 + 1 = 3, 2/2 + 1 = 2.
        #expect(h.pointsPerLevel == [51, 11, 6, 3, 2])
        #expect(h.strides == [1, 5, 10, 20, 40])
        #expect(h.fineCoarsening == 5 && h.coarsening == 2)
        #expect((0 ..< h.levelCount).map { h.factor(level: $0) } == [5, 2, 2, 2, 2])
        // A fine factor larger than N leaves one level; unset, the fine factor is `coarsening`.
        #expect(try MGRITHierarchy(stepCount: 7, options: MGRITOptions(fineCoarsening: 8)).pointsPerLevel == [8])
        let plain = try MGRITHierarchy(stepCount: 50, options: MGRITOptions(coarsening: 3))
        let explicit = try MGRITHierarchy(stepCount: 50, options: MGRITOptions(coarsening: 3, fineCoarsening: 3))
        #expect(plain.fineCoarsening == 3 && plain == explicit)
        // Ownership on level 1 follows the stride 5: fine points 0…12 hold level-1 points 0, 1, 2.
        let part = try TimePartition(ranks: [0, 1], ranges: [0 ..< 13, 13 ..< 51], pointCount: 51)
        #expect(h.ownedPoints(level: 1, partition: part) == [0 ..< 3, 3 ..< 11])
        #expect(h.ownedPoints(level: 2, partition: part) == [0 ..< 2, 2 ..< 6])
        // The solver builds exactly these levels and owned ranges on every rank.
        let outs = try LocalGroup.run(size: 2) { comm -> [Range<Int>] in
            let s = try MGRITSolver(problem: ScalarProblem(steps: 50), options: MGRITOptions(coarsening: 2, fineCoarsening: 5),
                                    comm: comm, partition: part)
            #expect(s.hierarchy == h && s.pointsPerLevel == h.pointsPerLevel)
            return (0 ..< s.levelCount).map { s.ownedRange(level: $0) }
        }
        for (position, ranges) in outs.enumerated() {
            #expect(ranges == (0 ..< h.levelCount).map { h.ownedPoints(level: $0, partition: part)[position] })
        }
    }

    // MARK: - (a) Two-level exactness with a fine-level factor

    /// Two-level MGRIT with F-relaxation makes one more coarse interval exact per
    /// iteration, so it is exact after ⌈N/m₀⌉ iterations with the fine factor m₀
    /// (and not two iterations earlier); the coarse levels' factor does not enter a
    /// two-level solve, so the result is bitwise that of `coarsening: m₀`.
    @Test(arguments: [(40, 8, 2), (41, 5, 4), (30, 2, 3), (17, 16, 2), (48, 3, 8)])
    func twoLevelFRelaxationIsExactAfterNOverFineFactor(steps: Int, m0: Int, m: Int) throws {
        // Growing, with λh = 1/(2m₀): the coarse step ψ = 2 is far from φ^m₀ ≈ 1.6–1.8, so the
        // error does not fall below rounding before the last coarse interval is exact.
        let p = ScalarProblem(steps: steps, lambda: 0.5 / Double(m0), h: 1)
        let exact = p.serial()
        let iters = (steps + m0 - 1) / m0
        var opts = MGRITOptions(coarsening: m, fineCoarsening: m0, maxLevels: 2, cycle: .V, relaxation: .F, maxIterations: iters)
        let s = try MGRITSolver(problem: p, options: opts, comm: SerialCommunicator())
        _ = try s.solve()
        #expect(Self.maxRelativeError(s, exact) <= 1e-15, "N=\(steps) m₀=\(m0): \(iters) iterations")
        let same = MGRITOptions(coarsening: m0, maxLevels: 2, cycle: .V, relaxation: .F, maxIterations: iters)
        #expect(try Self.bits(p, opts) == Self.bits(p, same))
        if iters >= 3 {
            opts.maxIterations = iters - 2
            let t = try MGRITSolver(problem: p, options: opts, comm: SerialCommunicator())
            _ = try t.solve()
            #expect(Self.maxRelativeError(t, exact) > 1e-12, "exact too early: the test would prove nothing")
        }
    }

    /// With the exact propagator as coarse step (`Φᵏ` over `k` fine steps) every
    /// level is the Schur complement of the one above, so a single iteration solves
    /// the problem on any hierarchy — but only if every level steps over its own
    /// stride: a level using another factor's stride would not be exact.
    @Test(arguments: [MGRITCycle.V, .F])
    func exactCoarseStepsSolveInOneIterationWithPerLevelOptions(cycle: MGRITCycle) throws {
        for (steps, m0, m) in [(200, 8, 2), (200, 2, 4), (97, 5, 3), (1000, 16, 4), (50, 3, 2)] {
            for (fine, w) in [(.F, 1.0), (.FCF, 1.6), (nil, 1.3)] as [(MGRITRelaxation?, Double)] {
                let p = ScalarProblem(steps: steps, lambda: -1, h: 0.05)
                p.guess = { Double($0 % 7) * 0.1 }
                p.exactCoarse = true
                let opts = MGRITOptions(coarsening: m, fineCoarsening: m0, cycle: cycle, relaxation: .FCF, fineRelaxation: fine,
                                        cRelaxationWeight: w, maxIterations: 1)
                let s = try MGRITSolver(problem: p, options: opts, comm: SerialCommunicator())
                #expect(s.levelCount >= 3)
                _ = try s.solve()
                #expect(Self.maxRelativeError(s, p.serial()) <= 1e-13, "N=\(steps) m₀=\(m0) m=\(m) \(cycle) fine \(String(describing: fine)) ω=\(w)")
                // The rediscretised coarse step is not exact: the property is not automatic.
                p.exactCoarse = false
                let t = try MGRITSolver(problem: p, options: opts, comm: SerialCommunicator())
                _ = try t.solve()
                #expect(Self.maxRelativeError(t, p.serial()) > 1e-6)
            }
        }
    }

    // MARK: - (b) Convergence to the serial solution

    @Test(arguments: [MGRITCycle.V, .F], [MGRITRelaxation.F, .FCF])
    func convergesToSerialSolution(cycle: MGRITCycle, fineRelaxation: MGRITRelaxation) throws {
        for (steps, m0, m) in [(1, 8, 2), (7, 8, 2), (100, 8, 2), (100, 2, 4), (257, 5, 3), (1000, 16, 4)] {
            for (w, w0) in [(1.0, nil), (1.5, nil), (1.3, 1.8)] as [(Double, Double?)] {
                let p = ScalarProblem(steps: steps, lambda: -1, h: 0.05)
                let opts = MGRITOptions(coarsening: m, fineCoarsening: m0, cycle: cycle, relaxation: .FCF, fineRelaxation: fineRelaxation,
                                        cRelaxationWeight: w, fineCRelaxationWeight: w0, absoluteTolerance: 1e-14, maxIterations: 100)
                let s = try MGRITSolver(problem: p, options: opts, comm: SerialCommunicator())
                let stats = try s.solve()
                let label = "N=\(steps) m₀=\(m0) m=\(m) ω=\(w)/\(String(describing: w0))"
                #expect(stats.converged, "\(label): \(stats.iterations) iterations, last residual \(stats.residuals.last ?? .nan)")
                #expect(Self.maxRelativeError(s, p.serial()) <= 1e-12, "\(label)")
            }
        }
    }

    // MARK: - (d) ω = 1 and explicit defaults are bitwise no option at all

    @Test func explicitDefaultsAreBitwiseTheRecordedFingerprints() throws {
        for (c, recorded) in BitwiseHistoryTests.cases {
            var e = c
            e.options.fineCoarsening = c.options.coarsening
            e.options.fineRelaxation = c.options.relaxation
            e.options.cRelaxationWeight = 1
            e.options.fineCRelaxationWeight = 1
            #expect(try BitwiseHistoryTests.run(e) == recorded, "\(c)")
        }
    }

    @Test(arguments: [MGRITStorage.allPoints, .cPointsOnly])
    func unitWeightIsBitwiseNoWeightAndAnotherWeightIsNot(storage: MGRITStorage) throws {
        let p = ScalarProblem(steps: 150, lambda: -1, h: 0.05)
        p.guess = { Double($0 % 7) * 0.1 }
        let base = MGRITOptions(coarsening: 3, fineCoarsening: 6, sweeps: 2, maxIterations: 4, storage: storage)
        var unit = base
        unit.cRelaxationWeight = 1
        unit.fineCRelaxationWeight = 1
        #expect(try Self.bits(p, unit) == Self.bits(p, base))
        for (w, w0) in [(1.5, nil), (1.0, 1.5), (0.7, nil)] as [(Double, Double?)] {
            var o = base
            o.cRelaxationWeight = w
            o.fineCRelaxationWeight = w0
            #expect(try Self.bits(p, o) != Self.bits(p, base), "ω = \(w)/\(String(describing: w0)) changed nothing")
        }
        // A weight on an F-relaxed fine level has nothing to act on.
        var f = base
        f.fineRelaxation = .F
        var fw = f
        fw.fineCRelaxationWeight = 1.7
        #expect(try Self.bits(p, fw) == Self.bits(p, f))
    }

    // MARK: - Weighted FCF against two-level theory

    /// Two-level factor of weighted FCF on a constant (smooth) C-point error, from
    /// the Fourier symbol at θ = 0 of the lower-triangular Toeplitz operators on the
    /// C-points (Dobrev et al. 2017 for E_F; Sugiyama et al. 2023 for the weight):
    /// E_F ↦ (φᵐ − ψ)/(1 − ψ), weighted C-relaxation e_j ← (1 − ω)e_j + ωφᵐe_{j−1}
    /// ↦ 1 − ω + ωφᵐ, so ρ = |φᵐ − ψ|/(1 − |ψ|) · |1 − ω + ωφᵐ| (ω = 1: the
    /// unweighted |φ|ᵐ·ρ_F of ``ScalarMGRITTests/twoLevelConvergenceFactorMatchesTheory``).
    /// With ``MGRITOptions/fineCoarsening`` the fine factor plays the role of m.
    @Test(arguments: [1.0, 1.3, 1.5, 0.8], [2, 4])
    func weightedTwoLevelFactorMatchesTheory(w: Double, m0: Int) throws {
        let lambdaH = -0.2
        let p = ScalarProblem(steps: 8192 * m0, lambda: lambdaH, h: 1, u0: 1)
        let exact = p.serial()
        p.guess = { exact[$0] + 1 }
        let phiM = pow(1 / (1 - lambdaH), Double(m0)), psi = 1 / (1 - lambdaH * Double(m0))
        let rho = abs(phiM - psi) / (1 - abs(psi)) * abs(1 - w + w * phiM)
        let opts = MGRITOptions(coarsening: 7, fineCoarsening: m0, maxLevels: 2, cycle: .V, relaxation: .FCF,
                                cRelaxationWeight: 1.9, fineCRelaxationWeight: w, maxIterations: 6)
        let r = try MGRITSolver(problem: p, options: opts, comm: SerialCommunicator()).solve().residuals
        for k in 2 ..< r.count {
            let measured = r[k] / r[k - 1]
            #expect(abs(measured - rho) <= 0.1 * rho, "ω=\(w) m₀=\(m0) iteration \(k + 1): measured \(measured), theory \(rho)")
        }
    }

    // MARK: - (c) Rank-count invariance

    static let distributedCases: [MGRITOptions] = [
        MGRITOptions(coarsening: 2, fineCoarsening: 8, maxIterations: 5),
        MGRITOptions(coarsening: 4, fineCoarsening: 3, cycle: .V, maxIterations: 5),
        MGRITOptions(coarsening: 3, fineRelaxation: .F, maxIterations: 5),
        MGRITOptions(coarsening: 4, cRelaxationWeight: 1.6, maxIterations: 5),
        MGRITOptions(coarsening: 2, fineCoarsening: 5, cycle: .V, fineRelaxation: .F, sweeps: 2, cRelaxationWeight: 1.4,
                     skipFirstDown: true, maxIterations: 5),
        MGRITOptions(coarsening: 2, fineCoarsening: 3, fineRelaxation: .F, cRelaxationWeight: 1.3, fmg: true, maxIterations: 5),
        MGRITOptions(coarsening: 3, fineCoarsening: 6, sweeps: 2, cRelaxationWeight: 1.2, fineCRelaxationWeight: 1.7,
                     maxIterations: 4).fixedIterations(4, measureLast: true),
    ]

    @Test(arguments: distributedCases.indices)
    func rankCountDoesNotChangeTheResult(index: Int) throws {
        let opts = Self.distributedCases[index]
        for steps in [39, 200] {
            let one = try DistributedMGRITTests.solve(steps: steps, ranks: 1, options: opts)
            for p in [2, 3, 5] {
                let many = try DistributedMGRITTests.solve(steps: steps, ranks: p, options: opts)
                #expect(many == one, "\(p) ranks, N = \(steps), case \(index)")
            }
        }
    }

    /// C-point-only storage keeps the fine factor's C-points, gives the full
    /// storage's residuals and values there on any rank count, also after the
    /// gradient-style ``MGRITSolver/sweep()``.
    @Test(arguments: [(8, 2, MGRITRelaxation.FCF, 1.5), (3, 4, .F, 1.0), (5, 3, .FCF, 1.0), (2, 4, .FCF, 1.8)])
    func cPointStorageUsesTheFineFactor(m0: Int, m: Int, fine: MGRITRelaxation, w: Double) throws {
        for (steps, ranks) in [(61, 1), (61, 3), (100, 5), (33, 2)] {
            let opts = MGRITOptions(coarsening: m, fineCoarsening: m0, cycle: .F, fineRelaxation: fine, cRelaxationWeight: w,
                                    maxIterations: 4)
            let all = try CPointStorageTests.run(.allPoints, steps: steps, ranks: ranks, options: opts, sweep: true)
            let c = try CPointStorageTests.run(.cPointsOnly, steps: steps, ranks: ranks, options: opts, sweep: true)
            let one = try CPointStorageTests.run(.cPointsOnly, steps: steps, ranks: 1, options: opts, sweep: true)
            #expect(c.0 == all.0, "residual histories differ (N=\(steps), m₀=\(m0), \(ranks) ranks)")
            #expect(c.1.keys.sorted() == Array(stride(from: 0, through: steps, by: m0)) + (steps % m0 == 0 ? [] : [steps]))
            for (i, v) in c.1 { #expect(v == all.1[i]!, "point \(i)") }
            #expect(c.0 == one.0 && c.1 == one.1, "\(ranks) ranks differ from one")
            #expect(c.2 < all.2)
        }
    }

    // MARK: - (f) Visit planning

    @Test(arguments: [MGRITCycle.V, .F], MGRITFirstIteration.allCases)
    func measuredVisitsEqualThePlan(cycle: MGRITCycle, first: MGRITFirstIteration) throws {
        for (steps, m0, m) in [(200, 8, 2), (200, 2, 4), (39, 5, 3), (9, 8, 2), (1, 4, 2)] {
            let converging = MGRITOptions(coarsening: m, fineCoarsening: m0, cycle: cycle, fineRelaxation: .F, cRelaxationWeight: 1.5,
                                          skipFirstDown: first == .skipDown, fmg: first == .nested, absoluteTolerance: 1e-12,
                                          maxIterations: 60)
            let levels = try MGRITHierarchy(stepCount: steps, options: converging).levelCount
            for options in [converging, converging.fixedIterations(3)] {
                for ranks in [1, 3, 5] {
                    let all = try InstrumentationTests.solveAll(steps: steps, ranks: ranks, options: options)
                    for (rank, s) in all.enumerated() {
                        #expect(s.levels == levels)
                        let plan = options.plannedVisits(levelCount: s.levels, iterations: s.iterations, converged: s.converged)
                        #expect(s.visitsPerLevel == plan, "N=\(steps) m₀=\(m0) m=\(m) P=\(ranks) rank \(rank)")
                    }
                }
            }
        }
    }

    // MARK: - (g) Invalid values

    @Test func invalidValuesAreRejectedNamingTheOption() {
        func message(_ o: MGRITOptions) -> String? {
            do { try o.validate(); return nil } catch { return "\(error)" }
        }
        for m0 in [1, 0, -4] {
            let m = message(MGRITOptions(fineCoarsening: m0))
            #expect(m?.contains("fineCoarsening") == true && m?.contains("\(m0)") == true, "\(String(describing: m))")
            #expect(throws: MGRITError.self) {
                _ = try MGRITSolver(problem: ScalarProblem(steps: 10), options: MGRITOptions(fineCoarsening: m0), comm: SerialCommunicator())
            }
        }
        for w in [0.0, -0.5, 2.0, 2.5, .nan, .infinity] {
            let a = message(MGRITOptions(cRelaxationWeight: w))
            #expect(a?.contains("cRelaxationWeight") == true && a?.contains("fineCRelaxationWeight") == false, "\(String(describing: a))")
            let b = message(MGRITOptions(fineCRelaxationWeight: w))
            #expect(b?.contains("fineCRelaxationWeight") == true, "\(String(describing: b))")
        }
        for o in [MGRITOptions(fineCoarsening: 2), MGRITOptions(fineRelaxation: .F), MGRITOptions(cRelaxationWeight: 1.99),
                  MGRITOptions(cRelaxationWeight: 0.01, fineCRelaxationWeight: 1.5)] {
            #expect(message(o) == nil)
        }
    }

    // MARK: - (e) Iterations with ω and a fine factor (a finding, printed; only convergence is asserted)

    /// Iterations to ‖r_k‖ ≤ 1e-10·‖r_1‖ of the F-cycle (FCF, 1 sweep) on the
    /// scalar problem, N = 4096, u₀ = 1, initial guess (i mod 7)/10, for each ω on all
    /// levels and on the fine level only, and fine factors with m = 4 below.
    @Test func iterationsWithWeightsAndFineFactors() throws {
        var lines: [String] = []
        for lambdaH in [-0.05, -1.0, -10.0] {
            func iterations(_ o: MGRITOptions) throws -> (Int, Int) {
                let p = ScalarProblem(steps: 4096, lambda: lambdaH, h: 1)
                p.guess = { Double($0 % 7) * 0.1 }
                let stats = try MGRITSolver(problem: p, options: o, comm: SerialCommunicator()).solve()
                #expect(stats.converged, "λh = \(lambdaH): \(o)")
                return (stats.iterations, stats.totalSteps)
            }
            let base = MGRITOptions(coarsening: 4, relativeTolerance: 1e-10, maxIterations: 200)
            var row = "λh=\(lambdaH): ω all levels"
            for w in [1.0, 1.3, 1.5, 1.8] {
                var o = base
                o.cRelaxationWeight = w
                row += " \(w):\(try iterations(o).0)"
            }
            row += "; ω fine only"
            for w in [1.3, 1.5, 1.8] {
                var o = base
                o.fineCRelaxationWeight = w
                row += " \(w):\(try iterations(o).0)"
            }
            row += "; m₀ (iterations/steps)"
            for m0 in [4, 8, 16] {
                for fine in [MGRITRelaxation.FCF, .F] {
                    var o = base
                    o.fineCoarsening = m0
                    o.fineRelaxation = fine
                    let (k, steps) = try iterations(o)
                    row += " \(m0)\(fine):\(k)/\(steps)"
                }
            }
            lines.append(row)
        }
        print("MGRIT iterations (scalar, F-cycle FCF, N=4096, rel. tol 1e-10):\n" + lines.joined(separator: "\n"))
    }
}
