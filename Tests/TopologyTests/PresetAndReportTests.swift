import Foundation
import Testing
import Topology
import _TestSupport

@Suite("Preset, report and inputs")
struct PresetAndReportTests {
    let preset = TopologySource.preset(.xeonE5_2630v4_2s)

    @Test("preset: 2 packages × 10 cores × 2 PUs, 25 MiB L3 per package, PU i and i+20 on core i (lstopo, hwloc-calc)")
    func presetShape() throws {
        let t = try MachineTopology.load(preset)
        #expect(t.packages.count == 2 && t.cores.count == 20 && t.pus.count == 40 && t.numaNodes.count == 2)
        for core in t.cores { #expect(core.pus == [core.index, core.index + 20]) }
        #expect(t.packages.map(\.numaNodes) == [[0], [1]])
        let l3 = t.caches.filter { $0.level == 3 }
        #expect(l3.map(\.sizeBytes) == [25 << 20, 25 << 20])
        #expect(l3.map(\.cores) == [Array(0..<10), Array(10..<20)])
        // lstopo's own reading of the same description.
        let lstopo = try runTool("lstopo-no-graphics", ["--input", preset.hwlocToolInput!, "--only", "pu"])
        let puLines = lstopo.stdout.split(separator: "\n")
        #expect(puLines.count == 40)
        #expect(puLines[1].contains("P#20") && puLines[2].contains("P#1"))   // L#1 = P#20: sibling of P#0
        let l3Out = try runTool("lstopo-no-graphics", ["--input", preset.hwlocToolInput!, "--only", "l3cache"])
        #expect(l3Out.stdout.split(separator: "\n").allSatisfy { $0.contains("25MB") })
    }

    @Test("preset peak: 2.2 GHz × 16 DP flops/cycle = 35.2 GFLOP/s per core, 352 per socket, 704 per node")
    func presetPeak() throws {
        let report = try TopologyReport.make(preset)
        let peak = try #require(report.peak)
        #expect(peak.flopsPerCycle == 16)
        #expect(abs(peak.perCoreGFlops - 35.2) < 1e-9)
        #expect(abs(peak.perSocketGFlops - 352) < 1e-9)
        #expect(abs(peak.perNodeGFlops - 704) < 1e-9)
        #expect(report.simd.avx2 == true && report.simd.fma == true && report.simd.avx512f == false)
    }

    @Test("synthetic and XML topologies: SIMD unknown, no peak unless told the clock")
    func syntheticSIMDUnknown() throws {
        let report = try TopologyReport.make(.synthetic("pack:2 core:4 pu:1"))
        #expect(report.simd.avx2 == nil && report.peak == nil)
        #expect(report.text().contains("AVX2 unknown"))
    }

    @Test("XML export of the preset (lstopo) loads to the same plan as the preset")
    func xmlRoundTrip() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("layerpar-preset-\(getpid()).xml").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let out = try runTool("lstopo-no-graphics", ["--input", preset.hwlocToolInput!, "-f", path])
        try #require(out.status == 0, "\(out.stderr)")
        let fromXML = try MachineTopology.load(.xml(path: path))
        let fromPreset = try MachineTopology.load(preset)
        #expect(fromXML.cores == fromPreset.cores && fromXML.caches == fromPreset.caches)
        for p in [4, 10, 40] {
            #expect(try PlacementPlan(topology: fromXML, ranks: p).placements.map(\.pus)
                    == PlacementPlan(topology: fromPreset, ranks: p).placements.map(\.pus))
        }
    }

    @Test("XML written by lstopo for this machine loads to the same cores, caches and NUMA nodes; binding is a no-op")
    func thisMachineXML() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("layerpar-this-\(getpid()).xml").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let out = try runTool("lstopo-no-graphics", ["-f", path])
        try #require(out.status == 0, "\(out.stderr)")
        let live = try MachineTopology.load(.thisMachine)
        let xml = try MachineTopology.load(.xml(path: path))
        #expect(!xml.isThisSystem && live.isThisSystem)
        #expect(xml.cores == live.cores && xml.caches == live.caches && xml.pus == live.pus)
        #expect(xml.numaNodes.map(\.pus) == live.numaNodes.map(\.pus))
        let binding = try Placement.bindProcess(to: [0], topology: .xml(path: path))
        #expect(!binding.applied && binding.note.contains("no-op"))
    }

    @Test("this machine: SIMD features == /proc/cpuinfo flags")
    func simdMatchesCpuinfo() throws {
        let cpuinfo = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
        let flagsLine = try #require(cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") })
        let flags = Set(flagsLine.split(separator: ":")[1].split(separator: " ").map(String.init))
        let simd = SIMDFeatures.thisMachine()
        #expect(simd.avx2 == flags.contains("avx2"))
        #expect(simd.fma == flags.contains("fma"))
        #expect(simd.avx512f == flags.contains("avx512f"))
    }

    @Test("this machine: cores, PUs, caches agree with lstopo-no-graphics; NUMA nodes and memory with numactl --hardware")
    func reportAgreesWithTools() throws {
        let t = try MachineTopology.load(.thisMachine)
        func count(_ type: String) throws -> Int {
            try runTool("lstopo-no-graphics", ["--only", type]).stdout.split(separator: "\n").count
        }
        #expect(t.cores.count == (try count("core")))
        #expect(t.pus.count == (try count("pu")))
        #expect(t.packages.count == (try count("package")))
        #expect(t.numaNodes.count == (try count("numanode")))
        // Cache sizes as lstopo prints them ("L2 L#0 (1024KB)", KB/MB meaning KiB/MiB) and their sharing.
        for (type, level, kind) in [("l1dcache", 1, "data"), ("l2cache", 2, "unified"), ("l3cache", 3, "unified")] {
            let lines = try runTool("lstopo-no-graphics", ["--only", type]).stdout.split(separator: "\n")
            let mine = t.caches.filter { $0.level == level && $0.kind == kind }
            #expect(lines.count == mine.count, "\(type)")
            for (line, cache) in zip(lines, mine) {
                // lstopo's rounding (hwloc_memory_size_printf_value): KB below 10 MiB, else MB, rounded to nearest.
                let b = cache.sizeBytes
                let size = b < 10 << 20 ? "\(((b >> 9) + 1) >> 1)KB" : "\(((b >> 19) + 1) >> 1)MB"
                #expect(line.contains("(\(size))"), "\(line) vs \(cache.sizeBytes)")
                let pus = try runTool("hwloc-calc", ["\(type.replacingOccurrences(of: "cache", with: "")):\(cache.index)",
                                                     "--po", "--intersect", "pu"])
                #expect(indexList(pus.stdout) == cache.pus)
            }
        }
        // numactl: "node N cpus: …" and "node N size: M MB" (MiB). Memory can change under a
        // ballooning hypervisor between the two readings, so sizes agree within 2 %.
        let numactl = try runTool("numactl", ["--hardware"]).stdout
        let fresh = try MachineTopology.load(.thisMachine)
        for node in fresh.numaNodes {
            let cpus = numactl.split(separator: "\n").first { $0.hasPrefix("node \(node.osIndex) cpus:") }
            let size = numactl.split(separator: "\n").first { $0.hasPrefix("node \(node.osIndex) size:") }
            let cpuList = try #require(cpus).split(separator: ":")[1].split(separator: " ").compactMap { Int($0) }
            #expect(cpuList == node.pus)
            let sizeLine = try #require(size)
            let sizeText = sizeLine.split(separator: ":")[1].replacingOccurrences(of: "MB", with: "")
            let mb = try #require(Double(sizeText.trimmingCharacters(in: .whitespaces)))
            let mine = Double(node.memoryBytes) / Double(1 << 20)
            #expect(abs(mine - mb) / mb < 0.02, "NUMA node \(node.osIndex): hwloc \(mine) MiB, numactl \(mb) MiB")
        }
    }

    @Test("cpuset strings: format and parse like hwloc (multi-word)")
    func cpusetStrings() {
        #expect(CPUSetString.format([0]) == "0x00000001")
        #expect(CPUSetString.format(Array(0..<40)) == "0x000000ff,0xffffffff")
        #expect(CPUSetString.parse("0x000000ff,0xffffffff") == Array(0..<40))
        #expect(CPUSetString.parse("0x00100000,0x00000001") == [0, 52])
        #expect(CPUSetString.parse("zz") == nil)
    }
}

