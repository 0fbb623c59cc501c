import ArgumentParser
import Comm
import Foundation
import Performance
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
    @Option(help: "Batch groups D (a divisor of the rank count, at most --batch): time one step's gradient on D groups of P/D ranks, each on its share of the batch (layer-serial with one rank per group, else MGRIT on the group), plus the gradient allreduce over all ranks.")
    var dataGroups: Int = 1
    @Option(help: "Also write the SimGrid time-independent traces of this case on --trace-ranks ranks into this folder (rank-R.ti, traces.txt for smpirun -replay, schedule.json): the real MGRIT solver's schedule over a problem that records each step's cost, measured here on one rank. Run plainly, not under mpirun.")
    var trace: String?
    @Option(help: "Ranks of the traced schedule (with --trace; 1 … depth + 1).") var traceRanks: Int = 2
    @OptionGroup(title: "Solver (the paper's set-up by default)") var solver: ScalingSolverOptions
    @OptionGroup(title: "Placement") var placement: PlacementOptions

    func validate() throws {
        try NumericCheck.atLeast(1, ["--depth": depth, "--width": width, "--batch": batch, "--repeats": repeats])
        guard dataGroups >= 1 && dataGroups <= batch else {
            throw ValidationError("--data-groups must be 1 … --batch \(batch), got \(dataGroups)")
        }
        if trace != nil {
            guard traceRanks >= 1 && traceRanks <= depth + 1 else {
                throw ValidationError("--trace-ranks must be 1 … depth + 1 = \(depth + 1), got \(traceRanks)")
            }
            guard !Launch.underMPILauncher(ProcessInfo.processInfo.environment) else {
                throw ValidationError("--trace calibrates on one rank and runs every traced rank in this process: start it without mpirun")
            }
        }
    }

    func run() throws {
        try OutputPath.checkFile(output, option: "--output")
        try withWorld(messageBytes: 8 * width * batch) { world in
            // Bind before the network and the solver's states are allocated (first touch on the rank's node).
            let binding = try placement.apply(rank: world.rank, ranks: world.size)
            var m = try ScalingRun.measureGrid(ScalingCase(depth: depth, width: width, batch: batch), dataGroups: dataGroups,
                                               setup: solver.setup, repeats: repeats, world: world)
            if let binding { m.bindings = try gatherLines(describe(binding), comm: world) }
            m.eagerLimitBytes = getenv(Launch.eagerLimitVariable).flatMap { Int(String(cString: $0)) }
            if world.isRoot { try AtomicFile.writeJSON(m, to: output) }
            if let trace {
                let c = ScalingCase(depth: depth, width: width, batch: batch)
                let cal = try ScheduleCalibration.measure(c, setup: solver.setup, repeats: repeats)
                let s = try Schedule.record(cal, ranks: traceRanks, cyclesPerSecond: SimGridPlatform.thisMachineClockHz())
                let summary = try s.write(to: trace)
                print("scaling run: \(summary.ranks) rank traces of depth \(depth) (\(summary.forwardIterations)/\(summary.adjointIterations) iterations, \(summary.messages) messages) in \(trace)")
            }
        }
    }
}
