import Foundation
import Testing
import Topology
import _TestSupport

/// The spread plan equals hwloc's own distribution (`hwloc-distrib --single`)
/// and the cores/sockets/NUMA nodes it names equal `hwloc-calc`'s answers.
@Suite("Placement plans against hwloc-distrib and hwloc-calc")
struct PlacementOracleTests {
    /// `hwloc-distrib --input TOPO --single N`, one PU set per line.
    func oracleDistrib(_ source: TopologySource, _ n: Int) throws -> [[Int]] {
        let out = try runTool("hwloc-distrib", ["--input", source.hwlocToolInput!, "--single", String(n)])
        #expect(out.status == 0, "hwloc-distrib failed: \(out.stderr)")
        return out.stdout.split(separator: "\n").map { CPUSetString.parse(String($0)) ?? [-1] }
    }

    @Test("spread plan == hwloc-distrib --single P", arguments: plannedTopologies)
    func spreadMatchesDistrib(source: TopologySource) throws {
        let topology = try MachineTopology.load(source)
        for p in plannedRankCounts {
            let expected = try oracleDistrib(source, p)
            #expect(expected.count == p)
            let oversubscribe = p > topology.pus.count
            if oversubscribe {
                #expect(throws: TopologyError.self) { try PlacementPlan(topology: topology, ranks: p) }
            }
            let plan = try PlacementPlan(topology: topology, ranks: p, oversubscribe: oversubscribe)
            #expect(plan.placements.map(\.pus) == expected, "\(source) P=\(p)")
            #expect(plan.oversubscribed == oversubscribe)
        }
    }

    @Test("spread with T threads per rank == consecutive groups of hwloc-distrib --single P·T",
          arguments: plannedTopologies)
    func threadsPerRankMatchDistrib(source: TopologySource) throws {
        let topology = try MachineTopology.load(source)
        for (p, t) in [(2, 2), (4, 2), (2, 5), (10, 2)] where p * t <= topology.pus.count {
            let expected = try oracleDistrib(source, p * t)
            let plan = try PlacementPlan(topology: topology, ranks: p, threadsPerRank: t)
            for r in 0..<p {
                let group = Array(Set(expected[(r * t)..<((r + 1) * t)].flatMap { $0 })).sorted()
                #expect(plan.placements[r].pus == group, "\(source) P=\(p) T=\(t) rank \(r)")
            }
        }
    }

    @Test("cores, sockets and NUMA nodes of each rank == hwloc-calc --intersect", arguments: plannedTopologies)
    func rankObjectsMatchCalc(source: TopologySource) throws {
        let topology = try MachineTopology.load(source)
        let input = source.hwlocToolInput!
        for (p, t, policy) in [(4, 1, PlacementPolicy.spread), (10, 1, .spread), (4, 2, .compact)] {
            let plan = try PlacementPlan(topology: topology, ranks: p, threadsPerRank: t, policy: policy)
            for rank in plan.placements {
                let cores = try runTool("hwloc-calc", ["--input", input, rank.cpuset, "--intersect", "core"])
                let packages = try runTool("hwloc-calc", ["--input", input, rank.cpuset, "--intersect", "package"])
                let nodes = try runTool("hwloc-calc", ["--input", input, rank.cpuset, "--po", "--intersect", "numa"])
                #expect(rank.cores == indexList(cores.stdout), "\(source) \(policy) P=\(p) rank \(rank.rank)")
                #expect(rank.packages == indexList(packages.stdout))
                #expect(rank.numaNodes == indexList(nodes.stdout))
            }
        }
    }

    @Test("each named core's PUs and package == hwloc-calc core:i", arguments: plannedTopologies)
    func namedCoresMatchCalc(source: TopologySource) throws {
        let topology = try MachineTopology.load(source)
        let input = source.hwlocToolInput!
        for core in topology.cores {
            let pus = try runTool("hwloc-calc", ["--input", input, "core:\(core.index)", "--po", "--intersect", "pu"])
            let pkg = try runTool("hwloc-calc", ["--input", input, "core:\(core.index)", "--intersect", "package"])
            #expect(core.pus == indexList(pus.stdout), "\(source) core \(core.index)")
            #expect(core.package.map { [$0] } == indexList(pkg.stdout))
        }
    }

    @Test("compact plan fills PUs in logical order (hwloc-calc pu:i)")
    func compactIsLogicalOrder() throws {
        let source = TopologySource.preset(.xeonE5_2630v4_2s)
        let topology = try MachineTopology.load(source)
        let plan = try PlacementPlan(topology: topology, ranks: 4, threadsPerRank: 2, policy: .compact)
        for rank in plan.placements {
            let logical = "pu:\(2 * rank.rank)-\(2 * rank.rank + 1)"
            let out = try runTool("hwloc-calc", ["--input", source.hwlocToolInput!, logical, "--po", "--intersect", "pu"])
            #expect(rank.pus == indexList(out.stdout))
            #expect(rank.cores == [rank.rank])   // both threads of one core
        }
    }
}
