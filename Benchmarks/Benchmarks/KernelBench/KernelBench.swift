// Regression benchmarks of the fused residual-layer kernels, for comparing
// commits with ordo-one/benchmark:
//   cd Benchmarks && swift package benchmark
//   swift package benchmark baseline update main      # on the old commit
//   swift package benchmark baseline compare main     # on the new one
// The full comparison against OpenBLAS and LIBXSMM, with GFLOP/s and % of
// peak, is `layerpar bench kernels`; these suites keep a few shapes so a
// run stays short (about a minute plus the first build). Every call is one
// kernel on cache-warm buffers, one thread. LIBXSMM is not here: only the
// `layerpar` executable links it.
import Benchmark
import COpenBLAS
import Kernels

/// Deterministic values in [-scale, scale] (an LCG; only the spread matters).
private func values(_ n: Int, seed: UInt64, scale: Double) -> [Double] {
    var s = seed &* 6364136223846793005 &+ 1442695040888963407
    return (0..<n).map { _ in
        s = s &* 6364136223846793005 &+ 1442695040888963407
        return (Double(s >> 11) * 0x1p-53 * 2 - 1) * scale
    }
}

private func matrix<T: KernelScalar>(_ rows: Int, _ cols: Int, seed: UInt64, scale: Double = 1) -> Matrix<T> {
    let m = Matrix<T>(rows: rows, cols: cols)
    try! m.copy(from: values(rows * cols, seed: seed, scale: scale).map { T($0) })
    return m
}

private func vector<T: KernelScalar>(_ n: Int, seed: UInt64) -> Vector<T> {
    let v = Vector<T>(count: n)
    try! v.copy(from: values(n, seed: seed, scale: 0.1).map { T($0) })
    return v
}

/// The buffers of one shape (width w, batch B), as training allocates them.
private final class Layer<T: KernelScalar>: @unchecked Sendable {
    let w: Int, batch: Int
    let W: Matrix<T>, b: Vector<T>, X: Matrix<T>, Y: Matrix<T>, Z: Matrix<T>
    let lambdaNext: Matrix<T>, lambda: Matrix<T>, dW: Matrix<T>, db: Vector<T>
    let beta: T = 0.5

    init(w: Int, batch: Int) {
        self.w = w
        self.batch = batch
        W = matrix(w, w, seed: 1, scale: 1 / Double(w).squareRoot())
        b = vector(w, seed: 2)
        X = matrix(w, batch, seed: 3)
        Y = Matrix(rows: w, cols: batch)
        Z = matrix(w, batch, seed: 4)
        lambdaNext = matrix(w, batch, seed: 5)
        lambda = Matrix(rows: w, cols: batch)
        dW = Matrix(rows: w, cols: w)
        db = Vector(count: w)
    }

    func forward(_ family: KernelFamily) {
        try! LayerKernels.residualForward(beta: beta, W: W, b: b, X: X, Y: Y, family: family)
    }

    func adjoint(_ family: KernelFamily) {
        try! LayerKernels.residualAdjoint(beta: beta, W: W, X: X, Z: Z, lambdaNext: lambdaNext,
                                          lambda: lambda, dW: dW, db: db, family: family)
    }
}

extension Layer where T == Double {
    /// OpenBLAS dgemm alone (Z = W·X): the bound the fused forward is measured against.
    func dgemm() {
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, blasint(w), blasint(batch), blasint(w),
                    1, W.baseAddress, blasint(W.ld), X.baseAddress, blasint(X.ld), 0, Z.baseAddress, blasint(Z.ld))
    }
}

let benchmarks: @Sendable () -> Void = {
    openblas_set_num_threads(1)
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput],
        timeUnits: .nanoseconds,
        warmupIterations: 20,
        maxDuration: .milliseconds(400),
        maxIterations: 20_000
    )
    let families = KernelFamily.allCases.filter(\.isSupported)

    for (w, batch) in [(16, 64), (64, 256), (256, 256)] {
        let layer = Layer<Double>(w: w, batch: batch)
        let shape = "w=\(w) B=\(batch)"
        // The reference is the oracle, not a product: only where it takes milliseconds.
        for family in families where family != .reference || w <= 64 {
            Benchmark("forward \(family.rawValue) double \(shape)") { benchmark in
                for _ in benchmark.scaledIterations { layer.forward(family) }
                blackHole(layer.Y)
            }
            Benchmark("adjoint \(family.rawValue) double \(shape)") { benchmark in
                for _ in benchmark.scaledIterations { layer.adjoint(family) }
                blackHole(layer.lambda)
            }
        }
        Benchmark("dgemm openblas double \(shape)") { benchmark in
            for _ in benchmark.scaledIterations { layer.dgemm() }
            blackHole(layer.Z)
        }
    }

    let layer = Layer<Float>(w: 64, batch: 256)
    for family in families {
        Benchmark("forward \(family.rawValue) float w=64 B=256") { benchmark in
            for _ in benchmark.scaledIterations { layer.forward(family) }
            blackHole(layer.Y)
        }
        Benchmark("adjoint \(family.rawValue) float w=64 B=256") { benchmark in
            for _ in benchmark.scaledIterations { layer.adjoint(family) }
            blackHole(layer.lambda)
        }
    }
}
