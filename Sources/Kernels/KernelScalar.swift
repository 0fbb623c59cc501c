import CKernels
import COpenBLAS

/// The element types the kernels exist for: `Double` (what the solver uses) and `Float`.
///
/// The underscored requirements are the bridge to C (CKernels and CBLAS) and
/// are not meant to be called directly: use ``Matrix``, ``Vector`` and
/// ``LayerKernels``, which check shapes first. `family == nil` calls the
/// run-time dispatched kernel (see ``KernelFamily``).
public protocol KernelScalar: BinaryFloatingPoint, Sendable {
    /// Short name for messages: "double" or "float".
    static var precisionName: String { get }

    static func _resnetForward(
        _ family: KernelFamily?, _ w: Int, _ B: Int, _ beta: Self,
        _ W: UnsafePointer<Self>, _ ldw: Int, _ b: UnsafePointer<Self>,
        _ X: UnsafePointer<Self>, _ ldx: Int, _ Y: UnsafeMutablePointer<Self>, _ ldy: Int,
        _ Z: UnsafeMutablePointer<Self>?, _ ldz: Int, _ M: UnsafeMutablePointer<UInt8>?, _ ldm: Int)
    static func _resnetAdjoint(
        _ family: KernelFamily?, _ w: Int, _ B: Int, _ beta: Self,
        _ W: UnsafePointer<Self>, _ ldw: Int, _ X: UnsafePointer<Self>?, _ ldx: Int,
        _ Z: UnsafePointer<Self>?, _ ldz: Int, _ M: UnsafePointer<UInt8>?, _ ldm: Int,
        _ Lp: UnsafePointer<Self>, _ ldlp: Int,
        _ L: UnsafeMutablePointer<Self>?, _ ldl: Int,
        _ dW: UnsafeMutablePointer<Self>?, _ lddw: Int, _ db: UnsafeMutablePointer<Self>?)
    static func _denseForward(
        _ family: KernelFamily?, _ m: Int, _ n: Int, _ B: Int, _ act: Activation,
        _ W: UnsafePointer<Self>, _ ldw: Int, _ b: UnsafePointer<Self>,
        _ X: UnsafePointer<Self>, _ ldx: Int, _ Y: UnsafeMutablePointer<Self>, _ ldy: Int,
        _ Z: UnsafeMutablePointer<Self>?, _ ldz: Int)
    static func _denseAdjoint(
        _ family: KernelFamily?, _ m: Int, _ n: Int, _ B: Int, _ act: Activation,
        _ W: UnsafePointer<Self>, _ ldw: Int, _ X: UnsafePointer<Self>?, _ ldx: Int,
        _ Z: UnsafePointer<Self>?, _ ldz: Int, _ Lout: UnsafePointer<Self>, _ ldlo: Int,
        _ Lin: UnsafeMutablePointer<Self>?, _ ldli: Int,
        _ dW: UnsafeMutablePointer<Self>?, _ lddw: Int, _ db: UnsafeMutablePointer<Self>?)

    /// y[0..<n] += a·x[0..<n] (CBLAS axpy, unit stride).
    static func _axpy(_ n: Int, _ a: Self, _ x: UnsafePointer<Self>, _ y: UnsafeMutablePointer<Self>)
    /// Σ x[i]·y[i] over n contiguous elements (CBLAS dot).
    static func _dot(_ n: Int, _ x: UnsafePointer<Self>, _ y: UnsafePointer<Self>) -> Self
    /// x[0..<n] *= a (CBLAS scal).
    static func _scal(_ n: Int, _ a: Self, _ x: UnsafeMutablePointer<Self>)
    /// Row-major CBLAS GEMM: C = alpha·op(A)·op(B) + beta·C (C is m×n, k inner);
    /// the unfused baseline of the kernel benchmark.
    static func _gemm(transA: Bool, transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Self,
                      _ A: UnsafePointer<Self>, _ lda: Int, _ B: UnsafePointer<Self>, _ ldb: Int,
                      _ beta: Self, _ C: UnsafeMutablePointer<Self>, _ ldc: Int)
}

@inline(__always) private func cblasTrans(_ t: Bool) -> CBLAS_TRANSPOSE {
    t ? CblasTrans : CblasNoTrans
}

/// Activation of a dense (non-residual) layer.
public enum Activation: String, CaseIterable, Sendable {
    case identity
    case relu

