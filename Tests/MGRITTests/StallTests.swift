import Comm
import MGRIT
import Testing

/// Stall and divergence detection, the sequential fallback, and the fine level's
/// own sweep count, on the scalar test ODE.
@Suite("MGRIT stall detection and per-level sweeps")
struct StallTests {
    /// Backward Euler for `u' = λu` with λh = 0.3 on the fine level: the coarse
    /// step 1/(1 − 4·0.3) = −5 is unstable, so two-level MGRIT diverges.
    static func diverging() -> ScalarProblem { ScalarProblem(steps: 256, lambda: 0.3, h: 1, u0: 1) }

    @Test func divergingSolveStopsWithTheReport() throws {
        let opts = MGRITOptions(maxLevels: 2, cycle: .V, relaxation: .FCF, maxIterations: 30,
                                stallIterations: 3)
        let stats = try MGRITSolver(problem: Self.diverging(), options: opts, comm: SerialCommunicator()).solve()
        let stall = try #require(stats.stall, "residuals \(stats.residuals)")
        #expect(!stats.converged)
        #expect(stats.iterations < 30 && stall.iteration == stats.iterations)
        #expect(stall.level == 0 && stall.residuals == Array(stats.residuals.suffix(4)))
        #expect(stall.diverging)
        #expect(stall.description.contains("diverging at iteration \(stats.iterations), level 0"))
        // Without detection the same configuration runs on: to the cap with a larger
        // residual, or until the residual overflows.
        var off = opts
        off.stallIterations = nil
        do {
            let s = try MGRITSolver(problem: Self.diverging(), options: off, comm: SerialCommunicator()).solve()
            #expect(s.iterations == 30 && s.stall == nil && s.residuals.last! > stats.residuals.last!)
            #expect(Array(s.residuals.prefix(stats.residuals.count)) == stats.residuals)
        } catch MGRITError.nonFinite {}
    }

    /// A converging solve is bitwise the same with detection on (it never fires).
    @Test(arguments: [MGRITCycle.V, .F])
    func convergingSolveIsBitwiseUnchanged(cycle: MGRITCycle) throws {
        func run(_ k: Int?) throws -> (MGRITStatistics, [Double]) {
            let p = ScalarProblem(steps: 300, lambda: -1, h: 0.05)
            let s = try MGRITSolver(problem: p, options: MGRITOptions(cycle: cycle, relativeTolerance: 1e-13, maxIterations: 40,
                                                                      stallIterations: k, stallRatio: 0.95), comm: SerialCommunicator())
            let stats = try s.solve()
            return (stats, (0 ... 300).map { s.state(at: $0)!.value })
        }
        let (a, ua) = try run(nil), (b, ub) = try run(2)
        #expect(a.converged && b.converged && b.stall == nil)
        #expect(a.residuals == b.residuals && ua == ub)
    }

    /// After a stall the sequential fallback leaves exactly the serial solution, for
    /// both storages; nothing of it runs without a stall.
    @Test(arguments: [MGRITStorage.allPoints, .cPointsOnly])
    func sequentialFallbackIsTheSerialPass(storage: MGRITStorage) throws {
        let p = Self.diverging()
        let opts = MGRITOptions(maxLevels: 2, cycle: .V, maxIterations: 30, storage: storage, stallIterations: 3,
                                sequentialOnStall: true)
        let s = try MGRITSolver(problem: p, options: opts, comm: SerialCommunicator())
        let stats = try s.solve()
        #expect(stats.stall?.sequentialSteps == 256)
        #expect(stats.stall!.description.contains("solved by the sequential pass"))
        let exact = p.serial()
        for i in 0 ... 256 { if let u = s.state(at: i) { #expect(u.value == exact[i], "point \(i)") } }
        #expect(s.state(at: 256)!.value == exact[256])
    }

    /// `fineSweeps == sweeps` is bitwise `fineSweeps == nil`; more coarse sweeps than
    /// fine ones cost coarse steps only and still converge to the serial solution.
    @Test func fineSweepsActOnTheFineLevelOnly() throws {
        func run(_ o: MGRITOptions) throws -> (MGRITStatistics, [Double], Int) {
            let p = ScalarProblem(steps: 512, lambda: -1, h: 0.05)
            let s = try MGRITSolver(problem: p, options: o, comm: SerialCommunicator())
            let stats = try s.solve()
            return (stats, (0 ... 512).map { s.state(at: $0)!.value }, p.fineSteps)
        }
        let base = MGRITOptions(sweeps: 2, relativeTolerance: 1e-12, maxIterations: 40)
        var same = base
        same.fineSweeps = 2
        let (a, ua, _) = try run(base), (b, ub, _) = try run(same)
        #expect(a.residuals == b.residuals && ua == ub)
        var coarse = base
        coarse.fineSweeps = 1
        let (c, uc, _) = try run(coarse)
        #expect(c.converged)
        let exact = ScalarProblem(steps: 512, lambda: -1, h: 0.05).serial()
        #expect(zip(uc, exact).allSatisfy { abs($0 - $1) <= 1e-10 })   // u₀ = 1 sets the scale
        // One iteration of each: the fine level's steps are those of 1 sweep (FCF: 2N − N/m), the coarse ones of 2.
        let (one, _, fineOne) = try run(MGRITOptions(sweeps: 1, maxIterations: 1))
        let (mixed, _, fineMixed) = try run(MGRITOptions(sweeps: 2, fineSweeps: 1, maxIterations: 1))
        let (two, _, _) = try run(MGRITOptions(sweeps: 2, maxIterations: 1))
        #expect(fineOne == fineMixed)
        #expect(mixed.stepsPerLevel[0] == one.stepsPerLevel[0])
        #expect(Array(mixed.stepsPerLevel.dropFirst()) == Array(two.stepsPerLevel.dropFirst()))
    }

    @Test func invalidStallOptionsAreRejected() {
        for (o, word) in [(MGRITOptions(stallIterations: 0), "stallIterations"), (MGRITOptions(stallRatio: 0), "stallRatio"),
                          (MGRITOptions(fineSweeps: 0), "fineSweeps")] {
            #expect(throws: MGRITError.self) { try o.validate() }
            do { try o.validate() } catch { #expect("\(error)".contains(word)) }
        }
    }
}
