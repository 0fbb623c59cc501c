import CXSMM
import Kernels

/// The precision of a kernel benchmark run.
public enum BenchPrecision: String, CaseIterable, Codable, Sendable {
    case double
    case float

    /// SIMD lanes of one 256-bit (AVX2) register.
    public var avx2Lanes: Int { self == .double ? 4 : 8 }
    /// The BLAS routine a user would call.
    public var gemmName: String { self == .double ? "dgemm" : "sgemm" }
}

/// One element type the kernel benchmark runs in: our kernels and OpenBLAS
/// through Kernels' ``KernelScalar`` bridge, LIBXSMM's JIT GEMM through the
/// CXSMM shim, behind one generic interface so the timing code is written once.
///
/// All matrices follow layerpar_kernels.h: row-major, batch contiguous.
public protocol BenchScalar: KernelScalar {
    static var precision: BenchPrecision { get }

    /// LIBXSMM (column-major) JIT kernel C = A·op(B) (+ C), or nil.
    static func xsmmDispatch(_ m: Int, _ n: Int, _ k: Int, lda: Int, ldb: Int, ldc: Int,
                             accumulate: Bool, transB: Bool) -> UnsafeRawPointer?

    /// Calls a LIBXSMM kernel; `vzeroupper` clears the upper vector state it leaves.
    static func xsmmCall(_ kernel: UnsafeRawPointer, _ a: UnsafePointer<Self>,
                         _ b: UnsafePointer<Self>, _ c: UnsafeMutablePointer<Self>, vzeroupper: Bool)
}

extension BenchScalar {
    /// lp_resnet_fwd_* of the given family (`_ref`, `_avx2`, `_avx512`), called directly.
    public static func resnetForward(_ family: KernelFamily, _ w: Int, _ batch: Int, _ beta: Self,
                              _ W: UnsafePointer<Self>, _ ldw: Int, _ b: UnsafePointer<Self>,
                              _ X: UnsafePointer<Self>, _ ldx: Int,
                              _ Y: UnsafeMutablePointer<Self>, _ ldy: Int,
                              _ Z: UnsafeMutablePointer<Self>?, _ ldz: Int,
                              _ M: UnsafeMutablePointer<UInt8>? = nil, _ ldm: Int = 0) {
        _resnetForward(family, w, batch, beta, W, ldw, b, X, ldx, Y, ldy, Z, ldz, M, ldm)
    }

    /// lp_resnet_adj_* of the given family, called directly.
    public static func resnetAdjoint(_ family: KernelFamily, _ w: Int, _ batch: Int, _ beta: Self,
                              _ W: UnsafePointer<Self>, _ ldw: Int,
                              _ X: UnsafePointer<Self>, _ ldx: Int,
                              _ Z: UnsafePointer<Self>?, _ ldz: Int,
                              _ Lp: UnsafePointer<Self>, _ ldlp: Int,
                              _ L: UnsafeMutablePointer<Self>, _ ldl: Int,
                              _ dW: UnsafeMutablePointer<Self>, _ lddw: Int,
                              _ db: UnsafeMutablePointer<Self>,
                              mask M: UnsafePointer<UInt8>? = nil, _ ldm: Int = 0) {
        _resnetAdjoint(family, w, batch, beta, W, ldw, X, ldx, Z, ldz, M, ldm,
                       Lp, ldlp, L, ldl, dW, lddw, db)
    }

    /// Row-major CBLAS GEMM: C = alpha·op(A)·op(B) + beta·C (C is m×n, k inner).
    public static func gemm(transA: Bool, transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Self,
                     _ A: UnsafePointer<Self>, _ lda: Int, _ B: UnsafePointer<Self>, _ ldb: Int,
                     _ beta: Self, _ C: UnsafeMutablePointer<Self>, _ ldc: Int) {
        _gemm(transA: transA, transB: transB, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc)
    }
}

extension Double: BenchScalar {
    public static var precision: BenchPrecision { .double }

    public static func xsmmDispatch(_ m: Int, _ n: Int, _ k: Int, lda: Int, ldb: Int, ldc: Int,
                             accumulate: Bool, transB: Bool) -> UnsafeRawPointer? {
        lp_xsmm_dispatch_f64(Int32(m), Int32(n), Int32(k), Int32(lda), Int32(ldb), Int32(ldc),
                             accumulate ? 1 : 0, transB ? 1 : 0)
    }

    public static func xsmmCall(_ kernel: UnsafeRawPointer, _ a: UnsafePointer<Double>,
                         _ b: UnsafePointer<Double>, _ c: UnsafeMutablePointer<Double>, vzeroupper: Bool) {
        lp_xsmm_call_f64(kernel, a, b, c, vzeroupper ? 1 : 0)
    }
}

extension Float: BenchScalar {
    public static var precision: BenchPrecision { .float }

    public static func xsmmDispatch(_ m: Int, _ n: Int, _ k: Int, lda: Int, ldb: Int, ldc: Int,
                             accumulate: Bool, transB: Bool) -> UnsafeRawPointer? {
        lp_xsmm_dispatch_f32(Int32(m), Int32(n), Int32(k), Int32(lda), Int32(ldb), Int32(ldc),
                             accumulate ? 1 : 0, transB ? 1 : 0)
    }

    public static func xsmmCall(_ kernel: UnsafeRawPointer, _ a: UnsafePointer<Float>,
                         _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>, vzeroupper: Bool) {
        lp_xsmm_call_f32(kernel, a, b, c, vzeroupper ? 1 : 0)
    }
}

/// LIBXSMM's own state: JIT set-up and the upper vector state its kernels leave.
public enum LIBXSMM {
    public static func initialize() { lp_xsmm_init() }
    public static func vzeroupper() { lp_xsmm_vzeroupper() }
    /// The instruction set LIBXSMM generates code for ("hsw", "skx", …).
    public static var targetArchitecture: String { String(cString: lp_xsmm_target_arch()) }
}
