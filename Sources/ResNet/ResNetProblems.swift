import Kernels
import MGRIT

/// Operations on batch states shared by the forward and adjoint problems.
private enum BatchOps {
    static func sum(_ a: Double, _ x: Matrix<Double>, _ b: Double, _ y: Matrix<Double>) {
        // Shapes are equal by construction (all states of one problem are w×B).
        if b == 0 {
            try! y.copy(from: x)   // the old y must not matter, even a NaN in it
            if a != 1 { y.scale(a) }
        } else if b == 1 {
            // The solver's hot calls (u += g, g −= Φ(U), r = G − u) have b = 1: BLAS
            // axpy. Matrix.sum is generic and, called from another module,
            // unspecialised (element-wise witness calls, most of MGRIT's run time).
            // For a = ±1 both compute round(y ± x): the results are bitwise the same.
            try! y.axpy(a, x)
        } else {
            try! y.sum(a, x, b)
        }
    }
}

/// The state operations the forward and adjoint problems share: states are
/// width × batch ``Matrix``es of the hidden stack, packed row by row for messages.
public protocol ResNetBatchProblem: MGRITProblem where State == Matrix<Double> {
    var stack: HiddenStack { get }
    var batch: Int { get }
    /// Kernel calls (one per GEMM-bearing operation, steps and tangent operations alike).
    var kernelCalls: Int { get set }
    /// Matrix-multiply flops (2 per multiply-add) of the tangent operations, and of the
    /// steps where the problem counts them.
    var flops: Int { get set }
    /// Tangent operations (linearised steps, products, applications) among ``kernelCalls``.
    var tangentKernelCalls: Int { get set }
    /// `v = Φ(u)` (bitwise the plain step) and `t ← Φ'(u)·t`, or with `fromIdentity`
    /// `t = Φ'(u)` (Delta correction's linearised steps).
    func tangentStep(from u: State, into v: State, tangent t: Matrix<Double>, start: Int, stop: Int, level: Int,
                     fromIdentity: Bool) throws
}

extension ResNetBatchProblem {
    public func makeState() -> State { Matrix(rows: stack.width, cols: batch) }
    public func sum(_ alpha: Double, _ x: State, _ beta: Double, _ y: State) { BatchOps.sum(alpha, x, beta, y) }
    public func copy(_ x: State, into y: State) { try! y.copy(from: x) }
    public func norm(_ u: State) -> Double { u.norm() }
    public var bufferCount: Int { stack.width * batch }
    public func pack(_ u: State, into buffer: UnsafeMutableBufferPointer<Double>) { u.pack(into: buffer) }
    public func unpack(from buffer: UnsafeBufferPointer<Double>, into u: State) { u.unpack(from: buffer) }
}

/// Tangents of the forward and adjoint problems (Delta correction): a batch step's Jacobian
/// is block diagonal, one w×w block per example (``TangentKernels`` layout, w × (w·B)
/// doubles), so Δ is held full rank per example, `w²B` doubles per coarse point (16
/// states at width 16).
extension ResNetBatchProblem where Tangent == Matrix<Double> {
    public var supportsDeltaCorrection: Bool { true }
    public func makeTangent() -> Tangent { Matrix(rows: stack.width, cols: stack.width * batch) }
    public func setTangentIdentity(_ t: Tangent) { TangentKernels.setIdentity(t) }
    public func tangentSum(_ alpha: Double, _ x: Tangent, _ beta: Double, _ y: Tangent) { BatchOps.sum(alpha, x, beta, y) }
    public func tangentProduct(_ a: Tangent, _ b: Tangent, into c: Tangent) {
        flops += try! TangentKernels.product(a, b, into: c)   // shapes are this problem's by construction
        countTangentCall()
    }
    public func step(from u: State, into v: State, tangent t: Tangent, start: Int, stop: Int, level: Int) throws {
        try tangentStep(from: u, into: v, tangent: t, start: start, stop: stop, level: level, fromIdentity: false)
    }
    public func stepSettingTangent(from u: State, into v: State, tangent t: Tangent, start: Int, stop: Int, level: Int) throws {
        try tangentStep(from: u, into: v, tangent: t, start: start, stop: stop, level: level, fromIdentity: true)
    }
    public func applyTangent(_ t: Tangent, to x: State, addingTo y: State) { addTangentProduct(t, x, y) }
    public var tangentBufferCount: Int { stack.width * stack.width * batch }
    public func packTangent(_ t: Tangent, into buffer: UnsafeMutableBufferPointer<Double>) { t.pack(into: buffer) }
    public func unpackTangent(from buffer: UnsafeBufferPointer<Double>, into t: Tangent) { t.unpack(from: buffer) }

