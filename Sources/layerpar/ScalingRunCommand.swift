import ArgumentParser
import Comm
import Foundation
import Reports
import Studies

/// `layerpar scaling run` (hidden): times one configuration on the ranks it runs
/// with; `scaling strong|weak` start it under `mpirun -np P` and collect its JSON.
struct ScalingRunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Time forward + adjoint MGRIT of one configuration on this job's ranks (started by scaling strong|weak).",
        shouldDisplay: false)

    @Option(help: "Hidden layers.") var depth: Int
    @Option(help: "Width.") var width: Int = 16
    @Option(help: "Batch size.") var batch: Int = 64
    @Option(help: "Timed repeats, at least; more until they add up to 0.2 s on the slowest rank (after one warm-up).") var repeats: Int = 5
    @Option(help: "Write the measurement as JSON here (rank 0).") var output: String
    @OptionGroup(title: "Solver (the paper's set-up by default)") var solver: ScalingSolverOptions
    @OptionGroup(title: "Placement") var placement: PlacementOptions

    func validate() throws {
        guard depth >= 1, width >= 1, batch >= 1, repeats >= 1 else {
            throw ValidationError("--depth, --width, --batch and --repeats must be ≥ 1")
        }
    }

    func run() throws {
        try OutputPath.checkFile(output, option: "--output")
        try withWorld(messageBytes: 8 * width * batch) { world in
            // Bind before the network and the solver's states are allocated (first touch on the rank's node).
            let binding = try placement.apply(rank: world.rank, ranks: world.size)
            var m = try ScalingRun.measure(ScalingCase(depth: depth, width: width, batch: batch), setup: solver.setup,
                                     repeats: repeats, world: world)
            if let binding { m.bindings = try gatherLines(describe(binding), comm: world) }
            m.eagerLimitBytes = getenv(Launch.eagerLimitVariable).flatMap { Int(String(cString: $0)) }
            if world.isRoot { try AtomicFile.writeJSON(m, to: output) }
        }
    }
}
