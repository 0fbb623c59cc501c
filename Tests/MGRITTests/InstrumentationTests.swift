import Comm
import _TestSupport
import MGRIT
import Testing

/// The solver's own instrumentation (visits and the compute/post/poll/wait split
/// per level) and the visit planning a cost model reads instead of re-deriving it.
@Suite("MGRIT statistics and planning")
struct InstrumentationTests {
    static func solveAll(steps: Int, ranks: Int, options: MGRITOptions) throws -> [MGRITStatistics] {
        try LocalGroup.run(size: ranks) { comm -> MGRITStatistics in
            let p = ScalarProblem(steps: steps, lambda: -1, h: 0.05)
            p.guess = { Double($0 % 7) * 0.1 }
            return try MGRITSolver(problem: p, options: options, comm: comm).solve()
        }
    }

    @Test func plannedVisitsPerIterationByHand() {
        // F(1) = down 1, F(2), V(2), up 1 with F(2) = down 2, F(3) = solve, up 2 (V(3) left
        // out: 3 is the coarsest) and V(2) = down 2, solve, up 2.
        #expect(MGRITCycle.F.visitsPerIteration(levelCount: 4) == [1, 1, 2, 2])
        #expect(MGRITCycle.F.visitsPerIteration(levelCount: 5) == [1, 1, 2, 3, 3])
        #expect(MGRITCycle.V.visitsPerIteration(levelCount: 5) == [1, 1, 1, 1, 1])
        #expect(MGRITCycle.F.visitsPerIteration(levelCount: 2) == [1, 1])
        #expect(MGRITCycle.F.visitsPerIteration(levelCount: 1) == [1])
        #expect(MGRITCycle.F.visits(levelCount: 4, iterations: 3, first: .skipDown, converged: true) == [3, 2, 3, 3])
        // Nested iteration: inject (every level once), then a V-cycle from each of levels
        // levelCount − 2 … 1 (V from l visits l … coarsest once).
        #expect(MGRITCycle.V.visits(levelCount: 5, iterations: 1, first: .nested) == [1, 2, 3, 4, 4])
        #expect(MGRITCycle.F.visits(levelCount: 4, iterations: 3, first: .nested, converged: true) == [3, 3, 5, 5])
        #expect(MGRITCycle.F.visits(levelCount: 2, iterations: 2, first: .nested) == [2, 2])
        #expect(MGRITOptions(fmg: true).plannedVisits(levelCount: 4, iterations: 1, warmStart: true) == [1, 1, 2, 2])
        #expect(MGRITCycle.V.visits(levelCount: 1, iterations: 1) == [1])
    }

    @Test(arguments: [MGRITCycle.V, .F], MGRITFirstIteration.allCases)
    func measuredVisitsEqualThePlan(cycle: MGRITCycle, first: MGRITFirstIteration) throws {
        // Converged solves (the last iteration stops at its residual check) and
        // fixed iteration counts; 2 to 6 levels; ranks that own no point of a coarse level.
        for (steps, m) in [(200, 4), (200, 2), (39, 3), (5, 2), (1, 2)] {
            let converging = MGRITOptions(coarsening: m, cycle: cycle, skipFirstDown: first == .skipDown, fmg: first == .nested,
                                          absoluteTolerance: 1e-12, maxIterations: 40)
            for options in [converging, converging.fixedIterations(3)] {
                for ranks in [1, 3, 7] {
                    let all = try Self.solveAll(steps: steps, ranks: ranks, options: options)
                    for (rank, s) in all.enumerated() {
                        let plan = options.plannedVisits(levelCount: s.levels, iterations: s.iterations, converged: s.converged)
                        #expect(s.visitsPerLevel == plan, "N=\(steps) m=\(m) P=\(ranks) rank \(rank) \(s.iterations) it. converged=\(s.converged)")
                        #expect(s.visitsPerLevel == all[0].visitsPerLevel, "visits differ between ranks")
                    }
                }
            }
        }
    }

