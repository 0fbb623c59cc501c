import CHwloc
import Foundation

/// The hardware report printed by `layerpar topology`.
public struct TopologyReport: Codable, Sendable {
    public var source: String
    /// Version of the hwloc library in use (runtime), e.g. "2.9.0".
    public var hwlocVersion: String
    /// Host, OS and CPU as hwloc recorded them (the current host for this machine,
    /// the recorded host for XML, the preset's CPU model for presets).
    public var machine: [String: String]
    public var topology: MachineTopology
    public var simd: SIMDFeatures
    /// `nil` when the SIMD features or the clock are unknown.
    public var peak: PeakFlops?
    public var bandwidth: [BandwidthResult]?

    /// Builds the report.
    /// - Parameters:
    ///   - clockGHz: overrides the clock (needed for a peak on XML/synthetic topologies).
    ///   - fmaUnits: overrides the FMA units per core.
    public static func make(_ source: TopologySource, clockGHz: Double? = nil, fmaUnits: Int? = nil) throws -> TopologyReport {
        let topo = try HwlocTopology(source)
        let model = MachineTopology(topo)
        var machine = model.machineInfo
        let simd: SIMDFeatures
        var datapath: (bits: Int, fmaUnits: Int, note: String)?
        var clock: (ghz: Double, source: String)?
        switch source {
        case .thisMachine:
            simd = SIMDFeatures.thisMachine()
            datapath = CPUModelFacts.datapath(CHwloc_read_cpu_features(), features: simd)
            clock = CPUModelFacts.clock()
        case .preset(let preset):
            let cpu = preset.cpu
            machine["CPUModel"] = cpu.model
            simd = SIMDFeatures(avx2: cpu.avx2, fma: cpu.fma, avx512f: cpu.avx512f,
                                source: "preset documentation (\(cpu.model))")
            datapath = (cpu.vectorBits, cpu.fmaUnitsPerCore, "preset: \(cpu.fmaUnitsPerCore) × \(cpu.vectorBits)-bit FMA units")
            clock = (cpu.baseClockGHz, "preset: documented base clock")
        case .xml, .synthetic:
            simd = SIMDFeatures(avx2: nil, fma: nil, avx512f: nil,
                                source: "unknown: XML and synthetic topologies carry no instruction-set information")
        }
        if let ghz = clockGHz { clock = (ghz, "given by --clock-ghz") }
        if let units = fmaUnits, let d = datapath { datapath = (d.bits, units, "FMA units given by --fma-units") }
        var peak: PeakFlops?
        if let d = datapath, let c = clock {
            let fmaFactor = simd.fma == true ? 2 : 1
            let perCycle = d.bits / 64 * fmaFactor * d.fmaUnits
            let perCore = c.ghz * Double(perCycle)
            let coresPerSocket = model.packages.map(\.cores.count).max() ?? model.cores.count
            peak = PeakFlops(clockGHz: c.ghz, clockSource: c.source, datapathBits: d.bits, fmaUnitsPerCore: d.fmaUnits,
                             flopsPerCycle: perCycle, perCoreGFlops: perCore,
                             perSocketGFlops: perCore * Double(coresPerSocket),
                             perNodeGFlops: perCore * Double(model.cores.count),
                             assumptions: d.note)
        }
        return TopologyReport(source: source.description, hwlocVersion: HwlocTopology.libraryVersion,
                              machine: machine, topology: model, simd: simd, peak: peak, bandwidth: nil)
    }

