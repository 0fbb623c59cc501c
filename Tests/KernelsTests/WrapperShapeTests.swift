import Testing
import Kernels

/// The Swift wrappers reject wrong shapes and aliasing before calling C.
@Suite struct WrapperShapeTests {
    @Test func residualForwardNamesTheShapes() {
        let W = Matrix<Double>(rows: 16, cols: 17), b = Vector<Double>(count: 16)
        let X = Matrix<Double>(rows: 16, cols: 8), Y = Matrix<Double>(rows: 16, cols: 8)
        do {
            try LayerKernels.residualForward(beta: 1, W: W, b: b, X: X, Y: Y)
            Issue.record("no error")
        } catch {
            #expect(error.message == "resnet forward: W is 16×17, expected 16×16 for width 16")
        }
        let W2 = Matrix<Double>(rows: 16, cols: 16)
        #expect(throws: KernelError.self) {
            try LayerKernels.residualForward(beta: 1, W: W2, b: Vector(count: 15), X: X, Y: Y)
        }
        #expect(throws: KernelError.self) {
            try LayerKernels.residualForward(beta: 1, W: W2, b: b, X: X, Y: Matrix(rows: 16, cols: 9))
        }
        #expect(throws: KernelError.self) {
            try LayerKernels.residualForward(beta: 1, W: W2, b: b, X: X, Y: Y, Z: Matrix(rows: 15, cols: 8))
        }
        // In-place (Y == X) is rejected, not silently wrong.
        #expect(throws: KernelError.self) {
            try LayerKernels.residualForward(beta: 1, W: W2, b: b, X: X, Y: X)
        }
        // Disjoint column views of one matrix are fine.
        let big = Matrix<Double>(rows: 16, cols: 16)
        #expect(throws: Never.self) {
            try LayerKernels.residualForward(beta: 1, W: W2, b: b, X: big.columns(0..<8), Y: big.columns(8..<16))
        }
        // Column views that share one column, and row views that share one row, are not.
        for (x, y) in [(big.columns(0..<8), big.columns(7..<15)), (big.rows(0..<16).columns(8..<16), big.columns(8..<16))] {
            #expect(throws: KernelError.self) {
                try LayerKernels.residualForward(beta: 1, W: W2, b: b, X: x, Y: y)
            }
        }
        let tall = Matrix<Double>(rows: 32, cols: 8)
        #expect(throws: Never.self) {
            try LayerKernels.residualForward(beta: 1, W: W2, b: b, X: tall.rows(0..<16), Y: tall.rows(16..<32))
        }
        #expect(throws: KernelError.self) {
            try LayerKernels.residualForward(beta: 1, W: W2, b: b, X: tall.rows(0..<16), Y: tall.rows(15..<31))
        }
    }

    @Test func residualAdjointShapes() {
        let w = 5, B = 3
        let W = Matrix<Double>(rows: w, cols: w), Z = Matrix<Double>(rows: w, cols: B)
        let Lp = Matrix<Double>(rows: w, cols: B), L = Matrix<Double>(rows: w, cols: B)
        #expect(throws: KernelError.self) {  // dW without X
            try LayerKernels.residualAdjoint(beta: 1, W: W, Z: Z, lambdaNext: Lp, dW: Matrix(rows: w, cols: w))
        }
        #expect(throws: KernelError.self) {
            try LayerKernels.residualAdjoint(beta: 1, W: W, Z: Z, lambdaNext: Matrix(rows: w, cols: B + 1), lambda: L)
        }
        #expect(throws: KernelError.self) {
            try LayerKernels.residualAdjoint(beta: 1, W: W, Z: Z, lambdaNext: Lp, lambda: Lp)
        }
        #expect(throws: KernelError.self) {
            try LayerKernels.residualAdjoint(beta: 1, W: W, Z: Z, lambdaNext: Lp, db: Vector(count: w + 1))
        }
        #expect(throws: Never.self) {
            try LayerKernels.residualAdjoint(beta: 1, W: W, X: Matrix(rows: w, cols: B), Z: Z, lambdaNext: Lp,
                                             lambda: L, dW: Matrix(rows: w, cols: w), db: Vector(count: w))
        }
    }

    @Test func denseShapes() {
        let W = Matrix<Float>(rows: 4, cols: 6), b = Vector<Float>(count: 4)
        let X = Matrix<Float>(rows: 6, cols: 10), Y = Matrix<Float>(rows: 4, cols: 10)
        #expect(throws: Never.self) {
            try LayerKernels.denseForward(activation: .relu, W: W, b: b, X: X, Y: Y)
        }
        #expect(throws: KernelError.self) {
            try LayerKernels.denseForward(activation: .relu, W: W, b: b, X: Matrix(rows: 4, cols: 10), Y: Y)
        }
        #expect(throws: KernelError.self) {  // ReLU adjoint needs Z
            try LayerKernels.denseAdjoint(activation: .relu, W: W, lambdaOut: Y, lambdaIn: X)
        }
        #expect(throws: KernelError.self) {
            try LayerKernels.denseAdjoint(activation: .identity, W: W, lambdaOut: Y, lambdaIn: Matrix(rows: 4, cols: 10))
        }
        #expect(throws: Never.self) {
            try LayerKernels.denseAdjoint(activation: .identity, W: W, X: X, lambdaOut: Y, lambdaIn: Matrix(rows: 6, cols: 10),
                                          dW: Matrix(rows: 4, cols: 6), db: Vector(count: 4))
        }
    }

    @Test func referenceForwardMatchesFormula() throws {
        // x⁺ = x + β·ReLU(W x + b) on a 2×2 example worked by hand.
        let W = try Matrix<Double>(rows: 2, cols: 2, rowMajor: [1, -2, 0.5, 1])
        let b = Vector<Double>([0.25, -1])
        let X = try Matrix<Double>(rows: 2, cols: 2, rowMajor: [1, 2, 3, -4])
        let Y = Matrix<Double>(rows: 2, cols: 2), Z = Matrix<Double>(rows: 2, cols: 2)
        try LayerKernels.residualForward(beta: 0.5, W: W, b: b, X: X, Y: Y, Z: Z, family: .reference)
        // Z = [1-6+.25, 2+8+.25; .5+3-1, 1-4-1] = [-4.75, 10.25; 2.5, -4]
        #expect(Z.toArray() == [-4.75, 10.25, 2.5, -4])
        #expect(Y.toArray() == [1, 2 + 5.125, 3 + 1.25, -4])
    }
}
