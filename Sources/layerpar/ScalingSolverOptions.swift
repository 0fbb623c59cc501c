import ArgumentParser
import MGRIT
import ResNet
import Studies

/// Command-line form of ``ScalingSolverSetup`` (shared by `scaling run|strong|weak`).
struct ScalingSolverOptions: ParsableArguments {
    @Option(help: "Absolute ℓ² residual tolerance of the forward and adjoint solves (paper's f1 pair: 1e-8, 1e-8).") var tol: Double = 1e-8
    @Option(help: "Maximum MGRIT iterations per pass.") var maxIter: Int = 50
    @Option(help: "Run exactly this many MGRIT iterations per pass instead of stopping at --tol: no residual norm and so no allreduce at all (times the cycle alone).")
    var iterations: Int?
    @Option(help: "With --iterations: exactly this many adjoint iterations instead (train --preset oneshot's set-up is --iterations 2 --adjoint-iterations 1 --fine-relax F --fine-coarsening 16).")
    var adjointIterations: Int?
    @OptionGroup(title: "MGRIT") var mgrit: MGRITOptionGroup
    @Option(help: "Coarse step over k layers: cPointLayer (the paper), intervalAverage or secondOrder (see `layerpar convergence --help`).")
    var coarseStep: CoarseStep = .cPointLayer
    @Flag(inversion: .prefixedNo, help: "Adjoint MGRIT keeps the pre-activations zⁿ, as the layer-serial baseline does (--no-store-preactivations: recompute them in every adjoint step).")
    var storePreactivations = true

    func validate() throws {
        guard tol > 0, tol.isFinite else { throw ValidationError("--tol must be a positive number, got \(tol)") }
        guard maxIter >= 1 else { throw ValidationError("--max-iter must be ≥ 1, got \(maxIter)") }
        if let iterations, iterations < 1 { throw ValidationError("--iterations must be ≥ 1, got \(iterations)") }
        if let adjointIterations {
            guard iterations != nil else { throw ValidationError("--adjoint-iterations needs --iterations (a fixed forward count)") }
            guard adjointIterations >= 1 else { throw ValidationError("--adjoint-iterations must be ≥ 1, got \(adjointIterations)") }
        }
        try mgrit.requireDefaults(except: ["--min-coarse", "--cycle", "--skip-first-down", "--fmg", "--fine-coarsening", "--fine-relax"], command: "scaling")
        try setup.mgritOptions().validate()
    }

    var setup: ScalingSolverSetup {
        ScalingSolverSetup(tolerance: tol, maxIterations: maxIter, fixedIterations: iterations, coarsening: mgrit.factor,
                           maxLevels: mgrit.maxLevels, minCoarse: mgrit.minCoarse, cycle: mgrit.cycle, coarseStep: coarseStep,
                           skipFirstDown: mgrit.skipFirstDown, storePreactivations: storePreactivations,
                           adjointFixedIterations: adjointIterations, fineCoarsening: mgrit.fineCoarsening, fineRelaxation: mgrit.fineRelax, fmg: mgrit.fmg)
    }
}
