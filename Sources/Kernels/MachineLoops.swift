import CKernels
import COpenBLAS

/// The micro-loops of layerpar_peak.h that measure what one core can do (the
/// kernel benchmark states its results as a fraction of that peak).
public enum PeakLoops {
    /// Independent FMA chains per iteration of every FMA loop (256- and 512-bit).
    public static var fmaChains: Int { Int(LP_PEAK_FMA_CHAINS) }
    /// Dependent one-cycle integer adds per iteration of ``addChain(_:)``.
    public static var addChainLength: Int { Int(LP_PEAK_ADD_CHAIN) }

    /// `iters` iterations of the FMA chains in double (needs AVX2+FMA).
    public static func fmaDouble(_ iters: Int) -> Double { lp_peak_fma_f64(iters) }
    /// The same in float.
    public static func fmaFloat(_ iters: Int) -> Float { lp_peak_fma_f32(iters) }
    /// The chains with 512-bit FMAs in double (needs AVX-512).
    public static func fma512Double(_ iters: Int) -> Double { lp_peak_fma512_f64(iters) }
    /// The same in float.
    public static func fma512Float(_ iters: Int) -> Float { lp_peak_fma512_f32(iters) }
    /// `iters` iterations of the add chain; negative where the architecture has no such loop.
    public static func addChain(_ iters: Int) -> Int { lp_peak_add_chain(iters) }
}

/// The OpenBLAS library the unfused baselines call (``KernelScalar/_gemm(transA:transB:_:_:_:_:_:_:_:_:_:_:_:)``).
public enum OpenBLAS {
    /// Threads OpenBLAS uses from now on (the benchmarks use one).
    public static func setThreads(_ n: Int) { openblas_set_num_threads(Int32(n)) }
    /// The kernel core OpenBLAS picked for this CPU ("Haswell", "SkylakeX", …).
    public static var coreName: String { openblas_get_corename().map { String(cString: $0) } ?? "unknown" }
}
