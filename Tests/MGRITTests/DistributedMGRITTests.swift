import Comm
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
