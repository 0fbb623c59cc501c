import ArgumentParser
import CKernels
import Kernels
import COpenBLAS
import CXSMM

/// The precision of a kernel benchmark run.
enum BenchPrecision: String, CaseIterable, ExpressibleByArgument, Codable, Sendable {
    case double
    case float

    /// SIMD lanes of one 256-bit (AVX2) register.
    var avx2Lanes: Int { self == .double ? 4 : 8 }
    /// The BLAS routine a user would call.
    var gemmName: String { self == .double ? "dgemm" : "sgemm" }
}

/// One element type the kernel benchmark runs in: the C entry points of our
/// kernels, OpenBLAS and LIBXSMM for that type, behind one generic interface
/// so the timing code is written once.
///
/// All matrices follow layerpar_kernels.h: row-major, batch contiguous.
protocol BenchScalar: KernelScalar {
    static var precision: BenchPrecision { get }

    /// lp_resnet_fwd_*: `reference` calls `_ref`, otherwise the dispatching kernel.
    static func resnetForward(reference: Bool, _ w: Int, _ batch: Int, _ beta: Self,
                              _ W: UnsafePointer<Self>, _ ldw: Int, _ b: UnsafePointer<Self>,
                              _ X: UnsafePointer<Self>, _ ldx: Int,
                              _ Y: UnsafeMutablePointer<Self>, _ ldy: Int,
                              _ Z: UnsafeMutablePointer<Self>?, _ ldz: Int)

    /// lp_resnet_adj_*: `reference` calls `_ref`, otherwise the dispatching kernel.
    static func resnetAdjoint(reference: Bool, _ w: Int, _ batch: Int, _ beta: Self,
                              _ W: UnsafePointer<Self>, _ ldw: Int,
                              _ X: UnsafePointer<Self>, _ ldx: Int,
                              _ Z: UnsafePointer<Self>, _ ldz: Int,
                              _ Lp: UnsafePointer<Self>, _ ldlp: Int,
                              _ L: UnsafeMutablePointer<Self>, _ ldl: Int,
                              _ dW: UnsafeMutablePointer<Self>, _ lddw: Int,
                              _ db: UnsafeMutablePointer<Self>)

    /// Row-major CBLAS GEMM: C = alpha·op(A)·op(B) + beta·C (C is m×n, k inner).
    static func gemm(transA: Bool, transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Self,
                     _ A: UnsafePointer<Self>, _ lda: Int, _ B: UnsafePointer<Self>, _ ldb: Int,
                     _ beta: Self, _ C: UnsafeMutablePointer<Self>, _ ldc: Int)


    /// LIBXSMM (column-major) JIT kernel C = A·op(B) (+ C), or nil.
    static func xsmmDispatch(_ m: Int, _ n: Int, _ k: Int, lda: Int, ldb: Int, ldc: Int,
                             accumulate: Bool, transB: Bool) -> UnsafeRawPointer?

    /// Calls a LIBXSMM kernel; `vzeroupper` clears the upper vector state it leaves.
    static func xsmmCall(_ kernel: UnsafeRawPointer, _ a: UnsafePointer<Self>,
                         _ b: UnsafePointer<Self>, _ c: UnsafeMutablePointer<Self>, vzeroupper: Bool)
}

@inline(__always) private func cblasTrans(_ t: Bool) -> CBLAS_TRANSPOSE {
    t ? CblasTrans : CblasNoTrans
}

extension Double: BenchScalar {
    static var precision: BenchPrecision { .double }

    static func resnetForward(reference: Bool, _ w: Int, _ batch: Int, _ beta: Double,
                              _ W: UnsafePointer<Double>, _ ldw: Int, _ b: UnsafePointer<Double>,
                              _ X: UnsafePointer<Double>, _ ldx: Int,
                              _ Y: UnsafeMutablePointer<Double>, _ ldy: Int,
                              _ Z: UnsafeMutablePointer<Double>?, _ ldz: Int) {
        if reference {
            lp_resnet_fwd_f64_ref(w, batch, beta, W, ldw, b, X, ldx, Y, ldy, Z, ldz)
        } else {
            lp_resnet_fwd_f64(w, batch, beta, W, ldw, b, X, ldx, Y, ldy, Z, ldz)
        }
    }

    static func resnetAdjoint(reference: Bool, _ w: Int, _ batch: Int, _ beta: Double,
                              _ W: UnsafePointer<Double>, _ ldw: Int,
                              _ X: UnsafePointer<Double>, _ ldx: Int,
                              _ Z: UnsafePointer<Double>, _ ldz: Int,
                              _ Lp: UnsafePointer<Double>, _ ldlp: Int,
                              _ L: UnsafeMutablePointer<Double>, _ ldl: Int,
                              _ dW: UnsafeMutablePointer<Double>, _ lddw: Int,
                              _ db: UnsafeMutablePointer<Double>) {
        if reference {
            lp_resnet_adj_f64_ref(w, batch, beta, W, ldw, X, ldx, Z, ldz, Lp, ldlp, L, ldl, dW, lddw, db)
        } else {
            lp_resnet_adj_f64(w, batch, beta, W, ldw, X, ldx, Z, ldz, Lp, ldlp, L, ldl, dW, lddw, db)
        }
    }