@Suite("Bad input gives clear errors")
struct BadInputTests {
    func message(_ body: () throws -> Void) -> String {
        do { try body(); return "" } catch { return "\(error)" }
    }

    @Test("unreadable XML file")
    func missingXML() {
        let m = message { _ = try MachineTopology.load(.xml(path: "/nonexistent/topo.xml")) }
        #expect(m == "hwloc_topology_set_xml(/nonexistent/topo.xml) failed: no such file")
    }

    @Test("invalid XML file")
    func invalidXML() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("layerpar-bad-\(getpid()).xml").path
        try "<topology><not-hwloc".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let m = message { _ = try MachineTopology.load(.xml(path: path)) }
        #expect(m == "hwloc_topology_set_xml(\(path)) failed: not a valid hwloc XML topology (as written by `lstopo FILE.xml`)",
                "\(m)")
    }

    @Test("malformed synthetic description")
    func malformedSynthetic() {
        let m = message { _ = try MachineTopology.load(.synthetic("pack:two core:")) }
        #expect(m.hasPrefix("hwloc_topology_set_synthetic(\"pack:two core:\") failed"), "\(m)")
    }

    @Test("more ranks than PUs without oversubscription; bad counts")
    func tooManyRanks() throws {
        let t = try MachineTopology.load(.synthetic("pack:1 core:2 pu:1"))
        #expect(message { _ = try PlacementPlan(topology: t, ranks: 3) }.contains("exceeds the 2 PUs"))
        #expect(message { _ = try PlacementPlan(topology: t, ranks: 0) }.contains("invalid rank count 0"))
        #expect(message { _ = try PlacementPlan(topology: t, ranks: 1, threadsPerRank: 3) }.contains("exceeds"))
        #expect(try PlacementPlan(topology: t, ranks: 3, oversubscribe: true).placements.map(\.pus) == [[0], [0], [1]])
    }

    @Test("NUMA node that does not exist")
    func missingNode() throws {
        let nodes = try Placement.numaNodesOfThisMachine()
        let bad = (nodes.max() ?? 0) + 7
        let m = message { _ = try NUMABuffer(byteCount: 4096, node: bad) }
        #expect(m.hasPrefix("NUMA node \(bad) does not exist on this machine"), "\(m)")
        #expect(message { _ = try Placement.bindMemory(toNUMANode: bad) }.contains("does not exist"))
    }

    @Test("binding to a PU this machine does not have")
    func missingPU() {
        let m = message { _ = try Placement.bindThread(to: [4095]) }
        #expect(m.contains("hwloc_set_cpubind") && m.contains("P#4095"), "\(m)")
    }
}
