import Comm
import _TestSupport
import MGRIT
import Testing

/// Full multigrid: nested iteration as the first iteration of a cold solve (``MGRITOptions/fmg``).
@Suite("MGRIT nested iteration (FMG)")
struct NestedIterationTests {
    /// Fine states after a solve on one rank.
    static func states(_ p: ScalarProblem, _ options: MGRITOptions, warmStart: Bool = false) throws -> (u: [Double], stats: MGRITStatistics) {
        let s = try MGRITSolver(problem: p, options: options, comm: SerialCommunicator())
        let stats = try s.solve(warmStart: warmStart)
        return (s.ownedRange.map { s.state(at: $0)!.value }, stats)
    }

    /// On three levels, nested iteration is: solve the level-1 problem (`N/m` backward-Euler
    /// steps of size `m·h`) by two-level MGRIT from the injected guess — the skipped first
    /// down-cycle, then one V-cycle — and inject that into the fine C-points. So FMG with two
    /// iterations equals, bitwise at every fine point, one ordinary iteration warm-started from
    /// that separate coarse solve at the fine C-points (`h = 1/16`, `m = 4`: every `λ·h·k` is
    /// exact, so both problems do the same arithmetic; the F-points are F-relaxed first either
    /// way). The nested iteration takes no fine step, and it changes the result.
    @Test(arguments: [MGRITRelaxation.FCF, .F])
    func threeLevelsEqualATwoLevelSolveOfTheCoarseProblem(relaxation: MGRITRelaxation) throws {
        let (n, m, h) = (64, 4, 0.0625)
        func problem() -> ScalarProblem {
            let p = ScalarProblem(steps: n, lambda: -1, h: h)
            p.guess = { Double($0 % 5) * 0.2 }
            return p
        }
        let plain = MGRITOptions(coarsening: m, maxLevels: 3, relaxation: relaxation)
        var fmgOptions = plain
        fmgOptions.fmg = true
        let fine = problem()
        let (u, stats) = try Self.states(fine, fmgOptions.fixedIterations(2))
        #expect(stats.pointsPerLevel == [65, 17, 5])

        let coarse = ScalarProblem(steps: n / m, lambda: -1, h: h * Double(m))
        coarse.guess = { fine.guess($0 * m) }
        let twoLevel = MGRITOptions(coarsening: m, maxLevels: 2, cycle: .V, relaxation: relaxation, skipFirstDown: true).fixedIterations(2)
        let (U, _) = try Self.states(coarse, twoLevel)

        let warmProblem = problem()
        let warm = try MGRITSolver(problem: warmProblem, options: plain.fixedIterations(1), comm: SerialCommunicator())
        for j in 1 ... n / m { warm.state(at: j * m)!.value = U[j] }
        _ = try warm.solve(warmStart: true)
        let expected = warm.ownedRange.map { warm.state(at: $0)!.value }
        #expect(u == expected, "FMG's two iterations differ from one iteration from the coarse solve")
        #expect(fine.fineSteps == warmProblem.fineSteps, "the nested iteration took fine steps: \(fine.fineSteps) against \(warmProblem.fineSteps)")
        // Not trivially so: a plain cold start gives other values, and neither is the solution yet.
        #expect(u != (try Self.states(problem(), plain.fixedIterations(2))).u)
        #expect(abs(u[n / 2] - fine.serial()[n / 2]) > 1e-9)
    }

    /// A solve allowed one iteration runs without FMG (nested iteration would be all of it and
    /// never relax the fine level): bitwise the plain solve, its residual measured.
    @Test func oneIterationRunsWithoutNestedIteration() throws {
        func problem() -> ScalarProblem {
            let p = ScalarProblem(steps: 100, lambda: -1, h: 0.05)
            p.guess = { Double($0 % 3) * 0.3 }
            return p
        }
        let plain = MGRITOptions(coarsening: 3).fixedIterations(1, measureLast: true)
        var fmg = plain
        fmg.fmg = true
        #expect(fmg.firstIteration(warmStart: false) == .cycle)
        let a = try Self.states(problem(), plain), b = try Self.states(problem(), fmg)
        #expect(a.u == b.u && a.stats.residuals == b.stats.residuals && b.stats.residuals.count == 1)
    }

    /// FMG solves to the sequential solution, starts closer to it than the plain cold start,
    /// and its first residual (iteration 2) is below the skipped down-cycle's.
    @Test(arguments: [MGRITCycle.F, .V])
    func convergesAndStartsCloserThanSkipFirstDown(cycle: MGRITCycle) throws {
        func problem() -> ScalarProblem {
            let p = ScalarProblem(steps: 300, lambda: -1, h: 0.05)
            p.nonlinearity = 0.3
            p.guess = { Double($0 % 7) * 0.1 }
            return p
        }
        let exact = problem().serial()
        let base = MGRITOptions(coarsening: 2, cycle: cycle, absoluteTolerance: 1e-12, maxIterations: 30)
        var o = base
        o.fmg = true
        let (u, stats) = try Self.states(problem(), o)
        #expect(stats.converged)
        #expect(zip(u, exact).map { abs($0 - $1) }.max()! <= 1e-10)
        var skip = base
        skip.skipFirstDown = true
        let skipped = try Self.states(problem(), skip).stats
        #expect(stats.residuals[0] < skipped.residuals[0], "first residual: FMG \(stats.residuals[0]), skip \(skipped.residuals[0])")
        #expect(stats.iterations <= skipped.iterations)
    }

    /// A warm start keeps its guess: with one, FMG changes nothing (bitwise).
    @Test func warmStartIgnoresNestedIteration() throws {
        let p1 = ScalarProblem(steps: 120, lambda: -1, h: 0.05), p2 = ScalarProblem(steps: 120, lambda: -1, h: 0.05)
        p1.guess = { Double($0 % 3) * 0.3 }
        p2.guess = p1.guess
        let plain = MGRITOptions(coarsening: 3, maxIterations: 3)
        var fmg = plain
        fmg.fmg = true
        let a = try Self.states(p1, plain, warmStart: true), b = try Self.states(p2, fmg, warmStart: true)
        #expect(a.u == b.u && a.stats.residuals == b.stats.residuals && a.stats.visitsPerLevel == b.stats.visitsPerLevel)
    }

    /// With Delta correction the V-cycles of nested iteration correct the levels below their own;
    /// the fine level's Δ chain is rebuilt afterwards, and the solve converges to the serial solution
    /// of a nonlinear problem on any rank count with the same bits.
    @Test func deltaCorrectionWithNestedIterationIsRankInvariant() throws {
        func problem() -> ScalarProblem {
            let p = ScalarProblem(steps: 150, lambda: -1, h: 0.05)
            p.nonlinearity = 0.5
            p.guess = { Double($0 % 4) * 0.25 }
            return p
        }
        var o = MGRITOptions(coarsening: 3, fmg: true, absoluteTolerance: 1e-12, maxIterations: 20)
        o.deltaCorrection = true
        let one = try DeltaCorrectionTests.solve(problem, ranks: 1, options: o)
        #expect(one.stats.converged)
        #expect(zip(one.states, problem().serial()).map { abs($0 - $1) }.max()! <= 1e-10)
        for ranks in [2, 3, 5] {
            let many = try DeltaCorrectionTests.solve(problem, ranks: ranks, options: o)
            #expect(many.states == one.states && many.stats.residuals == one.stats.residuals, "\(ranks) ranks")
        }
    }
}
