import Kernels

/// Parameters of the `depth` hidden residual layers of width `w`:
/// `xⁿ⁺¹ = xⁿ + β·ReLU(Wⁿxⁿ + bⁿ)`, `n = 0 … depth−1` (paper eq. 2–3).
///
/// The layers are views into one flat vector laid out as the hidden part of
/// ``ParameterLayout`` (`W⁰, b⁰, W¹, b¹, …`): either a stack's own storage, or
/// a network's parameters (``init(viewing:)``), so that what an optimiser
/// writes into the network is what the MGRIT problems read, without a copy.
///
/// Every rank holds all layers (parameters are small next to the states); a
/// rank's solvers read only the layers of the points it owns.
public final class HiddenStack: @unchecked Sendable {
    public let width: Int
    public let depth: Int
    /// Step size β of every layer (the paper: 0.1).
    public let beta: Double
    /// `Wⁿ`, w×w, row-major (output i, input k).
    public let weights: [Matrix<Double>]
    /// `bⁿ`, w.
    public let biases: [Vector<Double>]
    /// All of them, `W⁰, b⁰, W¹, b¹, …` (each `Wⁿ` row-major).
    public let flat: Vector<Double>

    /// Zero parameters in storage of its own. - Throws: ``ResNetError`` for width or depth < 1 or a non-finite β.
    public init(width: Int, depth: Int, beta: Double) throws {
        guard width >= 1 else { throw ResNetError("width must be ≥ 1, got \(width)") }
        guard depth >= 1 else { throw ResNetError("the hidden stack needs at least 1 layer, got \(depth) (zero layers)") }
        guard beta.isFinite else { throw ResNetError("β must be finite, got \(beta)") }
        self.width = width
        self.depth = depth
        self.beta = beta
        flat = Vector(count: depth * (width * width + width))
        (weights, biases) = Self.views(of: flat, width: width, depth: depth)
    }

    /// The hidden layers of `parameters` (shared storage).
    /// - Throws: ``ResNetError`` for a network without hidden layers or a non-finite β.
    public init(viewing parameters: NetworkParameters) throws {
        let shape = parameters.shape
        guard shape.depth >= 1 else { throw ResNetError("the hidden stack needs at least 1 layer, got 0 (zero layers)") }
        guard shape.beta.isFinite else { throw ResNetError("β must be finite, got \(shape.beta)") }
        width = shape.width
        depth = shape.depth
        beta = shape.beta
        flat = parameters.hiddenFlat
        weights = parameters.hidden.map(\.W)
        biases = parameters.hidden.map(\.b)
    }

    /// `Wⁿ` and `bⁿ` views of a flat hidden-layout vector.
    static func views(of flat: Vector<Double>, width w: Int, depth: Int) -> ([Matrix<Double>], [Vector<Double>]) {
        let stride = w * w + w
        return ((0 ..< depth).map { flat.matrix(at: $0 * stride, rows: w, cols: w) },
                (0 ..< depth).map { flat.slice($0 * stride + w * w ..< ($0 + 1) * stride) })
    }

    /// Weights and biases drawn uniformly from `range` (the paper: `0 ... 1e-3`),
    /// in layer order, each `Wⁿ` row-major then `bⁿ`, from a seeded SplitMix64 stream.
    public static func uniform(width: Int, depth: Int, beta: Double, range: ClosedRange<Double>,
                               seed: UInt64) throws -> HiddenStack {
        let s = try HiddenStack(width: width, depth: depth, beta: beta)
        var rng = SplitMix64Stream(seed: seed)
        s.flat.withUnsafeMutableBufferPointer { p in for i in p.indices { p[i] = rng.uniform(range) } }
        return s
    }
}

/// Accumulated gradients `∂L/∂Wⁿ`, `∂L/∂bⁿ` of a hidden stack, in the same
/// layout as ``HiddenStack`` (views into one flat vector: its own, or the
/// hidden part of a network's gradient).
///
/// A layer-parallel backward pass fills only the layers whose points this rank
/// owns and leaves the others at zero, so an `allreduceSum` over ranks of
/// ``flat`` gives the full gradient.
public final class HiddenGradient: @unchecked Sendable {
    public let dW: [Matrix<Double>]
    public let db: [Vector<Double>]
    /// All of them, `dW⁰, db⁰, dW¹, db¹, …`.
    public let flat: Vector<Double>

    public init(like stack: HiddenStack) {
        flat = Vector(count: stack.flat.count)
        (dW, db) = HiddenStack.views(of: flat, width: stack.width, depth: stack.depth)
    }

    /// The hidden part of a network gradient (shared storage).
    public init(viewing gradient: NetworkParameters) {
        flat = gradient.hiddenFlat
        dW = gradient.hidden.map(\.W)
        db = gradient.hidden.map(\.b)
    }

    public func zero() { flat.zero() }
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
