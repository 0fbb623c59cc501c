import ArgumentParser
import Comm
import Topology

/// Placement options shared by the commands that run ranks (`train`, `scaling`):
/// add `@OptionGroup var placement: PlacementOptions` and call ``apply(rank:ranks:)``
/// once per rank, before allocating layer states, weights and gradients.
struct PlacementOptions: ParsableArguments {
    @Flag(name: .customLong("bind"),
          help: "Bind each rank to its planned PUs and its memory to its NUMA node (this machine only); the results record each binding as read back from the OS.")
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

    /// With `--bind`, runs `body` on the calling thread bound where a one-rank
    /// run would be placed (a single-process baseline measured like rank 0),
    /// then restores the thread's previous binding, so processes started
    /// afterwards do not inherit it. Without `--bind`, just runs `body`.
    func withThreadBoundAsOneRank<T>(_ body: () throws -> T) throws -> T {
        guard bind else { return try body() }
        let plan = try PlacementPlan(topology: MachineTopology.load(.thisMachine), ranks: 1, policy: placement)
        guard let pus = plan.placement(ofRank: 0)?.pus else { return try body() }
        let previous = try Placement.threadBinding()
        _ = try Placement.bindThread(to: pus)
        defer { _ = try? Placement.bindThread(to: previous) }
        return try body()
    }
}

/// One line describing a rank's binding as read back from the OS, for run summaries.
func describe(_ s: RankBindingSummary) -> String {
    let bound = s.binding.boundPUs.map { $0.map(String.init).joined(separator: ",") } ?? "not bound"
    let cpu = s.binding.currentCPU.map { " running on CPU \($0)," } ?? ""
    let node = s.memoryNode.map { "memory on NUMA node \($0)" } ?? "memory not bound"
    return "rank \(s.rank): requested PUs \(s.binding.requestedPUs.map(String.init).joined(separator: ",")), bound to PUs \(bound),\(cpu) \(node)"
}

/// Gathers one line of text from every rank, in rank order, on every rank.
/// Uses only the Communicator's sum reduction: each rank writes its UTF-8 bytes
/// into its own row of a ranks × maxLength table of zeros, and the sum is the table.
func gatherLines(_ line: String, comm: any Communicator) throws -> [String] {
    let bytes = Array(line.utf8)
    let width = Int(try comm.allreduceMax(Double(bytes.count)))
    var table = [Double](repeating: 0, count: comm.size * width)
    for (i, b) in bytes.enumerated() { table[comm.rank * width + i] = Double(b) }
    let all = try comm.allreduceSum(table)
    return (0..<comm.size).map { r in
        let row = all[(r * width)..<((r + 1) * width)].map { UInt8($0) }.filter { $0 != 0 }
        return String(decoding: row, as: UTF8.self)
    }
}