    /// `y += t·x` per example, counted.
    func addTangentProduct(_ t: Tangent, _ x: State, _ y: State) {
        flops += try! TangentKernels.apply(t, to: x, addingTo: y)
        countTangentCall()
    }
    func countTangentCall() {
        kernelCalls += 1
        tangentKernelCalls += 1
    }
}

/// How a coarse step over `k` layers `n₀ … n₀+k−1` is rediscretised.
public enum CoarseStep: String, CaseIterable, Codable, Sendable {
    /// The layer at the interval's C-point with step `kβ`:
    /// `x ↦ x + kβ·ReLU(W^{n₀}x + b^{n₀})` (Günther et al. 2020; the paper).
    case cPointLayer
    /// One layer with the interval's mean parameters and step `kβ`:
    /// `x ↦ x + kβ·ReLU(W̄x + b̄)`, `W̄ = (1/k)ΣWⁿ`, `b̄ = (1/k)Σbⁿ`. In the
    /// linear regime (all pre-activations positive) its first-order term
    /// `β·Σ(Wⁿx + bⁿ)` equals that of the `k` fine layers exactly, while the
    /// C-point layer is off by `β·Σ(Wⁿ − W^{n₀})x`, which for independently
    /// drawn weights grows like `k·σ(W)`. Costs `w² + w` doubles per coarse interval.
    case intervalAverage
    /// Mean parameters and a two-stage step that matches the composition of
    /// `k` layers to second order in the linear regime:
    /// `y = x + ((k−1)β/2)·f(x)`, `x ↦ x + kβ·f(y)`, `f(x) = ReLU(W̄x + b̄)`.
    /// For `f(x) = Ax`: `I + kβA + k(k−1)/2·β²A²`, the first three terms of
    /// `(I + βA)ᵏ`, where forward Euler with `kβ` has no `β²` term. Two forward
    /// kernel calls per coarse step (four for the adjoint).
    case secondOrder

    var usesAverages: Bool { self != .cPointLayer }
}

/// Mean parameters of layer intervals, computed on first use and dropped with ``reset()``
/// (before and after every solve, as the parameters may change in between). While a
/// solve runs they hold `w² + w` doubles per coarse interval, ≈ `N/(m−1)` intervals:
/// for width 16 and batch 64 about 0.09 of the memory of all fine states.
final class IntervalAverages {
    let stack: HiddenStack
    private var cache: [Int: (Matrix<Double>, Vector<Double>)] = [:]
    init(stack: HiddenStack) { self.stack = stack }
    func reset() { cache.removeAll(keepingCapacity: true) }

    func parameters(first: Int, count: Int) -> (Matrix<Double>, Vector<Double>) {
        if count == 1 { return (stack.weights[first], stack.biases[first]) }
        let key = first &* 1_000_003 &+ count   // first < 2^40 and count ≤ N: unique for any real depth
        if let p = cache[key] { return p }
        let w = stack.width
        let W = Matrix<Double>(rows: w, cols: w), b = Vector<Double>(count: w)
        for n in first ..< first + count {
            try! W.axpy(1, stack.weights[n])
            try! b.axpy(1, stack.biases[n])
        }
        W.scale(1 / Double(count))
        b.scale(1 / Double(count))
        cache[key] = (W, b)
        return (W, b)
    }
}