    /// The report as text.
    public func text() -> String {
        let t = topology
        var out = "Topology of \(source)\n"
        out += "hwloc \(hwlocVersion)\n"
        let host = machine["HostName"].map { "host \($0)" }
        let os = [machine["OSName"], machine["OSRelease"]].compactMap { $0 }.joined(separator: " ")
        let line = [host, os.isEmpty ? nil : "OS \(os)", machine["Architecture"].map { "arch \($0)" }].compactMap { $0 }
        out += "Machine: " + (line.isEmpty ? "(not recorded)" : line.joined(separator: ", ")) + "\n"
        if let cpu = machine["CPUModel"] { out += "CPU: \(cpu)\n" }
        let threads = t.cores.isEmpty ? 0 : t.pus.count / t.cores.count
        out += "Packages: \(t.packages.count), NUMA nodes: \(t.numaNodes.count), cores: \(t.cores.count), "
            + "PUs: \(t.pus.count)" + (threads > 1 ? " (\(threads) hardware threads per core)" : "") + "\n"
        for p in t.packages {
            out += "  Package L#\(p.index): cores L#\(rangeList(p.cores)), PUs P#\(rangeList(p.pus)), "
                + "NUMA node(s) P#\(rangeList(p.numaNodes))\n"
        }
        for n in t.numaNodes {
            out += "  NUMA node P#\(n.osIndex): \(n.memoryBytes >> 20) MiB, cores L#\(rangeList(n.cores)), "
                + "PUs P#\(rangeList(n.pus))\n"
        }
        if t.cores.contains(where: { $0.pus.count > 1 }) {
            let sample = t.cores.prefix(2).map { "core L#\($0.index) = PUs P#\($0.pus.map(String.init).joined(separator: ","))" }
            out += "  SMT siblings: " + sample.joined(separator: "; ") + " …\n"
        }
        out += "Caches:\n"
        let names = Array(Set(t.caches.map(\.name))).sorted { a, b in
            func key(_ s: String) -> (Int, Int) { (Int(s.dropFirst().prefix(1)) ?? 9, s.hasSuffix("i") ? 1 : 0) }
            return key(a) < key(b)
        }
        for name in names {
            let group = t.caches.filter { $0.name == name }
            let sizes = Array(Set(group.map(\.sizeBytes))).sorted().map(formatBytes).joined(separator: "/")
            let sharing = Array(Set(group.map(\.cores.count))).sorted().map(String.init).joined(separator: "/")
            var text = "  \(name): \(group.count) × \(sizes), each shared by \(sharing) core(s)"
            if group.count <= 4 && group.first.map({ $0.cores.count > 1 }) == true {
                text += " (" + group.map { "L#\($0.index): cores \(rangeList($0.cores))" }.joined(separator: "; ") + ")"
            }
            out += text + "\n"
        }
        func yn(_ b: Bool?) -> String { b.map { $0 ? "yes" : "no" } ?? "unknown" }
        out += "SIMD: AVX2 \(yn(simd.avx2)), FMA \(yn(simd.fma)), AVX-512F \(yn(simd.avx512f)) [\(simd.source)]\n"
        if let p = peak {
            out += String(format: "FP64 peak: %.1f GFLOP/s per core, %.1f per socket, %.1f per node\n",
                          p.perCoreGFlops, p.perSocketGFlops, p.perNodeGFlops)
            out += String(format: "  = %.3f GHz × %d DP flops/cycle (%d-bit datapath / 64 × 2 (FMA) × %d FMA units)\n",
                          p.clockGHz, p.flopsPerCycle, p.datapathBits, p.fmaUnitsPerCore)
            out += "  clock: \(p.clockSource)\n  units: \(p.assumptions)\n"
        } else {
            out += "FP64 peak: unknown (needs SIMD features and a clock; give --clock-ghz for XML/synthetic input "
                + "and read the result as an assumption)\n"
        }
        if let bw = bandwidth {
            out += "Memory bandwidth (STREAM-like triad a = b + s·c, best of repetitions):\n"
            for b in bw {
                out += String(format: "  NUMA node P#%d, %d thread(s) on PUs %@: %.2f GB/s (%d MiB per array)\n",
                              b.numaNode, b.threads, rangeList(b.pus), b.gbPerSecond, b.arrayMiB)
            }
        }
        return out
    }
}

func formatBytes(_ bytes: UInt64) -> String {
    let kib = Double(bytes) / 1024
    if kib < 1024 { return String(format: "%.0f KiB", kib) }
    let mib = kib / 1024
    if mib < 1024 { return mib == mib.rounded() ? String(format: "%.0f MiB", mib) : String(format: "%.1f MiB", mib) }
    return String(format: "%.1f GiB", mib / 1024)
}
