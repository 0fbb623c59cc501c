import Testing
import Kernels

/// Matrix and Vector: layout, views, packing and BLAS-1, against plain loops.
@Suite struct MatrixTests {
    @Test func paddedLeadingDimensionIsWholeCacheLines() {
        #expect(Matrix<Double>(rows: 3, cols: 5).ld == 8)
        #expect(Matrix<Double>(rows: 3, cols: 9).ld == 16)
        #expect(Matrix<Float>(rows: 3, cols: 17).ld == 32)
        #expect(Matrix<Double>(rows: 3, cols: 5, ld: 5).ld == 5)
        // Strides that are multiples of 1 KiB get one more line (L1 set aliasing).
        #expect(Matrix<Double>(rows: 3, cols: 256).ld == 264)
        #expect(Matrix<Double>(rows: 3, cols: 121).ld == 136)
        #expect(Matrix<Float>(rows: 3, cols: 256).ld == 272)
        #expect(Matrix<Double>(rows: 3, cols: 64).ld == 64)
        let m = Matrix<Double>(rows: 4, cols: 3)
        #expect(Int(bitPattern: m.baseAddress) % 64 == 0)
        #expect(Int(bitPattern: m.rows(1..<2).baseAddress) % 64 == 0)
    }

    @Test func elementAccessPackAndViews() throws {
        let m = try Matrix<Double>(rows: 2, cols: 3, rowMajor: [1, 2, 3, 4, 5, 6])
        #expect(m[1, 0] == 4)
        #expect(m.toArray() == [1, 2, 3, 4, 5, 6])
        #expect(m.row(1) == [4, 5, 6])
        let v = m.columns(1..<3)
        #expect(v.toArray() == [2, 3, 5, 6])
        v[0, 0] = 20  // a view shares storage
        #expect(m[0, 1] == 20)
        #expect(m.rows(1..<2).toArray() == [4, 5, 6])
        let c = m.clone()
        c[0, 0] = -1
        #expect(m[0, 0] == 1)
        var buf = [Double](repeating: 0, count: 6)
        buf.withUnsafeMutableBufferPointer { m.pack(into: $0) }
        let u = Matrix<Double>(rows: 2, cols: 3, ld: 3)
        buf.withUnsafeBufferPointer { u.unpack(from: $0) }
        #expect(u.toArray() == m.toArray())
        #expect(throws: KernelError.self) { try Matrix<Double>(rows: 2, cols: 2, rowMajor: [1, 2, 3]) }
    }

    @Test(arguments: [(3, 5, 5), (3, 5, nil), (4, 17, 20)] as [(Int, Int, Int?)])
    func blas1MatchesLoops(rows: Int, cols: Int, ld: Int?) throws {
        try checkBlas1(Double.self, rows, cols, ld, tol: 1e-14)
        try checkBlas1(Float.self, rows, cols, ld, tol: 1e-6)
    }

    func checkBlas1<T: KernelScalar>(_: T.Type, _ r: Int, _ c: Int, _ ld: Int?, tol: T) throws {
        let xs = (0..<r * c).map { T($0 % 7) - T(3) / T(2) }
        let ys = (0..<r * c).map { T(($0 * 5) % 11) / T(4) }
        let x = try Matrix<T>(rows: r, cols: c, ld: ld, rowMajor: xs)
        let y = try Matrix<T>(rows: r, cols: c, rowMajor: ys)
        let dot = try x.dot(y)
        let dotRef = zip(xs, ys).reduce(T(0)) { $0 + $1.0 * $1.1 }
        #expect(abs(dot - dotRef) <= tol * max(1, abs(dotRef)))
        let nrm2 = xs.reduce(T(0)) { $0 + $1 * $1 }
        #expect(abs(x.squaredNorm() - nrm2) <= tol * nrm2)
        #expect(abs(x.norm() - nrm2.squareRoot()) <= tol * nrm2.squareRoot())
        try y.axpy(2, x)
        #expect(y.toArray() == zip(xs, ys).map { $0.1 + 2 * $0.0 })
        y.scale(-1)
        #expect(y.toArray() == zip(xs, ys).map { -($0.1 + 2 * $0.0) })
        try y.copy(from: x)
        #expect(y.toArray() == xs)
        try y.sum(3, x, 2)
        #expect(y.toArray() == xs.map { 3 * $0 + 2 * $0 })
        y.fill(7)
        #expect(y.toArray().allSatisfy { $0 == 7 })
        y.zero()
        #expect(y.maxAbs() == 0)
        let wrong = Matrix<T>(rows: r + 1, cols: c)
        #expect(throws: KernelError.self) { try y.axpy(1, wrong) }
        #expect(throws: KernelError.self) { try y.dot(wrong) }
        #expect(throws: KernelError.self) { try y.copy(from: wrong) }
    }

    @Test func vectorOperations() throws {
        let v = Vector<Double>([1, 2, 3])
        let u = Vector<Double>([4, 5, 6])
        #expect(try v.dot(u) == 32)
        try v.axpy(2, u)
        #expect(v.toArray() == [9, 12, 15])
        v.scale(0.5)
        #expect(v.toArray() == [4.5, 6, 7.5])
        #expect(u.squaredNorm() == 77)
        #expect(throws: KernelError.self) { try v.axpy(1, Vector<Double>(count: 2)) }
        let c = u.clone(); c[0] = 0
        #expect(u[0] == 4)
    }

    @Test func emptyShapes() throws {
        let m = Matrix<Double>(rows: 0, cols: 5)
        #expect(m.toArray().isEmpty)
        #expect(m.squaredNorm() == 0)
        let n = Matrix<Double>(rows: 3, cols: 0)
        #expect(n.norm() == 0)
        try n.axpy(1, Matrix<Double>(rows: 3, cols: 0))
    }
}
