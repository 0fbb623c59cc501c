import ArgumentParser
import CKernels
import COpenBLAS
import CXSMM
import Foundation
import Reports

/// `layerpar bench`: benchmarks of the building blocks.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks of LayerParallel's building blocks.",
        subcommands: [BenchKernels.self]
    )
}

/// A comma-separated list of positive integers, e.g. `16,32,64`.
struct BenchIntList: ExpressibleByArgument, Sendable {
    var values: [Int]
    init?(argument: String) {
        let parts = argument.split(separator: ",", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces) }
        if parts == [""] { values = []; return }
        var out: [Int] = []
        for part in parts {
            guard let v = Int(part) else { return nil }
            out.append(v)
        }
        values = out
    }
    init(_ values: [Int]) { self.values = values }
    var defaultValueDescription: String { values.map(String.init).joined(separator: ",") }
}

/// A comma-separated list of names of a `CaseIterable` enum.
struct BenchNameList<E: RawRepresentable & CaseIterable & Sendable>: ExpressibleByArgument, Sendable
where E.RawValue == String {
    var values: [E]
    init?(argument: String) {
        let parts = argument.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        var out: [E] = []
        for part in parts {
            guard let v = E(rawValue: part) else { return nil }
            if !out.contains(where: { $0.rawValue == v.rawValue }) { out.append(v) }
        }
        values = out
    }
    init(_ values: [E]) { self.values = values }
    var defaultValueDescription: String { values.map(\.rawValue).joined(separator: ",") }
    static var allValueStrings: [String] { E.allCases.map(\.rawValue) }
}

