import Comm
import Kernels
import MGRIT
import ResNet
import Testing

/// Delta correction on the ResNet forward and adjoint problems: the linearised steps and the Δ the
/// solver forms against finite differences, and exactness on a linear network.
@Suite("ResNet MGRIT with Delta correction")
struct DeltaCorrectionResNetTests {
    /// Central-difference Jacobian of `f` (w×B → w×B) per example: entry `(r, k·B + b)` is
    /// `∂f(x)[r, b]/∂x[k, b]` (examples are independent, so perturbing row k of every
    /// example at once gives every example's column k).
    static func jacobian(_ x: Matrix<Double>, eps: Double = 1e-6, _ f: (Matrix<Double>) throws -> Matrix<Double>) rethrows -> Matrix<Double> {
        let w = x.rows, B = x.cols
        let J = Matrix<Double>(rows: w, cols: w * B)
        for k in 0 ..< w {
            let xp = x.clone(), xm = x.clone()
            for b in 0 ..< B { xp[k, b] += eps; xm[k, b] -= eps }
            let fp = try f(xp), fm = try f(xm)
            for r in 0 ..< w { for b in 0 ..< B { J[r, k * B + b] = (fp[r, b] - fm[r, b]) / (2 * eps) } }
        }
        return J
    }

    static func maxAbsDiff(_ a: Matrix<Double>, _ b: Matrix<Double>) -> Double {
        var d = 0.0
        for i in 0 ..< a.rows { for j in 0 ..< a.cols { d = max(d, abs(a[i, j] - b[i, j])) } }
        return d
    }

    /// One linearised step of `p` from `x` (the identity propagated by it) against the finite-difference
    /// Jacobian of its plain step, which must not be the identity; the state step bitwise the plain
    /// one; and `stepSettingTangent` (the Jacobian formed directly) the same to rounding.
    static func expectLinearisedStep<P: ResNetBatchProblem>(_ p: P, from x: Matrix<Double>, start: Int, stop: Int, level: Int,
                                                           _ label: String) throws where P.Tangent == Matrix<Double> {
        let t = p.makeTangent(), v = p.makeState(), plain = p.makeState()
        p.setTangentIdentity(t)
        try p.step(from: x, into: v, tangent: t, start: start, stop: stop, level: level)
        try p.step(from: x, into: plain, start: start, stop: stop, level: level)
        #expect(Self.maxAbsDiff(v, plain) == 0, "\(label): the step with tangent changed the state step")
        let direct = p.makeTangent(), w = p.makeState()
        try p.stepSettingTangent(from: x, into: w, tangent: direct, start: start, stop: stop, level: level)
        #expect(Self.maxAbsDiff(w, plain) == 0, "\(label): stepSettingTangent changed the state step")
        #expect(Self.maxAbsDiff(direct, t) <= 1e-15 * max(1, t.maxAbs()), "\(label): \(Self.maxAbsDiff(direct, t))")
        let fd = try Self.jacobian(x) { y in
            let out = p.makeState()
            try p.step(from: y, into: out, start: start, stop: stop, level: level)
            return out
        }
        let identity = p.makeTangent()
        p.setTangentIdentity(identity)
        #expect(Self.maxAbsDiff(fd, identity) > 1e-3, "\(label): the Jacobian is the identity: the test would prove little")
        #expect(Self.maxAbsDiff(t, fd) <= 1e-8, "\(label): \(Self.maxAbsDiff(t, fd))")
    }

    /// The linearised fine and coarse steps (every coarse step kind) equal finite differences.
    @Test(arguments: CoarseStep.allCases)
    func linearisedStepsMatchFiniteDifferences(coarseStep: CoarseStep) throws {
        let (w, B) = (5, 3)
        let stack = try HiddenStack.uniform(width: w, depth: 8, beta: 0.3, range: -0.8 ... 0.8, seed: 21)
        let p = try ResNetForwardProblem(stack: stack, batch: B, coarseStep: coarseStep)
        let x = randomMatrix(w, B, -1 ... 1, seed: 22)
        for (start, stop, level) in [(2, 3, 0), (4, 8, 1)] {
            try Self.expectLinearisedStep(p, from: x, start: start, stop: stop, level: level, "\(coarseStep) level \(level)")
        }
    }

