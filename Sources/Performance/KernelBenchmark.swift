import Foundation
import Comm
import Kernels
import Reports

/// What `layerpar bench kernels` times: shapes, kernels, implementations and how.
public struct KernelBenchmarkSettings {
    public init(widths: [Int], batches: [Int], kernels: [BenchKernel], impls: [BenchImpl], repeats: Int, fullReference: Bool, wallClock: Bool, storeZ: Bool, vzeroupper: Bool) {
        self.widths = widths
        self.batches = batches
        self.kernels = kernels
        self.impls = impls
        self.repeats = repeats
        self.fullReference = fullReference
        self.wallClock = wallClock
        self.storeZ = storeZ
        self.vzeroupper = vzeroupper
    }

    public var widths: [Int]
    public var batches: [Int]
    public var kernels: [BenchKernel]
    public var impls: [BenchImpl]
    /// Timed samples per measurement (the minimum is kept).
    public var repeats: Int
    /// Also time the reference kernel where w·w·B > 2^26.
    public var fullReference: Bool
    /// Wall-clock instead of thread CPU time.
    public var wallClock: Bool
    /// Forward kernels also store Z = W·X + b.
    public var storeZ: Bool
    /// Each LIBXSMM call followed by vzeroupper.
    public var vzeroupper: Bool
}

/// The kernel benchmark: the fused residual-layer kernels against OpenBLAS and
/// LIBXSMM (GEMM alone and GEMM plus a separate loop), one thread, every shape
/// checked against the reference first.
public enum KernelBenchmark {
    /// Runs the benchmark in `precision`; `log` gets progress lines.
    public static func run(_ settings: KernelBenchmarkSettings, precision: BenchPrecision, log: (String) -> Void) -> BenchKernelReport {
        switch precision {
        case .double: return run(Double.self, settings, log: log)
        case .float: return run(Float.self, settings, log: log)
        }
    }

