import ArgumentParser
import MGRIT
import ResNet

/// How `scaling` solves: the MGRIT stopping rule and hierarchy, and the
/// adjoint's storage. The paper's set-up is the default (F-cycle, FCF, m = 4,
/// absolute tolerance 1e-8, as many levels as fit).
struct ScalingSolverSetup: Codable, Hashable {
    var tolerance = 1e-8
    var maxIterations = 50
    /// Exactly this many iterations per pass and no residual-norm allreduce
    /// (``MGRITResidualCheck/never``) instead of the tolerance.
    var fixedIterations: Int?
    var maxLevels = 30
    var minCoarse = 2
    var cycle = MGRITCycle.F
    /// Coarse-level step (the paper: the C-point's layer with kβ).
    var coarseStep = CoarseStep.cPointLayer
    /// XBraid's skip: no relaxation on the first down-cycle.
    var skipFirstDown = false
    /// Adjoint MGRIT keeps the pre-activations zⁿ (else recomputes them per step).
    var storePreactivations = true

    init(tolerance: Double = 1e-8, maxIterations: Int = 50, fixedIterations: Int? = nil, maxLevels: Int = 30,
         minCoarse: Int = 2, cycle: MGRITCycle = .F, coarseStep: CoarseStep = .cPointLayer, skipFirstDown: Bool = false,
         storePreactivations: Bool = true) {
        self.tolerance = tolerance
        self.maxIterations = maxIterations
        self.fixedIterations = fixedIterations
        self.maxLevels = maxLevels
        self.minCoarse = minCoarse
        self.cycle = cycle
        self.coarseStep = coarseStep
        self.skipFirstDown = skipFirstDown
        self.storePreactivations = storePreactivations
    }

    /// A field missing from a result file takes its default (files written
    /// before the field existed used the default).
    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = ScalingSolverSetup()
        tolerance = try c.decodeIfPresent(Double.self, forKey: .tolerance) ?? d.tolerance
        maxIterations = try c.decodeIfPresent(Int.self, forKey: .maxIterations) ?? d.maxIterations
        fixedIterations = try c.decodeIfPresent(Int.self, forKey: .fixedIterations)
        maxLevels = try c.decodeIfPresent(Int.self, forKey: .maxLevels) ?? d.maxLevels
        minCoarse = try c.decodeIfPresent(Int.self, forKey: .minCoarse) ?? d.minCoarse
        cycle = try c.decodeIfPresent(MGRITCycle.self, forKey: .cycle) ?? d.cycle
        coarseStep = try c.decodeIfPresent(CoarseStep.self, forKey: .coarseStep) ?? d.coarseStep
        skipFirstDown = try c.decodeIfPresent(Bool.self, forKey: .skipFirstDown) ?? d.skipFirstDown
        storePreactivations = try c.decodeIfPresent(Bool.self, forKey: .storePreactivations) ?? d.storePreactivations
    }

    func mgritOptions() -> MGRITOptions {
        let o = MGRITOptions(coarsening: 4, maxLevels: maxLevels, minCoarseSize: minCoarse, cycle: cycle, relaxation: .FCF,
                             sweeps: 1, skipFirstDown: skipFirstDown, absoluteTolerance: tolerance, maxIterations: maxIterations)
        return fixedIterations.map { o.fixedIterations($0) } ?? o
    }

    /// The same set-up as `scaling run` options.
    var arguments: [String] {
        ["--tol", String(tolerance), "--max-iter", String(maxIterations), "--max-levels", String(maxLevels),
         "--min-coarse", String(minCoarse), "--cycle", cycle.rawValue, "--coarse-step", coarseStep.rawValue,
         storePreactivations ? "--store-preactivations" : "--no-store-preactivations"]
            + (fixedIterations.map { ["--iterations", String($0)] } ?? []) + (skipFirstDown ? ["--skip-first-down"] : [])
    }

    /// One line for tables: "tolerance 1e-08" or "3 iterations (no residual norm)", and the hierarchy.
    var summary: String {
        let stop = fixedIterations.map { "exactly \($0) iterations per pass, no residual allreduce" } ?? "tolerance \(tolerance)"
        var parts = ["\(cycle.rawValue)-cycle, FCF, m = 4"]
        if maxLevels != 30 || minCoarse != 2 { parts.append("≤ \(maxLevels) levels, coarsest ≥ \(minCoarse) points") }
        if coarseStep != .cPointLayer { parts.append("coarse step \(coarseStep.rawValue)") }
        if skipFirstDown { parts.append("skip first down") }
        return "\(stop) (\(parts.joined(separator: ", ")); adjoint \(storePreactivations ? "keeps" : "recomputes") pre-activations)"
    }
}

/// Command-line form of ``ScalingSolverSetup`` (shared by `scaling run|strong|weak`).
struct ScalingSolverOptions: ParsableArguments {
    @Option(help: "Absolute ℓ² residual tolerance of the forward and adjoint solves (paper's f1 pair: 1e-8, 1e-8).") var tol: Double = 1e-8
    @Option(help: "Maximum MGRIT iterations per pass.") var maxIter: Int = 50
    @Option(help: "Run exactly this many MGRIT iterations per pass instead of stopping at --tol: no residual norm and so no allreduce at all (times the cycle alone).")
    var iterations: Int?
    @Option(help: "Maximum number of MGRIT levels.") var maxLevels: Int = 30
    @Option(help: "Smallest number of points of a coarse level (coarsening stops before a level would have fewer).") var minCoarse: Int = 2
    @Option(help: "MGRIT cycle: F (the paper) or V (each level once per iteration).") var cycle: MGRITCycle = .F
    @Option(help: "Coarse step over k layers: cPointLayer (the paper), intervalAverage or secondOrder (see `layerpar convergence --help`).")
    var coarseStep: CoarseStep = .cPointLayer
    @Flag(help: "Skip relaxation on the first down-cycle (XBraid's skip): iteration 1 only injects, solves the coarsest level and interpolates.")
    var skipFirstDown = false
    @Flag(inversion: .prefixedNo, help: "Adjoint MGRIT keeps the pre-activations zⁿ, as the layer-serial baseline does (--no-store-preactivations: recompute them in every adjoint step).")
    var storePreactivations = true

    func validate() throws {
        guard tol > 0, tol.isFinite else { throw ValidationError("--tol must be a positive number, got \(tol)") }
        guard maxIter >= 1 else { throw ValidationError("--max-iter must be ≥ 1, got \(maxIter)") }
        if let iterations, iterations < 1 { throw ValidationError("--iterations must be ≥ 1, got \(iterations)") }
        guard maxLevels >= 1 else { throw ValidationError("--max-levels must be ≥ 1, got \(maxLevels)") }
        guard minCoarse >= 2 else { throw ValidationError("--min-coarse must be ≥ 2, got \(minCoarse)") }
    }

    var setup: ScalingSolverSetup {
        ScalingSolverSetup(tolerance: tol, maxIterations: maxIter, fixedIterations: iterations, maxLevels: maxLevels,
                           minCoarse: minCoarse, cycle: cycle, coarseStep: coarseStep, skipFirstDown: skipFirstDown,
                           storePreactivations: storePreactivations)
    }
}
