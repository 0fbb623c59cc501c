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
    /// The adjoint pass's fixed count when it differs from ``fixedIterations``
    /// (train's one-shot 2 forward / 1 adjoint); only with ``fixedIterations``.
    public var adjointFixedIterations: Int?
    /// Coarsening factor m (the paper: 4).
    public var coarsening = 4
    /// Coarsening factor of the fine level alone (nil: ``coarsening``).
    public var fineCoarsening: Int?
    /// Relaxation of the fine level alone (nil: FCF, as on every level).
    public var fineRelaxation: MGRITRelaxation?
    public var maxLevels = 30
    public var minCoarse = 2
    public var cycle = MGRITCycle.F
    /// Coarse-level step (the paper: the C-point's layer with kβ).
    public var coarseStep = CoarseStep.cPointLayer
    /// XBraid's skip: no relaxation on the first down-cycle.
    public var skipFirstDown = false
    /// Nested iteration as every solve's first iteration (``MGRITOptions/fmg``; the runs are cold).
    public var fmg = false
    /// Adjoint MGRIT keeps the pre-activations zⁿ (else recomputes them per step).
    public var storePreactivations = true

    public init(tolerance: Double = 1e-8, maxIterations: Int = 50, fixedIterations: Int? = nil, coarsening: Int = 4, maxLevels: Int = 30,
         minCoarse: Int = 2, cycle: MGRITCycle = .F, coarseStep: CoarseStep = .cPointLayer, skipFirstDown: Bool = false,
         storePreactivations: Bool = true, adjointFixedIterations: Int? = nil, fineCoarsening: Int? = nil,
         fineRelaxation: MGRITRelaxation? = nil, fmg: Bool = false) {
        self.fmg = fmg
        self.adjointFixedIterations = adjointFixedIterations
        self.fineCoarsening = fineCoarsening
        self.fineRelaxation = fineRelaxation
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
        adjointFixedIterations = try c.decodeIfPresent(Int.self, forKey: .adjointFixedIterations)
        fineCoarsening = try c.decodeIfPresent(Int.self, forKey: .fineCoarsening)
        fineRelaxation = try c.decodeIfPresent(MGRITRelaxation.self, forKey: .fineRelaxation)
        coarsening = try c.decodeIfPresent(Int.self, forKey: .coarsening) ?? d.coarsening
        maxLevels = try c.decodeIfPresent(Int.self, forKey: .maxLevels) ?? d.maxLevels
        minCoarse = try c.decodeIfPresent(Int.self, forKey: .minCoarse) ?? d.minCoarse
        cycle = try c.decodeIfPresent(MGRITCycle.self, forKey: .cycle) ?? d.cycle
        coarseStep = try c.decodeIfPresent(CoarseStep.self, forKey: .coarseStep) ?? d.coarseStep
        skipFirstDown = try c.decodeIfPresent(Bool.self, forKey: .skipFirstDown) ?? d.skipFirstDown
        fmg = try c.decodeIfPresent(Bool.self, forKey: .fmg) ?? d.fmg
        storePreactivations = try c.decodeIfPresent(Bool.self, forKey: .storePreactivations) ?? d.storePreactivations
    }

    /// The forward solve's options (and the hierarchy both passes share).
    public func mgritOptions() -> MGRITOptions { options(fixed: fixedIterations) }

    /// The adjoint solve's options: the forward's, with ``adjointFixedIterations`` if set.
    public func adjointMGRITOptions() -> MGRITOptions { options(fixed: adjointFixedIterations ?? fixedIterations) }

    private func options(fixed: Int?) -> MGRITOptions {
        let o = MGRITOptions(coarsening: coarsening, fineCoarsening: fineCoarsening, maxLevels: maxLevels, minCoarseSize: minCoarse,
                             cycle: cycle, relaxation: .FCF, fineRelaxation: fineRelaxation, sweeps: 1, skipFirstDown: skipFirstDown, fmg: fmg,
                             absoluteTolerance: tolerance, maxIterations: maxIterations)
        return fixed.map { o.fixedIterations($0) } ?? o
    }

    /// The same set-up as `scaling run` options.
    public var arguments: [String] {
        var a: [String] = ["--tol", String(tolerance), "--max-iter", String(maxIterations), "--coarsening", String(coarsening),
                           "--max-levels", String(maxLevels), "--min-coarse", String(minCoarse), "--cycle", cycle.rawValue,
                           "--coarse-step", coarseStep.rawValue, storePreactivations ? "--store-preactivations" : "--no-store-preactivations"]
        if let fixedIterations { a += ["--iterations", String(fixedIterations)] }
        if skipFirstDown { a.append("--skip-first-down") }
        if fmg { a.append("--fmg") }
        if let adjointFixedIterations { a += ["--adjoint-iterations", String(adjointFixedIterations)] }
        if let fineCoarsening { a += ["--fine-coarsening", String(fineCoarsening)] }
        if let fineRelaxation { a += ["--fine-relax", fineRelaxation.rawValue] }
        return a
    }

    /// One line for tables: "tolerance 1e-08" or "3 iterations (no residual norm)", and the hierarchy.
    public var summary: String {
        let stop = fixedIterations.map { f in
            adjointFixedIterations.map { "exactly \(f) forward / \($0) adjoint iterations, no residual allreduce" }
                ?? "exactly \(f) iterations per pass, no residual allreduce"
        } ?? "tolerance \(tolerance)"
        var parts = ["\(cycle.rawValue)-cycle, FCF, m = \(coarsening)"]
        if let fineRelaxation { parts.append("\(fineRelaxation.rawValue)-relaxation on the fine level") }
        if let fineCoarsening { parts.append("fine level coarsened by \(fineCoarsening)") }
        if maxLevels != 30 || minCoarse != 2 { parts.append("≤ \(maxLevels) levels, coarsest ≥ \(minCoarse) points") }
        if coarseStep != .cPointLayer { parts.append("coarse step \(coarseStep.rawValue)") }
        if skipFirstDown { parts.append("skip first down") }
        if fmg { parts.append("FMG") }
        return "\(stop) (\(parts.joined(separator: ", ")); adjoint \(storePreactivations ? "keeps" : "recomputes") pre-activations)"
    }
}