/// The forward pass of the hidden stack as an MGRIT problem.
///
/// Fine step `n → n+1`: the hidden layer `xⁿ⁺¹ = xⁿ + β·ReLU(Wⁿxⁿ + bⁿ)` (one
/// fused kernel call). Coarse step over fine indices `start → stop`
/// (`k = stop − start` layers): the layer at its C-point with step `k·β`,
/// `x ↦ x + kβ·ReLU(W^{start}x + b^{start})` — forward Euler with a k times
/// larger step on the ODE the ResNet discretises, as in Günther et al. 2020.
/// Initial guess: every point equal to the input `x⁰` (layers change the state
/// by O(β) each). States are w×B matrices (``Matrix``), packed row by row.
public final class ResNetForwardProblem: ResNetBatchProblem {
    public typealias State = Matrix<Double>
    public let stack: HiddenStack
    public let batch: Int
    /// `x⁰`; must be set (the same on every rank) before a solve.
    public let input: Matrix<Double>
    /// Kernel calls made by ``step(from:into:start:stop:level:)`` and the tangent operations
    /// (one per GEMM-bearing operation; for the work statistics).
    public var kernelCalls = 0
    /// Matrix-multiply flops (2 per multiply-add) of all steps and tangent operations:
    /// a forward layer call `2w²B`, a linearised layer `2w³B` more.
    public var flops = 0
    /// Tangent operations (linearised steps, products, applications) among ``kernelCalls``.
    public var tangentKernelCalls = 0
    public let coarseStep: CoarseStep
    let averages: IntervalAverages

    private let yScratch: Matrix<Double>
    /// Pre-activations and GEMM output of the linearised steps (allocated on first use).
    private lazy var zScratch = Matrix<Double>(rows: stack.width, cols: batch)
    private lazy var z2Scratch = Matrix<Double>(rows: stack.width, cols: batch)
    private lazy var tangentY = makeTangent()
    private lazy var tangentS = makeTangent()

    public init(stack: HiddenStack, batch: Int, coarseStep: CoarseStep = .cPointLayer) throws {
        guard batch >= 1 else { throw ResNetError("batch must be ≥ 1, got \(batch)") }
        self.stack = stack
        self.batch = batch
        self.coarseStep = coarseStep
        averages = IntervalAverages(stack: stack)
        input = Matrix(rows: stack.width, cols: batch)
        yScratch = Matrix(rows: stack.width, cols: batch)
        recorded = Array(repeating: nil, count: stack.depth)
        recordedMasks = Array(repeating: nil, count: stack.depth)
        fromSerial = Array(repeating: 0, count: stack.depth)
        intoSerial = Array(repeating: 0, count: stack.depth + 1)
    }

    // MARK: Recorded pre-activations

    /// Whether fine steps keep `zⁿ = Wⁿxⁿ + bⁿ` (``preactivation(at:)``): the fused
    /// forward kernel writes it beside `xⁿ⁺¹` at no extra call, so the adjoint solve
    /// can linearise around it instead of recomputing it.
    public var recordsPreactivations = false
    /// With ``recordsPreactivations``: keep the ReLU mask of `zⁿ` (``mask(at:)``, one byte
    /// per entry) instead of `zⁿ` itself.
    public var recordsMasks = false
    private var recorded: [Matrix<Double>?]
    private var recordedMasks: [ReLUMask?]
    /// Write order: `serial` counts the writes to states; `fromSerial[n]` is the
    /// serial of the fine step from point n (which recorded `zⁿ`), `intoSerial[n]`
    /// that of the last write into point n's state by any operation of this problem
    /// (step, sum, copy, unpack, initial guess). The solver is generic over the
    /// problem and can change a state only through these operations, so `zⁿ` is that
    /// of the current `xⁿ` exactly when `fromSerial[n] > intoSerial[n]`.
    private var serial = 0, solveStart = 0
    private var fromSerial: [Int], intoSerial: [Int]
    /// The fine state objects named by ``trackFineStates(_:)``; each carries its point as
    /// its ``Matrix/tag``, every other state (coarse levels, scratch) −1.
    private var fineStates: [Matrix<Double>] = []

    /// Names the solver's fine states (point index → state), so writes into them are
    /// tracked; call it whenever they may have been reallocated.
    public func trackFineStates(_ states: [(Int, Matrix<Double>)]) {
        for state in fineStates { state.tag = -1 }
        for (n, state) in states {
            precondition(state.tag == -1, "fine state of point \(n) is already tracked (point \(state.tag))")
            state.tag = n
        }
        fineStates = states.map(\.1)
    }

    /// Starts a solve: pre-activations recorded before it (other parameters, states
    /// written from outside between solves) no longer count.
    public func beginSolve() { serial += 1; solveStart = serial }

    /// `zⁿ` of the current fine state `xⁿ` and layer n's current parameters, if the
    /// last fine step from point n in this solve came after the last write into `xⁿ`; else nil.
    public func preactivation(at n: Int) -> Matrix<Double>? {
        guard isCurrent(n), !recordsMasks else { return nil }
        return recorded[n]
    }

