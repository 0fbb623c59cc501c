import Comm
import _TestSupport
import MGRIT
import Testing

/// The distributed cycle on in-process ranks: every rank count must give
/// bitwise the same states and residual history as one rank.
@Suite("MGRIT on several in-process ranks")
struct DistributedMGRITTests {
    struct Outcome: Equatable {
        var residuals: [Double]
        var states: [Int: Double]
    }

    static func solve(steps: Int, ranks: Int, options: MGRITOptions, partition: ((Int) throws -> TimePartition)? = nil) throws -> Outcome {
        let outs = try LocalGroup.run(size: ranks) { comm -> Outcome in
            let p = ScalarProblem(steps: steps, lambda: -1, h: 0.05)
            p.guess = { Double($0 % 7) * 0.1 }   // an initial guess that differs per point
            let s = try MGRITSolver(problem: p, options: options, comm: comm, partition: try partition?(ranks))
            let stats = try s.solve()
            var states: [Int: Double] = [:]
            for i in s.ownedRange { states[i] = s.state(at: i)!.value }
            return Outcome(residuals: stats.residuals, states: states)
        }
        var merged = Outcome(residuals: outs[0].residuals, states: [:])
        for o in outs {
            #expect(o.residuals == merged.residuals, "ranks disagree on the residual history")
            merged.states.merge(o.states) { a, _ in a }
        }
        #expect(merged.states.count == steps + 1)
        return merged
    }

    @Test(arguments: [(MGRITCycle.F, MGRITRelaxation.FCF, 4), (.V, .FCF, 2), (.V, .F, 3), (.F, .F, 8)])
    func rankCountDoesNotChangeTheResult(cycle: MGRITCycle, relaxation: MGRITRelaxation, m: Int) throws {
        // 7 ranks on 40 points: ranks own 5–6 points, coarse levels leave some ranks without points.
        for steps in [39, 200] {
            let opts = MGRITOptions(coarsening: m, cycle: cycle, relaxation: relaxation, maxIterations: 5)
            let one = try Self.solve(steps: steps, ranks: 1, options: opts)
            for p in [2, 3, 4, 7] {
                let many = try Self.solve(steps: steps, ranks: p, options: opts)
                #expect(many == one, "\(p) ranks, N = \(steps), \(cycle) \(relaxation) m=\(m)")
            }
        }
    }

    @Test func ranksWithoutPointsAndReversedOrder() throws {
        let opts = MGRITOptions(coarsening: 3, relaxation: .FCF, maxIterations: 6)
        let one = try Self.solve(steps: 50, ranks: 1, options: opts)
        // Uneven ranges, one rank owning nothing, ranks in reversed time order.
        let many = try Self.solve(steps: 50, ranks: 4, options: opts) { _ in
            try TimePartition(ranks: [3, 1, 0, 2], ranges: [0 ..< 2, 2 ..< 2, 2 ..< 30, 30 ..< 51], pointCount: 51)
        }
        #expect(many == one)
    }

    @Test func nanOnOneRankStopsAllRanks() throws {
        #expect(throws: MGRITError.self) {
            _ = try LocalGroup.run(size: 3) { comm in
                let p = ScalarProblem(steps: 60)
                p.guess = { $0 == 44 ? .nan : 0 }
                let s = try MGRITSolver(problem: p, options: MGRITOptions(absoluteTolerance: 1e-10), comm: comm)
                return try s.solve().iterations
            }
        }
    }
}

@Suite("MGRIT storing only fine C-points")
struct CPointStorageTests {
    static func run(_ storage: MGRITStorage, steps: Int, ranks: Int, options: MGRITOptions, sweep: Bool = false) throws -> ([Double], [Int: Double], Int) {
        var o = options
        o.storage = storage
        let outs = try LocalGroup.run(size: ranks) { comm -> ([Double], [Int: Double], Int) in
            let p = ScalarProblem(steps: steps, lambda: -1, h: 0.05)
            p.guess = { Double($0 % 5) * 0.2 }
            let s = try MGRITSolver(problem: p, options: o, comm: comm)
            let stats = try s.solve()
            if sweep { try s.sweep() }
            var states: [Int: Double] = [:]
            for i in s.ownedRange { if let u = s.state(at: i) { states[i] = u.value } }
            return (stats.residuals, states, s.stateCount)
        }
        var states: [Int: Double] = [:]
        for o in outs { states.merge(o.1) { a, _ in a } }
        return (outs[0].0, states, outs.map(\.2).reduce(0, +))
    }