    /// The residual checks a cost model prices (one allreduce each) are the reductions the solver makes.
    @Test(arguments: MGRITFirstIteration.allCases)
    func measuredReductionsEqualThePlannedResidualChecks(first: MGRITFirstIteration) throws {
        let converging = MGRITOptions(coarsening: 4, skipFirstDown: first == .skipDown, fmg: first == .nested,
                                      absoluteTolerance: 1e-10, maxIterations: 30)
        for options in [converging, converging.fixedIterations(3), converging.fixedIterations(3, measureLast: true),
                        MGRITOptions(coarsening: 4, maxLevels: 1)] {
            let outs = try LocalGroup.run(size: 3) { base -> (MGRITStatistics, Int) in
                let comm = InstrumentedCommunicator(base)
                let p = ScalarProblem(steps: 200, lambda: -1, h: 0.05)
                p.guess = { Double($0 % 7) * 0.1 }
                let stats = try MGRITSolver(problem: p, options: options, comm: comm).solve()
                return (stats, comm.total.reduceCalls)
            }
            for (s, reductions) in outs {
                #expect(reductions == options.plannedResidualChecks(levelCount: s.levels, iterations: s.iterations),
                        "\(s.levels) levels, \(s.iterations) it., check \(options.residualCheck), first iteration \(first)")
            }
        }
    }

    @Test(arguments: [1, 2, 4])
    func timeSplitIsNonNegativeAndWithinTheLevelTime(ranks: Int) throws {
        for options in [MGRITOptions(coarsening: 4, maxIterations: 4),
                        MGRITOptions(coarsening: 2, cycle: .V, maxIterations: 4, storage: .cPointsOnly)] {
            let all = try Self.solveAll(steps: 300, ranks: ranks, options: options)
            for s in all {
                let parts = [s.computeSecondsPerLevel, s.postSecondsPerLevel, s.pollSecondsPerLevel, s.waitSecondsPerLevel]
                for part in parts { #expect(part.count == s.levels) }
                for l in 0 ..< s.levels {
                    let p = parts.map { $0[l] }
                    #expect(p.allSatisfy { $0 >= 0 }, "level \(l): \(p)")
                    // The parts are the level's time cut at clock reads: their sum can exceed it only by rounding.
                    #expect(p.reduce(0, +) <= s.secondsPerLevel[l] * (1 + 1e-12), "level \(l): \(p) vs \(s.secondsPerLevel[l])")
                }
                #expect(s.secondsPerLevel.reduce(0, +) <= s.seconds * (1 + 1e-12))   // disjoint regions of the solve
                #expect(s.reduceSeconds >= 0 && s.reduceSeconds <= s.seconds)
                if ranks == 1 {   // no neighbour, no reduction: nothing but compute
                    #expect(s.postSecondsPerLevel.allSatisfy { $0 == 0 } && s.waitSecondsPerLevel.allSatisfy { $0 == 0 })
                    #expect(s.pollSecondsPerLevel.allSatisfy { $0 == 0 } && s.reduceSeconds == 0)
                } else {
                    #expect(s.postSecondsPerLevel[0] > 0, "a rank with a neighbour posts on the fine level")
                }
            }
        }
    }

    /// The solver's split against the one `layerpar scaling` used to take from a
    /// communicator decoding the message tags (`level = tag / 4`, now only here:
    /// ``TagLevelCommunicator``): the solver times each call from outside the wrapper,
    /// so per level it measures at least what the wrapper measured inside, and
    /// nothing lands on another level.
    @Test func splitCoversWhatTheTagDecodingCommunicatorMeasured() throws {
        let outs = try LocalGroup.run(size: 3) { base -> (MGRITStatistics, [String: CommStatistics]) in
            let comm = TagLevelCommunicator(base)
            let p = ScalarProblem(steps: 400, lambda: -1, h: 0.05)
            let stats = try MGRITSolver(problem: p, options: MGRITOptions(coarsening: 4, maxIterations: 3), comm: comm).solve()
            return (stats, comm.byPhase)
        }
        let slack = 1e-6   // two clocks' roundings over a few hundred calls
        for (s, byPhase) in outs {
            for l in 0 ..< s.levels {
                let c = byPhase["level \(l)"] ?? CommStatistics()
                #expect(s.postSecondsPerLevel[l] + slack >= c.postSeconds, "level \(l) post")
                #expect(s.pollSecondsPerLevel[l] + slack >= c.testSeconds, "level \(l) poll")
                #expect(s.waitSecondsPerLevel[l] + slack >= c.waitSeconds, "level \(l) wait")
                #expect((s.postSecondsPerLevel[l] > 0) == (c.sends + c.receives > 0), "level \(l): posts on exactly the levels that exchange")
            }
            #expect(byPhase.keys.allSatisfy { $0 == "norm" || Int($0.dropFirst(6)).map { $0 < s.levels } == true })
            #expect(s.reduceSeconds + slack >= (byPhase["norm"] ?? CommStatistics()).reduceSeconds)
        }
    }
}