    private static func run<T: BenchScalar>(_: T.Type, _ s: KernelBenchmarkSettings, log: (String) -> Void) -> BenchKernelReport {
        let (widths, batches, kernels, impls, repeats) = (s.widths, s.batches, s.kernels, s.impls, s.repeats)
        let (fullReference, wallClock, storeZ, noVzeroupper) = (s.fullReference, s.wallClock, s.storeZ, !s.vzeroupper)
        let precision = T.precision
        OpenBLAS.setThreads(1)
        LIBXSMM.initialize()

        log("measuring clock and FMA peak")
        let clock: BenchClock = wallClock ? .wall : .cpu
        let machine = BenchMachine.probe(clock: clock)
        var notes: [String] = []

        // Each optimized family is called directly; one the CPU cannot run is
        // listed and skipped rather than silently timing another family.
        var unavailable: [KernelFamily: String] = [:]
        for family in [KernelFamily.avx2, .avx512] where !family.isSupported {
            let why = family == .avx2 ? "this CPU lacks AVX2/FMA" : "this CPU (or OS) lacks AVX-512 F/DQ/BW/VL"
            unavailable[family] = why
            if let impl = BenchImpl(rawValue: family.rawValue), impls.contains(impl) {
                notes.append("\(family.rawValue) skipped: \(why)")
            }
        }
        let libxsmmTarget = LIBXSMM.targetArchitecture, openblasCore = OpenBLAS.coreName
        let peak256 = machine.measuredPeak(precision) ?? machine.computedPeak(precision)
        let peak512 = machine.measuredPeak512(precision)
        func peak(_ impl: BenchImpl) -> Double? {
            BenchImpl.vectorBits(impl, libxsmmTarget: libxsmmTarget, openblasCore: openblasCore) == 512 ? peak512 : peak256
        }
        let shapes = widths.flatMap { w in batches.map { (w, $0) } }
        let total = shapes.count * kernels.count
        var results: [BenchKernelResult] = []
        var done = 0
        var skippedReference: [String] = []
        let started = monotonicSeconds()
        for (w, batch) in shapes {
            let bench = BenchKernelCase<T>(width: w, batch: batch, storeZ: storeZ, vzeroupper: !noVzeroupper, seed: UInt64(w * 1_000_003 + batch))
            for kernel in kernels {
                done += 1
                log("[\(done)/\(total)] \(kernel.rawValue) w=\(w) B=\(batch) \(precision.rawValue)")
                let runners = bench.runners(kernel, unavailable: unavailable)
                    .filter { impls.contains($0.impl) }
                notes += check(bench, kernel, runners)
                LIBXSMM.vzeroupper()
                for runner in runners {
                    if runner.impl == .reference && !fullReference && w * w * batch > 1 << 26 {
                        skippedReference.append("w=\(w) B=\(batch)")
                        continue
                    }
                    if let why = runner.unavailable {
                        if ![.avx2, .avx512, .avx2Mask].contains(runner.impl) { notes.append("\(kernel.rawValue) w=\(w) B=\(batch) \(runner.impl.rawValue): \(why)") }
                        continue
                    }
                    let timing = BenchTiming.measure(clock: clock, repeats: repeats, runner.run)
                    // Never let a dirty upper state (--no-vzeroupper) slow the next implementation.
                    LIBXSMM.vzeroupper()
                    let gflops = bench.flops(kernel) / timing.seconds / 1e9
                    results.append(BenchKernelResult(
                        kernel: kernel, width: w, batch: batch, precision: precision, impl: runner.impl,
                        gflops: gflops, percentOfPeak: peak(runner.impl).map { 100 * gflops / $0 },
                        secondsPerCall: timing.seconds, samples: timing.samples, callsPerSample: timing.inner))
                }
            }
        }
        log(String(format: "done in %.1f s", monotonicSeconds() - started))
        if !skippedReference.isEmpty {
            notes.append("reference not timed (w·w·B > 2^26, seconds per call; --full-reference times it): "
                         + Array(Set(skippedReference)).sorted().joined(separator: ", "))
        }

        // The fused kernel the table and the targets compare: the widest family measured.
        let fused: BenchImpl? = [BenchImpl.avx512, .avx2].first { impl in results.contains { $0.impl == impl } }
        let report = BenchKernelReport(
            peakGflops: peak256,
            peakGflopsComputed: machine.computedPeak(precision),
            peak512Gflops: peak512,
            precision: precision,
            machine: machine,
            kernelFamily: fused?.rawValue ?? "reference",
            libxsmmTarget: libxsmmTarget,
            openblasCore: openblasCore,
            threads: 1,
            storeZ: storeZ,
            libxsmmVzeroupper: !noVzeroupper,
            repeats: repeats,
            timer: clock,
            timing: "minimum over --repeats samples of \(clock == .cpu ? "thread CPU time (CLOCK_THREAD_CPUTIME_ID)" : "wall-clock time (CLOCK_MONOTONIC)"); each sample makes back-to-back calls on the same (cache-warm) buffers for at least 1 ms; calls over 0.25 s get fewer samples",
            flopCount: "2·w·w·B per GEMM: forward 1 GEMM, adjoint 2",
            date: ISO8601DateFormatter().string(from: Date()),
            notes: notes,
            targets: fused.map { BenchTargetCheck.evaluate(results, fused: $0) } ?? [],
            results: results)
        return report
    }

    /// Runs every fused/unfused implementation once and compares its outputs
    /// with the reference kernel's (normwise relative error), so a wrong
    /// baseline cannot masquerade as a fast one. Skipped for large shapes,
    /// where the reference alone takes seconds.
    private static func check<T: BenchScalar>(_ bench: BenchKernelCase<T>, _ kernel: BenchKernel,
                                       _ runners: [BenchRunner]) -> [String] {
        guard bench.flops(kernel) <= 4e7 else { return [] }
        let all = bench.runners(kernel, unavailable: [:])
        guard let ref = all.first(where: { $0.impl == .reference }) else { return [] }
        let expected = bench.outputs(kernel, runner: ref)
        let scale = expected.reduce(T(0)) { max($0, abs($1)) }
        let tolerance: T = T.precision == .double ? 1e-12 : 1e-4
        var notes: [String] = []
        for runner in runners where runner.unavailable == nil
            && [.avx2, .avx512, .avx2Mask, .openblas, .libxsmm].contains(runner.impl) {
            let got = bench.outputs(kernel, runner: runner)
            var err: T = 0
            for (a, b) in zip(got, expected) { err = max(err, abs(a - b)) }
            let rel = err / max(scale, T.leastNormalMagnitude)
            if !(rel <= tolerance) {
                notes.append("CHECK FAILED: \(kernel.rawValue) w=\(bench.w) B=\(bench.batch) \(runner.impl.rawValue) differs from reference by \(rel) (relative)")
            }
        }
        return notes
    }
}

