import ArgumentParser
import Comm
import Foundation
import MGRIT
import Reports
import Studies

/// `layerpar scaling check` (hidden): one forward + adjoint MGRIT solve on the
/// ranks it runs with, written as JSON (rank 0) for comparisons across rank
/// counts: residual histories, all states `xⁿ`, all adjoints `λⁿ`, the weight
/// gradients, and their largest relative differences from the layer-serial passes.
struct ScalingCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Solve forward + adjoint MGRIT once and write residuals, states, adjoints and gradients (rank-count checks).",
        shouldDisplay: false)

    @Option(help: "Hidden layers.") var depth: Int = 64
    @Option(help: "Width of the hidden layers.") var width: Int = 16
    @Option(help: "Batch size.") var batch: Int = 8
    @OptionGroup(title: "MGRIT") var mgrit: MGRITOptionGroup
    @Option(help: "Absolute ℓ² residual tolerance of both passes.") var tol: Double = 1e-13
    @Option(help: "Maximum MGRIT iterations per pass.") var maxIter: Int = 30
    @Option(help: "Random seed.") var seed: UInt64 = 1
    @Option(help: "Write the snapshot and comparison here (rank 0).") var output: String
    @Option(help: "Put a NaN into this rank's copy of the input (bad input on one rank only; tests the error path).")
    var nanRank: Int?

    func validate() throws {
        try NumericCheck.atLeast(1, ["--depth": depth, "--width": width, "--batch": batch, "--max-iter": maxIter])
        try NumericCheck.positive(tol, "--tol")
    }

    func run() throws {
        try OutputPath.checkFile(output, option: "--output")
        try withWorld(messageBytes: 8 * width * batch) { comm in
            let c = ScalingCase(depth: depth, width: width, batch: batch, seed: seed)
            let options = mgrit.options(MGRITOptions(absoluteTolerance: tol, maxIterations: maxIter))
            let snap = try ScalingSolve.snapshot(c, options: options, comm: comm, poisonInput: nanRank == comm.rank)
            guard comm.isRoot else { return }
            let serial = try ScalingSolve.serialSnapshot(c)
            let out = ScalingCheckOutput(ranks: comm.size, depth: depth, width: width, batch: batch, cfactor: mgrit.factor, tolerance: tol,
                             seed: seed, snapshot: snap,
                             serialStateError: relativeMaxError(snap.states, serial.states),
                             serialAdjointError: relativeMaxError(snap.adjoints, serial.adjoints),
                             serialGradientError: relativeMaxError(snap.gradient, serial.gradient))
            try AtomicFile.writeJSON(out, to: output)
            print(String(format: "scaling check: %d rank(s), depth %d: forward %d it, adjoint %d it; vs serial: states %.2e, adjoints %.2e, gradients %.2e",
                         comm.size, depth, snap.forwardIterations, snap.adjointIterations,
                         out.serialStateError, out.serialAdjointError, out.serialGradientError))
        }
    }
}
