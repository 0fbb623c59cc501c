import Foundation
import Testing
import Topology
import _TestSupport

/// Binding and NUMA placement on this machine, checked against the OS.
/// Serialized: process binding affects every thread of the test process.
@Suite("Binding and NUMA-local memory on this machine", .serialized)
struct BindingTests {
    let allPUs: [Int] = (try? MachineTopology.load(.thisMachine).pus.map(\.osIndex)) ?? [0]

    /// Spins until the scheduler has moved the thread onto its binding (at most ~1 s).
    func settledCPU(in pus: [Int]) -> Int {
        var cpu = Placement.currentCPU()
        for _ in 0..<1000 where !pus.contains(cpu) {
            usleep(1000)
            cpu = Placement.currentCPU()
        }
        return cpu
    }

    @Test("binding the thread to each PU: read back from the OS and sched_getcpu agree")
    func bindThreadToEachPU() throws {
        defer { _ = try? Placement.bindThread(to: allPUs) }
        for pu in allPUs {
            let result = try Placement.bindThread(to: [pu])
            #expect(result.applied)
            #expect(result.boundPUs == [pu])
            #expect(try Placement.threadBinding() == [pu])
            #expect(settledCPU(in: [pu]) == pu)
        }
    }

    @Test("RunPlacement binds each planned rank of this machine (process binding read back)")
    func runPlacementThisMachine() throws {
        defer { _ = try? Placement.bindProcess(to: allPUs) }
        let ranks = allPUs.count
        for rank in 0..<ranks {
            let summary = try RunPlacement.bindRank(rank, of: ranks)
            #expect(summary.binding.applied)
            #expect(summary.binding.boundPUs == summary.planned.pus)
            #expect(try Placement.processBinding() == summary.planned.pus)
            #expect(settledCPU(in: summary.planned.pus) == summary.planned.pus[0])
            #expect(summary.memoryNode == summary.planned.numaNode)
        }
        // Memory policy back to default for the rest of the tests' allocations.
        try Placement.unbindMemory()
    }

    @Test("binding against a synthetic topology is a no-op that says so")
    func syntheticBindingIsNoOp() throws {
        let before = try Placement.processBinding()
        let summary = try RunPlacement.bindRank(3, of: 4, source: .preset(.xeonE5_2630v4_2s))
        #expect(!summary.binding.applied)
        #expect(summary.binding.note.contains("no-op"))
        #expect(summary.memoryNode == nil)
        #expect(try Placement.processBinding() == before)
    }

    @Test("NUMA buffer: untouched pages absent, after first touch 100 % on the intended node (move_pages)")
    func numaBufferPages() throws {
        for node in try Placement.numaNodesOfThisMachine() {
            let buffer = try NUMABuffer(doubles: 1 << 20, node: node)   // 8 MiB
            let before = try buffer.pageLocations()
            #expect(before.notPresent == before.pages)
            buffer.firstTouch()
            let after = try buffer.pageLocations()
            #expect(after.pages >= (8 << 20) / 4096 / 512)   // at least one page per 2 MiB even with huge pages
            #expect(after.onIntendedNode == after.pages)
            #expect(after.share == 1)
        }
    }

    @Test("memory policy bound to the rank's node: an ordinary Swift array lands there page by page")
    func membindOrdinaryArray() throws {
        let node = try Placement.numaNodesOfThisMachine()[0]
        #expect(try Placement.bindMemory(toNUMANode: node))
        defer { try? Placement.unbindMemory() }
        let states = [Double](repeating: 1, count: 1 << 20)
        let weights = [Double](repeating: 2, count: 3 << 16)
        let reports = try [states, weights].map { a in try a.withUnsafeBytes { try PageLocations.check($0, intendedNode: node) } }
        let report = PageLocationReport.combined(reports)
        #expect(report.pages == reports[0].pages + reports[1].pages && report.pages > 0)
        #expect(report.onIntendedNode == report.pages && report.share == 1)
    }

    @Test("bandwidth triad runs per NUMA node with 1 and all cores and gives plausible GB/s")
    func bandwidthShort() throws {
        let results = try Bandwidth.measure(arrayMiB: 16, repetitions: 2)
        let nodes = try Placement.numaNodesOfThisMachine()
        #expect(Set(results.map(\.numaNode)) == Set(nodes))
        for r in results { #expect(r.gbPerSecond > 0.1 && r.gbPerSecond < 10_000) }
    }
}

/// The rankfile for this machine is accepted and applied by Open MPI's mpirun.
@Suite("Open MPI rankfile")
struct RankfileTests {
    @Test("rankfile of this machine runs under mpirun --rankfile with the planned bindings")
    func rankfileRunsUnderMpirun() throws {
        let topology = try MachineTopology.load(.thisMachine)
        let p = min(topology.cores.count, 4)
        let plan = try PlacementPlan(topology: topology, ranks: p)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("layerpar-rankfile-\(getpid())").path
        try plan.rankfile(topology: topology).write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let out = try runTool("mpirun", ["--allow-run-as-root", "-np", String(p), "--rankfile", path,
                                         "--report-bindings", "true"])
        #expect(out.status == 0, "mpirun failed: \(out.stderr)")
        // "MCW rank R bound to socket S[core C[hwt 0]]" (or "not bound" if the rank owns the whole machine).
        for rank in plan.placements {
            let line = out.stderr.split(separator: "\n").first { $0.contains("MCW rank \(rank.rank) ") }
            let text = try #require(line.map(String.init), "no binding report for rank \(rank.rank)")
            let core = topology.cores[rank.cores[0]]
            // Open MPI names the core by its logical index (machine-wide or within the socket, by version).
            #expect(text.contains("core \(core.index)[") || text.contains("core \(core.indexInPackage)[")
                    || text.contains("not bound"), "\(text)")
        }
    }

    @Test("preset rankfile: socket:core slots per rank")
    func presetRankfileText() throws {
        let topology = try MachineTopology.load(.preset(.xeonE5_2630v4_2s))
        let plan = try PlacementPlan(topology: topology, ranks: 4)
        let lines = plan.rankfile(host: "node01", topology: topology).split(separator: "\n").filter { !$0.hasPrefix("#") }
        #expect(lines == ["rank 0=node01 slot=0:0", "rank 1=node01 slot=0:5", "rank 2=node01 slot=1:0",
                          "rank 3=node01 slot=1:5"])
    }
}