    var cValue: lp_activation { self == .relu ? LP_ACT_RELU : LP_ACT_IDENTITY }
}

extension Double: KernelScalar {
    public static var precisionName: String { "double" }

    public static func _resnetForward(
        _ family: KernelFamily?, _ w: Int, _ B: Int, _ beta: Double,
        _ W: UnsafePointer<Double>, _ ldw: Int, _ b: UnsafePointer<Double>,
        _ X: UnsafePointer<Double>, _ ldx: Int, _ Y: UnsafeMutablePointer<Double>, _ ldy: Int,
        _ Z: UnsafeMutablePointer<Double>?, _ ldz: Int, _ M: UnsafeMutablePointer<UInt8>?, _ ldm: Int
    ) {
        switch family {
        case nil: lp_resnet_fwd_f64(w, B, beta, W, ldw, b, X, ldx, Y, ldy, Z, ldz, M, ldm)
        case .reference: lp_resnet_fwd_f64_ref(w, B, beta, W, ldw, b, X, ldx, Y, ldy, Z, ldz, M, ldm)
        case .avx2: lp_resnet_fwd_f64_avx2(w, B, beta, W, ldw, b, X, ldx, Y, ldy, Z, ldz, M, ldm)
        case .avx512: lp_resnet_fwd_f64_avx512(w, B, beta, W, ldw, b, X, ldx, Y, ldy, Z, ldz, M, ldm)
        }
    }

    public static func _resnetAdjoint(
        _ family: KernelFamily?, _ w: Int, _ B: Int, _ beta: Double,
        _ W: UnsafePointer<Double>, _ ldw: Int, _ X: UnsafePointer<Double>?, _ ldx: Int,
        _ Z: UnsafePointer<Double>?, _ ldz: Int, _ M: UnsafePointer<UInt8>?, _ ldm: Int,
        _ Lp: UnsafePointer<Double>, _ ldlp: Int,
        _ L: UnsafeMutablePointer<Double>?, _ ldl: Int,
        _ dW: UnsafeMutablePointer<Double>?, _ lddw: Int, _ db: UnsafeMutablePointer<Double>?
    ) {
        switch family {
        case nil: lp_resnet_adj_f64(w, B, beta, W, ldw, X, ldx, Z, ldz, M, ldm, Lp, ldlp, L, ldl, dW, lddw, db)
        case .reference: lp_resnet_adj_f64_ref(w, B, beta, W, ldw, X, ldx, Z, ldz, M, ldm, Lp, ldlp, L, ldl, dW, lddw, db)
        case .avx2: lp_resnet_adj_f64_avx2(w, B, beta, W, ldw, X, ldx, Z, ldz, M, ldm, Lp, ldlp, L, ldl, dW, lddw, db)
        case .avx512: lp_resnet_adj_f64_avx512(w, B, beta, W, ldw, X, ldx, Z, ldz, M, ldm, Lp, ldlp, L, ldl, dW, lddw, db)
        }
    }

    public static func _denseForward(
        _ family: KernelFamily?, _ m: Int, _ n: Int, _ B: Int, _ act: Activation,
        _ W: UnsafePointer<Double>, _ ldw: Int, _ b: UnsafePointer<Double>,
        _ X: UnsafePointer<Double>, _ ldx: Int, _ Y: UnsafeMutablePointer<Double>, _ ldy: Int,
        _ Z: UnsafeMutablePointer<Double>?, _ ldz: Int
    ) {
        let a = act.cValue
        switch family {
        case nil: lp_dense_fwd_f64(m, n, B, a, W, ldw, b, X, ldx, Y, ldy, Z, ldz)
        case .reference: lp_dense_fwd_f64_ref(m, n, B, a, W, ldw, b, X, ldx, Y, ldy, Z, ldz)
        case .avx2: lp_dense_fwd_f64_avx2(m, n, B, a, W, ldw, b, X, ldx, Y, ldy, Z, ldz)
        case .avx512: lp_dense_fwd_f64_avx512(m, n, B, a, W, ldw, b, X, ldx, Y, ldy, Z, ldz)
        }
    }

