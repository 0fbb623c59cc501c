import Comm
import Foundation
import MGRIT
import Testing

private func maxRelativeError(_ solver: MGRITSolver<ScalarProblem>, _ exact: [Double]) -> Double {
    let scale = exact.map(abs).max()!
    return solver.ownedRange.map { abs(solver.state(at: $0)!.value - exact[$0]) }.max()! / scale
}

@Suite("MGRIT on the scalar problem u' = λu")
struct ScalarMGRITTests {
    @Test func conformance() throws {
        let p = ScalarProblem(steps: 8)
        try MGRITConformance.checkAll(p, sample: ScalarProblem.State(2.5))
    }

    @Test(arguments: [MGRITCycle.V, .F], [MGRITRelaxation.F, .FCF])
    func convergesToSerialSolution(cycle: MGRITCycle, relaxation: MGRITRelaxation) throws {
        for (steps, m) in [(1, 2), (2, 2), (5, 3), (17, 4), (64, 2), (100, 8), (1000, 4)] {
            let p = ScalarProblem(steps: steps, lambda: -1, h: 0.05)
            let opts = MGRITOptions(coarsening: m, cycle: cycle, relaxation: relaxation,
                                    absoluteTolerance: 1e-14, maxIterations: 60)
            let s = try MGRITSolver(problem: p, options: opts, comm: SerialCommunicator())
            let stats = try s.solve()
            #expect(stats.converged, "N=\(steps) m=\(m): \(stats.residuals)")
            #expect(maxRelativeError(s, p.serial()) <= 1e-12, "N=\(steps) m=\(m)")
        }
    }

    /// Two-level MGRIT with F-relaxation is exact after ⌈N/m⌉ iterations
    /// (each coarse correction makes one more C-point exact), and not before.
    @Test(arguments: [(40, 4), (41, 4), (30, 3), (16, 2), (9, 8)])
    func twoLevelFRelaxationIsExact(steps: Int, m: Int) throws {
        let p = ScalarProblem(steps: steps, lambda: 1, h: 0.1)   // growing: errors do not die out by themselves
        let exact = p.serial()
        let iters = (steps + m - 1) / m
        var opts = MGRITOptions(coarsening: m, maxLevels: 2, cycle: .V, relaxation: .F, maxIterations: iters)
        let s = try MGRITSolver(problem: p, options: opts, comm: SerialCommunicator())
        _ = try s.solve()
        #expect(maxRelativeError(s, exact) <= 1e-15)
        if iters >= 3 {
            opts.maxIterations = iters - 2
            let t = try MGRITSolver(problem: p, options: opts, comm: SerialCommunicator())
            _ = try t.solve()
            #expect(maxRelativeError(t, exact) > 1e-12, "exact too early: the test would prove nothing")
        }
    }

    /// Two-level convergence factor against theory.
    ///
    /// Dobrev, Kolev, Petersson, Schroder, "Two-level convergence theory for
    /// multigrid reduction in time (MGRIT)", SIAM J. Sci. Comput. 39(5), 2017,
    /// S501–S527, Theorem 3.3 (scalar/diagonalisable case, fine propagator φ,
    /// coarse ψ, N_c coarse intervals): the error propagators on the C-points have
    ///   ‖E_F‖   ≤ |φᵐ − ψ| · (1 − |ψ|^{N_c}) / (1 − |ψ|),
    ///   ‖E_FCF‖ ≤ |φ|ᵐ · |φᵐ − ψ| · (1 − |ψ|^{N_c}) / (1 − |ψ|).
    /// E_F is lower-triangular Toeplitz with entries (φᵐ − ψ)ψ^{k−1}; a constant
    /// initial C-point error is amplified at point j by (φᵐ−ψ)Σ_{k<j}ψᵏ, so away
    /// from t = 0 (N_c ≫ k) the measured per-iteration factor of such an error is
    /// the bound's large-N_c limit ρ_F = |φᵐ − ψ|/(1 − |ψ|) (times |φ|ᵐ for FCF).
    @Test(arguments: [MGRITRelaxation.F, .FCF], [2, 4, 8])
    func twoLevelConvergenceFactorMatchesTheory(relaxation: MGRITRelaxation, m: Int) throws {
        let lambdaH = -0.2
        let p = ScalarProblem(steps: 8192 * m, lambda: lambdaH, h: 1, u0: 1)
        let exact = p.serial()
        p.guess = { exact[$0] + 1 }   // a constant (smooth) initial error
        let phi = 1 / (1 - lambdaH), psi = 1 / (1 - lambdaH * Double(m))
        var rho = abs(pow(phi, Double(m)) - psi) / (1 - abs(psi))
        if relaxation == .FCF { rho *= pow(abs(phi), Double(m)) }
        let opts = MGRITOptions(coarsening: m, maxLevels: 2, cycle: .V, relaxation: relaxation, maxIterations: 6)
        let s = try MGRITSolver(problem: p, options: opts, comm: SerialCommunicator())
        let r = try s.solve().residuals
        for k in 2 ..< r.count {
            let measured = r[k] / r[k - 1]
            #expect(abs(measured - rho) <= 0.1 * rho, "iteration \(k + 1): measured \(measured), theory \(rho)")
        }
    }