    /// The adjoint's linearised steps (every coarse step kind) equal finite differences of its
    /// steps, which are linear in λ.
    @Test(arguments: CoarseStep.allCases)
    func adjointLinearisedStepsMatchFiniteDifferences(coarseStep: CoarseStep) throws {
        let (w, B) = (5, 3)
        let stack = try HiddenStack.uniform(width: w, depth: 8, beta: 0.3, range: -0.8 ... 0.8, seed: 21)
        let states = try LayerSerial.forward(stack, input: randomMatrix(w, B, -1 ... 1, seed: 22)).states
        let p = ResNetAdjointProblem(stack: stack, batch: B, coarseStep: coarseStep, forwardState: { states[$0] })
        let lambda = randomMatrix(w, B, -1 ... 1, seed: 23)
        for (start, stop, level) in [(2, 3, 0), (0, 4, 1)] {
            try Self.expectLinearisedStep(p, from: lambda, start: start, stop: stop, level: level, "adjoint \(coarseStep) level \(level)")
        }
    }

    /// Forward states solved exactly (one level: the sequential pass), the adjoint solved with
    /// `options`; returns λ at every layer the adjoint keeps, the gradient and the statistics.
    static func adjointSolve(_ stack: HiddenStack, input: Matrix<Double>, options: MGRITOptions,
                             storage: PreactivationStorage = .recompute, reusesDelta: Bool = true)
        throws -> (lambda0: Matrix<Double>, gradient: HiddenGradient, stats: MGRITStatistics) {
        let f = try ResNetForwardSolver(stack: stack, batch: input.cols, options: MGRITOptions(maxLevels: 1),
                                        comm: SerialCommunicator())
        let a = try ResNetAdjointSolver(forward: f, options: options, comm: SerialCommunicator(), preactivationStorage: storage)
        a.problem.reusesDelta = reusesDelta
        _ = try f.solve(input: input)
        let g = HiddenGradient(like: stack)
        let stats = try a.solve(terminalAdjoint: f.output!, gradient: g)
        return (a.inputAdjoint!.clone(), g, stats)
    }

    /// The adjoint is linear in λ for any weights, so Delta correction makes every coarse level
    /// exact: one iteration solves it, and λ⁰ and the gradient are the layer-serial pass's,
    /// on a signed network whose ReLUs switch (where the uncorrected solve is far from exact).
    @Test(arguments: [2, 30])
    func adjointIsExactAfterOneIteration(maxLevels: Int) throws {
        let (w, B, depth) = (6, 4, 64)
        let stack = try HiddenStack.uniform(width: w, depth: depth, beta: 0.2, range: -0.6 ... 0.6, seed: 51)
        let input = randomMatrix(w, B, -1 ... 1, seed: 52)
        let states = try LayerSerial.forward(stack, input: input).states
        let serialGradient = HiddenGradient(like: stack)
        let serialLambda0 = try LayerSerial.backward(stack, states: states, terminalAdjoint: states[depth], gradient: serialGradient)
        var o = MGRITOptions(coarsening: 4, maxLevels: maxLevels, maxIterations: 2)
        o.deltaCorrection = true
        let (lambda0, g, stats) = try Self.adjointSolve(stack, input: input, options: o)
        #expect(stats.residuals.count == 2 && stats.residuals[1] <= 1e-13 * stats.residuals[0], "\(stats.residuals)")
        #expect(Self.maxAbsDiff(lambda0, serialLambda0) <= 1e-13 * serialLambda0.maxAbs(), "λ⁰: \(Self.maxAbsDiff(lambda0, serialLambda0))")
        let ge = zip(g.flat.toArray(), serialGradient.flat.toArray()).map { abs($0 - $1) }.max()!
        #expect(ge <= 1e-13 * serialGradient.flat.toArray().map(abs).max()!, "gradient: \(ge)")
        o.deltaCorrection = false
        let plain = try Self.adjointSolve(stack, input: input, options: o)
        #expect(plain.stats.residuals[1] > 1e-6 * plain.stats.residuals[0], "uncorrected: \(plain.stats.residuals)")
    }