/// One timed measurement.
public struct BenchKernelResult: Codable, Sendable {
    public var kernel: BenchKernel
    public var width: Int
    public var batch: Int
    public var precision: BenchPrecision
    public var impl: BenchImpl
    public var gflops: Double
    public var percentOfPeak: Double?
    public var secondsPerCall: Double
    public var samples: Int
    public var callsPerSample: Int
}

/// The JSON document of `layerpar bench kernels --json`.
public struct BenchKernelReport: Codable, Sendable {
    /// Measured 256-bit peak (FMA-throughput loop) for the run's precision, GFLOP/s.
    public var peakGflops: Double?
    public var peakGflopsComputed: Double?
    /// Measured 512-bit peak, where the CPU has AVX-512. Each result's % of
    /// peak is against the peak of the vector width its implementation issues
    /// (``BenchImpl/vectorBits(_:libxsmmTarget:openblasCore:)``).
    public var peak512Gflops: Double?
    public var precision: BenchPrecision
    public var machine: BenchMachine
    public var kernelFamily: String
    public var libxsmmTarget: String
    public var openblasCore: String
    public var threads: Int
    public var storeZ: Bool
    /// Whether every LIBXSMM call was followed by vzeroupper.
    public var libxsmmVzeroupper: Bool
    public var repeats: Int
    public var timer: BenchClock
    public var timing: String
    public var flopCount: String
    public var date: String
    public var notes: [String]
    /// The performance targets of the kernels issue, checked on these results.
    public var targets: [BenchTargetCheck]
    public var results: [BenchKernelResult]

    public func csvTable() throws -> CSVTable {
        var table = CSVTable(columns: ["kernel", "width", "batch", "precision", "impl", "gflops",
                                       "percentOfPeak", "secondsPerCall", "samples", "callsPerSample"])
        for r in results {
            try table.append([.text(r.kernel.rawValue), .int(r.width), .int(r.batch), .text(r.precision.rawValue),
                              .text(r.impl.rawValue), .double(r.gflops),
                              r.percentOfPeak.map { .double($0) } ?? .text(""),
                              .double(r.secondsPerCall), .int(r.samples), .int(r.callsPerSample)])
        }
        return table
    }