    @Test func fCycleNeedsNoMoreIterationsThanV() throws {
        let p = ScalarProblem(steps: 4096, lambda: -1, h: 0.01)
        var opts = MGRITOptions(coarsening: 4, cycle: .V, relativeTolerance: 1e-10, maxIterations: 40)
        let v = try MGRITSolver(problem: p, options: opts, comm: SerialCommunicator()).solve()
        opts.cycle = .F
        let f = try MGRITSolver(problem: p, options: opts, comm: SerialCommunicator()).solve()
        #expect(v.converged && f.converged)
        #expect(f.iterations <= v.iterations)
        #expect(v.levels >= 5)
    }

    @Test func warmStartFromSolutionConvergesAtOnce() throws {
        let p = ScalarProblem(steps: 300, lambda: -1, h: 0.05)
        let opts = MGRITOptions(absoluteTolerance: 1e-13, maxIterations: 30)
        let s = try MGRITSolver(problem: p, options: opts, comm: SerialCommunicator())
        let cold = try s.solve()
        let warm = try s.solve(warmStart: true)
        #expect(cold.iterations > 1)
        #expect(warm.iterations == 1 && warm.converged)
    }

    @Test func skipFirstDownStillConverges() throws {
        let p = ScalarProblem(steps: 500, lambda: -1, h: 0.05)
        let opts = MGRITOptions(skipFirstDown: true, absoluteTolerance: 1e-14, maxIterations: 30)
        let s = try MGRITSolver(problem: p, options: opts, comm: SerialCommunicator())
        let stats = try s.solve()
        #expect(stats.converged)
        #expect(stats.residuals.count == stats.iterations - 1)
        #expect(maxRelativeError(s, p.serial()) <= 1e-12)
    }

    @Test func sweepRecomputesEveryStepOnce() throws {
        let p = ScalarProblem(steps: 37, lambda: -1, h: 0.05)
        let s = try MGRITSolver(problem: p, options: MGRITOptions(coarsening: 3, absoluteTolerance: 1e-14), comm: SerialCommunicator())
        _ = try s.solve()
        p.fineSteps = 0
        try s.sweep()
        #expect(p.fineSteps == 37)
        #expect(maxRelativeError(s, p.serial()) <= 1e-13)
    }
}

@Suite("MGRIT configuration errors")
struct MGRITErrorTests {
    @Test func coarseningOneThrows() {
        #expect(throws: MGRITError.self) {
            _ = try MGRITSolver(problem: ScalarProblem(steps: 10), options: MGRITOptions(coarsening: 1), comm: SerialCommunicator())
        }
    }

    @Test func zeroStepsThrows() {
        #expect(throws: MGRITError.self) {
            _ = try MGRITSolver(problem: ScalarProblem(steps: 0), comm: SerialCommunicator())
        }
    }

    @Test(arguments: [0.0, -1e-8, .nan, .infinity])
    func badToleranceThrows(t: Double) {
        #expect(throws: MGRITError.self) {
            _ = try MGRITSolver(problem: ScalarProblem(steps: 10), options: MGRITOptions(absoluteTolerance: t), comm: SerialCommunicator())
        }
        #expect(throws: MGRITError.self) {
            _ = try MGRITSolver(problem: ScalarProblem(steps: 10), options: MGRITOptions(relativeTolerance: t), comm: SerialCommunicator())
        }
    }

    @Test func nanInStateThrowsInsteadOfHanging() throws {
        let p = ScalarProblem(steps: 64)
        p.guess = { $0 == 16 ? .nan : 0 }   // a C-point: F-points are overwritten before use
        let s = try MGRITSolver(problem: p, options: MGRITOptions(absoluteTolerance: 1e-10), comm: SerialCommunicator())
        #expect {
            _ = try s.solve()
        } throws: { error in
            guard case MGRITError.nonFinite(let m) = error else { return false }
            return m.contains("NaN") || m.contains("nan")
        }
    }

    @Test func nanInInitialConditionThrows() throws {
        let p = ScalarProblem(steps: 64, u0: .nan)
        let s = try MGRITSolver(problem: p, options: MGRITOptions(absoluteTolerance: 1e-10), comm: SerialCommunicator())
        #expect(throws: MGRITError.self) { _ = try s.solve() }
    }
}
