/// A time-stepping problem that MGRIT solves, in the spirit of XBraid's user
/// interface (Step, Init, Clone, Sum, SpatialNorm, BufSize/BufPack/BufUnpack).
///
/// The system is `u₀ = initial condition`, `uᵢ = Φ(uᵢ₋₁)` for fine time points
/// `i = 1 … stepCount`. MGRIT sees a state only through these operations, so it
/// knows nothing of what a state is (a scalar, a batch of network activations,
/// an adjoint). Time is counted in *fine* indices on every level: on level `l`
/// a step goes from `start` to `stop = start + Mₗ` where `Mₗ` is the product of
/// the coarsening factors below `l` — the problem decides how to rediscretise
/// (e.g. a `stop − start` times larger step size).
///
/// Required: ``stepCount``, ``makeState()``, ``initialGuess(at:into:)``,
/// ``step(from:into:start:stop:level:)``, ``sum(_:_:_:_:)``, ``norm(_:)``,
/// ``bufferCount``, ``pack(_:into:)``, ``unpack(from:into:)``.
/// Optional with defaults: ``copy(_:into:)``, ``clone(_:)``.
/// ``MGRITConformance`` checks any implementation.
public protocol MGRITProblem: AnyObject {
    /// A state at one time point. A class, so the solver can hold and pass references.
    associatedtype State: AnyObject

    /// Number of fine time steps `N ≥ 1`; the fine time points are `0 … N`.
    var stepCount: Int { get }

    /// A new state with arbitrary contents (it is always overwritten before use).
    func makeState() -> State

    /// Writes the initial guess at fine point `index` into `u`. For `index == 0`
    /// this must be the initial condition, which MGRIT never changes; the solver
    /// asks for it at the start of every solve, also a warm-started one.
    func initialGuess(at index: Int, into u: State) throws

    /// `v = Φ(u)`: propagates `u` from fine time index `start` to `stop` on `level`
    /// (level 0 is the fine grid, where `stop = start + 1`). `v` and `u` are distinct
    /// objects; `u` must not be changed. Must be deterministic: the same inputs give
    /// bitwise the same output, on any rank.
    func step(from u: State, into v: State, start: Int, stop: Int, level: Int) throws

    /// `y = α·x + β·y` (XBraid's Sum). With `β == 0` the old contents of `y`
    /// must not matter (not even a NaN in `y`).
    func sum(_ alpha: Double, _ x: State, _ beta: Double, _ y: State)

    /// A spatial norm of `u` (ℓ² over its entries for the residual norms MGRIT
    /// reports); must satisfy ‖αu‖ = |α|·‖u‖.
    func norm(_ u: State) -> Double

    /// Number of doubles ``pack(_:into:)`` writes: an upper bound, the same on every rank.
    var bufferCount: Int { get }
    /// Serialises `u` into `buffer` (at least ``bufferCount`` doubles) for another rank.
    func pack(_ u: State, into buffer: UnsafeMutableBufferPointer<Double>)
    /// Restores a state written by ``pack(_:into:)`` into `u`; `unpack ∘ pack` is the identity.
    func unpack(from buffer: UnsafeBufferPointer<Double>, into u: State)

    /// `y = x` (default: ``sum(_:_:_:_:)`` with α = 1, β = 0).
    func copy(_ x: State, into y: State)
    /// A new state equal to `u` (default: ``makeState()`` then ``copy(_:into:)``).
    func clone(_ u: State) -> State

    // MARK: Tangents (optional: Delta correction)
    //
    // Delta correction (``MGRITOptions/deltaCorrection``; Vargas, Falgout, Günther,
    // Schroder et al., SISC 2023; XBraid's braid_SetDeltaCorrection) needs the
    // linearisation of the problem's steps. A *tangent* is a linear map on states in
    // the problem's own representation (full rank, or structured: a batch problem holds
    // one block per independent example). Defaults: not supported
    // (``supportsDeltaCorrection`` is false, and the solver refuses the option before
    // calling any of the others, which trap).