    /// The human-readable table: GFLOP/s per implementation, the fused
    /// kernel's (the widest family measured) % of peak and its speed-up over
    /// each other implementation.
    public func table() -> String {
        func f(_ x: Double?, _ fmt: String) -> String { x.map { String(format: fmt, $0) } ?? "-" }
        func pad(_ s: String, _ n: Int) -> String { String(repeating: " ", count: max(0, n - s.count)) + s }
        var out: [String] = []
        let m = machine
        out.append("Kernel benchmark, \(precision.rawValue), 1 thread, \(m.cpuModel) on \(m.host), \(date)")
        out.append("clock:  " + (m.clockGHz.map { String(format: "%.2f GHz", $0) } ?? "unknown")
                   + " (\(m.clockMethod))" + (m.cpuMHzReported.map { String(format: "; /proc/cpuinfo says %.0f MHz", $0) } ?? ""))
        out.append("peak:   256-bit measured \(f(peakGflops, "%.1f")) GFLOP/s (FMA-throughput loop), computed \(f(peakGflopsComputed, "%.1f")) GFLOP/s "
                   + "(\(precision.avx2Lanes) \(precision.rawValue)s/256-bit AVX2 × \(BenchMachine.fmaUnits) FMA units × 2 × clock)"
                   + (peak512Gflops.map { String(format: "; 512-bit measured %.1f GFLOP/s", $0) }
                      ?? (m.hasAVX512 ? "; CPU has AVX-512 but the OS does not save zmm state" : "")))
        out.append("        % of peak is against the peak of the vector width each implementation issues")
        out.append("libs:   OpenBLAS core \(openblasCore) (\(precision.gemmName), 1 thread), LIBXSMM JIT target \(libxsmmTarget) "
                   + (libxsmmVzeroupper ? "(vzeroupper after each call)" : "(called WITHOUT vzeroupper)") + "; kernel family \(kernelFamily)")
        out.append("timing: \(timing); FLOPs \(flopCount)" + (storeZ ? "; forward stores Z" : "; forward does not store Z"))
        out.append("")
        let impls = BenchImpl.allCases.filter { impl in results.contains { $0.impl == impl } }
        let short: [BenchImpl: String] = [.reference: "ref", .avx2: "avx2", .avx512: "avx512", .avx2Mask: "mask", .openblas: "oblas",
                                          .openblasGemm: "oblas-g", .libxsmm: "xsmm", .libxsmmGemm: "xsmm-g"]
        let fused = BenchImpl(rawValue: kernelFamily) ?? .avx2
        var header = pad("kernel", 7) + pad("w", 6) + pad("B", 6)
        for i in impls { header += pad(short[i]!, 9) }
        header += pad(short[fused]! + "%pk", 10)
        for i in impls where i != fused { header += pad("×" + short[i]!, 9) }
        out.append("GFLOP/s per implementation | \(fused.rawValue) % of peak | \(fused.rawValue) speed-up over each")
        out.append(header)
        out.append(String(repeating: "-", count: header.count))
        var keys: [(BenchKernel, Int, Int)] = []
        for r in results where !keys.contains(where: { $0 == (r.kernel, r.width, r.batch) }) {
            keys.append((r.kernel, r.width, r.batch))
        }
        for (k, w, b) in keys {
            let rows = results.filter { $0.kernel == k && $0.width == w && $0.batch == b }
            let g = Dictionary(uniqueKeysWithValues: rows.map { ($0.impl, $0.gflops) })
            var line = pad(k.rawValue, 7) + pad(String(w), 6) + pad(String(b), 6)
            for i in impls { line += pad(f(g[i], "%.2f"), 9) }
            line += pad(f(rows.first { $0.impl == fused }?.percentOfPeak, "%.1f"), 10)
            for i in impls where i != fused {
                let ratio: Double? = (g[fused] != nil && g[i] != nil) ? g[fused]! / g[i]! : nil
                line += pad(f(ratio, "%.2f"), 9)
            }
            out.append(line)
        }
        if !targets.isEmpty {
            out.append("")
            out.append("targets (\(fused.rawValue) against each baseline, on the shapes measured):")
            var seen: [String] = []
            for t in targets where !seen.contains(t.target) {
                seen.append(t.target)
                let group = targets.filter { $0.target == t.target }
                let worst = group.min { $0.value / $0.threshold < $1.value / $1.threshold }!
                let held = group.filter(\.holds).count
                out.append("  \(held == group.count ? "HOLDS" : "FAILS")  \(t.target): \(held)/\(group.count) shapes; "
                           + String(format: "worst %@ w=%d B=%d: %.2f", worst.kernel.rawValue, worst.width, worst.batch, worst.value))
            }
        }
        if !notes.isEmpty {
            out.append("")
            out.append("notes:")
            out += notes.map { "  " + $0 }
        }
        return out.joined(separator: "\n")
    }
}

/// One performance target of the kernels issue on one shape.
public struct BenchTargetCheck: Codable, Sendable {
    public var target: String
    public var kernel: BenchKernel
    public var width: Int
    public var batch: Int
    /// The measured ratio (or % of peak).
    public var value: Double
    public var threshold: Double
    public var holds: Bool

