import Comm
import _TestSupport
import MGRIT
import Testing

/// Pins the solver's arithmetic: a fingerprint of the bit patterns of every
/// fine state, the residual history and the steps per level, recorded from the
/// solver before it was split into files (issue 11, step 6). A restructuring
/// that reorders any operation changes a fingerprint.
@Suite("MGRIT results bitwise as recorded")
struct BitwiseHistoryTests {
    struct Case: CustomStringConvertible, Sendable {
        var steps: Int
        var ranks: Int
        var options: MGRITOptions
        var sweep = false
        var description: String {
            "N=\(steps) P=\(ranks) m=\(options.coarsening) \(options.cycle) \(options.relaxation)×\(options.sweeps) skip=\(options.skipFirstDown) \(options.storage) \(options.residualCheck)"
        }
    }

    /// Configurations and their recorded fingerprints.
    static let cases: [(Case, UInt64)] = [
        (Case(steps: 200, ranks: 1, options: MGRITOptions(coarsening: 4, maxIterations: 5)), 0xa9718b7ca46),
        (Case(steps: 200, ranks: 3, options: MGRITOptions(coarsening: 4, maxIterations: 5)), 0x8758a068713270ef),
        (Case(steps: 200, ranks: 4, options: MGRITOptions(coarsening: 3, cycle: .V, relaxation: .F, maxIterations: 6)), 0x6bd350c194e969bb),
        (Case(steps: 200, ranks: 3, options: MGRITOptions(skipFirstDown: true, absoluteTolerance: 1e-12, maxIterations: 30)), 0xc7cf3e332429e562),
        (Case(steps: 61, ranks: 3, options: MGRITOptions(coarsening: 4, maxIterations: 4, storage: .cPointsOnly), sweep: true), 0xa3e15b86399c6ff0),
        (Case(steps: 100, ranks: 2, options: MGRITOptions(coarsening: 2, cycle: .V, sweeps: 2, maxIterations: 4,
                                                         residualCheck: .lastIteration)), 0xa65c92bdfd5ac585),
    ]

    /// FNV-1a over 64-bit words.
    static func fingerprint(_ words: [UInt64]) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for w in words {
            for b in 0 ..< 8 {
                h ^= (w >> (8 * UInt64(b))) & 0xff
                h = h &* 0x0000_0100_0000_01b3
            }
        }
        return h
    }

    static func run(_ c: Case) throws -> UInt64 {
        let outs = try LocalGroup.run(size: c.ranks) { comm -> ([Int: Double], [Double], [Int]) in
            let p = ScalarProblem(steps: c.steps, lambda: -1, h: 0.05)
            p.guess = { Double($0 % 7) * 0.1 }
            let s = try MGRITSolver(problem: p, options: c.options, comm: comm)
            let stats = try s.solve()
            if c.sweep { try s.sweep() }
            var states: [Int: Double] = [:]
            for i in s.ownedRange { if let u = s.state(at: i) { states[i] = u.value } }
            return (states, stats.residuals, stats.stepsPerLevel)
        }
        var states: [Int: Double] = [:]
        for o in outs { states.merge(o.0) { a, _ in a } }
        var words = states.keys.sorted().flatMap { [UInt64($0), states[$0]!.bitPattern] }
        words += outs[0].1.map(\.bitPattern)
        for o in outs { words += o.2.map { UInt64($0) } }
        return fingerprint(words)
    }

    @Test(arguments: cases.indices)
    func resultsAreBitwiseAsRecorded(index: Int) throws {
        let (c, recorded) = Self.cases[index]
        let f = try Self.run(c)
        #expect(f == recorded, "\(c): fingerprint 0x\(String(f, radix: 16))")
    }
}
