import Comm
import _TestSupport
import MGRIT
import Testing

/// A cold solve resets only point 0 and the C-points (``MGRITSolver/resetToInitialGuess(cPointsOnly:)``):
/// the F-points' initial values must never be read.
@Suite("MGRIT initial guess at the C-points")
struct InitialGuessTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var options: MGRITOptions
        var testDescription: String { name }
    }

    static let cases: [Case] = {
        let base = MGRITOptions(coarsening: 4, maxIterations: 3)
        var list: [Case] = []
        for relax in [MGRITRelaxation.F, .FCF] {
            for cycle in [MGRITCycle.F, .V] {
                var o = base
                o.relaxation = relax
                o.cycle = cycle
                list.append(Case(name: "\(cycle)-cycle \(relax)", options: o))
            }
        }
        var skip = base; skip.skipFirstDown = true
        var fmg = base; fmg.fmg = true
        var weighted = base; weighted.cRelaxationWeight = 1.5
        var fineFactor = base; fineFactor.fineCoarsening = 8; fineFactor.fineRelaxation = .F
        var delta = base; delta.deltaCorrection = true
        var twoLevels = base; twoLevels.maxLevels = 2
        var oneLevel = base; oneLevel.maxLevels = 1
        var cOnly = base; cOnly.storage = .cPointsOnly
        return list + [Case(name: "skip first down", options: skip), Case(name: "nested iteration", options: fmg),
                       Case(name: "C-relaxation weight 1.5", options: weighted),
                       Case(name: "fine coarsening 8, fine F", options: fineFactor),
                       Case(name: "delta correction", options: delta), Case(name: "two levels", options: twoLevels),
                       Case(name: "one level", options: oneLevel), Case(name: "C-points stored only", options: cOnly)]
    }()

    /// The fine states and residuals of a cold solve on `ranks` ranks (then a second cold
    /// solve on the same solver, which starts from the first one's F-points) of a problem whose
    /// guess is `cGuess(j)` at the fine C-points and `fValue` at the F-points.
    static func solve(_ options: MGRITOptions, ranks: Int, fValue: Double,
                      cGuess: @escaping @Sendable (Int) -> Double = { Double($0 % 7) * 0.1 }) throws -> [([Int: Double], [Double], [Double])] {
        let m = options.coarsening(onLevel: 0)
        return try LocalGroup.run(size: ranks) { comm -> ([Int: Double], [Double], [Double]) in
            let p = ScalarProblem(steps: 96, lambda: -1, h: 0.05)
            p.guess = { j in j % m == 0 ? cGuess(j) : fValue }
            let s = try MGRITSolver(problem: p, options: options, comm: comm)
            let first = try s.solve()
            let second = try s.solve()
            var states: [Int: Double] = [:]
            for i in s.ownedRange { if let u = s.state(at: i) { states[i] = u.value } }
            return (states, first.residuals, second.residuals)
        }
    }

    /// NaN at every F-point (the solver's states start there from its full reset at
    /// construction) changes nothing, bitwise, against a finite F-point guess: on one rank and
    /// on three, in every cycle, relaxation and first-iteration variant.
    @Test(arguments: cases, [1, 3])
    func fPointValuesAreNeverRead(_ c: Case, ranks: Int) throws {
        let finite = try Self.solve(c.options, ranks: ranks, fValue: 0.37)
        let poisoned = try Self.solve(c.options, ranks: ranks, fValue: .nan)
        for (a, b) in zip(finite, poisoned) {
            #expect(!a.0.isEmpty && a.0.values.allSatisfy(\.isFinite))
            #expect(a.0 == b.0, "fine states differ with NaN F-point guesses")
            #expect(a.1 == b.1 && a.2 == b.2, "residual histories differ: \(a.1) \(a.2) against \(b.1) \(b.2)")
        }
        // Not vacuous: the guess at the C-points does change the iterate after one iteration
        // (not with one level, solved exactly, nor after a skipped first down-cycle, whose
        // coarse solve starts from injected C-points with g = 0: the coarse problem's own solution).
        if c.options.maxLevels > 1 && !c.options.skipFirstDown {
            var o = c.options
            o.maxIterations = 1
            let other = try Self.solve(o, ranks: ranks, fValue: 0.37, cGuess: { _ in 5 })
            let same = try Self.solve(o, ranks: ranks, fValue: 0.37)
            #expect(other[0].0 != same[0].0, "the C-point guess should matter after one iteration")
        }
    }
}