    /// The targets, checked on the fused kernel `impl` (the widest family
    /// measured): at widths 16–64 and batch ≥ 64 the fused forward reaches
    /// 0.9× LIBXSMM's GEMM alone and 2.5× both GEMM+loop baselines, the fused
    /// adjoint 70 % of peak and 2× OpenBLAS GEMMs+loop; at width ≥ 256 the
    /// fused forward reaches 0.95× OpenBLAS's GEMM alone. Float is held to the
    /// same ratios (against sgemm and float peak). % of peak is against the
    /// peak of the fused family's vector width.
    public static func evaluate(_ results: [BenchKernelResult], fused impl: BenchImpl) -> [BenchTargetCheck] {
        var out: [BenchTargetCheck] = []
        let shapes = Set(results.map { "\($0.kernel.rawValue) \($0.width) \($0.batch)" })
        for key in shapes.sorted() {
            let parts = key.split(separator: " ")
            guard let kernel = BenchKernel(rawValue: String(parts[0])),
                  let w = Int(parts[1]), let b = Int(parts[2]) else { continue }
            let rows = results.filter { $0.kernel == kernel && $0.width == w && $0.batch == b }
            guard let fused = rows.first(where: { $0.impl == impl }) else { continue }
            func ratio(_ target: String, _ impl: BenchImpl, _ threshold: Double) {
                guard let base = rows.first(where: { $0.impl == impl }) else { return }
                let v = fused.gflops / base.gflops
                out.append(BenchTargetCheck(target: target, kernel: kernel, width: w, batch: b,
                                            value: v, threshold: threshold, holds: v >= threshold))
            }
            let small = [16, 32, 64].contains(w) && b >= 64
            switch kernel {
            case .forward where small:
                ratio("forward ≥ 0.9× libxsmm-gemm (w 16–64, B ≥ 64)", .libxsmmGemm, 0.9)
                ratio("forward ≥ 2.5× openblas GEMM+loop (w 16–64, B ≥ 64)", .openblas, 2.5)
                ratio("forward ≥ 2.5× libxsmm GEMM+loop (w 16–64, B ≥ 64)", .libxsmm, 2.5)
            case .forward where w >= 256:
                ratio("forward ≥ 0.95× openblas-gemm (w ≥ 256)", .openblasGemm, 0.95)
            case .adjoint where small:
                if let pct = fused.percentOfPeak {
                    out.append(BenchTargetCheck(target: "adjoint ≥ 70 % of peak (w 16–64, B ≥ 64)", kernel: kernel,
                                                width: w, batch: b, value: pct, threshold: 70, holds: pct >= 70))
                }
                ratio("adjoint ≥ 2× openblas GEMMs+loop (w 16–64, B ≥ 64)", .openblas, 2)
            default:
                break
            }
        }
        return out
    }
}

extension BenchImpl {
    /// The vector width an implementation issues, for its % of peak: our
    /// AVX-512 kernel and LIBXSMM JIT-ing for an AVX-512 target (knl, knm,
    /// skx, clx, cpx, spr) 512 bits; OpenBLAS 512 bits for its AVX-512 cores
    /// (SkylakeX, Cooperlake, SapphireRapids; OPENBLAS_CORETYPE=Haswell, as in
    /// our tests and CI, makes it a 256-bit core); the rest 256 bits.
    public static func vectorBits(_ impl: BenchImpl, libxsmmTarget: String, openblasCore: String) -> Int {
        switch impl {
        case .avx512: return 512
        case .libxsmm, .libxsmmGemm:
            return ["knl", "knm", "skx", "clx", "cpx", "spr"].contains(libxsmmTarget.lowercased()) ? 512 : 256
        case .openblas, .openblasGemm:
            return ["skylakex", "cooperlake", "sapphirerapids"].contains(openblasCore.lowercased()) ? 512 : 256
        case .reference, .avx2, .avx2Mask:
            return 256
        }
    }
}
