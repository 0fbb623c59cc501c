import Kernels

/// Parameters of the `depth` hidden residual layers of width `w`:
/// `xⁿ⁺¹ = xⁿ + β·ReLU(Wⁿxⁿ + bⁿ)`, `n = 0 … depth−1` (paper eq. 2–3).
///
/// Every rank holds all layers (parameters are small next to the states); a
/// rank's solvers read only the layers of the points it owns.
public final class HiddenStack {
    public let width: Int
    public let depth: Int
    /// Step size β of every layer (the paper: 0.1).
    public let beta: Double
    /// `Wⁿ`, w×w, row-major (output i, input k).
    public let weights: [Matrix<Double>]
    /// `bⁿ`, w.
    public let biases: [Vector<Double>]

    /// Zero parameters. - Throws: ``ResNetError`` for width or depth < 1 or a non-finite β.
    public init(width: Int, depth: Int, beta: Double) throws {
        guard width >= 1 else { throw ResNetError("width must be ≥ 1, got \(width)") }
        guard depth >= 1 else { throw ResNetError("the hidden stack needs at least 1 layer, got \(depth) (zero layers)") }
        guard beta.isFinite else { throw ResNetError("β must be finite, got \(beta)") }
        self.width = width
        self.depth = depth
        self.beta = beta
        weights = (0 ..< depth).map { _ in Matrix(rows: width, cols: width) }
        biases = (0 ..< depth).map { _ in Vector(count: width) }
    }

    /// Weights and biases drawn uniformly from `range` (the paper: `0 ... 1e-3`),
    /// in layer order, each `Wⁿ` row-major then `bⁿ`, from a seeded SplitMix64 stream.
    public static func uniform(width: Int, depth: Int, beta: Double, range: ClosedRange<Double>,
                               seed: UInt64) throws -> HiddenStack {
        let s = try HiddenStack(width: width, depth: depth, beta: beta)
        var rng = SplitMix64Stream(seed: seed)
        for n in 0 ..< depth {
            let W = s.weights[n]
            for i in 0 ..< width { for k in 0 ..< width { W[i, k] = rng.uniform(range) } }
            for i in 0 ..< width { s.biases[n][i] = rng.uniform(range) }
        }
        return s
    }

    /// Copies the parameters from a flat vector: `Wⁿ` (row-major, w·w values) at
    /// `p + weightOffset(n)`, `bⁿ` at `p + biasOffset(n)` — e.g. `ParameterLayout.hiddenWeights`/`hiddenBias`.
    public func load(from p: UnsafePointer<Double>, weightOffset: (Int) -> Int, biasOffset: (Int) -> Int) {
        for n in 0 ..< depth {
            let W = weights[n], src = p + weightOffset(n)
            for i in 0 ..< width { for k in 0 ..< width { W[i, k] = src[i * width + k] } }
            let b = biases[n], bs = p + biasOffset(n)
            for i in 0 ..< width { b[i] = bs[i] }
        }
    }
}

/// Accumulated gradients `∂L/∂Wⁿ`, `∂L/∂bⁿ` of a hidden stack.
///
/// A layer-parallel backward pass fills only the layers whose points this rank
/// owns and leaves the others at zero, so an `allreduceSum` over ranks of
/// ``add(into:weightOffset:biasOffset:)``'s flat vector gives the full gradient.
public final class HiddenGradient {
    public let dW: [Matrix<Double>]
    public let db: [Vector<Double>]

    public init(like stack: HiddenStack) {
        dW = (0 ..< stack.depth).map { _ in Matrix(rows: stack.width, cols: stack.width) }
        db = (0 ..< stack.depth).map { _ in Vector(count: stack.width) }
    }

    public func zero() {
        for m in dW { m.zero() }
        for v in db { v.zero() }
    }

    /// Adds the gradients into a flat vector with the offsets of ``HiddenStack/load(from:weightOffset:biasOffset:)``.
    public func add(into g: UnsafeMutablePointer<Double>, weightOffset: (Int) -> Int, biasOffset: (Int) -> Int) {
        let w = dW.first?.rows ?? 0
        for n in dW.indices {
            let dst = g + weightOffset(n)
            for i in 0 ..< w { for k in 0 ..< w { dst[i * w + k] += dW[n][i, k] } }
            let bd = g + biasOffset(n)
            for i in 0 ..< w { bd[i] += db[n][i] }
        }
    }
}

/// An error of the ResNet module, naming the problem.
public struct ResNetError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// SplitMix64 (Steele, Lea, Flood 2014): a seeded stream that is the same on
/// every machine and Swift version.
public struct SplitMix64Stream: RandomNumberGenerator, Sendable {
    public private(set) var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in `range` from the top 53 bits.
    public mutating func uniform(_ range: ClosedRange<Double>) -> Double {
        range.lowerBound + (range.upperBound - range.lowerBound) * Double(next() >> 11) * 0x1.0p-53
    }
}