    /// The ReLU mask of `zⁿ`, under the conditions of ``preactivation(at:)`` (with ``recordsMasks``).
    public func mask(at n: Int) -> ReLUMask? {
        guard isCurrent(n), recordsMasks else { return nil }
        return recordedMasks[n]
    }

    private func isCurrent(_ n: Int) -> Bool {
        n >= 0 && n < stack.depth && fromSerial[n] > solveStart && fromSerial[n] > intoSerial[n]
    }

    /// A write into `y` by an operation that does not name its point: its tag says which
    /// fine point it is, if any (a coarse state's −1 ends this at one load and compare).
    @inline(__always) private func wrote(_ y: State) {
        let j = y.tag
        guard j >= 0, recordsPreactivations else { return }
        wrote(point: j)
    }

    @inline(__always) private func wrote(point j: Int) {
        serial += 1
        intoSerial[j] = serial
    }

    public func sum(_ alpha: Double, _ x: State, _ beta: Double, _ y: State) { wrote(y); BatchOps.sum(alpha, x, beta, y) }
    public func copy(_ x: State, into y: State) { wrote(y); try! y.copy(from: x) }
    public func unpack(from buffer: UnsafeBufferPointer<Double>, into u: State) { wrote(u); u.unpack(from: buffer) }

    // MARK: MGRITProblem

    public var stepCount: Int { stack.depth }
    public func initialGuess(at index: Int, into u: State) throws {
        if u.tag >= 0 && recordsPreactivations { wrote(point: index) }
        try u.copy(from: input)
    }
    public func step(from u: State, into v: State, start: Int, stop: Int, level: Int) throws {
        kernelCalls += 1
        flops += 2 * stack.width * stack.width * batch * (coarseStep == .secondOrder && level > 0 ? 2 : 1)
        if recordsPreactivations && level == 0 {   // a fine step: point start → stop = start + 1
            wrote(point: stop)
            // The buffers are made on a point's first fine step and kept (stored once: an
            // array write per step would retain the new element and release the old).
            if recordsMasks {
                let m: ReLUMask
                if let kept = recordedMasks[start] { m = kept } else { m = ReLUMask(rows: stack.width, cols: batch); recordedMasks[start] = m }
                try LayerKernels.residualForward(beta: stack.beta, W: stack.weights[start], b: stack.biases[start], X: u, Y: v, mask: m)
            } else {
                let z: Matrix<Double>
                if let kept = recorded[start] { z = kept } else { z = makeState(); recorded[start] = z }
                try LayerKernels.residualForward(beta: stack.beta, W: stack.weights[start], b: stack.biases[start], X: u, Y: v, Z: z)
            }
            serial += 1
            fromSerial[start] = serial
            return
        }   // coarse steps write coarse states only
        let k = Double(stop - start)
        let (W, b) = coarseStep.usesAverages && level > 0
            ? averages.parameters(first: start, count: stop - start) : (stack.weights[start], stack.biases[start])
        if coarseStep == .secondOrder && level > 0 {
            // y = u + ((k−1)β/2)·f(u); v = y + kβ·f(y) − y + u = u + kβ·f(y).
            try LayerKernels.residualForward(beta: (k - 1) * stack.beta / 2, W: W, b: b, X: u, Y: yScratch)
            try LayerKernels.residualForward(beta: k * stack.beta, W: W, b: b, X: yScratch, Y: v)
            try v.axpy(-1, yScratch)
            try v.axpy(1, u)
            kernelCalls += 1
            return
        }
        try LayerKernels.residualForward(beta: stack.beta * k, W: W, b: b, X: u, Y: v)
    }
}

// MARK: Tangents (Delta correction)

/// The forward problem's linearised steps: a fine layer's linearisation at `xⁿ` is
/// `I + β·diag(ReLU'(zⁿ))·Wⁿ` per example; a coarse step's is that of its
/// rediscretisation (``CoarseStep``).
extension ResNetForwardProblem {
    public typealias Tangent = Matrix<Double>
    public func applyTangent(_ t: Tangent, to x: State, addingTo y: State) {
        wrote(y)
        addTangentProduct(t, x, y)
    }

