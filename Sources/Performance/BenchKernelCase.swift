import Kernels
import ResNet
import Foundation

/// The two residual-layer kernels the benchmark times.
public enum BenchKernel: String, CaseIterable, Codable, Sendable {
    case forward
    case adjoint

    /// GEMMs per call: the forward is W·X, the adjoint Wᵀ·G and G·Xᵀ.
    public var gemmCount: Int { self == .forward ? 1 : 2 }
}

/// The implementations compared for each kernel and shape.
public enum BenchImpl: String, CaseIterable, Codable, Sendable {
    /// Our plain C kernel (`*_ref`).
    case reference
    /// Our fused AVX2+FMA kernel.
    case avx2
    /// Our fused AVX-512 kernel (the same template with 512-bit vectors).
    case avx512
    /// The same kernel with a ReLU mask (one byte per entry) in place of Z: the
    /// forward writes the mask instead of Z (when Z is stored), the adjoint reads it.
    case avx2Mask = "avx2-mask"
    /// OpenBLAS GEMM(s) plus a separate loop for bias/ReLU/residual (forward)
    /// or mask/copy/bias-gradient (adjoint): what a user would otherwise write.
    case openblas
    /// OpenBLAS GEMM(s) alone.
    case openblasGemm = "openblas-gemm"
    /// LIBXSMM JIT GEMM(s) plus the same separate loops.
    case libxsmm
    /// LIBXSMM JIT GEMM(s) alone.
    case libxsmmGemm = "libxsmm-gemm"
}

/// One runnable implementation: `run(n)` makes n back-to-back calls.
public struct BenchRunner {
    public let impl: BenchImpl
    /// Why the implementation cannot run on this shape, or nil.
    public let unavailable: String?
    public let run: (Int) -> Void
}

/// A 64-byte-aligned, zero-initialised buffer (Kernels' ``AlignedStorage``).
public final class BenchBuffer<T: BenchScalar> {
    private let storage: AlignedStorage<T>
    public let pointer: UnsafeMutablePointer<T>
    public let count: Int

    public init(_ count: Int) {
        storage = AlignedStorage(count: max(count, 1))
        pointer = storage.base
        self.count = storage.count
    }

    public var const: UnsafePointer<T> { UnsafePointer(pointer) }

    /// Fills with uniform values in [-scale, scale] from a fixed-seed generator.
    public func fillRandom(scale: T, generator: inout SplitMix64Stream) {
        for i in 0..<count { pointer[i] = T(generator.uniform(-1...1)) * scale }
    }

    public func zero() { pointer.update(repeating: 0, count: count) }
}

/// All buffers of one benchmark shape (width w, batch B) and the runners of
/// every implementation on them.
///
/// Layout as in layerpar_kernels.h: feature-major, batch contiguous, leading
/// dimensions rounded up to a cache line. LIBXSMM is column-major; a
/// row-major w×B matrix is its column-major B×w transpose, so
///   forward  Yᵀ(B×w) = Xᵀ·Wᵀ          is LIBXSMM's  C = A·B   with A = X, B = W;
///   adjoint  Λᵀ(B×w) += Gᵀ·W          is            C += A·Bᵀ with A = G, B = W;
///            dWᵀ(w×w) += X·Gᵀ          is            C += A·B  with A = Xᵗ (X
///            transposed into a scratch buffer: LIBXSMM 1.17 cannot transpose A,
///            and with the batch contiguous both operands of G·Xᵀ would need it).
public final class BenchKernelCase<T: BenchScalar> {
    public let w: Int
    public let batch: Int
    public let beta: T = 0.5
    public let storeZ: Bool
    /// Whether LIBXSMM calls are followed by vzeroupper (see Sources/CXSMM/shim.h).
    public let vzeroupper: Bool
    /// Leading dimensions: of w-wide rows (W, dW) and of batch rows (X, Y, Z, Λ, G),
    /// and of the column-major w×B transpose of X.
    public let ldw: Int, ld: Int, ldxt: Int

    public let W, b, X, Y, Z, Lp, L, dW, db, G, Xt: BenchBuffer<T>
    /// ReLU'(Z) as bytes, for the mask variants.
    public let M: ReLUMask

