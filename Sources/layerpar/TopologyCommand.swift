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

    @Flag(name: .customLong("oversubscribe"), help: "Allow more ranks × threads than PUs (PUs are then shared).")
    var oversubscribe = false

    @Option(name: .customLong("rankfile"), help: "Write the plan as an Open MPI rankfile for `mpirun --rankfile FILE`.")
    var rankfile: String?

    @Option(name: .customLong("rankfile-host"), help: "Host name written into the rankfile.")
    var rankfileHost = "localhost"

    func validate() throws {
        let sources = [xml != nil, synthetic != nil, preset != nil].filter { $0 }.count
        if sources > 1 { throw ValidationError("give at most one of --xml, --synthetic, --preset") }
        if let r = ranks, r < 1 { throw ValidationError("--ranks must be at least 1, got \(r)") }
        if threadsPerRank < 1 { throw ValidationError("--threads-per-rank must be at least 1, got \(threadsPerRank)") }
        if ranks == nil && (rankfile != nil || threadsPerRank != 1 || oversubscribe) {
            throw ValidationError("--rankfile, --threads-per-rank and --oversubscribe need --ranks")
        }
        if bandwidth && sources > 0 {
            throw ValidationError("--bandwidth measures this machine; it cannot be combined with --xml, --synthetic or --preset")
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
        if let ranks {
            let topology = try MachineTopology.load(source)
            let plan = try PlacementPlan(topology: topology, ranks: ranks, threadsPerRank: threadsPerRank,
                                         policy: policy, oversubscribe: oversubscribe)
            if let rankfile {
                try AtomicFile.write(plan.rankfile(host: rankfileHost, topology: topology), to: rankfile)
            }
            print(json ? try jsonText(plan) : plan.table(), terminator: "")
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

    private func jsonText<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try encoder.encode(value), as: UTF8.self) + "\n"
    }
}

extension TopologyPreset: ExpressibleByArgument {}
extension PlacementPolicy: ExpressibleByArgument {}
