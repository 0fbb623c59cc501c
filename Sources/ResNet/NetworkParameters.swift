import Kernels

/// The weights `W` (outputs × inputs, row-major, packed) and bias `b` of one
/// layer: views into a ``NetworkParameters``' flat vector.
public struct LayerParameters: @unchecked Sendable {
    public let W: Matrix<Double>
    public let b: Vector<Double>
}

/// All parameters of a network — or a gradient of the same layout — in one
/// 64-byte-aligned flat vector ordered by ``ParameterLayout``, with every
/// layer's `W` and `b` as views into it.
///
/// Optimisers, checkpoints and gradient reductions work on ``flat``; kernels
/// and MGRIT problems read and write the views. Nothing is copied between the
/// two: an optimiser step on ``flat`` is seen by the next kernel call.
public final class NetworkParameters: @unchecked Sendable {
    public let shape: NetworkShape
    public let layout: ParameterLayout
    /// Every parameter, in ``ParameterLayout`` order.
    public let flat: Vector<Double>
    public let opening: LayerParameters
    /// `Wⁿ`, `bⁿ` of the hidden layers `n = 0 … depth−1`.
    public let hidden: [LayerParameters]
    public let closing: LayerParameters

    /// Zero parameters.
    public init(shape: NetworkShape) {
        self.shape = shape
        layout = shape.layout
        let L = layout, w = shape.width
        flat = Vector(count: L.count)
        let f = flat
        opening = LayerParameters(W: f.matrix(at: L.openingWeights, rows: w, cols: shape.inputs),
                                  b: f.slice(L.openingBias ..< L.openingBias + w))
        hidden = (0 ..< shape.depth).map { n in
            LayerParameters(W: f.matrix(at: L.hiddenWeights(n), rows: w, cols: w),
                            b: f.slice(L.hiddenBias(n) ..< L.hiddenBias(n) + w))
        }
        closing = LayerParameters(W: f.matrix(at: L.closingWeights, rows: shape.outputs, cols: w),
                                  b: f.slice(L.closingBias ..< L.count))
    }

    /// Parameters holding `values` (in layout order).
    /// - Throws: ``ResNetError`` when `values` has the wrong length.
    public convenience init(shape: NetworkShape, values: [Double]) throws {
        self.init(shape: shape)
        try load(values)
    }

    /// Replaces every parameter with `values` (in layout order).
    public func load(_ values: [Double]) throws {
        guard values.count == layout.count else {
            throw ResNetError("the network has \(layout.count) parameters, got \(values.count) values")
        }
        try! flat.copy(from: values)
    }

    /// The hidden-layer parameters as one vector view (`ParameterLayout.hiddenRange`).
    public var hiddenFlat: Vector<Double> { flat.slice(layout.hiddenRange) }

    /// The hidden part as a ``HiddenGradient`` (views; made once), for a gradient.
    public private(set) lazy var hiddenGradient = HiddenGradient(viewing: self)

    /// The parameters as an array (a copy, for checkpoints and tests).
    public func toArray() -> [Double] { flat.toArray() }
}

/// Uniform initial parameters in `[low, high)` from `rng` — the paper uses `[0, 1e-3]`.
public func initialParameters<G: RandomNumberGenerator>(shape: NetworkShape, low: Double, high: Double,
                                                        using rng: inout G) -> [Double] {
    (0..<shape.layout.count).map { _ in
        low + (high - low) * Double(rng.next() >> 11) * 0x1.0p-53
    }
}