/// A communicator that records every call as ``InstrumentedCommunicator`` does, under
/// `"level \(tag / 4)"` for point-to-point calls (MGRITSolver's private tag scheme
/// `level·4 + kind`; a `waitAll`/`testAll` under the level of its first request)
/// and under `"norm"` for reductions: an outside observer of the solver's split.
final class TagLevelCommunicator: Communicator {
    let base: any Communicator
    private(set) var byPhase: [String: CommStatistics] = [:]
    private var requestPhase: [Int: String] = [:]

    init(_ base: any Communicator) { self.base = base }
    var rank: Int { base.rank }
    var size: Int { base.size }

    private func timed<T>(_ phase: String, _ record: (inout CommStatistics, Double) -> Void, _ body: () throws -> T) rethrows -> T {
        let t0 = monotonicSeconds()
        defer { record(&byPhase[phase, default: CommStatistics()], monotonicSeconds() - t0) }
        return try body()
    }
    private func phase(of requests: [CommRequest]) -> String { requests.first.flatMap { requestPhase[$0.handle] } ?? "norm" }

    func isend(_ buffer: UnsafePointer<Double>, count: Int, to: Int, tag: Int) throws -> CommRequest {
        let r = try timed("level \(tag / 4)", { $0.postSeconds += $1; $0.sends += 1 }) { try base.isend(buffer, count: count, to: to, tag: tag) }
        requestPhase[r.handle] = "level \(tag / 4)"
        return r
    }
    func irecv(_ buffer: UnsafeMutablePointer<Double>, count: Int, from: Int, tag: Int) throws -> CommRequest {
        let r = try timed("level \(tag / 4)", { $0.postSeconds += $1; $0.receives += 1 }) { try base.irecv(buffer, count: count, from: from, tag: tag) }
        requestPhase[r.handle] = "level \(tag / 4)"
        return r
    }
    func waitAll(_ requests: inout [CommRequest]) throws {
        let p = phase(of: requests)
        try timed(p, { $0.waitSeconds += $1; $0.waitCalls += 1 }) { try base.waitAll(&requests) }
    }
    func testAll(_ requests: inout [CommRequest]) throws -> Bool {
        let p = phase(of: requests)
        return try timed(p, { $0.testSeconds += $1; $0.testCalls += 1 }) { try base.testAll(&requests) }
    }
    func allreduceSum(_ values: [Double]) throws -> [Double] {
        try timed("norm", { $0.reduceSeconds += $1; $0.reduceCalls += 1 }) { try base.allreduceSum(values) }
    }
    func allreduceMax(_ values: [Double]) throws -> [Double] {
        try timed("norm", { $0.reduceSeconds += $1; $0.reduceCalls += 1 }) { try base.allreduceMax(values) }
    }
    func barrier() throws { try base.barrier() }
}
