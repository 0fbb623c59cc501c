import Comm
import Foundation
import Kernels
import MGRIT
import ResNet

/// One network and batch for the scaling studies and the rank-count checks:
/// `depth` hidden layers of `width`, β = 0.1, weights and biases uniform in
/// `[0, 1e-3]` (the paper's initialisation), input `x⁰` uniform in `[0, 1]`,
/// terminal adjoint `λᴺ` uniform in `[−1, 1]/B` (the gradient of a mean loss).
/// Everything comes from seeded SplitMix64 streams, so every rank builds the
/// same network whatever the rank count.
public struct ScalingCase {
    public init(depth: Int, width: Int, batch: Int, seed: UInt64 = 1) {
        self.depth = depth
        self.width = width
        self.batch = batch
        self.seed = seed
    }

    public var depth: Int
    public var width: Int
    public var batch: Int
    public var seed: UInt64 = 1
    public var beta = 0.1

    public func makeStack() throws -> HiddenStack {
        try HiddenStack.uniform(width: width, depth: depth, beta: beta, range: 0 ... 1e-3, seed: seed)
    }

    /// `x⁰` and `λᴺ`.
    public func makeBoundaryData() -> (input: Matrix<Double>, terminal: Matrix<Double>) {
        var rng = SplitMix64Stream(seed: seed ^ 0xB0DA_1A57)
        let x0 = Matrix<Double>(rows: width, cols: batch), lN = Matrix<Double>(rows: width, cols: batch)
        for i in 0 ..< width { for j in 0 ..< batch { x0[i, j] = rng.uniform(0 ... 1) } }
        for i in 0 ..< width { for j in 0 ..< batch { lN[i, j] = rng.uniform(-1 ... 1) / Double(batch) } }
        return (x0, lN)
    }
}

/// Sums a vector of per-point blocks over ranks: each rank fills the blocks of
/// the points it owns and leaves zeros elsewhere, so the sum (x + 0 = x exactly)
/// reproduces every rank's values bit for bit on every rank.
public func assembleOwned(_ comm: any Communicator, blocks: Int, blockSize: Int,
                   fill: (Int, UnsafeMutableBufferPointer<Double>) -> Bool) throws -> [Double] {
    var flat = [Double](repeating: 0, count: blocks * blockSize)
    flat.withUnsafeMutableBufferPointer { all in
        for b in 0 ..< blocks {
            let slice = UnsafeMutableBufferPointer(rebasing: all[b * blockSize ..< (b + 1) * blockSize])
            _ = fill(b, slice)
        }
    }
    return comm.size > 1 ? try comm.allreduceSum(flat) : flat
}

/// ‖a − b‖∞ / max(‖b‖∞, tiny).
public func relativeMaxError(_ a: [Double], _ b: [Double]) -> Double {
    precondition(a.count == b.count)
    var diff = 0.0, scale = 0.0
    for (x, y) in zip(a, b) {
        diff = max(diff, abs(x - y))
        scale = max(scale, abs(y))
    }
    return diff / max(scale, .leastNormalMagnitude)
}

/// The result of one forward + adjoint MGRIT solve, assembled on every rank.
public struct SolveSnapshot: Codable, Equatable {
    public var forwardResiduals: [Double]
    public var adjointResiduals: [Double]
    public var forwardIterations: Int
    public var adjointIterations: Int
    /// `x⁰ … xᴺ`, each w×B row-major, concatenated.
    public var states: [Double]
    /// `λ⁰ … λᴺ` (λⁿ = ∂L/∂xⁿ), each w×B row-major, concatenated.
    public var adjoints: [Double]
    /// `dW⁰, db⁰, dW¹, db¹, …` (each dWⁿ w×w row-major, then dbⁿ).
    public var gradient: [Double]
}

public enum ScalingSolve {
    /// Forward MGRIT from `x⁰`, adjoint MGRIT from `λᴺ` with the gradient sweep,
    /// then states, adjoints and gradients summed over ranks into one snapshot.
    public static func snapshot(_ c: ScalingCase, options: MGRITOptions, comm: any Communicator,
                         poisonInput: Bool = false) throws -> SolveSnapshot {
        let stack = try c.makeStack()
        let (x0, lN) = c.makeBoundaryData()
        if poisonInput { x0[0, 0] = .nan }
        let forward = try ResNetForwardSolver(stack: stack, batch: c.batch, options: options, comm: comm)
        let fStats = try forward.solve(input: x0)
        let adjoint = try ResNetAdjointSolver(forward: forward, options: options, comm: comm, storage: .allPoints)
        let gradient = HiddenGradient(like: stack)
        let aStats = try adjoint.solve(terminalAdjoint: forward.output != nil ? lN : nil, gradient: gradient)
        let wb = c.width * c.batch
        let states = try assembleOwned(comm, blocks: c.depth + 1, blockSize: wb) { n, out in
            guard let x = forward.state(at: n) else { return false }
            x.pack(into: out)
            return true
        }
        let adjoints = try assembleOwned(comm, blocks: c.depth + 1, blockSize: wb) { n, out in
            guard let l = adjoint.adjoint(at: n) else { return false }
            l.pack(into: out)
            return true
        }
        // A layer's gradient lives on the rank that owns its adjoint point; other
        // ranks hold zeros for it (HiddenGradient's contract), so the sum is exact.
        let local = gradient.flat.toArray()
        let grad = comm.size > 1 ? try comm.allreduceSum(local) : local
        return SolveSnapshot(forwardResiduals: fStats.residuals, adjointResiduals: aStats.residuals,
                             forwardIterations: fStats.iterations, adjointIterations: aStats.iterations,
                             states: states, adjoints: adjoints, gradient: grad)
    }

    /// The layer-serial forward and backward passes of the same case (the oracle).
    public static func serialSnapshot(_ c: ScalingCase) throws -> SolveSnapshot {
        let stack = try c.makeStack()
        let (x0, lN) = c.makeBoundaryData()
        let (states, _) = try LayerSerial.forward(stack, input: x0)
        let gradient = HiddenGradient(like: stack)
        let adjoints = try LayerSerial.adjoints(stack, states: states, terminalAdjoint: lN, gradient: gradient)
        let wb = c.width * c.batch
        func flat(_ ms: [Matrix<Double>]) -> [Double] {
            var out = [Double](repeating: 0, count: ms.count * wb)
            out.withUnsafeMutableBufferPointer { all in
                for (n, m) in ms.enumerated() { m.pack(into: UnsafeMutableBufferPointer(rebasing: all[n * wb ..< (n + 1) * wb])) }
            }
            return out
        }
        return SolveSnapshot(forwardResiduals: [], adjointResiduals: [], forwardIterations: 0, adjointIterations: 0,
                             states: flat(states), adjoints: flat(adjoints), gradient: gradient.flat.toArray())
    }
}