    public init(width: Int, batch: Int, storeZ: Bool, vzeroupper: Bool, seed: UInt64) {
        w = width
        self.batch = batch
        self.storeZ = storeZ
        self.vzeroupper = vzeroupper
        let line = 64 / MemoryLayout<T>.stride
        ldw = (width + line - 1) / line * line
        ld = paddedLeadingDimension(batch, T.self)   // the layout Kernels allocates: no 1 KiB strides aliasing in L1
        ldxt = ldw
        W = BenchBuffer(width * ldw)
        b = BenchBuffer(width)
        X = BenchBuffer(width * ld)
        Y = BenchBuffer(width * ld)
        Z = BenchBuffer(width * ld)
        Lp = BenchBuffer(width * ld)
        L = BenchBuffer(width * ld)
        dW = BenchBuffer(width * ldw)
        db = BenchBuffer(width)
        G = BenchBuffer(width * ld)
        Xt = BenchBuffer(batch * ldxt)
        M = ReLUMask(rows: width, cols: batch)
        var rng = SplitMix64Stream(seed: seed)
        // W scaled by 1/√w keeps W·X of order one, so about half of the
        // pre-activations are positive and ReLU's mask is not trivial.
        W.fillRandom(scale: T(1 / Double(width).squareRoot()), generator: &rng)
        b.fillRandom(scale: 0.1, generator: &rng)
        X.fillRandom(scale: 1, generator: &rng)
        Z.fillRandom(scale: 1, generator: &rng)
        Lp.fillRandom(scale: 1, generator: &rng)
        refreshMask()
        transposeX()
    }

    /// M = ReLU'(Z) as bytes, for the mask variants.
    public func refreshMask() {
        for i in 0..<w { for j in 0..<batch { M.baseAddress[i * M.ld + j] = Z.pointer[i * ld + j] <= 0 ? 0 : 1 } }
    }

    /// GEMM flops of one call: 2·w·w·B per GEMM.
    public func flops(_ kernel: BenchKernel) -> Double {
        2 * Double(w) * Double(w) * Double(batch) * Double(kernel.gemmCount)
    }

    // MARK: the separate loops of the unfused baselines (plain Swift, as a user writes them)

    /// Y = X + β·ReLU(Z + b) after Z = W·X; stores Z + b back if Z is kept.
    public func forwardEpilogue() {
        let beta = self.beta, storeZ = self.storeZ
        for i in 0..<w {
            let bi = b.pointer[i]
            let x = X.pointer + i * ld, z = Z.pointer + i * ld, y = Y.pointer + i * ld
            for j in 0..<batch {
                let v = z[j] + bi
                if storeZ { z[j] = v }
                y[j] = x[j] + beta * (v <= 0 ? 0 : v)
            }
        }
    }

    /// G = scale·ReLU'(Z) ⊙ Λ⁺, Λ = Λ⁺ (the GEMM then adds β·Wᵀ·G), db += β·G·1.
    /// Four partial sums per row let the reduction vectorise.
    public func adjointPrologue(gScale: T) {
        let beta = self.beta
        for i in 0..<w {
            let z = Z.pointer + i * ld, lp = Lp.pointer + i * ld
            let g = G.pointer + i * ld, l = L.pointer + i * ld
            var s0: T = 0, s1: T = 0, s2: T = 0, s3: T = 0
            var j = 0
            while j + 4 <= batch {
                let g0 = z[j] <= 0 ? 0 : lp[j], g1 = z[j + 1] <= 0 ? 0 : lp[j + 1]
                let g2 = z[j + 2] <= 0 ? 0 : lp[j + 2], g3 = z[j + 3] <= 0 ? 0 : lp[j + 3]
                g[j] = gScale * g0; g[j + 1] = gScale * g1; g[j + 2] = gScale * g2; g[j + 3] = gScale * g3
                l[j] = lp[j]; l[j + 1] = lp[j + 1]; l[j + 2] = lp[j + 2]; l[j + 3] = lp[j + 3]
                s0 += g0; s1 += g1; s2 += g2; s3 += g3
                j += 4
            }
            while j < batch {
                let g0 = z[j] <= 0 ? 0 : lp[j]
                g[j] = gScale * g0
                l[j] = lp[j]
                s0 += g0
                j += 1
            }
            db.pointer[i] += beta * ((s0 + s1) + (s2 + s3))
        }
    }