    public static func _denseAdjoint(
        _ family: KernelFamily?, _ m: Int, _ n: Int, _ B: Int, _ act: Activation,
        _ W: UnsafePointer<Double>, _ ldw: Int, _ X: UnsafePointer<Double>?, _ ldx: Int,
        _ Z: UnsafePointer<Double>?, _ ldz: Int, _ Lout: UnsafePointer<Double>, _ ldlo: Int,
        _ Lin: UnsafeMutablePointer<Double>?, _ ldli: Int,
        _ dW: UnsafeMutablePointer<Double>?, _ lddw: Int, _ db: UnsafeMutablePointer<Double>?
    ) {
        let a = act.cValue
        switch family {
        case nil: lp_dense_adj_f64(m, n, B, a, W, ldw, X, ldx, Z, ldz, Lout, ldlo, Lin, ldli, dW, lddw, db)
        case .reference: lp_dense_adj_f64_ref(m, n, B, a, W, ldw, X, ldx, Z, ldz, Lout, ldlo, Lin, ldli, dW, lddw, db)
        case .avx2: lp_dense_adj_f64_avx2(m, n, B, a, W, ldw, X, ldx, Z, ldz, Lout, ldlo, Lin, ldli, dW, lddw, db)
        case .avx512: lp_dense_adj_f64_avx512(m, n, B, a, W, ldw, X, ldx, Z, ldz, Lout, ldlo, Lin, ldli, dW, lddw, db)
        }
    }

    public static func _axpy(_ n: Int, _ a: Double, _ x: UnsafePointer<Double>, _ y: UnsafeMutablePointer<Double>) {
        cblas_daxpy(blasint(n), a, x, 1, y, 1)
    }
    public static func _dot(_ n: Int, _ x: UnsafePointer<Double>, _ y: UnsafePointer<Double>) -> Double {
        cblas_ddot(blasint(n), x, 1, y, 1)
    }
    public static func _scal(_ n: Int, _ a: Double, _ x: UnsafeMutablePointer<Double>) {
        cblas_dscal(blasint(n), a, x, 1)
    }
    public static func _gemm(transA: Bool, transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Double,
                             _ A: UnsafePointer<Double>, _ lda: Int, _ B: UnsafePointer<Double>, _ ldb: Int,
                             _ beta: Double, _ C: UnsafeMutablePointer<Double>, _ ldc: Int) {
        cblas_dgemm(CblasRowMajor, cblasTrans(transA), cblasTrans(transB),
                    blasint(m), blasint(n), blasint(k), alpha, A, blasint(lda), B, blasint(ldb),
                    beta, C, blasint(ldc))
    }
}

extension Float: KernelScalar {
    public static var precisionName: String { "float" }

    public static func _resnetForward(
        _ family: KernelFamily?, _ w: Int, _ B: Int, _ beta: Float,
        _ W: UnsafePointer<Float>, _ ldw: Int, _ b: UnsafePointer<Float>,
        _ X: UnsafePointer<Float>, _ ldx: Int, _ Y: UnsafeMutablePointer<Float>, _ ldy: Int,
        _ Z: UnsafeMutablePointer<Float>?, _ ldz: Int, _ M: UnsafeMutablePointer<UInt8>?, _ ldm: Int
    ) {
        switch family {
        case nil: lp_resnet_fwd_f32(w, B, beta, W, ldw, b, X, ldx, Y, ldy, Z, ldz, M, ldm)
        case .reference: lp_resnet_fwd_f32_ref(w, B, beta, W, ldw, b, X, ldx, Y, ldy, Z, ldz, M, ldm)
        case .avx2: lp_resnet_fwd_f32_avx2(w, B, beta, W, ldw, b, X, ldx, Y, ldy, Z, ldz, M, ldm)
        case .avx512: lp_resnet_fwd_f32_avx512(w, B, beta, W, ldw, b, X, ldx, Y, ldy, Z, ldz, M, ldm)
        }
    }