    /// `t ← Φ'(u)·t`, or with `fromIdentity` `t = Φ'(u)` (a layer's Jacobian formed directly).
    public func tangentStep(from u: State, into v: State, tangent t: Tangent, start: Int, stop: Int, level: Int,
                            fromIdentity: Bool) throws {
        let k = Double(stop - start)
        countTangentCall()
        if level == 0 || coarseStep != .secondOrder {
            let (W, b) = coarseStep.usesAverages && level > 0
                ? averages.parameters(first: start, count: stop - start) : (stack.weights[start], stack.biases[start])
            let z: Matrix<Double>
            if recordsPreactivations && level == 0 {
                try step(from: u, into: v, start: start, stop: stop, level: level)   // records zⁿ (or its mask), tracks the write
                if !recordsMasks, let kept = recorded[start] {
                    z = kept
                } else {   // a mask records no zⁿ: one more forward call for it
                    kernelCalls += 1
                    flops += 2 * stack.width * stack.width * batch
                    try LayerKernels.residualForward(beta: stack.beta, W: W, b: b, X: u, Y: yScratch, Z: zScratch)
                    z = zScratch
                }
            } else {
                kernelCalls += 1
                flops += 2 * stack.width * stack.width * batch
                try LayerKernels.residualForward(beta: stack.beta * k, W: W, b: b, X: u, Y: v, Z: zScratch)
                z = zScratch
            }
            if fromIdentity {
                try TangentKernels.setLinearizedResidual(beta: stack.beta * k, W: W, Z: z, transposed: false, into: t)
            } else {
                flops += try TangentKernels.addLinearizedResidual(beta: stack.beta * k, W: W, Z: z, S: t, into: t, scratch: tangentY)
            }
            return
        }
        if fromIdentity { setTangentIdentity(t) }
        // Second order: y = u + c·f(u), v = u + kβ·f(y), c = (k−1)β/2; v' = I + kβ·D_y·W̄·(I + c·D_u·W̄).
        let (W, b) = averages.parameters(first: start, count: stop - start)
        let c = (k - 1) * stack.beta / 2
        try LayerKernels.residualForward(beta: c, W: W, b: b, X: u, Y: yScratch, Z: zScratch)
        try LayerKernels.residualForward(beta: k * stack.beta, W: W, b: b, X: yScratch, Y: v, Z: z2Scratch)
        try v.axpy(-1, yScratch)
        try v.axpy(1, u)
        kernelCalls += 2
        flops += 4 * stack.width * stack.width * batch
        try tangentS.copy(from: t)
        flops += try TangentKernels.addLinearizedResidual(beta: c, W: W, Z: zScratch, S: t, into: tangentS, scratch: tangentY)
        flops += try TangentKernels.addLinearizedResidual(beta: k * stack.beta, W: W, Z: z2Scratch, S: tangentS, into: t, scratch: tangentY)
    }
}

