import Comm
import Kernels
import MGRIT
import ResNet
import Testing

func randomMatrix(_ rows: Int, _ cols: Int, _ range: ClosedRange<Double>, seed: UInt64) -> Matrix<Double> {
    var rng = SplitMix64Stream(seed: seed)
    let m = Matrix<Double>(rows: rows, cols: cols)
    for i in 0 ..< rows { for j in 0 ..< cols { m[i, j] = rng.uniform(range) } }
    return m
}

/// The layer-serial oracle for L = ½‖xᴺ − y‖²: forward states (with pre-activations),
/// `λᴺ = xᴺ − y`, the backprop gradient and `λ⁰`.
func serialBackprop(_ stack: HiddenStack, input: Matrix<Double>, target: Matrix<Double>) throws
    -> (forward: (states: [Matrix<Double>], preactivations: [Matrix<Double>]?), lambdaN: Matrix<Double>,
        gradient: HiddenGradient, lambda0: Matrix<Double>) {
    let fwd = try LayerSerial.forward(stack, input: input, storePreactivations: true)
    let lambdaN = fwd.states.last!.clone()
    try lambdaN.axpy(-1, target)
    let g = HiddenGradient(like: stack)
    let lambda0 = try LayerSerial.backward(stack, states: fwd.states, preactivations: fwd.preactivations,
                                           terminalAdjoint: lambdaN, gradient: g)
    return (fwd, lambdaN, g, lambda0)
}

private func maxAbsDiff(_ a: Matrix<Double>, _ b: Matrix<Double>) -> Double {
    var d = 0.0
    for i in 0 ..< a.rows { for j in 0 ..< a.cols { d = max(d, abs(a[i, j] - b[i, j])) } }
    return d
}

/// max over points of ‖MGRIT − serial‖_max / max over points of ‖serial‖_max.
private func relativeStateError(_ s: ResNetForwardSolver, _ serial: [Matrix<Double>]) -> Double {
    let scale = serial.map { $0.maxAbs() }.max()!
    return s.ownedRange.map { maxAbsDiff(s.state(at: $0)!, serial[$0]) }.max()! / scale
}

@Suite("ResNet hidden stack as an MGRIT problem")
struct ResNetMGRITTests {
    @Test func conformance() throws {
        let stack = try HiddenStack.uniform(width: 5, depth: 3, beta: 0.1, range: -0.5 ... 0.5, seed: 1)
        let p = try ResNetForwardProblem(stack: stack, batch: 4)
        try p.input.copy(from: randomMatrix(5, 4, -1 ... 1, seed: 2))
        try MGRITConformance.checkAll(p, sample: randomMatrix(5, 4, -1 ... 1, seed: 3))
    }

    /// Each depth, width, coarsening factor and cycle appears; signed weights so ReLU switches.
    @Test(arguments: [
        (1, 6, 2, MGRITCycle.V), (2, 1, 3, .F), (3, 16, 4, .V), (4, 33, 8, .F), (5, 6, 2, .F),
        (16, 1, 4, .V), (17, 16, 3, .F), (64, 33, 2, .V), (160, 6, 8, .V), (160, 16, 4, .F),
        (322, 16, 4, .F), (322, 1, 3, .V), (64, 6, 8, .F), (17, 33, 4, .V),
    ])
    func forwardMatchesLayerSerial(depth: Int, width: Int, m: Int, cycle: MGRITCycle) throws {
        let stack = try HiddenStack.uniform(width: width, depth: depth, beta: 0.1, range: -0.3 ... 0.3, seed: UInt64(depth * 100 + width))
        let batch = 3
        let input = randomMatrix(width, batch, 0 ... 4, seed: 7)
        let serial = try LayerSerial.forward(stack, input: input).states
        let opts = MGRITOptions(coarsening: m, cycle: cycle, relativeTolerance: 1e-15, maxIterations: 80)
        let s = try ResNetForwardSolver(stack: stack, batch: batch, options: opts, comm: SerialCommunicator())
        let stats = try s.solve(input: input)
        let err = relativeStateError(s, serial)
        #expect(err <= 1e-12, "depth \(depth) width \(width) m \(m) \(cycle): error \(err) after \(stats.iterations) iterations, residuals \(stats.residuals)")
    }

    /// Two-level MGRIT with F-relaxation (FAS, so also for the nonlinear ReLU
    /// network) is exact after ⌈N/m⌉ iterations.
    @Test(arguments: [(16, 4), (17, 4), (30, 3), (9, 2)])
    func twoLevelFRelaxationIsExact(depth: Int, m: Int) throws {
        let stack = try HiddenStack.uniform(width: 4, depth: depth, beta: 0.5, range: -1 ... 1, seed: 11)
        let input = randomMatrix(4, 5, -1 ... 1, seed: 12)
        let serial = try LayerSerial.forward(stack, input: input).states
        let iters = (depth + m - 1) / m
        var opts = MGRITOptions(coarsening: m, maxLevels: 2, cycle: .V, relaxation: .F, maxIterations: iters)
        let s = try ResNetForwardSolver(stack: stack, batch: 5, options: opts, comm: SerialCommunicator())
        _ = try s.solve(input: input)
        #expect(relativeStateError(s, serial) <= 1e-14)
        if iters >= 3 {
            opts.maxIterations = iters - 2
            let t = try ResNetForwardSolver(stack: stack, batch: 5, options: opts, comm: SerialCommunicator())
            _ = try t.solve(input: input)
            #expect(relativeStateError(t, serial) > 1e-12, "exact too early: the test would prove nothing")
        }
    }

