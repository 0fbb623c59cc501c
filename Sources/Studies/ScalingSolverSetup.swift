import MGRIT
import ResNet

/// How `scaling` solves: the MGRIT stopping rule and hierarchy, and the
/// adjoint's storage. The paper's set-up is the default (F-cycle, FCF, m = 4,
/// absolute tolerance 1e-8, as many levels as fit).
public struct ScalingSolverSetup: Codable, Hashable {
    public var tolerance = 1e-8
    public var maxIterations = 50
    /// Exactly this many iterations per pass and no residual-norm allreduce
    /// (``MGRITResidualCheck/never``) instead of the tolerance.
    public var fixedIterations: Int?
    /// Coarsening factor m (the paper: 4).
    public var coarsening = 4
    public var maxLevels = 30
    public var minCoarse = 2
    public var cycle = MGRITCycle.F
    /// Coarse-level step (the paper: the C-point's layer with kβ).
    public var coarseStep = CoarseStep.cPointLayer
    /// XBraid's skip: no relaxation on the first down-cycle.
    public var skipFirstDown = false
    /// Adjoint MGRIT keeps the pre-activations zⁿ (else recomputes them per step).
    public var storePreactivations = true

    public init(tolerance: Double = 1e-8, maxIterations: Int = 50, fixedIterations: Int? = nil, coarsening: Int = 4, maxLevels: Int = 30,
         minCoarse: Int = 2, cycle: MGRITCycle = .F, coarseStep: CoarseStep = .cPointLayer, skipFirstDown: Bool = false,
         storePreactivations: Bool = true) {
        self.tolerance = tolerance
        self.maxIterations = maxIterations
        self.fixedIterations = fixedIterations
        self.coarsening = coarsening
        self.maxLevels = maxLevels
        self.minCoarse = minCoarse
        self.cycle = cycle
        self.coarseStep = coarseStep
        self.skipFirstDown = skipFirstDown
        self.storePreactivations = storePreactivations
    }

    /// A field missing from a result file takes its default (files written
    /// before the field existed used the default).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = ScalingSolverSetup()
        tolerance = try c.decodeIfPresent(Double.self, forKey: .tolerance) ?? d.tolerance
        maxIterations = try c.decodeIfPresent(Int.self, forKey: .maxIterations) ?? d.maxIterations
        fixedIterations = try c.decodeIfPresent(Int.self, forKey: .fixedIterations)
        coarsening = try c.decodeIfPresent(Int.self, forKey: .coarsening) ?? d.coarsening
        maxLevels = try c.decodeIfPresent(Int.self, forKey: .maxLevels) ?? d.maxLevels
        minCoarse = try c.decodeIfPresent(Int.self, forKey: .minCoarse) ?? d.minCoarse
        cycle = try c.decodeIfPresent(MGRITCycle.self, forKey: .cycle) ?? d.cycle
        coarseStep = try c.decodeIfPresent(CoarseStep.self, forKey: .coarseStep) ?? d.coarseStep
        skipFirstDown = try c.decodeIfPresent(Bool.self, forKey: .skipFirstDown) ?? d.skipFirstDown
        storePreactivations = try c.decodeIfPresent(Bool.self, forKey: .storePreactivations) ?? d.storePreactivations
    }

    public func mgritOptions() -> MGRITOptions {
        let o = MGRITOptions(coarsening: coarsening, maxLevels: maxLevels, minCoarseSize: minCoarse, cycle: cycle, relaxation: .FCF,
                             sweeps: 1, skipFirstDown: skipFirstDown, absoluteTolerance: tolerance, maxIterations: maxIterations)
        return fixedIterations.map { o.fixedIterations($0) } ?? o
    }

    /// The same set-up as `scaling run` options.
    public var arguments: [String] {
        ["--tol", String(tolerance), "--max-iter", String(maxIterations), "--coarsening", String(coarsening), "--max-levels", String(maxLevels),
         "--min-coarse", String(minCoarse), "--cycle", cycle.rawValue, "--coarse-step", coarseStep.rawValue,
         storePreactivations ? "--store-preactivations" : "--no-store-preactivations"]
            + (fixedIterations.map { ["--iterations", String($0)] } ?? []) + (skipFirstDown ? ["--skip-first-down"] : [])
    }

    /// One line for tables: "tolerance 1e-08" or "3 iterations (no residual norm)", and the hierarchy.
    public var summary: String {
        let stop = fixedIterations.map { "exactly \($0) iterations per pass, no residual allreduce" } ?? "tolerance \(tolerance)"
        var parts = ["\(cycle.rawValue)-cycle, FCF, m = \(coarsening)"]
        if maxLevels != 30 || minCoarse != 2 { parts.append("≤ \(maxLevels) levels, coarsest ≥ \(minCoarse) points") }
        if coarseStep != .cPointLayer { parts.append("coarse step \(coarseStep.rawValue)") }
        if skipFirstDown { parts.append("skip first down") }
        return "\(stop) (\(parts.joined(separator: ", ")); adjoint \(storePreactivations ? "keeps" : "recomputes") pre-activations)"
    }
}