/// The backward (adjoint) pass as an MGRIT problem in reversed time.
///
/// Time index `k` is layer `N − k`: point 0 is `λᴺ` (the loss gradient at the
/// last hidden state), point `N` is `λ⁰`. The fine step `k−1 → k` is the
/// transposed linearisation of layer `n = N − k` at the forward state `xⁿ`:
/// `λⁿ = λⁿ⁺¹ + β·Wⁿᵀ(ReLU'(zⁿ) ⊙ λⁿ⁺¹)`. A coarse step over `k = stop − start`
/// layers `N−stop … N−start−1` uses the layer at the C-point of that interval in
/// forward time, `n = N − stop`, with step `kβ`: exactly the transpose of the
/// forward coarse step of ``ResNetForwardProblem`` over the same layers.
///
/// The linearisation point `zⁿ = Wⁿxⁿ + bⁿ` is recomputed by one forward kernel
/// call per step into a scratch buffer rather than stored: storing it would add
/// `N·w·B` doubles (as much as all forward states again) to save one kernel
/// call per adjoint step (see ``ResNetAdjointSolver``).
///
/// When ``gradient`` is set, fine steps also accumulate `dWⁿ`, `dbⁿ` in the
/// same fused kernel call.
public final class ResNetAdjointProblem: ResNetBatchProblem {
    public typealias State = Matrix<Double>
    public let stack: HiddenStack
    public let batch: Int
    /// `xⁿ` for the layers whose adjoint points this rank owns (nil elsewhere).
    let forwardState: (Int) -> Matrix<Double>?
    /// `λᴺ`, set on the rank owning layer `N` before a solve.
    public let terminalAdjoint: Matrix<Double>
    /// Where fine steps accumulate gradients; nil during the solve itself.
    public var gradient: HiddenGradient? = nil
    /// Stored linearisation points (`zⁿ` or its mask) by layer (see ``ResNetAdjointSolver``); nil: recompute.
    var stored: [Int: Linearisation]? = nil
    public var kernelCalls = 0
    /// Matrix-multiply flops of the tangent operations (Delta correction); the steps are not counted.
    public var flops = 0
    public var tangentKernelCalls = 0
    /// Whether Delta correction builds Δ once per solve (the default: the adjoint's
    /// linearisation does not depend on λ). False rebuilds it in every restriction, as
    /// for a nonlinear problem: bitwise the same values at more cost (for checks).
    public var reusesDelta = true
    public let coarseStep: CoarseStep
    let averages: IntervalAverages
    private let zScratch: Matrix<Double>, yScratch: Matrix<Double>
    private lazy var z2Scratch = Matrix<Double>(rows: stack.width, cols: batch)
    private lazy var y2Scratch = Matrix<Double>(rows: stack.width, cols: batch)
    private lazy var gScratch = Matrix<Double>(rows: stack.width, cols: batch)
    /// Scratch of the linearised steps (allocated on first use).
    private lazy var tangentS = makeTangent()
    private lazy var tangentG = makeTangent()

    /// - Parameter forwardState: `xⁿ` for the layers this rank's points need (nil otherwise).
    public init(stack: HiddenStack, batch: Int, coarseStep: CoarseStep, forwardState: @escaping (Int) -> Matrix<Double>?) {
        self.stack = stack
        self.coarseStep = coarseStep
        averages = IntervalAverages(stack: stack)
        self.batch = batch
        self.forwardState = forwardState
        terminalAdjoint = Matrix(rows: stack.width, cols: batch)
        zScratch = Matrix(rows: stack.width, cols: batch)
        yScratch = Matrix(rows: stack.width, cols: batch)
    }

    public var stepCount: Int { stack.depth }
    /// `λᴺ` at point 0, zero elsewhere (a guess that needs nothing from other ranks).
    public func initialGuess(at index: Int, into u: State) throws {
        if index == 0 { try u.copy(from: terminalAdjoint) } else { u.zero() }
    }
    public func step(from u: State, into v: State, start: Int, stop: Int, level: Int) throws {
        _ = try advance(from: u, into: v, start: start, stop: stop, level: level)
    }

    /// What an adjoint step linearised around: one layer's `zⁿ` (or mask) with its `W`, or
    /// the two stages of a second-order coarse step (`z_x` and `z_y`, in scratch until the next step).
    private enum Point {
        case layer(W: Matrix<Double>, Linearisation, k: Double)
        case secondOrder(W: Matrix<Double>, zx: Matrix<Double>, zy: Matrix<Double>, c: Double, k: Double)
    }