    /// Xᵗ (column-major w×B, leading dimension ldxt) = X.
    public func transposeX() {
        for i in 0..<w {
            let x = X.pointer + i * ld
            for j in 0..<batch { Xt.pointer[i + j * ldxt] = x[j] }
        }
    }

    // MARK: runners

    /// The runners of `kernel`; `unavailable` says why a kernel family cannot
    /// run here (its runners are then listed but not run).
    public func runners(_ kernel: BenchKernel, unavailable: [KernelFamily: String]) -> [BenchRunner] {
        switch kernel {
        case .forward: return forwardRunners(unavailable)
        case .adjoint: return adjointRunners(unavailable)
        }
    }

    private func forwardRunners(_ unavailable: [KernelFamily: String]) -> [BenchRunner] {
        let (w, B, beta, ldw, ld, vz) = (self.w, batch, self.beta, self.ldw, self.ld, vzeroupper)
        let (Wp, bp, Xp, Yp, Zp) = (W.const, b.const, X.const, Y.pointer, Z.pointer)
        let zOut: UnsafeMutablePointer<T>? = storeZ ? Zp : nil
        func fused(_ family: KernelFamily) -> (Int) -> Void {
            { n in for _ in 0..<n { T.resnetForward(family, w, B, beta, Wp, ldw, bp, Xp, ld, Yp, ld, zOut, ld) } }
        }
        let (mOut, ldm) = (storeZ ? M.baseAddress : nil, M.ld)
        let masked: (Int) -> Void = { n in
            for _ in 0..<n { T.resnetForward(.avx2, w, B, beta, Wp, ldw, bp, Xp, ld, Yp, ld, nil, ld, mOut, ldm) }
        }
        let gemm: (Int) -> Void = { n in
            for _ in 0..<n { T.gemm(transA: false, transB: false, w, B, w, 1, Wp, ldw, Xp, ld, 0, Zp, ld) }
        }
        let xsmm = T.xsmmDispatch(B, w, w, lda: ld, ldb: ldw, ldc: ld, accumulate: false, transB: false)
        let xsmmNote = xsmm == nil ? "LIBXSMM could not JIT the \(B)×\(w)×\(w) GEMM" : nil
        let xsmmGemm: (Int) -> Void = { n in
            guard let k = xsmm else { return }
            for _ in 0..<n { T.xsmmCall(k, Xp, Wp, Zp, vzeroupper: vz) }
        }
        return [
            BenchRunner(impl: .reference, unavailable: nil, run: fused(.reference)),
            BenchRunner(impl: .avx2, unavailable: unavailable[.avx2], run: fused(.avx2)),
            BenchRunner(impl: .avx512, unavailable: unavailable[.avx512], run: fused(.avx512)),
            BenchRunner(impl: .avx2Mask, unavailable: unavailable[.avx2], run: masked),
            BenchRunner(impl: .openblas, unavailable: nil, run: { n in
                for _ in 0..<n { gemm(1); self.forwardEpilogue() }
            }),
            BenchRunner(impl: .openblasGemm, unavailable: nil, run: gemm),
            BenchRunner(impl: .libxsmm, unavailable: xsmmNote, run: { n in
                for _ in 0..<n { xsmmGemm(1); self.forwardEpilogue() }
            }),
            BenchRunner(impl: .libxsmmGemm, unavailable: xsmmNote, run: xsmmGemm),
        ]
    }

