import Comm
import Kernels
import MGRIT
import ResNet
import Testing

/// MGRIT's per-level options (fine-level coarsening factor and relaxation,
/// C-relaxation weight) on the ResNet forward and adjoint problems.
@Suite("ResNet MGRIT with per-level options")
struct ResNetLevelOptionsTests {
    private static func maxAbsDiff(_ a: Matrix<Double>, _ b: Matrix<Double>) -> Double {
        var d = 0.0
        for i in 0 ..< a.rows { for j in 0 ..< a.cols { d = max(d, abs(a[i, j] - b[i, j])) } }
        return d
    }

    private static func relativeStateError(_ s: ResNetForwardSolver, _ serial: [Matrix<Double>]) -> Double {
        let scale = serial.map { $0.maxAbs() }.max()!
        return s.ownedRange.map { maxAbsDiff(s.state(at: $0)!, serial[$0]) }.max()! / scale
    }

    /// FAS two-level MGRIT with F-relaxation on the nonlinear network is exact
    /// after ⌈N/m₀⌉ iterations with the fine factor m₀ (the coarse factor does not
    /// enter), and not two iterations earlier.
    @Test(arguments: [(16, 8, 2), (17, 3, 4), (30, 5, 3), (9, 4, 8)])
    func twoLevelFRelaxationIsExactAfterNOverFineFactor(depth: Int, m0: Int, m: Int) throws {
        let stack = try HiddenStack.uniform(width: 4, depth: depth, beta: 0.5, range: -1 ... 1, seed: 11)
        let input = randomMatrix(4, 5, -1 ... 1, seed: 12)
        let serial = try LayerSerial.forward(stack, input: input).states
        let iters = (depth + m0 - 1) / m0
        var opts = MGRITOptions(coarsening: m, fineCoarsening: m0, maxLevels: 2, cycle: .V, relaxation: .F, maxIterations: iters)
        let s = try ResNetForwardSolver(stack: stack, batch: 5, options: opts, comm: SerialCommunicator())
        _ = try s.solve(input: input)
        #expect(Self.relativeStateError(s, serial) <= 1e-14)
        if iters >= 3 {
            opts.maxIterations = iters - 2
            let t = try ResNetForwardSolver(stack: stack, batch: 5, options: opts, comm: SerialCommunicator())
            _ = try t.solve(input: input)
            #expect(Self.relativeStateError(t, serial) > 1e-12, "exact too early: the test would prove nothing")
        }
    }

    static let solverCases: [MGRITOptions] = [
        MGRITOptions(coarsening: 2, fineCoarsening: 8),
        MGRITOptions(coarsening: 4, fineCoarsening: 3, cycle: .V, fineRelaxation: .F),
        MGRITOptions(coarsening: 3, cRelaxationWeight: 1.5),
        MGRITOptions(coarsening: 2, fineCoarsening: 5, fineRelaxation: .F, cRelaxationWeight: 1.3, fineCRelaxationWeight: 1.8),
        MGRITOptions(coarsening: 4, sweeps: 3, fineSweeps: 1, cRelaxationWeight: 1.5, fineCRelaxationWeight: 1),
    ]

    /// Forward states and adjoint gradients (cPointsOnly adjoint in reversed time,
    /// the gradient sweep) converge to layer-serial forward and backprop.
    @Test(arguments: solverCases.indices, [CoarseStep.cPointLayer, .intervalAverage])
    func forwardAndAdjointMatchLayerSerial(index: Int, coarseStep: CoarseStep) throws {
        var opts = Self.solverCases[index]
        opts.relativeTolerance = 1e-13   // the residual stagnates near 1e-15·‖r₁‖
        opts.maxIterations = 80
        for depth in [1, 23, 64] {
            let width = 5, batch = 4
            let stack = try HiddenStack.uniform(width: width, depth: depth, beta: 0.1, range: -0.4 ... 0.4, seed: UInt64(depth))
            let input = randomMatrix(width, batch, 0 ... 4, seed: 21)
            let target = randomMatrix(width, batch, 0 ... 4, seed: 22)
            let (fwd, lambdaN, gSerial, lambda0Serial) = try serialBackprop(stack, input: input, target: target)
            let f = try ResNetForwardSolver(stack: stack, batch: batch, options: opts, comm: SerialCommunicator(), coarseStep: coarseStep)
            _ = try f.solve(input: input)
            #expect(Self.relativeStateError(f, fwd.states) <= 1e-12, "depth \(depth) case \(index)")
            for stored in [false, true] {
                let a = try ResNetAdjointSolver(forward: f, options: opts, comm: SerialCommunicator(), storePreactivations: stored)
                let g = HiddenGradient(like: stack)
                let stats = try a.solve(terminalAdjoint: lambdaN, gradient: g)
                #expect(stats.converged)
                var scale = 0.0, err = 0.0
                for n in 0 ..< depth {
                    scale = max(scale, gSerial.dW[n].maxAbs())
                    err = max(err, Self.maxAbsDiff(g.dW[n], gSerial.dW[n]))
                    for i in 0 ..< width { err = max(err, abs(g.db[n][i] - gSerial.db[n][i])) }
                }
                #expect(err <= 1e-10 * scale, "depth \(depth) case \(index): gradient error \(err), scale \(scale)")
                #expect(Self.maxAbsDiff(a.inputAdjoint!, lambda0Serial) <= 1e-10 * lambda0Serial.maxAbs())
            }
        }
    }

