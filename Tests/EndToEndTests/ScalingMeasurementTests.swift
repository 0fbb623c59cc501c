import Comm
import Foundation
import Performance
import Studies
import Testing

/// The scaling measurement reads the solvers' own statistics, and the cost model
/// plans with the solver's own types: in process, on one rank.
@Suite("Scaling measurement and cost model")
struct ScalingMeasurementTests {
    nonisolated(unsafe) static let setups = [ScalingSolverSetup(), ScalingSolverSetup(skipFirstDown: true),
                         ScalingSolverSetup(fixedIterations: 3), ScalingSolverSetup(minCoarse: 8, cycle: .V), Self.oneShot]
    /// train --preset oneshot's solves: 2 forward / 1 adjoint iterations, fine level F-relaxed and coarsened by 16.
    nonisolated(unsafe) static let oneShot = ScalingSolverSetup(fixedIterations: 2, adjointFixedIterations: 1, fineCoarsening: 16,
                                                                fineRelaxation: .F)

    static func measure(depth: Int, setup: ScalingSolverSetup) throws -> ScalingMeasurement {
        try ScalingRun.measure(ScalingCase(depth: depth, width: 8, batch: 8), setup: setup, repeats: 1, minimumSeconds: 0,
                               world: SerialCommunicator())
    }

    @Test("per level, compute + post + poll + wait is the level time; the sweep is reported beside the levels")
    func partsSumToTheLevelTime() throws {
        for setup in Self.setups {
            let m = try Self.measure(depth: 64, setup: setup)
            for l in m.levels {
                let parts = l.computeSeconds + l.postSeconds + (l.testSeconds ?? 0) + l.waitSeconds
                // One rank: means and maxima are the rank's own numbers, and there is no neighbour.
                #expect(abs(parts - l.maxSeconds) <= 1e-12 * max(l.maxSeconds, 1e-9), "level \(l.level): \(parts) vs \(l.maxSeconds)")
                #expect(l.postSeconds == 0 && l.waitSeconds == 0 && l.testSeconds == 0)
            }
            let sweep = try #require(m.sweepSeconds)
            #expect(sweep > 0 && m.sweepCommunicationSeconds == 0)
            #expect(m.levels.reduce(0) { $0 + $1.maxSeconds } + sweep <= m.seconds)
            #expect(m.reduceSeconds == 0 && m.waitFraction == 0 && m.communicationFraction == 0)
        }
    }

    /// A calibration as `scaling model` builds it from a measurement (without timing the serial pass).
    static func model(_ m: ScalingMeasurement, converged: Bool = true) -> MGRITCostModel {
        MGRITCostModel(depth: m.depth, width: m.width, batch: m.batch, cfactor: m.setup.coarsening, setup: m.setup,
                       points: m.levels.map(\.points), levelSeconds: m.levels.map(\.computeSeconds), remainderSeconds: 0,
                       forwardIterations: m.forwardIterations, adjointIterations: m.adjointIterations,
                       forwardConverged: converged ? m.forwardConverged : nil, adjointConverged: converged ? m.adjointConverged : nil,
                       serialSeconds: 1, serialKernelOnlySeconds: 1)
    }

    @Test("the cost model's visits and levels are those the solvers measured in its calibration run")
    func modelVisitsEqualTheMeasuredVisits() throws {
        for setup in Self.setups {
            for depth in [20, 64, 320] {
                let m = try Self.measure(depth: depth, setup: setup)
                let measured = try #require(m.levels.map(\.visits) as? [Int])
                for model in [Self.model(m), Self.model(m, converged: false)] {   // recorded, and inferred for old files
                    #expect(try model.visitsPerLevel() == measured, "depth \(depth), \(setup.summary)")
                    #expect(try model.hierarchy().pointsPerLevel == m.levels.map(\.points))
                }
            }
        }
    }

    @Test("the model's block shares are the solver's: every point of a level owned once, by at most ⌈n/P⌉+1 per rank")
    func sharesFollowTheSolversPartition() throws {
        let m = Self.model(try Self.measure(depth: 320, setup: ScalingSolverSetup()))
        let h = try m.hierarchy()
        // 321 fine points on 3 ranks: 107 each, [0,107) [107,214) [214,321); level 1 (stride 4): 27, 27, 27 of 81.
        #expect(try m.largestShare(of: h, level: 0, ranks: 3) == (107, 3))
        #expect(try m.largestShare(of: h, level: 1, ranks: 3) == (27, 3))
        #expect(try m.largestShare(of: h, level: h.levelCount - 1, ranks: 2048).owners == h.pointsPerLevel.last!)
        // One rank owns everything: the model is the calibration.
        let one = try m.predict(ranks: 1, on: ModelMachine(name: "x", latencySeconds: 1, bandwidthBytesPerSecond: 1, timeScale: 1, source: ""))
        #expect(abs(one - m.oneRankSeconds) <= 1e-12 * m.oneRankSeconds)
    }

    @Test("the one-shot set-up runs 2 forward and 1 adjoint iteration on a fine level coarsened by 16, and survives its JSON")
    func oneShotSetup() throws {
        let m = try Self.measure(depth: 64, setup: Self.oneShot)
        #expect(m.forwardIterations == 2 && m.adjointIterations == 1)
        #expect(m.levels.map(\.points).prefix(2) == [65, 5])   // 64/16 + 1 C-points on level 1
        let back = try JSONDecoder().decode(ScalingSolverSetup.self, from: JSONEncoder().encode(Self.oneShot))
        #expect(back == Self.oneShot && back.adjointMGRITOptions().maxIterations == 1)
        #expect(Self.oneShot.arguments.suffix(6) == ["--adjoint-iterations", "1", "--fine-coarsening", "16", "--fine-relax", "F"])
    }

    @Test("result files written before the solver statistics still decode")
    func oldMeasurementsDecode() throws {
        var m = try Self.measure(depth: 16, setup: ScalingSolverSetup())
        var json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(m)) as! [String: Any]
        for key in ["forwardConverged", "adjointConverged", "sweepSeconds", "sweepCommunicationSeconds"] { json[key] = nil }
        json["levels"] = (json["levels"] as! [[String: Any]]).map { var l = $0; l["visits"] = nil; return l }
        m = try JSONDecoder().decode(ScalingMeasurement.self, from: JSONSerialization.data(withJSONObject: json))
        #expect(m.sweepSeconds == nil && m.forwardConverged == nil && m.levels.allSatisfy { $0.visits == nil })
    }
}

/// The data-parallel model's contended serial passes: copies really run (their
/// gradients are checked against each other inside), and bad counts are errors.
@Suite("Concurrent layer-serial passes")
struct ConcurrentLayerSerialTests {
    @Test("1 and 3 synchronised copies time a step; 0 copies is an error naming the count")
    func copies() throws {
        let c = ScalingCase(depth: 6, width: 8, batch: 8)
        for k in [1, 3] {
            let t = try timeLayerSerialConcurrently(c, copies: k, repeats: 3, minimumSeconds: 0)
            #expect(t > 0 && t.isFinite, "\(k) copies: \(t) s")
        }
        #expect(throws: StudyError.self) { try timeLayerSerialConcurrently(c, copies: 0, repeats: 3) }
    }
}