    /// The step ``step(from:into:start:stop:level:)`` makes, returning its linearisation point.
    private func advance(from u: State, into v: State, start: Int, stop: Int, level: Int) throws -> Point {
        let n = stack.depth - stop
        guard let x = forwardState(n) else {
            throw ResNetError("adjoint step needs the forward state of layer \(n), which this rank does not hold")
        }
        // Coarse: the transpose of the forward coarse step over layers n … n+k−1, at its input xⁿ.
        let k = Double(stop - start)
        let (W, b) = coarseStep.usesAverages && level > 0
            ? averages.parameters(first: n, count: stop - start) : (stack.weights[n], stack.biases[n])
        if coarseStep == .secondOrder && level > 0 {
            // Ψ(x) = x + kβ f(y), y = x + c f(x), c = (k−1)β/2:
            // Ψ'ᵀλ = λ + g + c·f'(x)ᵀg with g = kβ·f'(y)ᵀλ = kβ·W̄ᵀ(ReLU'(z_y) ⊙ λ).
            let c = (k - 1) * stack.beta / 2
            try LayerKernels.residualForward(beta: c, W: W, b: b, X: x, Y: yScratch, Z: zScratch)          // y, z_x
            try LayerKernels.residualForward(beta: c, W: W, b: b, X: yScratch, Y: y2Scratch, Z: z2Scratch) // z_y
            try LayerKernels.residualAdjoint(beta: k * stack.beta, W: W, Z: z2Scratch, lambdaNext: u, lambda: gScratch)
            try gScratch.axpy(-1, u)                                                                          // g
            try LayerKernels.residualAdjoint(beta: c, W: W, Z: zScratch, lambdaNext: gScratch, lambda: v)      // g + c f'(x)ᵀg
            try v.axpy(1, u)
            kernelCalls += 4
            return .secondOrder(W: W, zx: zScratch, zy: z2Scratch, c: c, k: k)
        }
        // zⁿ = W xⁿ + b: stored (fine steps, and coarse C-point-layer steps, use layer n's own W, b)
        // or recomputed into scratch by one forward call.
        let point: Linearisation
        if let kept = stored?[n], level == 0 || coarseStep == .cPointLayer {
            point = kept
        } else {
            try LayerKernels.residualForward(beta: stack.beta, W: W, b: b, X: x, Y: yScratch, Z: zScratch)
            kernelCalls += 1
            point = .preactivation(zScratch)
        }
        let g = level == 0 ? gradient : nil
        try point.adjoint(beta: stack.beta * k, W: W, X: x, lambdaNext: u, lambda: v, dW: g?.dW[n], db: g?.db[n])
        kernelCalls += 1
        return .layer(W: W, point, k: k)
    }
}

// MARK: Tangents of the adjoint (Delta correction)

/// The adjoint problem's linearised steps are the steps themselves (the adjoint is linear in
/// λ): a fine step's is `I + β·Wⁿᵀ·diag(ReLU'(zⁿ))` per example, independent of the state,
/// so Delta correction builds Δ once per solve (``tangentsIndependentOfState``). The
/// adjoint Δ of a coarse point is the transpose of the forward Δ over the same layers at
/// the forward solve's states.
extension ResNetAdjointProblem {
    public typealias Tangent = Matrix<Double>
    public var tangentsIndependentOfState: Bool { reusesDelta }

    /// `t ← Φ'·t`, or with `fromIdentity` `t = Φ'` (a layer's Jacobian formed directly).
    public func tangentStep(from u: State, into v: State, tangent t: Tangent, start: Int, stop: Int, level: Int,
                            fromIdentity: Bool) throws {
        let point = try advance(from: u, into: v, start: start, stop: stop, level: level)
        countTangentCall()
        switch point {
        case let .layer(W, linearisation, k) where fromIdentity:
            switch linearisation {
            case .preactivation(let z): try TangentKernels.setLinearizedResidual(beta: stack.beta * k, W: W, Z: z, transposed: true, into: t)
            case .mask(let m): try TangentKernels.setLinearizedResidual(beta: stack.beta * k, W: W, mask: m, transposed: true, into: t)
            }
        case let .layer(W, linearisation, k):
            // T ← T + kβ·Wᵀ(ReLU'(z) ⊙ T): the fused adjoint kernel on every column block.
            flops += try layer(beta: stack.beta * k, W: W, linearisation, S: t, into: tangentS)
            try t.copy(from: tangentS)
        case let .secondOrder(W, zx, zy, c, k):
            // T ← T + H, H = G + c·W̄ᵀD_x·G, G = kβ·W̄ᵀD_y·T (the transpose of the forward two-stage step).
            if fromIdentity { setTangentIdentity(t) }
            flops += try layer(beta: k * stack.beta, W: W, .preactivation(zy), S: t, into: tangentS)   // T + G
            try tangentG.copy(from: tangentS)
            try tangentG.axpy(-1, t)                                                                     // G
            flops += try layer(beta: c, W: W, .preactivation(zx), S: tangentG, into: tangentS)          // H
            try t.axpy(1, tangentS)
        }
    }

    private func layer(beta: Double, W: Matrix<Double>, _ point: Linearisation, S: Tangent, into t: Tangent) throws -> Int {
        switch point {
        case .preactivation(let z): try TangentKernels.adjointLayer(beta: beta, W: W, Z: z, S: S, into: t)
        case .mask(let m): try TangentKernels.adjointLayer(beta: beta, W: W, mask: m, S: S, into: t)
        }
    }
}