    /// The adjoint keeps the fine C-points of its own (reversed) time: multiples of m₀ from layer N down.
    @Test func adjointStoresTheFineFactorsCPoints() throws {
        let depth = 30, m0 = 8
        let stack = try HiddenStack.uniform(width: 3, depth: depth, beta: 0.1, range: -0.3 ... 0.3, seed: 3)
        let opts = MGRITOptions(coarsening: 2, fineCoarsening: m0, maxIterations: 3)
        let f = try ResNetForwardSolver(stack: stack, batch: 2, options: opts, comm: SerialCommunicator())
        _ = try f.solve(input: randomMatrix(3, 2, 0 ... 1, seed: 4))
        let a = try ResNetAdjointSolver(forward: f, options: opts, comm: SerialCommunicator())
        _ = try a.solve(terminalAdjoint: randomMatrix(3, 2, 0 ... 1, seed: 5), gradient: HiddenGradient(like: stack))
        let held = (0 ... depth).filter { a.adjoint(at: $0) != nil }
        #expect(held == [0, 6, 14, 22, 30])   // reversed points 30, 24, 16, 8, 0
        #expect(a.solver.hierarchy.pointsPerLevel == [31, 4, 2])
    }

    /// Iterations to ‖r_k‖ ≤ 1e-10·‖r_1‖, F-cycle FCF (a finding, printed; only
    /// convergence is asserted): width 8, depth 1024, β = 5/1024 (T = 5), signed
    /// weights U[−1, 1], batch 16, inputs U[0, 1], m = 4, cPointLayer coarse step;
    /// forward, and adjoint from λᴺ = xᴺ.
    @Test func iterationsWithWeightsAndFineFactors() throws {
        let depth = 1024, width = 8, batch = 16
        let stack = try HiddenStack.uniform(width: width, depth: depth, beta: 5.0 / 1024, range: -1 ... 1, seed: 17)
        let input = randomMatrix(width, batch, 0 ... 1, seed: 18)
        func run(_ o: MGRITOptions) throws -> String {
            let f = try ResNetForwardSolver(stack: stack, batch: batch, options: o, comm: SerialCommunicator())
            let fs = try f.solve(input: input)
            let a = try ResNetAdjointSolver(forward: f, options: o, comm: SerialCommunicator())
            let ad = try a.solve(terminalAdjoint: f.output!, gradient: HiddenGradient(like: stack))
            #expect(fs.converged && ad.converged, "\(o)")
            return "\(fs.iterations)/\(ad.iterations) (\(fs.totalSteps)/\(ad.totalSteps) steps)"
        }
        let base = MGRITOptions(coarsening: 4, relativeTolerance: 1e-10, maxIterations: 100)
        var lines: [String] = []
        for w in [1.0, 1.3, 1.5, 1.8] {
            var o = base
            o.cRelaxationWeight = w
            lines.append("ω=\(w) all levels: \(try run(o))")
        }
        for w in [1.3, 1.5, 1.8] {
            var o = base
            o.fineCRelaxationWeight = w
            lines.append("ω=\(w) fine only: \(try run(o))")
        }
        for m0 in [8, 16] {
            for fine in [MGRITRelaxation.FCF, .F] {
                var o = base
                o.fineCoarsening = m0
                o.fineRelaxation = fine
                lines.append("m₀=\(m0) fine \(fine): \(try run(o))")
            }
        }
        var o = base
        o.fineRelaxation = .F
        lines.append("m₀=4 fine F: \(try run(o))")
        print("ResNet MGRIT iterations forward/adjoint (w 8, depth 1024, β 5/1024, U[-1,1], F-cycle, rel. tol 1e-10):\n"
              + lines.joined(separator: "\n"))
    }
}