    /// L = ½‖xᴺ − y‖², so λᴺ = xᴺ − y.
    private func loss(_ stack: HiddenStack, _ input: Matrix<Double>, _ target: Matrix<Double>) throws -> Double {
        let xN = try LayerSerial.forward(stack, input: input).states.last!
        var s = 0.0
        for i in 0 ..< xN.rows { for j in 0 ..< xN.cols { let r = xN[i, j] - target[i, j]; s += r * r } }
        return 0.5 * s
    }

    @Test(arguments: [(1, 3, 2, CoarseStep.cPointLayer), (17, 6, 4, .intervalAverage), (64, 16, 4, .cPointLayer),
                      (40, 5, 3, .intervalAverage)])
    func adjointGradientsMatchSerialBackpropAndFiniteDifferences(depth: Int, width: Int, m: Int, coarseStep: CoarseStep) throws {
        let batch = 4
        let stack = try HiddenStack.uniform(width: width, depth: depth, beta: 0.1, range: -0.4 ... 0.4, seed: UInt64(depth))
        let input = randomMatrix(width, batch, 0 ... 4, seed: 21)
        let target = randomMatrix(width, batch, 0 ... 4, seed: 22)
        // Serial oracle.
        let (fwd, lambdaN, gSerial, lambda0Serial) = try serialBackprop(stack, input: input, target: target)
        // Serial backward with recomputed pre-activations agrees bitwise-close.
        let gRecomputed = HiddenGradient(like: stack)
        _ = try LayerSerial.backward(stack, states: fwd.states, terminalAdjoint: lambdaN, gradient: gRecomputed)
        #expect(maxAbsDiff(gRecomputed.dW[0], gSerial.dW[0]) <= 1e-15)
        // MGRIT forward + adjoint.
        let opts = MGRITOptions(coarsening: m, relativeTolerance: 1e-15, maxIterations: 60)
        let f = try ResNetForwardSolver(stack: stack, batch: batch, options: opts, comm: SerialCommunicator(),
                                        coarseStep: coarseStep)
        _ = try f.solve(input: input)
        let a = try ResNetAdjointSolver(forward: f, options: opts, comm: SerialCommunicator())
        let g = HiddenGradient(like: stack)
        _ = try a.solve(terminalAdjoint: lambdaN, gradient: g)
        var scale = 0.0, err = 0.0
        for n in 0 ..< depth {
            scale = max(scale, gSerial.dW[n].maxAbs())
            err = max(err, maxAbsDiff(g.dW[n], gSerial.dW[n]))
            for i in 0 ..< width { err = max(err, abs(g.db[n][i] - gSerial.db[n][i])) }
        }
        #expect(err <= 1e-10 * scale, "gradient error \(err), scale \(scale)")
        #expect(maxAbsDiff(a.inputAdjoint!, lambda0Serial) <= 1e-10 * lambda0Serial.maxAbs())
        // Stored pre-activations: the same kernels on the same inputs, so bitwise the same, with fewer calls.
        let aStored = try ResNetAdjointSolver(forward: f, options: opts, comm: SerialCommunicator(), storePreactivations: true)
        let gStored = HiddenGradient(like: stack)
        _ = try aStored.solve(terminalAdjoint: lambdaN, gradient: gStored)
        #expect((0 ..< depth).allSatisfy { gStored.dW[$0].toArray() == g.dW[$0].toArray() && gStored.db[$0].toArray() == g.db[$0].toArray() })
        #expect(aStored.inputAdjoint!.toArray() == a.inputAdjoint!.toArray())
        #expect(aStored.problem.kernelCalls < a.problem.kernelCalls || depth == 1)
        // Central differences of L on a few weights and biases.
        let h = 1e-6
        for (n, i, k) in [(0, 0, width - 1), (depth / 2, width - 1, 0), (depth - 1, width / 2, width / 2)] {
            let w0 = stack.weights[n][i, k]
            stack.weights[n][i, k] = w0 + h
            let lp = try loss(stack, input, target)
            stack.weights[n][i, k] = w0 - h
            let lm = try loss(stack, input, target)
            stack.weights[n][i, k] = w0
            let fd = (lp - lm) / (2 * h)
            #expect(abs(fd - g.dW[n][i, k]) <= 1e-6 * max(1, abs(fd)), "dW[\(n)][\(i),\(k)]: fd \(fd), adjoint \(g.dW[n][i, k])")
            let b0 = stack.biases[n][i]
            stack.biases[n][i] = b0 + h
            let bp = try loss(stack, input, target)
            stack.biases[n][i] = b0 - h
            let bm = try loss(stack, input, target)
            stack.biases[n][i] = b0
            let fdb = (bp - bm) / (2 * h)
            #expect(abs(fdb - g.db[n][i]) <= 1e-6 * max(1, abs(fdb)), "db[\(n)][\(i)]: fd \(fdb), adjoint \(g.db[n][i])")
        }
    }

