import ArgumentParser
import Reports

/// `layerpar`: layer-parallel training of deep residual networks with MGRIT.
///
/// Commands that use MPI are synchronous (`ParsableCommand`), so every MPI call
/// happens on the main thread, in program order.
@main
struct LayerPar: ParsableCommand {
    static let version = LayerParallel.version

    static let configuration = CommandConfiguration(
        commandName: "layerpar",
        abstract: "Layer-parallel training of deep residual networks with multigrid-reduction-in-time (MGRIT).",
        discussion: """
            Run under `mpirun -np P layerpar …` to spread the layers over P ranks; \
            started without mpirun, layerpar runs as one rank.
            \(ExitStatus.help)
            """,
        version: version,
        subcommands: [
            Bench.self,
            Convergence.self,
            Train.self,
            Predict.self,
            Export.self,
            TopologyCommand.self,
            Reproduce.self,
            CommSelfTest.self,
            Scaling.self,
            Cluster.self,
        ]
    )
}