    /// Δ of the adjoint is built once per solve: every later iteration gives bitwise what
    /// rebuilding it in every restriction gives, with a fraction of the linearised steps;
    /// and it is the same from stored pre-activations, their masks or recomputed ones.
    /// Also after nested iteration (FMG), whose V-cycles build Δ of coarse levels from
    /// coarser problems' steps: none of those may be kept (rebuilding would then differ).
    @Test(arguments: [false, true])
    func adjointDeltaIsBuiltOncePerSolve(fmg: Bool) throws {
        let (w, B, depth) = (5, 3, 80)
        let stack = try HiddenStack.uniform(width: w, depth: depth, beta: 0.1, range: -0.5 ... 0.5, seed: 61)
        let input = randomMatrix(w, B, -1 ... 1, seed: 62)
        var o = MGRITOptions(coarsening: 3, maxLevels: 4, fmg: fmg, maxIterations: 4)
        o.deltaCorrection = true
        let once = try Self.adjointSolve(stack, input: input, options: o)
        let every = try Self.adjointSolve(stack, input: input, options: o, reusesDelta: false)
        #expect(once.stats.iterations == 4 && every.stats.iterations == 4)
        #expect(once.stats.residuals == every.stats.residuals)
        #expect(once.lambda0.toArray() == every.lambda0.toArray())
        #expect(once.gradient.flat.toArray() == every.gradient.flat.toArray())
        let steps = once.stats.tangentStepsPerLevel.reduce(0, +), rebuilt = every.stats.tangentStepsPerLevel.reduce(0, +)
        #expect(steps > 0 && 2 * steps < rebuilt, "linearised steps: once \(steps), every restriction \(rebuilt)")
        for storage in [PreactivationStorage.store, .mask] {
            let s = try Self.adjointSolve(stack, input: input, options: o, storage: storage)
            #expect(s.stats.residuals == once.stats.residuals, "\(storage)")
            #expect(s.lambda0.toArray() == once.lambda0.toArray(), "\(storage)")
            #expect(s.gradient.flat.toArray() == once.gradient.flat.toArray(), "\(storage)")
        }
    }

    /// Forward and adjoint Delta correction with the pre-activations the forward solve records
    /// (store, mask) or none (recompute): the same forward states, λ⁰ and gradient bitwise.
    @Test func deltaCorrectionIsIndependentOfThePreactivationStorage() throws {
        let (w, B, depth) = (5, 3, 48)
        let stack = try HiddenStack.uniform(width: w, depth: depth, beta: 0.1, range: -0.5 ... 0.5, seed: 71)
        let input = randomMatrix(w, B, -1 ... 1, seed: 72)
        var o = MGRITOptions(coarsening: 4, maxIterations: 3)
        o.deltaCorrection = true
        var outcomes: [[Double]] = []
        for storage in PreactivationStorage.allCases {
            let f = try ResNetForwardSolver(stack: stack, batch: B, options: o, comm: SerialCommunicator())
            let a = try ResNetAdjointSolver(forward: f, options: o, comm: SerialCommunicator(), preactivationStorage: storage)
            _ = try f.solve(input: input)
            let g = HiddenGradient(like: stack)
            _ = try a.solve(terminalAdjoint: f.output!, gradient: g)
            outcomes.append((0 ... depth).flatMap { f.state(at: $0)!.toArray() } + a.inputAdjoint!.toArray() + g.flat.toArray())
        }
        #expect(outcomes[1] == outcomes[0] && outcomes[2] == outcomes[0], "\(PreactivationStorage.allCases)")
    }
}