    static func gemm(transA: Bool, transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Double,
                     _ A: UnsafePointer<Double>, _ lda: Int, _ B: UnsafePointer<Double>, _ ldb: Int,
                     _ beta: Double, _ C: UnsafeMutablePointer<Double>, _ ldc: Int) {
        cblas_dgemm(CblasRowMajor, cblasTrans(transA), cblasTrans(transB),
                    blasint(m), blasint(n), blasint(k), alpha, A, blasint(lda), B, blasint(ldb),
                    beta, C, blasint(ldc))
    }


    static func xsmmDispatch(_ m: Int, _ n: Int, _ k: Int, lda: Int, ldb: Int, ldc: Int,
                             accumulate: Bool, transB: Bool) -> UnsafeRawPointer? {
        lp_xsmm_dispatch_f64(Int32(m), Int32(n), Int32(k), Int32(lda), Int32(ldb), Int32(ldc),
                             accumulate ? 1 : 0, transB ? 1 : 0)
    }

    static func xsmmCall(_ kernel: UnsafeRawPointer, _ a: UnsafePointer<Double>,
                         _ b: UnsafePointer<Double>, _ c: UnsafeMutablePointer<Double>, vzeroupper: Bool) {
        lp_xsmm_call_f64(kernel, a, b, c, vzeroupper ? 1 : 0)
    }
}

extension Float: BenchScalar {
    static var precision: BenchPrecision { .float }

    static func resnetForward(reference: Bool, _ w: Int, _ batch: Int, _ beta: Float,
                              _ W: UnsafePointer<Float>, _ ldw: Int, _ b: UnsafePointer<Float>,
                              _ X: UnsafePointer<Float>, _ ldx: Int,
                              _ Y: UnsafeMutablePointer<Float>, _ ldy: Int,
                              _ Z: UnsafeMutablePointer<Float>?, _ ldz: Int) {
        if reference {
            lp_resnet_fwd_f32_ref(w, batch, beta, W, ldw, b, X, ldx, Y, ldy, Z, ldz)
        } else {
            lp_resnet_fwd_f32(w, batch, beta, W, ldw, b, X, ldx, Y, ldy, Z, ldz)
        }
    }

    static func resnetAdjoint(reference: Bool, _ w: Int, _ batch: Int, _ beta: Float,
                              _ W: UnsafePointer<Float>, _ ldw: Int,
                              _ X: UnsafePointer<Float>, _ ldx: Int,
                              _ Z: UnsafePointer<Float>, _ ldz: Int,
                              _ Lp: UnsafePointer<Float>, _ ldlp: Int,
                              _ L: UnsafeMutablePointer<Float>, _ ldl: Int,
                              _ dW: UnsafeMutablePointer<Float>, _ lddw: Int,
                              _ db: UnsafeMutablePointer<Float>) {
        if reference {
            lp_resnet_adj_f32_ref(w, batch, beta, W, ldw, X, ldx, Z, ldz, Lp, ldlp, L, ldl, dW, lddw, db)
        } else {
            lp_resnet_adj_f32(w, batch, beta, W, ldw, X, ldx, Z, ldz, Lp, ldlp, L, ldl, dW, lddw, db)
        }
    }

    static func gemm(transA: Bool, transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
                     _ A: UnsafePointer<Float>, _ lda: Int, _ B: UnsafePointer<Float>, _ ldb: Int,
                     _ beta: Float, _ C: UnsafeMutablePointer<Float>, _ ldc: Int) {
        cblas_sgemm(CblasRowMajor, cblasTrans(transA), cblasTrans(transB),
                    blasint(m), blasint(n), blasint(k), alpha, A, blasint(lda), B, blasint(ldb),
                    beta, C, blasint(ldc))
    }


    static func xsmmDispatch(_ m: Int, _ n: Int, _ k: Int, lda: Int, ldb: Int, ldc: Int,
                             accumulate: Bool, transB: Bool) -> UnsafeRawPointer? {
        lp_xsmm_dispatch_f32(Int32(m), Int32(n), Int32(k), Int32(lda), Int32(ldb), Int32(ldc),
                             accumulate ? 1 : 0, transB ? 1 : 0)
    }

    static func xsmmCall(_ kernel: UnsafeRawPointer, _ a: UnsafePointer<Float>,
                         _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>, vzeroupper: Bool) {
        lp_xsmm_call_f32(kernel, a, b, c, vzeroupper ? 1 : 0)
    }
}
