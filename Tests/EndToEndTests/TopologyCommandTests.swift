import Foundation
import Testing
import Topology
import _TestSupport

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

    @Test("--data-groups shows each batch group's sockets: on the target node a group of consecutive ranks stays on one socket")
    func grid() throws {
        let exe = try layerpar()
        let out = try runTool(exe, ["topology", "--preset", "xeon-e5-2630v4-2s", "--ranks", "8", "--data-groups", "4"])
        #expect(out.status == 0, "\(out.stderr)")
        let groups = out.stdout.split(separator: "\n").filter { $0.hasPrefix("batch group ") }
        #expect(groups.count == 4, "\(out.stdout)")
        // spread puts ranks 0–3 on socket 0 and 4–7 on socket 1: groups {0,1}, {2,3} on 0, {4,5}, {6,7} on 1.
        for (g, line) in groups.enumerated() {
            #expect(line.contains("ranks \(2 * g)-\(2 * g + 1), socket(s) \(g / 2),") && !line.contains("spans"), "\(line)")
        }
        let across = try runTool(exe, ["topology", "--preset", "xeon-e5-2630v4-2s", "--ranks", "8", "--data-groups", "1"])
        #expect(across.stdout.contains("batch group 0: ranks 0-7, socket(s) 0-1") && across.stdout.contains("spans 2 sockets"), "\(across.stdout)")
        let bad = try runTool(exe, ["topology", "--preset", "xeon-e5-2630v4-2s", "--ranks", "8", "--data-groups", "3"])
        #expect(bad.status != 0 && bad.stderr.contains("--data-groups 3 must divide --ranks 8"), "\(bad.stderr)")
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
