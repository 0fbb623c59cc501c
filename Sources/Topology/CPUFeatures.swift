import CHwloc
import Foundation

/// SIMD features relevant to the FP64 kernels; `nil` means unknown (XML or
/// synthetic topologies describe no instruction set).
public struct SIMDFeatures: Codable, Sendable, Equatable {
    public var avx2: Bool?
    public var fma: Bool?
    public var avx512f: Bool?
    /// Where the answer comes from ("CPUID of this machine", "preset documentation", "unknown").
    public var source: String

    /// Features of the CPU this process runs on, from CPUID (with the OS's XSAVE
    /// state checked, as `__builtin_cpu_supports` does).
    public static func thisMachine() -> SIMDFeatures {
        let f = CHwloc_read_cpu_features()
        return SIMDFeatures(avx2: f.avx2 != 0, fma: f.fma != 0, avx512f: f.avx512f != 0,
                            source: "CPUID of this machine")
    }
}

/// FP64 peak = clock × DP flops/cycle, flops/cycle = (datapath bits / 64) × 2 (FMA) × FMA units.
public struct PeakFlops: Codable, Sendable, Equatable {
    public var clockGHz: Double
    public var clockSource: String
    /// Width of the FP datapath: 512 for AVX-512 on Intel, 256 for AVX2 (and for
    /// AMD Zen 4, which executes AVX-512 as two 256-bit halves), 128 for SSE2/Zen 1.
    public var datapathBits: Int
    public var fmaUnitsPerCore: Int
    public var flopsPerCycle: Int
    public var perCoreGFlops: Double
    public var perSocketGFlops: Double
    public var perNodeGFlops: Double
    public var assumptions: String
}

enum CPUModelFacts {
    /// The FP datapath and FMA unit count of this machine's CPU. CPUID tells the
    /// ISA, not the execution width, so known microarchitectures are mapped:
    /// AMD Zen 1 (family 17h, model < 30h) has 2 × 128-bit FMA pipes, Zen 2/3/4
    /// 2 × 256-bit (Zen 4 splits AVX-512 in two), Intel since Haswell 2 FMA units
    /// of the widest supported width (1 on some AVX-512 Xeon Silver/Bronze, which
    /// CPUID cannot tell apart: pass the count explicitly there).
    static func datapath(_ f: CHwloc_cpu_features, features: SIMDFeatures) -> (bits: Int, fmaUnits: Int, note: String) {
        let widest = features.avx512f == true ? 512 : (features.avx2 == true || f.avx != 0) ? 256 : 128
        if f.isAMD != 0 {
            if f.family == 0x17 && f.model < 0x30 { return (128, 2, "AMD Zen 1: 2 × 128-bit FMA pipes") }
            if f.family == 0x17 || f.family == 0x19 {
                return (256, 2, "AMD Zen 2/3/4 (family \(String(f.family, radix: 16))h): 2 × 256-bit FMA pipes")
            }
            return (widest, 2, "AMD family \(String(f.family, radix: 16))h: assumed 2 FMA pipes of \(widest) bits")
        }
        return (widest, features.fma == true ? 2 : 1,
                "assumed \(features.fma == true ? 2 : 1) FMA unit(s) of \(widest) bits per core")
    }

    /// The clock of this machine and where it comes from, best source first.
    static func clock() -> (ghz: Double, source: String)? {
        if let text = try? String(contentsOfFile: "/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq", encoding: .utf8),
           let khz = Double(text.trimmingCharacters(in: .whitespacesAndNewlines)), khz > 0 {
            return (khz / 1e6, "cpufreq cpuinfo_max_freq of cpu0 (maximum, includes turbo)")
        }
        let info = CPUInfo.thisMachine()
        // Intel names carry the base clock: "… CPU E5-2630 v4 @ 2.20GHz".
        if let name = info.modelName, let at = name.range(of: "@ "),
           let ghz = Double(name[at.upperBound...].replacingOccurrences(of: "GHz", with: "").trimmingCharacters(in: .whitespaces)) {
            return (ghz, "base clock in /proc/cpuinfo model name")
        }
        if let mhz = info.reportedMHz {
            return (mhz / 1000, "/proc/cpuinfo \"cpu MHz\" (current clock as the hypervisor reports it; "
                    + "on VMs this may understate the turbo clock)")
        }
        return nil
    }
}

/// What /proc/cpuinfo says about the first CPU — the one reader of that file.
/// Instruction-set features come from CPUID instead (``SIMDFeatures/thisMachine()``).
public struct CPUInfo: Sendable, Equatable {
    /// `model name` ("Intel(R) Xeon(R) CPU E5-2630 v4 @ 2.20GHz"), if present.
    public var modelName: String?
    /// `cpu MHz`: the clock as the kernel reports it. On a VM that is the
    /// hypervisor's figure, often the host's nominal clock and not the turbo clock
    /// the core runs at: measure the clock where it matters.
    public var reportedMHz: Double?

    public static func thisMachine() -> CPUInfo {
        let text = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        func field(_ name: String) -> String? {
            for line in text.split(separator: "\n") where line.hasPrefix(name) {
                if let colon = line.firstIndex(of: ":") {
                    return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                }
            }
            return nil
        }
        return CPUInfo(modelName: field("model name"), reportedMHz: field("cpu MHz").flatMap(Double.init))
    }
}
