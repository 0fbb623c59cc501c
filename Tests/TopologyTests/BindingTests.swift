import Foundation
import Testing
import Topology

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

@Suite("layerpar topology command")
struct TopologyCommandTests {
    /// The built `layerpar` next to the test bundle (same build directory).
    func layerpar() throws -> String {
        let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let candidates = [dir.appendingPathComponent("layerpar").path,
                          dir.deletingLastPathComponent().appendingPathComponent("layerpar").path]
        return try #require(candidates.first { FileManager.default.isExecutableFile(atPath: $0) },
                            "layerpar not found near \(dir.path)")
    }

    @Test("option validation rejects conflicting or incomplete options with a message")
    func validation() throws {
        let exe = try layerpar()
        for (args, expected) in [(["--xml", "a.xml", "--preset", "xeon-e5-2630v4-2s"], "at most one of"),
                                 (["--rankfile", "f"], "need --ranks"), (["--ranks", "0"], "at least 1"),
                                 (["--bandwidth", "--synthetic", "pack:2"], "measures this machine"),
                                 (["--preset", "nope"], "nope"),
                                 (["--synthetic", "pack:2 core:2 pu:1", "--ranks", "5"], "pass --oversubscribe"),
                                 (["--xml", "/nonexistent.xml"], "hwloc_topology_set_xml(/nonexistent.xml) failed")] {
            let out = try runTool(exe, ["topology"] + args)
            #expect(out.status != 0, "\(args)")
            #expect(out.stderr.contains(expected), "\(args): \(out.stderr)")
        }
    }

    @Test("under mpirun (2 ranks, and 4 oversubscribed) every rank binds as planned, runs there, and its pages are local",
          arguments: [2, 4])
    func checkBindingUnderMpirun(ranks: Int) throws {
        struct Check: Decodable {
            struct Summary: Decodable { var rank: Int; var planned: RankPlacement; var binding: BindingResult }
            var summary: Summary
            var pages: PageLocationReport?
        }
        let exe = try layerpar()
        let pus = try MachineTopology.load(.thisMachine).pus.count
        let extra = ranks > pus ? ["--oversubscribe"] : []
        let out = try runTool("mpirun", ["--allow-run-as-root", "-np", String(ranks)] + extra
                              + [exe, "topology", "--check-binding", "--json"] + extra)
        #expect(out.status == 0, "\(out.stderr)")
        let checks = try out.stdout.split(separator: "\n").map { try JSONDecoder().decode(Check.self, from: Data($0.utf8)) }
        #expect(checks.map(\.summary.rank).sorted() == Array(0..<ranks))
        let plan = try PlacementPlan(topology: MachineTopology.load(.thisMachine), ranks: ranks, oversubscribe: ranks > pus)
        for c in checks {
            #expect(c.summary.planned == plan.placements[c.summary.rank])
            #expect(c.summary.binding.applied && c.summary.binding.boundPUs == c.summary.planned.pus)
            #expect(c.summary.planned.pus.contains(c.summary.binding.currentCPU ?? -1))
            let pages = try #require(c.pages)
            #expect(pages.pages > 0 && pages.onIntendedNode == pages.pages)
        }
    }

    @Test("plan as JSON from the command equals the library plan; rankfile written")
    func planJSON() throws {
        let exe = try layerpar()
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("layerpar-rf-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let out = try runTool(exe, ["topology", "--preset", "xeon-e5-2630v4-2s", "--ranks", "10",
                                    "--threads-per-rank", "2", "--json", "--rankfile", path])
        #expect(out.status == 0, "\(out.stderr)")
        let fromCLI = try JSONDecoder().decode(PlacementPlan.self, from: Data(out.stdout.utf8))
        let topology = try MachineTopology.load(.preset(.xeonE5_2630v4_2s))
        let plan = try PlacementPlan(topology: topology, ranks: 10, threadsPerRank: 2)
        #expect(fromCLI.placements == plan.placements)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == plan.rankfile(topology: topology))
    }
}
