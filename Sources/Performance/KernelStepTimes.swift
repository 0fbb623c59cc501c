import Comm
import Kernels
import ResNet
import Studies

/// Seconds per call of the fused kernels one MGRIT or layer-serial step makes,
/// at width × batch: the same kernels `layerpar bench kernels` measures, timed
/// here at the scaling case's shape (``fastestSeconds(atLeast:minimumSeconds:_:)``
/// of each kind of call).
public struct KernelStepTimes: Codable {
    /// `x + β·ReLU(Wx + b)` (an MGRIT forward step).
    public var forward: Double
    /// The same, also storing `z = Wx + b` (the layer-serial forward pass, the adjoint's z).
    public var forwardKeepingZ: Double
    /// `λ = λ⁺ + Wᵀ(β·ReLU'(z) ⊙ λ⁺)` (an MGRIT adjoint step).
    public var adjoint: Double
    /// The same, also accumulating `dW += Gxᵀ`, `db += G·1` (the gradient sweep, the layer-serial backward pass).
    public var adjointWithGradient: Double

    public static func measure(width: Int, batch: Int, minimumSeconds: Double = 0.05) throws -> KernelStepTimes {
        let c = ScalingCase(depth: 1, width: width, batch: batch)
        let stack = try c.makeStack()
        let (x, lambdaNext) = c.makeBoundaryData()
        let W = stack.weights[0], b = stack.biases[0]
        let y = Matrix<Double>(rows: width, cols: batch), z = Matrix<Double>(rows: width, cols: batch)
        let lambda = Matrix<Double>(rows: width, cols: batch)
        let dW = Matrix<Double>(rows: width, cols: width), db = Vector<Double>(count: width)
        try LayerKernels.residualForward(beta: 0.1, W: W, b: b, X: x, Y: y, Z: z)
        func fastest(_ call: () throws -> Void) rethrows -> Double {
            try fastestSeconds(atLeast: 10, minimumSeconds: minimumSeconds, call)
        }
        return KernelStepTimes(
            forward: try fastest { try LayerKernels.residualForward(beta: 0.1, W: W, b: b, X: x, Y: y) },
            forwardKeepingZ: try fastest { try LayerKernels.residualForward(beta: 0.1, W: W, b: b, X: x, Y: y, Z: z) },
            adjoint: try fastest { try LayerKernels.residualAdjoint(beta: 0.1, W: W, Z: z, lambdaNext: lambdaNext, lambda: lambda) },
            adjointWithGradient: try fastest {
                try LayerKernels.residualAdjoint(beta: 0.1, W: W, X: x, Z: z, lambdaNext: lambdaNext, lambda: lambda, dW: dW, db: db)
            })
    }

    /// Kernel seconds of one forward + adjoint MGRIT solve with the adjoint keeping z
    /// and the paper's coarse step (every forward-solver call one `forward`; the
    /// adjoint's calls: `depth` × `forwardKeepingZ` for z, `depth` × `adjointWithGradient`
    /// in the gradient sweep, the rest `adjoint`).
    public func mgritSeconds(depth: Int, forwardCalls: Int, adjointCalls: Int) -> Double {
        Double(forwardCalls) * forward + Double(depth) * (forwardKeepingZ + adjointWithGradient)
            + Double(adjointCalls - 2 * depth) * adjoint
    }

    /// Kernel seconds of the layer-serial forward (keeping z) and backward passes.
    public func serialSeconds(depth: Int) -> Double { Double(depth) * (forwardKeepingZ + adjointWithGradient) }
}
