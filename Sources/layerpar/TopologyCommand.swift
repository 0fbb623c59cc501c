import ArgumentParser
import Foundation
import Reports
import Topology

/// `layerpar topology`: hardware report and rank placement plans.
struct TopologyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topology",
        abstract: "Report the hardware topology (sockets, NUMA, caches, SIMD, FP64 peak) and plan rank placement.",
        discussion: """
            Without --ranks, prints a report of the topology. With --ranks P, prints where each of P ranks \
            runs (cpuset, cores, socket, NUMA node) and optionally writes an Open MPI rankfile. \
            The topology is this machine unless --xml, --synthetic or --preset names another one, \
            e.g. `layerpar topology --preset xeon-e5-2630v4-2s --ranks 4 --rankfile ranks.txt`.
            """
    )

    @Option(name: .customLong("xml"), help: "Load the topology from an hwloc XML file (as written by `lstopo file.xml`).")
    var xml: String?

    @Option(name: .customLong("synthetic"), help: "Use an hwloc synthetic topology, e.g. \"pack:2 core:10 pu:2\".")
    var synthetic: String?

    @Option(name: .customLong("preset"),
            help: "Use a built-in topology: \(TopologyPreset.allCases.map(\.rawValue).joined(separator: ", ")).")
    var preset: TopologyPreset?

    @Flag(name: .customLong("json"), help: "Print JSON instead of text.")
    var json = false

    @Flag(name: .customLong("bandwidth"),
          help: "Also measure memory bandwidth per NUMA node (STREAM-like triad, 1 and all cores; this machine only).")
    var bandwidth = false

    @Option(name: .customLong("bandwidth-mib"), help: "Size of each triad array in MiB (default: 4 × last-level cache, ≥ 64).")
    var bandwidthMiB: Int?

    @Option(name: .customLong("clock-ghz"), help: "Clock in GHz for the FP64 peak (overrides the detected or preset clock).")
    var clockGHz: Double?

    @Option(name: .customLong("fma-units"), help: "FMA units per core for the FP64 peak (overrides the detected value).")
    var fmaUnits: Int?

    @Option(name: .customLong("ranks"), help: "Plan the placement of this many MPI ranks.")
    var ranks: Int?

    @Option(name: .customLong("threads-per-rank"), help: "Threads (PUs) per rank in the plan.")
    var threadsPerRank = 1

    @Option(name: .customLong("policy"), help: "Placement policy: spread (like hwloc-distrib) or compact.")
    var policy: PlacementPolicy = .spread

    @Option(name: .customLong("data-groups"), help: "With --ranks: show where the D batch groups of `train --data-groups D` land (batch group g = L = ranks/D consecutive ranks, its layer blocks): their sockets, cores and NUMA nodes.")
    var dataGroups: Int?

    @Flag(name: .customLong("oversubscribe"), help: "Allow more ranks × threads than PUs (PUs are then shared).")
    var oversubscribe = false

    @Option(name: .customLong("rankfile"), help: "Write the plan as an Open MPI rankfile for `mpirun --rankfile FILE`.")
    var rankfile: String?

    @Option(name: .customLong("rankfile-host"), help: "Host name written into the rankfile.")
    var rankfileHost = "localhost"

    @Flag(name: .customLong("check-binding"),
          help: "Bind this process as its rank of the plan (rank from mpirun's OMPI_COMM_WORLD_RANK, ranks from OMPI_COMM_WORLD_SIZE; with --ranks R: R ranks per node and the node-local rank OMPI_COMM_WORLD_LOCAL_RANK), allocate a NUMA-local buffer and print the binding read back from the OS, the current CPU and the share of local pages (this machine only).")
    var checkBinding = false

    func validate() throws {
        let sources = [xml != nil, synthetic != nil, preset != nil].filter { $0 }.count
        if sources > 1 { throw ValidationError("give at most one of --xml, --synthetic, --preset") }
        if let r = ranks, r < 1 { throw ValidationError("--ranks must be at least 1, got \(r)") }
        if threadsPerRank < 1 { throw ValidationError("--threads-per-rank must be at least 1, got \(threadsPerRank)") }
        if ranks == nil && !checkBinding && (rankfile != nil || threadsPerRank != 1 || oversubscribe) {
            throw ValidationError("--rankfile, --threads-per-rank and --oversubscribe need --ranks")
        }
        if let d = dataGroups {
            guard let r = ranks, !json else { throw ValidationError("--data-groups needs --ranks (and the text table, not --json)") }
            guard d >= 1, r % d == 0 else { throw ValidationError("--data-groups \(d) must divide --ranks \(r)") }
        }
        if bandwidth && sources > 0 {
            throw ValidationError("--bandwidth measures this machine; it cannot be combined with --xml, --synthetic or --preset")
        }
        if checkBinding && sources > 0 {
            throw ValidationError("--check-binding binds on this machine; it cannot be combined with --xml, --synthetic or --preset")
        }
        if checkBinding && (bandwidth || rankfile != nil) {
            throw ValidationError("--check-binding cannot be combined with --bandwidth or --rankfile")
        }
        if bandwidth && ranks != nil { throw ValidationError("--bandwidth belongs to the report; drop --ranks") }
        if let mib = bandwidthMiB, mib < 1 { throw ValidationError("--bandwidth-mib must be positive, got \(mib)") }
        if let ghz = clockGHz, !(ghz > 0 && ghz < 20) { throw ValidationError("--clock-ghz must be in (0, 20), got \(ghz)") }
        if let u = fmaUnits, !(1...4).contains(u) { throw ValidationError("--fma-units must be 1…4, got \(u)") }
    }

    var source: TopologySource {
        if let xml { return .xml(path: xml) }
        if let synthetic { return .synthetic(synthetic) }
        if let preset { return .preset(preset) }
        return .thisMachine
    }

    func run() throws {
        try OutputPath.checkFiles([("--rankfile", rankfile)])
        if checkBinding {
            try runBindingCheck()
            return
        }
        if let ranks {
            let topology = try MachineTopology.load(source)
            let plan = try PlacementPlan(topology: topology, ranks: ranks, threadsPerRank: threadsPerRank,
                                         policy: policy, oversubscribe: oversubscribe)
            if let rankfile {
                try AtomicFile.write(plan.rankfile(host: rankfileHost, topology: topology), to: rankfile)
            }
            print(json ? try jsonText(plan) : plan.table(), terminator: "")
            if let dataGroups { print(try plan.gridTable(dataGroups: dataGroups), terminator: "") }
            if let rankfile, !json { print("rankfile written to \(rankfile)") }
            return
        }
        var report = try TopologyReport.make(source, clockGHz: clockGHz, fmaUnits: fmaUnits)
        if bandwidth {
            FileHandle.standardError.write(Data("measuring memory bandwidth (triad) per NUMA node…\n".utf8))
            report.bandwidth = try Bandwidth.measure(arrayMiB: bandwidthMiB)
        }
        print(json ? try jsonText(report) : report.text(), terminator: "")
    }

    /// One rank's binding check, printed as one line (or one JSON object).
    struct BindingCheck: Codable {
        var summary: RankBindingSummary
        var pages: PageLocationReport?
    }

    private func runBindingCheck() throws {
        let env = ProcessInfo.processInfo.environment
        // With --ranks (ranks per node, as a cluster job's script passes), the node-local rank.
        let rank = (ranks != nil ? env["OMPI_COMM_WORLD_LOCAL_RANK"] : nil).flatMap { Int($0) }
            ?? env["OMPI_COMM_WORLD_RANK"].flatMap { Int($0) } ?? 0
        let size = ranks ?? env["OMPI_COMM_WORLD_SIZE"].flatMap { Int($0) } ?? 1
        let summary = try RunPlacement.bindRank(rank, of: size, threadsPerRank: threadsPerRank, policy: policy,
                                                oversubscribe: oversubscribe)
        var pages: PageLocationReport?
        if let node = summary.memoryNode {
            // 4 MiB allocated after the memory binding and touched by this (bound) thread.
            var buffer = [Double](repeating: 0, count: 1 << 19)
            for i in stride(from: 0, to: buffer.count, by: 512) { buffer[i] = Double(rank) }
            pages = try buffer.withUnsafeBytes { try PageLocations.check($0, intendedNode: node) }
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(BindingCheck(summary: summary, pages: pages)), as: UTF8.self))
        } else {
            let b = summary.binding
            var line = "rank \(rank)/\(size): planned PUs P#\(summary.planned.pus.map(String.init).joined(separator: ","))"
            line += ", bound (read back) " + (b.boundPUs.map { "P#" + $0.map(String.init).joined(separator: ",") } ?? "-")
            line += ", running on CPU \(b.currentCPU.map(String.init) ?? "-")"
            if let pages {
                line += String(format: ", NUMA node %d: %.1f %% of %d pages local", pages.intendedNode, 100 * pages.share, pages.pages)
            }
            print(line)
        }
    }

    private func jsonText<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try encoder.encode(value), as: UTF8.self) + "\n"
    }
}

extension TopologyPreset: ExpressibleByArgument {}
extension PlacementPolicy: ExpressibleByArgument {}