    private func adjointRunners(_ unavailable: [KernelFamily: String]) -> [BenchRunner] {
        let (w, B, beta, ldw, ld, ldxt, vz) = (self.w, batch, self.beta, self.ldw, self.ld, self.ldxt, vzeroupper)
        let (Wp, Xp, Zp, Lpp) = (W.const, X.const, Z.const, Lp.const)
        let (Lout, dWp, dbp, Gc, Xtc) = (L.pointer, dW.pointer, db.pointer, G.const, Xt.const)
        func fused(_ family: KernelFamily) -> (Int) -> Void {
            { n in
                for _ in 0..<n {
                    T.resnetAdjoint(family, w, B, beta, Wp, ldw, Xp, ld, Zp, ld, Lpp, ld, Lout, ld, dWp, ldw, dbp)
                }
            }
        }
        let (Mp, ldm) = (UnsafePointer(M.baseAddress), M.ld)
        let masked: (Int) -> Void = { n in
            for _ in 0..<n {
                T.resnetAdjoint(.avx2, w, B, beta, Wp, ldw, Xp, ld, nil, ld, Lpp, ld, Lout, ld, dWp, ldw, dbp,
                                mask: Mp, ldm)
            }
        }
        // OpenBLAS: Λ += β·Wᵀ·G, dW += β·G·Xᵀ (row-major, transposes by flag).
        let gemms: (Int) -> Void = { n in
            for _ in 0..<n {
                T.gemm(transA: true, transB: false, w, B, w, beta, Wp, ldw, Gc, ld, 1, Lout, ld)
                T.gemm(transA: false, transB: true, w, w, B, beta, Gc, ld, Xp, ld, 1, dWp, ldw)
            }
        }
        // LIBXSMM has alpha = 1 only, so G carries the factor β.
        let kL = T.xsmmDispatch(B, w, w, lda: ld, ldb: ldw, ldc: ld, accumulate: true, transB: true)
        let kW = T.xsmmDispatch(w, w, B, lda: ldxt, ldb: ld, ldc: ldw, accumulate: true, transB: false)
        let xsmmNote = (kL == nil || kW == nil)
            ? "LIBXSMM could not JIT the \(B)×\(w)×\(w) or \(w)×\(w)×\(B) GEMM" : nil
        let xsmmGemms: (Int) -> Void = { n in
            guard let kL, let kW else { return }
            for _ in 0..<n {
                T.xsmmCall(kL, Gc, Wp, Lout, vzeroupper: vz)
                T.xsmmCall(kW, Xtc, Gc, dWp, vzeroupper: vz)
            }
        }
        return [
            BenchRunner(impl: .reference, unavailable: nil, run: fused(.reference)),
            BenchRunner(impl: .avx2, unavailable: unavailable[.avx2], run: fused(.avx2)),
            BenchRunner(impl: .avx512, unavailable: unavailable[.avx512], run: fused(.avx512)),
            BenchRunner(impl: .avx2Mask, unavailable: unavailable[.avx2], run: masked),
            BenchRunner(impl: .openblas, unavailable: nil, run: { n in
                for _ in 0..<n { self.adjointPrologue(gScale: 1); gemms(1) }
            }),
            BenchRunner(impl: .openblasGemm, unavailable: nil, run: gemms),
            BenchRunner(impl: .libxsmm, unavailable: xsmmNote, run: { n in
                for _ in 0..<n { self.adjointPrologue(gScale: beta); self.transposeX(); xsmmGemms(1) }
            }),
            BenchRunner(impl: .libxsmmGemm, unavailable: xsmmNote, run: xsmmGemms),
        ]
    }

    // MARK: correctness check of every implementation against the reference

    /// The outputs of one call from a clean state: Y (and Z + b if kept, except by the
    /// mask variant, whose mask is tested in KernelsTests), or Λ, dW, db.
    public func outputs(_ kernel: BenchKernel, runner: BenchRunner) -> [T] {
        switch kernel {
        case .forward:
            Y.zero()
            if storeZ { Z.zero() }
            runner.run(1)
            var out = rows(Y, count: w, length: batch, stride: ld)
            if storeZ && runner.impl != .avx2Mask { out += rows(Z, count: w, length: batch, stride: ld) }
            return out
        case .adjoint:
            L.zero(); dW.zero(); db.zero()
            // The unfused forward baselines overwrite Z: the mask must be of the Z the others read.
            refreshMask()
            runner.run(1)
            return rows(L, count: w, length: batch, stride: ld) + rows(dW, count: w, length: w, stride: ldw)
                + rows(db, count: 1, length: w, stride: w)
        }
    }

    private func rows(_ buf: BenchBuffer<T>, count: Int, length: Int, stride: Int) -> [T] {
        var out: [T] = []
        out.reserveCapacity(count * length)
        for i in 0..<count { for j in 0..<length { out.append(buf.pointer[i * stride + j]) } }
        return out
    }
}
