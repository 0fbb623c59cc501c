import ArgumentParser
import Foundation
import Performance
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
            AVX2+FMA), avx512 (the same kernel with 512-bit vectors, where the CPU has AVX-512), avx2-mask \
            (avx2 with a one-byte ReLU mask in place of Z), openblas (GEMM + a separate bias/ReLU/residual \
            loop; adjoint: mask loop + two GEMMs), openblas-gemm (GEMM alone), libxsmm and libxsmm-gemm \
            (the same with LIBXSMM JIT kernels). Families the CPU cannot run are skipped with a note. \
            GFLOP/s count 2·w·w·B per GEMM (forward 1 GEMM, adjoint 2) and use the minimum time of \
            --repeats samples. The peak is measured with FMA-throughput loops (256-bit, and 512-bit with \
            AVX-512) and computed from the SIMD width and a measured clock; each % of peak is against the \
            peak of the vector width the implementation issues. The table compares the widest fused \
            family measured with every other implementation. OpenBLAS picks its core from \
            OPENBLAS_CORETYPE when set (Haswell, a 256-bit core, in our tests and CI).
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

    @Option(help: "Comma-separated implementations (default all): reference, avx2, avx512, avx2-mask, openblas, openblas-gemm, libxsmm, libxsmm-gemm.")
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
        try OutputPath.checkFiles([("--json", json), ("--csv", csv), ("--plot", plot)])
        let log = { (s: String) in FileHandle.standardError.write(Data(("bench: " + s + "\n").utf8)) }
        let settings = KernelBenchmarkSettings(
            widths: widths.values, batches: batches.values, kernels: kernels.values, impls: impls.values, repeats: repeats,
            fullReference: fullReference, wallClock: wallClock, storeZ: storeZ, vzeroupper: !noVzeroupper)
        let report = KernelBenchmark.run(settings, precision: precision, log: log)
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
}

extension BenchPrecision: ExpressibleByArgument {}
