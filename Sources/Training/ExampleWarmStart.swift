import Kernels
import MGRIT

/// Where a one-shot solve starts from.
public enum WarmStartPolicy: String, Sendable, Codable, CaseIterable {
    /// Every solve starts from the problem's initial guess.
    case none
    /// From the previous step's states — which belong to another mini-batch
    /// (the behaviour before per-example warm starts).
    case previous
    /// Each example from its own C-point states at its last visit
    /// (``ExampleWarmStart``); an example seen for the first time from the initial guess.
    case example
}

/// Per-example warm starts of one MGRIT solve (forward or adjoint) over a
/// training set of `examples` examples.
///
/// MGRIT's relaxation recomputes every F-point from its C-point before using
/// it, so an iteration starts from the C-points alone: the store keeps, for
/// every example, the `width` values of each fine C-point `i ≥ 1` this rank
/// owns (point 0 is the problem's initial condition, never a guess). Before a
/// solve ``gather(into:batch:)`` resets the owned points to the initial guess
/// and overwrites, column by column, the C-points of examples seen before;
/// after it ``scatter(from:batch:)`` records the batch's C-points.
///
/// Memory: `examples × points × width × 8` bytes on this rank (``bytes``).
final class ExampleWarmStart {
    /// The fine C-points of the solver this rank owns (index ≥ 1), in order.
    let points: [Int]
    let width: Int
    let examples: Int
    /// The fine level's coarsening factor and the problem's step count (the global C-point layout).
    let fineCoarsening: Int
    let stepCount: Int
    /// Example-major, then point, then feature: `values[(e·points + p)·width + i]`, so
    /// one example's start is one contiguous block (a batch touches `B` blocks, not
    /// `points·width·B` scattered doubles of a store that is far larger than the caches).
    var values: [Double]
    /// Whether each example has been recorded (identical on every rank).
    var seen: [Bool]

    init<P: MGRITProblem>(solver: MGRITSolver<P>, width: Int, examples: Int) where P.State == Matrix<Double> {
        points = Self.ownedCPoints(solver)
        fineCoarsening = solver.hierarchy.fineCoarsening
        stepCount = solver.problem.stepCount
        self.width = width
        self.examples = examples
        values = [Double](repeating: 0, count: points.count * width * examples)
        seen = [Bool](repeating: false, count: examples)
    }

    /// The fine C-points `i ≥ 1` of `solver` this rank owns.
    static func ownedCPoints<P: MGRITProblem>(_ solver: MGRITSolver<P>) -> [Int] {
        let m = solver.hierarchy.fineCoarsening
        return solver.ownedRange.filter { $0 >= 1 && $0 % m == 0 }
    }

    /// Bytes of the store on this rank.
    var bytes: Int { values.count * MemoryLayout<Double>.stride }

    /// The bytes a store for `points` C-points would take (before allocating it).
    static func bytes(points: Int, width: Int, examples: Int) -> Int {
        points.multipliedReportingOverflow(by: width).partialValue
            .multipliedReportingOverflow(by: examples).partialValue
            .multipliedReportingOverflow(by: MemoryLayout<Double>.stride).partialValue
    }

    /// Sets the solver's start for `batch` (example indices, one per column).
    func gather<P: MGRITProblem>(into solver: MGRITSolver<P>, batch: [Int]) throws where P.State == Matrix<Double> {
        try solver.resetToInitialGuess(cPointsOnly: true)   // F-points are recomputed before they are read
        guard batch.contains(where: { seen[$0] }) else { return }
        transfer(solver, batch, toStore: false)
    }

    /// Records the solver's C-points for `batch` after a solve.
    func scatter<P: MGRITProblem>(from solver: MGRITSolver<P>, batch: [Int]) where P.State == Matrix<Double> {
        transfer(solver, batch, toStore: true)
        for e in batch { seen[e] = true }
    }

    /// Copies, for every batch column j of example e and owned C-point k, the state
    /// column (k, j) to the store block (e, k) (`toStore`) or back (only for examples
    /// seen before). Example by example, so each example's block is read or written
    /// front to back (the store is far larger than the caches; the states are not).
    private func transfer<P: MGRITProblem>(_ solver: MGRITSolver<P>, _ batch: [Int], toStore: Bool)
        where P.State == Matrix<Double> {
        let P = points.count, w = width
        let states = points.map { solver.state(at: $0)! }   // owned C-points are stored on every storage
        let bases = states.map(\.baseAddress), lds = states.map(\.ld)
        values.withUnsafeMutableBufferPointer { v in
            let store = v.baseAddress!
            for (j, e) in batch.enumerated() where toStore || seen[e] {
                var block = store + e * P * w
                for k in 0 ..< P {
                    let column = bases[k] + j, ld = lds[k]
                    if toStore {
                        for i in 0 ..< w { block[i] = column[i * ld] }
                    } else {
                        for i in 0 ..< w { column[i * ld] = block[i] }
                    }
                    block += w
                }
            }
        }
        withExtendedLifetime(states) {}
    }

    /// The store laid out over *all* fine C-points `m, 2m, …` of the problem, point-major,
    /// then feature, then example (zeros for points other ranks own), so a sum over ranks
    /// assembles it: `[(g·width + i)·examples + e]` for global C-point `g`.
    func exportGlobal() -> [Double] {
        var out = [Double](repeating: 0, count: globalCount)
        forEachGlobal { local, global in out[global] = values[local] }
        return out
    }

    /// Values in ``exportGlobal()``'s layout.
    var globalCount: Int { stepCount / fineCoarsening * width * examples }

    /// Restores this rank's points from ``exportGlobal()``'s layout.
    func importGlobal(_ global: ArraySlice<Double>, seen: [Bool]) {
        let base = global.startIndex
        forEachGlobal { local, g in values[local] = global[base + g] }
        self.seen = seen
    }

    /// (index in ``values``, index in the global layout) of every stored value.
    private func forEachGlobal(_ body: (Int, Int) -> Void) {
        let m = fineCoarsening, P = points.count, w = width, E = examples
        for (k, point) in points.enumerated() {
            let g = point / m - 1
            for i in 0 ..< w { for e in 0 ..< E { body((e * P + k) * w + i, (g * w + i) * E + e) } }
        }
    }
}
