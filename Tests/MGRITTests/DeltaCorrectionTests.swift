import Comm
import _TestSupport
import MGRIT
import Testing

/// Delta correction (``MGRITOptions/deltaCorrection``) on the scalar test problem.
@Suite("MGRIT Delta correction")
struct DeltaCorrectionTests {
    /// States and residual history of a solve on `ranks` in-process ranks.
    static func solve(_ p: @escaping () -> ScalarProblem, ranks: Int, options: MGRITOptions) throws -> (states: [Double], stats: MGRITStatistics) {
        let outs = try LocalGroup.run(size: ranks) { comm -> ([Int: Double], MGRITStatistics) in
            let problem = p()
            let s = try MGRITSolver(problem: problem, options: options, comm: comm)
            let stats = try s.solve()
            var states: [Int: Double] = [:]
            for i in s.ownedRange { states[i] = s.state(at: i)!.value }
            return (states, stats)
        }
        var all: [Int: Double] = [:]
        for o in outs {
            #expect(o.1.residuals == outs[0].1.residuals, "ranks disagree on the residual history")
            all.merge(o.0) { a, _ in a }
        }
        return (all.keys.sorted().map { all[$0]! }, outs[0].1)
    }

    static func linear() -> ScalarProblem {
        let p = ScalarProblem(steps: 200, lambda: -1, h: 0.05)
        p.guess = { Double($0 % 7) * 0.1 }
        return p
    }

    /// On a linear problem the corrected coarse step is the fine propagator over the interval
    /// (`Φ_c + Φ^m − Φ_c`), so one iteration of two-level MGRIT — and of an F-cycle on all
    /// levels, each coarse level exact for the one above — solves the problem: the second
    /// residual is rounding. Without the correction it is not (the test could fail).
    @Test(arguments: [(2, MGRITCycle.V, MGRITRelaxation.F), (2, .F, .FCF), (30, .F, .FCF), (30, .V, .F)])
    func linearProblemIsExactAfterOneIteration(maxLevels: Int, cycle: MGRITCycle, relaxation: MGRITRelaxation) throws {
        let serial = Self.linear().serial()
        var o = MGRITOptions(coarsening: 4, maxLevels: maxLevels, cycle: cycle, relaxation: relaxation, maxIterations: 2)
        o.deltaCorrection = true
        let (states, stats) = try Self.solve(Self.linear, ranks: 1, options: o)
        #expect(stats.residuals.count == 2)
        #expect(stats.residuals[1] <= 1e-14 * stats.residuals[0], "residuals \(stats.residuals)")
        let err = zip(states, serial).map { abs($0 - $1) }.max()!
        #expect(err <= 1e-14, "max error vs serial \(err)")
        o.deltaCorrection = false
        let plain = try Self.solve(Self.linear, ranks: 1, options: o)
        #expect(plain.stats.residuals[1] > 1e-6 * plain.stats.residuals[0], "uncorrected: \(plain.stats.residuals)")
    }

    /// The counters: one linearised step per fine step of the final F-relaxation and the
    /// restriction (N per iteration on the fine level), the Δ store one tangent per coarse point.
    @Test func countsLinearisedStepsAndStore() throws {
        var o = MGRITOptions(coarsening: 4, maxLevels: 2, relaxation: .F, maxIterations: 1)
        o.deltaCorrection = true
        let (_, stats) = try Self.solve(Self.linear, ranks: 1, options: o)
        #expect(stats.tangentStepsPerLevel[0] == 200)   // every fine step of iteration 1's F-relaxation and restriction
        #expect(stats.tangentStepsPerLevel[1] == 50)    // the coarse linearisations
        #expect(stats.deltaDoubles > 51)
    }

    /// A nonlinear problem on 1 … 7 ranks (intervals split across ranks: their tangents travel
    /// with the last point) gives bitwise the one-rank states and residuals; Delta correction
    /// converges it in fewer iterations than without.
    @Test func nonlinearRankInvarianceAndFewerIterations() throws {
        let make = { () -> ScalarProblem in
            let p = ScalarProblem(steps: 203, lambda: -1, h: 0.05)
            p.nonlinearity = 2
            p.guess = { Double($0 % 7) * 0.1 }
            return p
        }
        var o = MGRITOptions(coarsening: 4, relativeTolerance: 1e-12, maxIterations: 30)
        o.deltaCorrection = true
        let one = try Self.solve(make, ranks: 1, options: o)
        let serial = make().serial()
        #expect(zip(one.states, serial).map { abs($0 - $1) }.max()! <= 1e-12)
        for p in [2, 3, 7] {
            let many = try Self.solve(make, ranks: p, options: o)
            #expect(many.states == one.states, "\(p) ranks: states differ")
            #expect(many.stats.residuals == one.stats.residuals, "\(p) ranks: residuals differ")
        }
        o.deltaCorrection = false
        let plain = try Self.solve(make, ranks: 1, options: o)
        #expect(one.stats.iterations < plain.stats.iterations, "with Δ \(one.stats.iterations), without \(plain.stats.iterations)")
    }

    /// A problem without tangent operations is refused with an error naming the option.
    @Test func problemWithoutTangentsIsRefused() throws {
        final class Plain: MGRITProblem {
            final class S { var v = 0.0 }
            var stepCount: Int { 8 }
            func makeState() -> S { S() }
            func initialGuess(at index: Int, into u: S) throws { u.v = 1 }
            func step(from u: S, into v: S, start: Int, stop: Int, level: Int) throws { v.v = u.v }
            func sum(_ a: Double, _ x: S, _ b: Double, _ y: S) { y.v = b == 0 ? a * x.v : a * x.v + b * y.v }
            func norm(_ u: S) -> Double { abs(u.v) }
            var bufferCount: Int { 1 }
            func pack(_ u: S, into buffer: UnsafeMutableBufferPointer<Double>) { buffer[0] = u.v }
            func unpack(from buffer: UnsafeBufferPointer<Double>, into u: S) { u.v = buffer[0] }
        }
        var o = MGRITOptions()
        o.deltaCorrection = true
        #expect(throws: MGRITError.self) { _ = try MGRITSolver(problem: Plain(), options: o, comm: SerialCommunicator()) }
        do { _ = try MGRITSolver(problem: Plain(), options: o, comm: SerialCommunicator()) } catch {
            #expect("\(error)".contains("Delta correction"))
        }
    }
}