    @Test func zeroLayersThrows() {
        #expect(throws: ResNetError.self) { _ = try HiddenStack(width: 4, depth: 0, beta: 0.1) }
    }

    @Test func nanInInputThrows() throws {
        let stack = try HiddenStack.uniform(width: 3, depth: 32, beta: 0.1, range: 0 ... 1e-3, seed: 1)
        let input = randomMatrix(3, 2, 0 ... 1, seed: 1)
        input[1, 1] = .nan
        let s = try ResNetForwardSolver(stack: stack, batch: 2, options: MGRITOptions(absoluteTolerance: 1e-10), comm: SerialCommunicator())
        #expect(throws: MGRITError.self) { _ = try s.solve(input: input) }
    }

    @Test func warmStartReusesStates() throws {
        let stack = try HiddenStack.uniform(width: 6, depth: 100, beta: 0.1, range: -0.2 ... 0.2, seed: 5)
        let input = randomMatrix(6, 4, 0 ... 4, seed: 6)
        let opts = MGRITOptions(absoluteTolerance: 1e-12, maxIterations: 30)
        let s = try ResNetForwardSolver(stack: stack, batch: 4, options: opts, comm: SerialCommunicator())
        let cold = try s.solve(input: input)
        let warm = try s.solve(input: input, warmStart: true)
        #expect(cold.iterations > 1)
        #expect(warm.iterations == 1)
    }
}

@Suite("ResNet coarse steps")
struct CoarseStepTests {
    /// The adjoint coarse step is the transpose of the forward coarse step's
    /// Jacobian: ⟨(Ψ(x+hδ) − Ψ(x−hδ))/2h, λ⟩ = ⟨δ, Ψ'(x)ᵀλ⟩.
    @Test(arguments: CoarseStep.allCases, [2, 4, 7])
    func adjointCoarseStepIsTransposeOfForward(coarseStep: CoarseStep, k: Int) throws {
        let w = 4, B = 3, depth = 8
        let stack = try HiddenStack.uniform(width: w, depth: depth, beta: 0.1, range: -0.5 ... 0.5, seed: UInt64(k))
        let x = randomMatrix(w, B, -1 ... 1, seed: 31), delta = randomMatrix(w, B, -1 ... 1, seed: 32)
        let lambda = randomMatrix(w, B, -1 ... 1, seed: 33)
        let fwd = try ResNetForwardProblem(stack: stack, batch: B, coarseStep: coarseStep)
        let h = 1e-7
        let xp = x.clone(), xm = x.clone()
        try xp.axpy(h, delta)
        try xm.axpy(-h, delta)
        let yp = fwd.makeState(), ym = fwd.makeState()
        let first = depth - k   // forward interval first … first+k−1
        try fwd.step(from: xp, into: yp, start: first, stop: depth, level: 1)
        try fwd.step(from: xm, into: ym, start: first, stop: depth, level: 1)
        try yp.axpy(-1, ym)
        let lhs = try yp.dot(lambda) / (2 * h)
        let adj = ResNetAdjointProblem(stack: stack, batch: B, coarseStep: coarseStep) { $0 == first ? x : nil }
        let v = adj.makeState()
        try adj.step(from: lambda, into: v, start: 0, stop: k, level: 1)   // reversed: layers depth−k … depth−1
        let rhs = try v.dot(delta)
        #expect(abs(lhs - rhs) <= 1e-6 * max(1, abs(rhs)), "\(coarseStep) k=\(k): FD \(lhs), adjoint \(rhs)")
    }

    /// In the linear regime with equal layers, the second-order step matches k layers to O(β³).
    @Test func secondOrderStepIsCloserToTheLayers() throws {
        let w = 3, B = 2, k = 8
        let stack = try HiddenStack(width: w, depth: k, beta: 0.1)
        for n in 0 ..< k { for i in 0 ..< w { for j in 0 ..< w { stack.weights[n][i, j] = 0.02 + 0.01 * Double(i + j) } } }
        let x = randomMatrix(w, B, 1 ... 2, seed: 5)   // positive: ReLU is the identity here
        let exact = try LayerSerial.forward(stack, input: x).states.last!
        func error(_ c: CoarseStep) throws -> Double {
            let p = try ResNetForwardProblem(stack: stack, batch: B, coarseStep: c)
            let v = p.makeState()
            try p.step(from: x, into: v, start: 0, stop: k, level: 1)
            try v.axpy(-1, exact)
            return v.norm()
        }
        let euler = try error(.intervalAverage), second = try error(.secondOrder)
        #expect(second < 0.2 * euler, "second order \(second), Euler \(euler)")
    }
}