    public static func _resnetAdjoint(
        _ family: KernelFamily?, _ w: Int, _ B: Int, _ beta: Float,
        _ W: UnsafePointer<Float>, _ ldw: Int, _ X: UnsafePointer<Float>?, _ ldx: Int,
        _ Z: UnsafePointer<Float>?, _ ldz: Int, _ M: UnsafePointer<UInt8>?, _ ldm: Int,
        _ Lp: UnsafePointer<Float>, _ ldlp: Int,
        _ L: UnsafeMutablePointer<Float>?, _ ldl: Int,
        _ dW: UnsafeMutablePointer<Float>?, _ lddw: Int, _ db: UnsafeMutablePointer<Float>?
    ) {
        switch family {
        case nil: lp_resnet_adj_f32(w, B, beta, W, ldw, X, ldx, Z, ldz, M, ldm, Lp, ldlp, L, ldl, dW, lddw, db)
        case .reference: lp_resnet_adj_f32_ref(w, B, beta, W, ldw, X, ldx, Z, ldz, M, ldm, Lp, ldlp, L, ldl, dW, lddw, db)
        case .avx2: lp_resnet_adj_f32_avx2(w, B, beta, W, ldw, X, ldx, Z, ldz, M, ldm, Lp, ldlp, L, ldl, dW, lddw, db)
        case .avx512: lp_resnet_adj_f32_avx512(w, B, beta, W, ldw, X, ldx, Z, ldz, M, ldm, Lp, ldlp, L, ldl, dW, lddw, db)
        }
    }

    public static func _denseForward(
        _ family: KernelFamily?, _ m: Int, _ n: Int, _ B: Int, _ act: Activation,
        _ W: UnsafePointer<Float>, _ ldw: Int, _ b: UnsafePointer<Float>,
        _ X: UnsafePointer<Float>, _ ldx: Int, _ Y: UnsafeMutablePointer<Float>, _ ldy: Int,
        _ Z: UnsafeMutablePointer<Float>?, _ ldz: Int
    ) {
        let a = act.cValue
        switch family {
        case nil: lp_dense_fwd_f32(m, n, B, a, W, ldw, b, X, ldx, Y, ldy, Z, ldz)
        case .reference: lp_dense_fwd_f32_ref(m, n, B, a, W, ldw, b, X, ldx, Y, ldy, Z, ldz)
        case .avx2: lp_dense_fwd_f32_avx2(m, n, B, a, W, ldw, b, X, ldx, Y, ldy, Z, ldz)
        case .avx512: lp_dense_fwd_f32_avx512(m, n, B, a, W, ldw, b, X, ldx, Y, ldy, Z, ldz)
        }
    }

    public static func _denseAdjoint(
        _ family: KernelFamily?, _ m: Int, _ n: Int, _ B: Int, _ act: Activation,
        _ W: UnsafePointer<Float>, _ ldw: Int, _ X: UnsafePointer<Float>?, _ ldx: Int,
        _ Z: UnsafePointer<Float>?, _ ldz: Int, _ Lout: UnsafePointer<Float>, _ ldlo: Int,
        _ Lin: UnsafeMutablePointer<Float>?, _ ldli: Int,
        _ dW: UnsafeMutablePointer<Float>?, _ lddw: Int, _ db: UnsafeMutablePointer<Float>?
    ) {
        let a = act.cValue
        switch family {
        case nil: lp_dense_adj_f32(m, n, B, a, W, ldw, X, ldx, Z, ldz, Lout, ldlo, Lin, ldli, dW, lddw, db)
        case .reference: lp_dense_adj_f32_ref(m, n, B, a, W, ldw, X, ldx, Z, ldz, Lout, ldlo, Lin, ldli, dW, lddw, db)
        case .avx2: lp_dense_adj_f32_avx2(m, n, B, a, W, ldw, X, ldx, Z, ldz, Lout, ldlo, Lin, ldli, dW, lddw, db)
        case .avx512: lp_dense_adj_f32_avx512(m, n, B, a, W, ldw, X, ldx, Z, ldz, Lout, ldlo, Lin, ldli, dW, lddw, db)
        }
    }

    public static func _axpy(_ n: Int, _ a: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        cblas_saxpy(blasint(n), a, x, 1, y, 1)
    }
    public static func _dot(_ n: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Float {
        cblas_sdot(blasint(n), x, 1, y, 1)
    }
    public static func _scal(_ n: Int, _ a: Float, _ x: UnsafeMutablePointer<Float>) {
        cblas_sscal(blasint(n), a, x, 1)
    }
    public static func _gemm(transA: Bool, transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
                             _ A: UnsafePointer<Float>, _ lda: Int, _ B: UnsafePointer<Float>, _ ldb: Int,
                             _ beta: Float, _ C: UnsafeMutablePointer<Float>, _ ldc: Int) {
        cblas_sgemm(CblasRowMajor, cblasTrans(transA), cblasTrans(transB),
                    blasint(m), blasint(n), blasint(k), alpha, A, blasint(lda), B, blasint(ldb),
                    beta, C, blasint(ldc))
    }
}
