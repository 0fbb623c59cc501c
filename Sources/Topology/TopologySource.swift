/// Where a topology comes from.
///
/// Only ``thisMachine`` describes the hardware this process runs on: binding
/// and NUMA placement act only there; every other source is for planning.
public enum TopologySource: Sendable, Equatable, CustomStringConvertible {
    /// The machine this process runs on, discovered by hwloc.
    case thisMachine
    /// An hwloc XML file, as written by `lstopo file.xml`.
    case xml(path: String)
    /// An hwloc synthetic description, e.g. `"pack:2 core:10 pu:2"`.
    case synthetic(String)
    /// A built-in description of a target machine.
    case preset(TopologyPreset)

    public var description: String {
        switch self {
        case .thisMachine: "this machine"
        case .xml(let path): "xml \(path)"
        case .synthetic(let spec): "synthetic \"\(spec)\""
        case .preset(let preset): "preset \(preset.rawValue)"
        }
    }

    /// The value for the `--input` option of hwloc's tools (`lstopo`,
    /// `hwloc-distrib`, `hwloc-calc`) that loads the same topology; `nil` for
    /// this machine (the tools' default).
    public var hwlocToolInput: String? {
        switch self {
        case .thisMachine: nil
        case .xml(let path): path
        case .synthetic(let spec): spec
        case .preset(let preset): preset.synthetic
        }
    }
}

/// Built-in target machines, described as hwloc synthetic topologies with
/// explicit OS numbering of the PUs, plus the CPU facts hwloc cannot describe.
public enum TopologyPreset: String, CaseIterable, Sendable, Codable {
    /// The target cluster node: 2 × Intel Xeon E5-2630 v4 (Broadwell-EP).
    /// 10 cores per package, 2 hardware threads per core, 25 MiB L3 per package,
    /// 256 KiB L2 and 32 KiB L1d per core, one NUMA node per package.
    /// Intel (Linux) PU numbering: PU i and PU i+20 are the two threads of core i,
    /// which `PU:2(indexes=2*20:1*2)` encodes (interleave: the first index level
    /// steps through the 20 cores, the second through the 2 threads).
    /// The NUMA memory size (64 GiB per package) is nominal: the node's real
    /// memory configuration is not part of the target description.
    case xeonE5_2630v4_2s = "xeon-e5-2630v4-2s"

    /// The hwloc synthetic description (sizes in bytes).
    public var synthetic: String {
        switch self {
        case .xeonE5_2630v4_2s:
            "Package:2 [NUMANode(memory=68719476736)] L3Cache:1(size=26214400) "
                + "L2Cache:10(size=262144) L1dCache:1(size=32768) L1iCache:1(size=32768) "
                + "Core:1 PU:2(indexes=2*20:1*2)"
        }
    }

    /// The documented CPU of the preset (Intel ARK / optimisation manual):
    /// E5-2630 v4: 2.2 GHz base (3.1 GHz max turbo), AVX2 and FMA3, no AVX-512;
    /// Broadwell has two 256-bit FMA units per core: 2 × 4 doubles × 2 flops = 16 DP flops/cycle.
    public var cpu: PresetCPU {
        switch self {
        case .xeonE5_2630v4_2s:
            PresetCPU(model: "Intel Xeon E5-2630 v4 (Broadwell-EP)", baseClockGHz: 2.2,
                      avx2: true, fma: true, avx512f: false, vectorBits: 256, fmaUnitsPerCore: 2)
        }
    }
}

/// CPU facts of a preset that hwloc's topology does not carry.
public struct PresetCPU: Sendable, Codable, Equatable {
    public var model: String
    public var baseClockGHz: Double
    public var avx2: Bool
    public var fma: Bool
    public var avx512f: Bool
    /// Width of the FP datapath in bits (256 for AVX2 machines).
    public var vectorBits: Int
    public var fmaUnitsPerCore: Int
}