/// `layerpar bench kernels`: the fused residual-layer kernels against
/// OpenBLAS and LIBXSMM, GEMM alone and GEMM plus a separate loop.
struct BenchKernels: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernels",
        abstract: "Time the fused forward/adjoint residual-layer kernels against OpenBLAS and LIBXSMM (one thread).",
        discussion: """
            For each width w, batch B and kernel, times in one run: reference (plain C), avx2 (fused \
            AVX2+FMA), openblas (GEMM + a separate bias/ReLU/residual loop; adjoint: mask loop + two GEMMs), \
            openblas-gemm (GEMM alone), libxsmm and libxsmm-gemm (the same with LIBXSMM JIT kernels). \
            GFLOP/s count 2·w·w·B per GEMM (forward 1 GEMM, adjoint 2) and use the minimum time of \
            --repeats samples. The peak is measured with an FMA-throughput loop and computed from the \
            SIMD width and a measured clock.
            """
    )

    @Option(help: "Comma-separated layer widths w.")
    var widths = BenchIntList([16, 32, 64, 256, 1024])

    @Option(help: "Comma-separated batch sizes B.")
    var batches = BenchIntList([1, 64, 256, 1024])

    @Option(help: "Element type: double or float.")
    var precision: BenchPrecision = .double

    @Option(help: "Comma-separated kernels: forward, adjoint.")
    var kernels = BenchNameList<BenchKernel>(BenchKernel.allCases)

    @Option(help: "Comma-separated implementations (default all): reference, avx2, openblas, openblas-gemm, libxsmm, libxsmm-gemm.")
    var impls = BenchNameList<BenchImpl>(BenchImpl.allCases)

    @Option(help: "Timed samples per measurement; the minimum is reported.")
    var repeats = 9

    @Flag(help: "Also time the reference kernel at shapes with w·w·B > 2^26, where one call takes seconds.")
    var fullReference = false

    @Flag(help: "Time samples in wall-clock time instead of this thread's CPU time (CPU time excludes preemption by other processes on a shared machine).")
    var wallClock = false

    @Flag(help: "Forward kernels also store the pre-activation Z = W·X + b (as training does for the adjoint).")
    var storeZ = false

    @Flag(help: "Call LIBXSMM kernels without a vzeroupper afterwards, as a naive caller would: its JIT code leaves the upper vector state dirty and the following SSE loop slows down several-fold.")
    var noVzeroupper = false

    @Option(help: "Write the results as JSON to this file.")
    var json: String?

    @Option(help: "Write the results as CSV to this file.")
    var csv: String?

    @Option(help: "Plot GFLOP/s per implementation and shape to this PNG (needs --json; runs tools/plots/kernels.py).")
    var plot: String?

    func validate() throws {
        if widths.values.isEmpty { throw ValidationError("--widths is empty; give e.g. --widths 16,32,64") }
        if batches.values.isEmpty { throw ValidationError("--batches is empty; give e.g. --batches 64,256") }
        if kernels.values.isEmpty { throw ValidationError("--kernels is empty; give forward, adjoint or both") }
        if impls.values.isEmpty { throw ValidationError("--impls is empty") }
        if let bad = widths.values.first(where: { $0 <= 0 }) {
            throw ValidationError("--widths must be positive, got \(bad)")
        }
        if let bad = batches.values.first(where: { $0 <= 0 }) {
            throw ValidationError("--batches must be positive, got \(bad)")
        }
        // LIBXSMM and CBLAS take 32-bit sizes; the buffers of one shape hold w·w and w·B elements.
        if let bad = widths.values.first(where: { $0 > 16384 }) {
            throw ValidationError("--widths \(bad) is too large for a single-core benchmark (at most 16384)")
        }
        if let bad = batches.values.first(where: { $0 > 1 << 20 }) {
            throw ValidationError("--batches \(bad) is too large (at most 1048576)")
        }
        if plot != nil && json == nil { throw ValidationError("--plot needs --json (the plot is drawn from the JSON file)") }
        if repeats < 1 { throw ValidationError("--repeats must be at least 1, got \(repeats)") }
    }

    mutating func run() throws {
        switch precision {
        case .double: try run(Double.self)
        case .float: try run(Float.self)
        }
    }

    private func run<T: BenchScalar>(_: T.Type) throws {
        openblas_set_num_threads(1)
        lp_xsmm_init()
        let log = { (s: String) in FileHandle.standardError.write(Data(("bench: " + s + "\n").utf8)) }

        log("measuring clock and FMA peak")
        let clock: BenchClock = wallClock ? .wall : .cpu
        let machine = BenchMachine.probe(clock: clock)
        var notes: [String] = []

        // The fused kernel runs through the dispatching entry point with the
        // AVX2 family selected, so a build without AVX2 kernels is detected
        // rather than silently timing the reference.
        var avx2Unavailable: String?
        if !machine.hasAVX2FMA {
            avx2Unavailable = "this CPU lacks AVX2/FMA"
        } else if lp_kernels_select(LP_IMPL_AVX2) != 0 || lp_kernels_active() != LP_IMPL_AVX2 {
            avx2Unavailable = "this build has no AVX2 kernels (lp_kernels_select(LP_IMPL_AVX2) failed)"
        }
        if let avx2Unavailable, impls.values.contains(.avx2) { notes.append("avx2 skipped: \(avx2Unavailable)") }

        let peak = machine.measuredPeak(precision) ?? machine.computedPeak(precision)
        let shapes = widths.values.flatMap { w in batches.values.map { (w, $0) } }
        let total = shapes.count * kernels.values.count
        var results: [BenchKernelResult] = []
        var done = 0
        var skippedReference: [String] = []
        let started = benchNow()
        for (w, batch) in shapes {
            let bench = BenchKernelCase<T>(width: w, batch: batch, storeZ: storeZ, vzeroupper: !noVzeroupper, seed: UInt64(w * 1_000_003 + batch))
            for kernel in kernels.values {
                done += 1
                log("[\(done)/\(total)] \(kernel.rawValue) w=\(w) B=\(batch) \(precision.rawValue)")
                let runners = bench.runners(kernel, avx2Unavailable: avx2Unavailable)
                    .filter { impls.values.contains($0.impl) }
                notes += check(bench, kernel, runners)
                lp_xsmm_vzeroupper()
                for runner in runners {
                    if runner.impl == .reference && !fullReference && w * w * batch > 1 << 26 {
                        skippedReference.append("w=\(w) B=\(batch)")
                        continue
                    }
                    if let why = runner.unavailable {
                        if runner.impl != .avx2 { notes.append("\(kernel.rawValue) w=\(w) B=\(batch) \(runner.impl.rawValue): \(why)") }
                        continue
                    }
                    let timing = BenchTiming.measure(clock: clock, repeats: repeats, runner.run)
                    // Never let a dirty upper state (--no-vzeroupper) slow the next implementation.
                    lp_xsmm_vzeroupper()
                    let gflops = bench.flops(kernel) / timing.seconds / 1e9
                    results.append(BenchKernelResult(
                        kernel: kernel, width: w, batch: batch, precision: precision, impl: runner.impl,
                        gflops: gflops, percentOfPeak: peak.map { 100 * gflops / $0 },
                        secondsPerCall: timing.seconds, samples: timing.samples, callsPerSample: timing.inner))
                }
            }
        }
        log(String(format: "done in %.1f s", benchNow() - started))
        if !skippedReference.isEmpty {
            notes.append("reference not timed (w·w·B > 2^26, seconds per call; --full-reference times it): "
                         + Array(Set(skippedReference)).sorted().joined(separator: ", "))
        }

        let report = BenchKernelReport(
            peakGflops: peak,
            peakGflopsComputed: machine.computedPeak(precision),
            precision: precision,
            machine: machine,
            kernelFamily: avx2Unavailable == nil ? "avx2" : "reference",
            libxsmmTarget: String(cString: lp_xsmm_target_arch()),
            openblasCore: openblas_get_corename().map { String(cString: $0) } ?? "unknown",
            threads: 1,
            storeZ: storeZ,
            libxsmmVzeroupper: !noVzeroupper,
            repeats: repeats,
            timer: clock,
            timing: "minimum over --repeats samples of \(clock == .cpu ? "thread CPU time (CLOCK_THREAD_CPUTIME_ID)" : "wall-clock time (CLOCK_MONOTONIC)"); each sample makes back-to-back calls on the same (cache-warm) buffers for at least 1 ms; calls over 0.25 s get fewer samples",
            flopCount: "2·w·w·B per GEMM: forward 1 GEMM, adjoint 2",
            date: ISO8601DateFormatter().string(from: Date()),
            notes: notes,
            targets: BenchTargetCheck.evaluate(results),
            results: results)
        print(report.table())
        if let json {
            try AtomicFile.writeJSON(report, to: json)
            log("wrote \(json)")
        }
        if let csv {
            try report.csvTable().write(to: csv)
            log("wrote \(csv)")
        }
        if let plot, let json {
            try Plot.run(script: "tools/plots/kernels.py", arguments: [json, plot])
            log("wrote \(plot)")
        }
    }

    /// Runs every fused/unfused implementation once and compares its outputs
    /// with the reference kernel's (normwise relative error), so a wrong
    /// baseline cannot masquerade as a fast one. Skipped for large shapes,
    /// where the reference alone takes seconds.
    private func check<T: BenchScalar>(_ bench: BenchKernelCase<T>, _ kernel: BenchKernel,
                                       _ runners: [BenchRunner]) -> [String] {
        guard bench.flops(kernel) <= 4e7 else { return [] }
        let all = bench.runners(kernel, avx2Unavailable: nil)
        guard let ref = all.first(where: { $0.impl == .reference }) else { return [] }
        let expected = bench.outputs(kernel, runner: ref)
        let scale = expected.reduce(T(0)) { max($0, abs($1)) }
        let tolerance: T = T.precision == .double ? 1e-12 : 1e-4
        var notes: [String] = []
        for runner in runners where runner.unavailable == nil
            && [.avx2, .openblas, .libxsmm].contains(runner.impl) {
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
struct BenchKernelResult: Codable, Sendable {
    var kernel: BenchKernel
    var width: Int
    var batch: Int
    var precision: BenchPrecision
    var impl: BenchImpl
    var gflops: Double
    var percentOfPeak: Double?
    var secondsPerCall: Double
    var samples: Int
    var callsPerSample: Int
}

/// The JSON document of `layerpar bench kernels --json`.
struct BenchKernelReport: Codable, Sendable {
    /// Measured peak (FMA-throughput loop) for the run's precision, GFLOP/s.
    var peakGflops: Double?
    var peakGflopsComputed: Double?
    var precision: BenchPrecision
    var machine: BenchMachine
    var kernelFamily: String
    var libxsmmTarget: String
    var openblasCore: String
    var threads: Int
    var storeZ: Bool
    /// Whether every LIBXSMM call was followed by vzeroupper.
    var libxsmmVzeroupper: Bool
    var repeats: Int
    var timer: BenchClock
    var timing: String
    var flopCount: String
    var date: String
    var notes: [String]
    /// The performance targets of the kernels issue, checked on these results.
    var targets: [BenchTargetCheck]
    var results: [BenchKernelResult]

    func csvTable() throws -> CSVTable {
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
    /// kernel's % of peak and its speed-up over each other implementation.
    func table() -> String {
        func f(_ x: Double?, _ fmt: String) -> String { x.map { String(format: fmt, $0) } ?? "-" }
        func pad(_ s: String, _ n: Int) -> String { String(repeating: " ", count: max(0, n - s.count)) + s }
        var out: [String] = []
        let m = machine
        out.append("Kernel benchmark, \(precision.rawValue), 1 thread, \(m.cpuModel) on \(m.host), \(date)")
        out.append("clock:  " + (m.clockGHz.map { String(format: "%.2f GHz", $0) } ?? "unknown")
                   + " (\(m.clockMethod))" + (m.cpuMHzReported.map { String(format: "; /proc/cpuinfo says %.0f MHz", $0) } ?? ""))
        out.append("peak:   measured \(f(peakGflops, "%.1f")) GFLOP/s (FMA-throughput loop), computed \(f(peakGflopsComputed, "%.1f")) GFLOP/s "
                   + "(\(precision.avx2Lanes) \(precision.rawValue)s/256-bit AVX2 × \(BenchMachine.fmaUnits) FMA units × 2 × clock)"
                   + (m.hasAVX512 ? "; CPU also has AVX-512 (not used by our kernels or the peak)" : ""))
        out.append("libs:   OpenBLAS core \(openblasCore) (\(precision.gemmName), 1 thread), LIBXSMM JIT target \(libxsmmTarget) "
                   + (libxsmmVzeroupper ? "(vzeroupper after each call)" : "(called WITHOUT vzeroupper)") + "; kernel family \(kernelFamily)")
        out.append("timing: \(timing); FLOPs \(flopCount)" + (storeZ ? "; forward stores Z" : "; forward does not store Z"))
        out.append("")
        let impls = BenchImpl.allCases
        let short: [BenchImpl: String] = [.reference: "ref", .avx2: "avx2", .openblas: "oblas", .openblasGemm: "oblas-g",
                                          .libxsmm: "xsmm", .libxsmmGemm: "xsmm-g"]
        var header = pad("kernel", 7) + pad("w", 6) + pad("B", 6)
        for i in impls { header += pad(short[i]!, 9) }
        header += pad("avx2%pk", 9)
        for i in impls where i != .avx2 { header += pad("×" + short[i]!, 9) }
        out.append("GFLOP/s per implementation | avx2 % of peak | avx2 speed-up over each")
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
            line += pad(f(rows.first { $0.impl == .avx2 }?.percentOfPeak, "%.1f"), 9)
            for i in impls where i != .avx2 {
                let ratio: Double? = (g[.avx2] != nil && g[i] != nil) ? g[.avx2]! / g[i]! : nil
                line += pad(f(ratio, "%.2f"), 9)
            }
            out.append(line)
        }
        if !targets.isEmpty {
            out.append("")
            out.append("targets (avx2 against each baseline, on the shapes measured):")
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
struct BenchTargetCheck: Codable, Sendable {
    var target: String
    var kernel: BenchKernel
    var width: Int
    var batch: Int
    /// The measured ratio (or % of peak).
    var value: Double
    var threshold: Double
    var holds: Bool

    /// The targets: at widths 16–64 and batch ≥ 64 the fused forward reaches
    /// 0.9× LIBXSMM's GEMM alone and 2.5× both GEMM+loop baselines, the fused
    /// adjoint 70 % of peak and 2× OpenBLAS GEMMs+loop; at width ≥ 256 the
    /// fused forward reaches 0.95× OpenBLAS's GEMM alone. Float is held to the
    /// same ratios (against sgemm and float peak).
    static func evaluate(_ results: [BenchKernelResult]) -> [BenchTargetCheck] {
        var out: [BenchTargetCheck] = []
        let shapes = Set(results.map { "\($0.kernel.rawValue) \($0.width) \($0.batch)" })
        for key in shapes.sorted() {
            let parts = key.split(separator: " ")
            guard let kernel = BenchKernel(rawValue: String(parts[0])),
                  let w = Int(parts[1]), let b = Int(parts[2]) else { continue }
            let rows = results.filter { $0.kernel == kernel && $0.width == w && $0.batch == b }
            guard let fused = rows.first(where: { $0.impl == .avx2 }) else { continue }
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