    /// A linear map on states (``MGRITNoTangent`` when the problem has none).
    associatedtype Tangent: AnyObject = MGRITNoTangent
    /// Whether the tangent operations below are implemented (default false).
    var supportsDeltaCorrection: Bool { get }
    /// Whether every step's linearisation is independent of the state it starts from
    /// (a linear problem, such as an adjoint pass; default false). Delta correction then
    /// builds each Δ once per solve, in the first restriction, and keeps it for the
    /// solve's later iterations: recomputing it would give bitwise the same values.
    var tangentsIndependentOfState: Bool { get }
    /// A new tangent with arbitrary contents.
    func makeTangent() -> Tangent
    /// `t = I`.
    func setTangentIdentity(_ t: Tangent)
    /// `v = Φ(u)` exactly as ``step(from:into:start:stop:level:)`` computes it (bitwise),
    /// and `t ← Φ'(u)·t`: the linearisation of that same step at `u`, applied to `t`.
    func step(from u: State, into v: State, tangent t: Tangent, start: Int, stop: Int, level: Int) throws
    /// `v = Φ(u)` and `t = Φ'(u)` (default: ``setTangentIdentity(_:)``, then the linearised
    /// step; a problem may form the Jacobian directly and save the product with the identity).
    func stepSettingTangent(from u: State, into v: State, tangent t: Tangent, start: Int, stop: Int, level: Int) throws
    /// `y = α·x + β·y` for tangents (β == 0: the old `y` must not matter).
    func tangentSum(_ alpha: Double, _ x: Tangent, _ beta: Double, _ y: Tangent)
    /// `c = a·b` (first `b`, then `a`); `c` is neither `a` nor `b`.
    func tangentProduct(_ a: Tangent, _ b: Tangent, into c: Tangent)
    /// `y = y + t·x` (`x` and `y` distinct).
    func applyTangent(_ t: Tangent, to x: State, addingTo y: State)
    /// Doubles ``packTangent(_:into:)`` writes (the same on every rank).
    var tangentBufferCount: Int { get }
    /// Serialises a tangent for another rank; ``unpackTangent(from:into:)`` restores it exactly.
    func packTangent(_ t: Tangent, into buffer: UnsafeMutableBufferPointer<Double>)
    func unpackTangent(from buffer: UnsafeBufferPointer<Double>, into t: Tangent)
}

/// The ``MGRITProblem/Tangent`` of a problem without tangent operations.
public final class MGRITNoTangent {}

extension MGRITProblem {
    public func copy(_ x: State, into y: State) { sum(1, x, 0, y) }
    public func clone(_ u: State) -> State {
        let v = makeState()
        copy(u, into: v)
        return v
    }
}

/// Defaults of the tangent operations: not supported. The solver checks
/// ``MGRITProblem/supportsDeltaCorrection`` before it would call any of them.
extension MGRITProblem {
    public var supportsDeltaCorrection: Bool { false }
    public var tangentsIndependentOfState: Bool { false }
    private func unsupported(_ what: String) -> Never {
        preconditionFailure("\(Self.self) does not support Delta correction (\(what) needs tangent operations; supportsDeltaCorrection is false)")
    }
    public func makeTangent() -> Tangent { unsupported("makeTangent") }
    public func setTangentIdentity(_ t: Tangent) { unsupported("setTangentIdentity") }
    public func step(from u: State, into v: State, tangent t: Tangent, start: Int, stop: Int, level: Int) throws {
        throw MGRITError.invalidOption("\(Self.self) does not support Delta correction (no linearised step)")
    }
    public func stepSettingTangent(from u: State, into v: State, tangent t: Tangent, start: Int, stop: Int, level: Int) throws {
        setTangentIdentity(t)
        try step(from: u, into: v, tangent: t, start: start, stop: stop, level: level)
    }
    public func tangentSum(_ alpha: Double, _ x: Tangent, _ beta: Double, _ y: Tangent) { unsupported("tangentSum") }
    public func tangentProduct(_ a: Tangent, _ b: Tangent, into c: Tangent) { unsupported("tangentProduct") }
    public func applyTangent(_ t: Tangent, to x: State, addingTo y: State) { unsupported("applyTangent") }
    public var tangentBufferCount: Int { 0 }
    public func packTangent(_ t: Tangent, into buffer: UnsafeMutableBufferPointer<Double>) { unsupported("packTangent") }
    public func unpackTangent(from buffer: UnsafeBufferPointer<Double>, into t: Tangent) { unsupported("unpackTangent") }
}

/// Checks any ``MGRITProblem`` implementation against the protocol's contract,
/// like XBraid's `braid_Test*` functions. Each check throws ``MGRITError`` naming
/// the failed property; use them in a problem's unit tests.
public enum MGRITConformance {
    /// Runs every check on the state `sample` (a nonzero state, e.g. an initial
    /// guess) with relative tolerance `tolerance`.
    public static func checkAll<P: MGRITProblem>(_ problem: P, sample: P.State, tolerance: Double = 1e-13) throws {
        try checkNormScaling(problem, sample: sample, tolerance: tolerance)
        try checkPackUnpack(problem, sample: sample)
        try checkCloneIndependent(problem, sample: sample, tolerance: tolerance)
        try checkSumZeroBetaIgnoresTarget(problem, sample: sample, tolerance: tolerance)
        try checkStepDeterministic(problem, sample: sample)
    }

