import ArgumentParser
import Topology

/// Placement options shared by the commands that run ranks (`train`, `scaling`):
/// add `@OptionGroup var placement: PlacementOptions` and call ``apply(rank:ranks:)``
/// once per rank, before allocating layer states, weights and gradients.
struct PlacementOptions: ParsableArguments {
    @Flag(name: .customLong("bind"),
          help: "Bind each rank to its planned PUs and its memory to its NUMA node (this machine only); the summary records the binding read back from the OS.")
    var bind = false

    @Option(name: .customLong("placement"), help: "Placement policy for --bind: spread (like hwloc-distrib) or compact.")
    var placement: PlacementPolicy = .spread

    /// Plans all `ranks` on this machine and binds the calling rank (process and
    /// its later allocations). `nil` without `--bind`. Ranks beyond the PUs share
    /// PUs (the run was started oversubscribed).
    func apply(rank: Int, ranks: Int) throws -> RankBindingSummary? {
        guard bind else { return nil }
        let pus = try MachineTopology.load(.thisMachine).pus.count
        return try RunPlacement.bindRank(rank, of: ranks, policy: placement, source: .thisMachine,
                                         oversubscribe: ranks > pus)
    }
}