    @Test(arguments: [(MGRITCycle.F, MGRITRelaxation.FCF, 1), (.V, .F, 1), (.V, .FCF, 2), (.F, .FCF, 3)])
    func sameResidualsAndCPointsAsFullStorage(cycle: MGRITCycle, relaxation: MGRITRelaxation, sweeps: Int) throws {
        for (steps, m, ranks) in [(61, 4, 1), (61, 4, 3), (100, 3, 4), (33, 2, 2)] {
            let opts = MGRITOptions(coarsening: m, cycle: cycle, relaxation: relaxation, sweeps: sweeps, maxIterations: 4)
            let all = try Self.run(.allPoints, steps: steps, ranks: ranks, options: opts, sweep: true)
            let c = try Self.run(.cPointsOnly, steps: steps, ranks: ranks, options: opts, sweep: true)
            #expect(c.0 == all.0, "residual histories differ (N=\(steps), m=\(m), \(ranks) ranks)")
            #expect(c.1.keys.sorted() == Array(stride(from: 0, through: steps, by: m)) + (steps % m == 0 ? [] : [steps]))
            for (i, v) in c.1 { #expect(v == all.1[i]!, "point \(i)") }
            #expect(c.2 < all.2)
        }
    }
}

@Suite("MGRIT with a fixed iteration count")
struct FixedIterationTests {
    /// States, residuals and the number of global reductions of each rank.
    static func run(ranks: Int, options: MGRITOptions) throws -> (states: [Int: Double], residuals: [Double], reductions: [Int]) {
        let outs = try LocalGroup.run(size: ranks) { base -> ([Int: Double], [Double], Int) in
            let comm = InstrumentedCommunicator(base)
            let p = ScalarProblem(steps: 120, lambda: -1, h: 0.05)
            p.guess = { Double($0 % 7) * 0.1 }
            let s = try MGRITSolver(problem: p, options: options, comm: comm)
            let stats = try s.solve()
            var states: [Int: Double] = [:]
            for i in s.ownedRange { states[i] = s.state(at: i)!.value }
            return (states, stats.residuals, comm.total.reduceCalls)
        }
        var states: [Int: Double] = [:]
        for o in outs { states.merge(o.0) { a, _ in a } }
        #expect(states.count == 121)
        return (states, outs[0].1, outs.map(\.2))
    }

    @Test(arguments: [1, 3])
    func skippingTheNormChangesNothingButTheReductions(ranks: Int) throws {
        let base = MGRITOptions(coarsening: 4, maxIterations: 4)
        let checked = try Self.run(ranks: ranks, options: base)
        #expect(checked.residuals.count == 4)
        // One rank reduces nothing (no communicator call is needed); several reduce once per iteration.
        #expect(checked.reductions == Array(repeating: ranks > 1 ? 4 : 0, count: ranks))

        let never = try Self.run(ranks: ranks, options: base.fixedIterations(4))
        #expect(never.states == checked.states, "the norm must not influence the iterate")
        #expect(never.residuals.isEmpty)
        #expect(never.reductions == Array(repeating: 0, count: ranks))

        let last = try Self.run(ranks: ranks, options: base.fixedIterations(4, measureLast: true))
        #expect(last.states == checked.states)
        #expect(last.residuals == [checked.residuals[3]])
        #expect(last.reductions == Array(repeating: ranks > 1 ? 1 : 0, count: ranks))
    }

    @Test func aToleranceNeedsEveryResidual() {
        var o = MGRITOptions(absoluteTolerance: 1e-8)
        o.residualCheck = .never
        #expect(throws: MGRITError.self) { try o.validate() }
        o.residualCheck = .lastIteration
        #expect(throws: MGRITError.self) { try o.validate() }
        #expect(throws: Never.self) { try MGRITOptions(absoluteTolerance: 1e-8).fixedIterations(3).validate() }
    }

    @Test func aNaNIsStillCaughtWhenTheLastIterationIsMeasured() throws {
        #expect(throws: MGRITError.self) {
            _ = try LocalGroup.run(size: 3) { comm in
                let p = ScalarProblem(steps: 60)
                p.guess = { $0 == 44 ? .nan : 0 }
                let s = try MGRITSolver(problem: p, options: MGRITOptions().fixedIterations(2, measureLast: true), comm: comm)
                return try s.solve().iterations
            }
        }
    }
}
