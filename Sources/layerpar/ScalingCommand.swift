import ArgumentParser

/// `layerpar scaling`: the paper's Figure 2 — strong and weak scaling of one
/// forward plus one backward MGRIT solve against the layer-serial passes, and a
/// performance model of the MGRIT cycle.
struct Scaling: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Strong and weak scaling of layer-parallel MGRIT (the paper's Figure 2) and a performance model.",
        subcommands: [ScalingStrong.self, ScalingWeak.self, ScalingModelCommand.self, ScalingAdvise.self, ScalingRunCommand.self,
                      ScalingCheck.self, ScalingSimulateCommand.self])
}
