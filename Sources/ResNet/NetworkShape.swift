import Kernels

/// The full regression network of the paper: an opening dense layer
/// (inputs → width, ReLU), `depth` hidden residual layers
/// `xⁿ⁺¹ = xⁿ + β·ReLU(Wⁿxⁿ + bⁿ)` (DESIGN.md, paper eq. 2–3), and a closing
/// dense layer (width → outputs, identity), with the loss
/// `L = 1/(2·B·m) · Σ (prediction − target)²` over `B` samples and `m` outputs.
///
/// Parameters live in one flat vector (optimisers work on flat vectors), in
/// the order of ``ParameterLayout``; ``NetworkParameters`` holds it and hands
/// out each layer's weights and bias as views. Batches are feature-major with
/// the batch contiguous, as in `layerpar_kernels.h`: element (feature i,
/// sample j) is at `i*ld + j`.
public struct NetworkShape: Sendable, Codable, Equatable {
    public var inputs: Int
    public var width: Int
    public var outputs: Int
    public var depth: Int
    public var beta: Double

    public init(inputs: Int, width: Int, outputs: Int, depth: Int, beta: Double = 0.1) {
        self.inputs = inputs
        self.width = width
        self.outputs = outputs
        self.depth = depth
        self.beta = beta
    }

    public var layout: ParameterLayout { ParameterLayout(shape: self) }
}

/// Offsets of each block in the flat parameter vector:
/// `[W_open (width×inputs, row-major), b_open (width),
///   W⁰, b⁰, W¹, b¹, …, W^{N-1}, b^{N-1} (width×width, width each),
///   W_close (outputs×width), b_close (outputs)]`.
public struct ParameterLayout: Sendable, Equatable {
    public let shape: NetworkShape
    public let openingWeights: Int
    public let openingBias: Int
    public let hiddenStart: Int
    public let hiddenStride: Int
    public let closingWeights: Int
    public let closingBias: Int
    public let count: Int

    public init(shape: NetworkShape) {
        self.shape = shape
        let w = shape.width
        openingWeights = 0
        openingBias = w * shape.inputs
        hiddenStart = openingBias + w
        hiddenStride = w * w + w
        closingWeights = hiddenStart + shape.depth * hiddenStride
        closingBias = closingWeights + shape.outputs * w
        count = closingBias + shape.outputs
    }

    /// Offset of `Wⁿ`; `bⁿ` follows at `+ width*width`.
    public func hiddenWeights(_ n: Int) -> Int { hiddenStart + n * hiddenStride }
    public func hiddenBias(_ n: Int) -> Int { hiddenStart + n * hiddenStride + shape.width * shape.width }
    /// The range of all hidden-layer parameters.
    public var hiddenRange: Range<Int> { hiddenStart ..< closingWeights }
}

