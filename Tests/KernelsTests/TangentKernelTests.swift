import Kernels
import Testing

/// The vectorised `Double` tangent kernels against their reference loops (the same sums in
/// the same order: the same bits), and the fused adjoint tangent layer against the GEMM
/// form, over widths, batches that are and are not multiples of the vector length, and
/// padded and odd leading dimensions.
@Suite("Tangent kernels (Delta correction)")
struct TangentKernelTests {
    static let shapes: [(w: Int, B: Int)] = [(1, 1), (3, 5), (4, 8), (5, 7), (16, 64), (16, 67)]

    static func bitsEqual(_ a: Matrix<Double>, _ b: Matrix<Double>) -> Bool {
        (0 ..< a.rows).allSatisfy { i in (0 ..< a.cols).allSatisfy { j in a[i, j].bitPattern == b[i, j].bitPattern } }
    }

    @Test(arguments: shapes.indices, Padding.allCases)
    func productAndApplyEqualTheReferenceBitwise(index: Int, padding: Padding) throws {
        let (w, B) = Self.shapes[index]
        var g = SplitMix64(seed: UInt64(17 + index))
        let A = Matrix<Double>.random(w, w * B, ld: padding.ld(w * B), using: &g)
        let Bm = Matrix<Double>.random(w, w * B, ld: padding.ld(w * B), using: &g)
        let fast = Matrix<Double>.random(w, w * B, ld: padding.ld(w * B), using: &g)   // old contents must not matter
        let reference = Matrix<Double>(rows: w, cols: w * B)
        try TangentKernels.product(A, Bm, into: fast)
        try TangentKernels.product(A, Bm, into: reference, reference: true)
        #expect(Self.bitsEqual(fast, reference), "product w \(w) B \(B) \(padding)")
        // Against the definition, example by example.
        var worst = 0.0
        for b in 0 ..< B {
            for r in 0 ..< w {
                for j in 0 ..< w {
                    let exact = (0 ..< w).reduce(0.0) { $0 + A[r, $1 * B + b] * Bm[$1, j * B + b] }
                    worst = max(worst, abs(fast[r, j * B + b] - exact))
                }
            }
        }
        #expect(worst <= 1e-13 * Double(w), "product vs definition: \(worst)")

        let x = Matrix<Double>.random(w, B, ld: padding.ld(B), using: &g)
        let y = Matrix<Double>.random(w, B, ld: padding.ld(B), using: &g)
        let yRef = y.copy(ld: nil)
        try TangentKernels.apply(A, to: x, addingTo: y)
        try TangentKernels.apply(A, to: x, addingTo: yRef, reference: true)
        #expect(Self.bitsEqual(y, yRef), "apply w \(w) B \(B) \(padding)")
    }

    /// `adjointLayer` (w fused adjoint kernel calls, Z or mask) against
    /// `addLinearizedResidualAdjoint` (one GEMM), with zeros, negatives and NaN in Z.
    @Test(arguments: shapes.indices)
    func fusedAdjointLayerEqualsTheGEMMForm(index: Int) throws {
        let (w, B) = Self.shapes[index]
        var g = SplitMix64(seed: UInt64(41 + index))
        let W = Matrix<Double>.random(w, w, ld: nil, using: &g)
        let S = Matrix<Double>.random(w, w * B, ld: nil, using: &g)
        // Z and its mask from the same forward layer.
        let (Wz, bz, X) = (Matrix<Double>.random(w, w, ld: nil, using: &g), Vector<Double>.random(w, using: &g),
                           Matrix<Double>.random(w, B, ld: nil, using: &g))
        let Z = Matrix<Double>(rows: w, cols: B), mask = ReLUMask(rows: w, cols: B), Y = Matrix<Double>(rows: w, cols: B)
        try LayerKernels.residualForward(beta: 1, W: Wz, b: bz, X: X, Y: Y, Z: Z)
        try LayerKernels.residualForward(beta: 1, W: Wz, b: bz, X: X, Y: Y, mask: mask)
        let fused = Matrix<Double>(rows: w, cols: w * B), fromMask = Matrix<Double>(rows: w, cols: w * B)
        try TangentKernels.adjointLayer(beta: 0.3, W: W, Z: Z, S: S, into: fused)
        try TangentKernels.adjointLayer(beta: 0.3, W: W, mask: mask, S: S, into: fromMask)
        #expect(Self.bitsEqual(fromMask, fused), "mask and Z differ")
        Z[0, 0] = 0
        if w > 1 && B > 1 { Z[1, 1] = .nan }
        try TangentKernels.adjointLayer(beta: 0.3, W: W, Z: Z, S: S, into: fused)
        let gemm = S.copy(ld: nil)
        try TangentKernels.addLinearizedResidualAdjoint(beta: 0.3, W: W, Z: Z, S: S, into: gemm,
                                                        scratch: Matrix(rows: w, cols: w * B), Matrix(rows: w, cols: w * B))
        #expect(relativeError(fused, gemm) <= 1e-14, "Z: \(relativeError(fused, gemm))")
        #expect(throws: KernelError.self) { try TangentKernels.adjointLayer(beta: 1, W: W, Z: Z, S: S, into: S) }
    }
}