    /// ‖3v‖/‖v‖ = 3 and ‖v − v‖ = 0.
    public static func checkNormScaling<P: MGRITProblem>(_ problem: P, sample v: P.State, tolerance: Double) throws {
        let n = problem.norm(v)
        guard n > 0, n.isFinite else { throw MGRITError.conformance("norm of the sample state is \(n); need a finite nonzero sample") }
        let w = problem.clone(v)
        problem.sum(3, v, 0, w)
        let ratio = problem.norm(w) / n
        guard abs(ratio - 3) <= 3 * tolerance else { throw MGRITError.conformance("‖3v‖/‖v‖ = \(ratio), expected 3") }
        problem.copy(v, into: w)
        problem.sum(-1, v, 1, w)
        guard problem.norm(w) <= tolerance * n else { throw MGRITError.conformance("‖v − v‖ = \(problem.norm(w)), expected 0") }
    }

    /// unpack(pack(v)) = v exactly, and pack writes no more than bufferCount doubles.
    public static func checkPackUnpack<P: MGRITProblem>(_ problem: P, sample v: P.State) throws {
        let count = problem.bufferCount
        guard count >= 1 else { throw MGRITError.conformance("bufferCount is \(count), expected ≥ 1") }
        let sentinel = -1.234567e300
        var buffer = [Double](repeating: sentinel, count: count + 1)
        buffer.withUnsafeMutableBufferPointer { problem.pack(v, into: UnsafeMutableBufferPointer(rebasing: $0[0 ..< count])) }
        guard buffer[count] == sentinel else { throw MGRITError.conformance("pack wrote past bufferCount = \(count)") }
        let w = problem.makeState()
        buffer.withUnsafeBufferPointer { problem.unpack(from: UnsafeBufferPointer(rebasing: $0[0 ..< count]), into: w) }
        problem.sum(-1, v, 1, w)
        guard problem.norm(w) == 0 else { throw MGRITError.conformance("‖unpack(pack(v)) − v‖ = \(problem.norm(w)), expected exactly 0") }
    }

    /// A clone does not alias its original.
    public static func checkCloneIndependent<P: MGRITProblem>(_ problem: P, sample v: P.State, tolerance: Double) throws {
        let n = problem.norm(v)
        let w = problem.clone(v)
        problem.sum(1, w, 1, w)   // w = 2w
        guard abs(problem.norm(v) - n) <= tolerance * n else { throw MGRITError.conformance("changing a clone changed the original") }
        guard abs(problem.norm(w) - 2 * n) <= 2 * tolerance * n else { throw MGRITError.conformance("clone does not equal its original") }
    }

    /// sum(α, x, 0, y) ignores the old y, even a NaN there.
    public static func checkSumZeroBetaIgnoresTarget<P: MGRITProblem>(_ problem: P, sample v: P.State, tolerance: Double) throws {
        let y = problem.clone(v)
        problem.sum(.nan, v, 0, y)   // y = NaN everywhere
        problem.sum(1, v, 0, y)
        problem.sum(-1, v, 1, y)
        let e = problem.norm(y)
        guard e.isFinite, e <= tolerance * problem.norm(v) else {
            throw MGRITError.conformance("sum(1, x, 0, y) kept the old contents of y (‖y − x‖ = \(e))")
        }
    }

    /// Two fine steps from the same state give the same result, and the input is not changed.
    public static func checkStepDeterministic<P: MGRITProblem>(_ problem: P, sample v: P.State) throws {
        guard problem.stepCount >= 1 else { throw MGRITError.conformance("stepCount is \(problem.stepCount), expected ≥ 1") }
        let before = problem.clone(v)
        let a = problem.makeState(), b = problem.makeState()
        try problem.step(from: v, into: a, start: 0, stop: 1, level: 0)
        try problem.step(from: v, into: b, start: 0, stop: 1, level: 0)
        problem.sum(-1, a, 1, b)
        guard problem.norm(b) == 0 else { throw MGRITError.conformance("step is not deterministic") }
        problem.sum(-1, v, 1, before)
        guard problem.norm(before) == 0 else { throw MGRITError.conformance("step changed its input state") }
    }
}
