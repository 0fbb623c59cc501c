import Comm
import Kernels
import MGRIT
import ResNet
import Testing

/// The adjoint solve linearises around the pre-activations `zⁿ` the forward solve's
/// fine steps recorded, where they belong to the final forward states; the oracle is
/// the same solve with every `zⁿ` recomputed from the final states (bitwise equal:
/// the same kernel on the same inputs), over solver set-ups that end a solve in
/// different ways (inexact fixed iterations, convergence, one level, skipped first
/// down-cycle) and over parameters changed between solves, as training does. The
/// same holds for the ReLU masks of `zⁿ` recorded instead (``PreactivationStorage/mask``).
@Suite("Pre-activations reused from the forward solve")
struct PreactivationReuseTests {
    static let cases: [(String, MGRITOptions, CoarseStep)] = [
        ("F-cycle FCF, 1 iteration", MGRITOptions(coarsening: 4).fixedIterations(1, measureLast: true), .cPointLayer),
        ("F-cycle FCF, 2 iterations", MGRITOptions(coarsening: 4).fixedIterations(2), .cPointLayer),
        ("V-cycle, fine F, fine factor 8, 1 iteration", MGRITOptions(coarsening: 2, fineCoarsening: 8, cycle: .V, fineRelaxation: .F)
            .fixedIterations(1, measureLast: true), .intervalAverage),
        ("skip first down, 2 iterations", MGRITOptions(coarsening: 3, skipFirstDown: true).fixedIterations(2), .secondOrder),
        ("ω 1.5, 3 iterations", MGRITOptions(coarsening: 3, cRelaxationWeight: 1.5).fixedIterations(3), .cPointLayer),
        ("converged to tolerance", MGRITOptions(coarsening: 4, relativeTolerance: 1e-12, maxIterations: 40), .cPointLayer),
        ("one level (a serial sweep)", MGRITOptions(coarsening: 4, maxLevels: 1), .cPointLayer),
    ]

    struct Outcome { var states: [[Double]]; var dW: [[Double]]; var db: [[Double]]; var lambda0: [Double]; var reused: [Int]; var zCalls: [Int] }

    /// Two training-like steps: solve, adjoint + gradient, change the parameters, warm-started solve, adjoint.
    static func run(_ options: MGRITOptions, _ coarseStep: CoarseStep, reuse: Bool, depth: Int,
                    keeping: PreactivationStorage = .store) throws -> Outcome {
        let width = 5, batch = 4
        let stack = try HiddenStack.uniform(width: width, depth: depth, beta: 0.2, range: -0.5 ... 0.5, seed: 31)
        let input = randomMatrix(width, batch, -1 ... 2, seed: 32)
        let lambdaN = randomMatrix(width, batch, -1 ... 1, seed: 33)
        let f = try ResNetForwardSolver(stack: stack, batch: batch, options: options, comm: SerialCommunicator(), coarseStep: coarseStep)
        let a = try ResNetAdjointSolver(forward: f, options: options, comm: SerialCommunicator(), preactivationStorage: keeping)
        // Without reuse: the same stored-z solve, but the forward solve records nothing.
        if !reuse { f.problem.recordsPreactivations = false }
        var out = Outcome(states: [], dW: [], db: [], lambda0: [], reused: [], zCalls: [])
        for step in 0 ..< 2 {
            if step == 1 { stack.weights[depth / 2][1, 2] += 0.3; stack.biases[0][0] -= 0.2 }
            _ = try f.solve(input: input, warmStart: step == 1)
            let g = HiddenGradient(like: stack)
            let calls = a.problem.kernelCalls
            _ = try a.solve(terminalAdjoint: lambdaN, gradient: g)
            out.zCalls.append(a.problem.kernelCalls - calls)
            out.states += (0 ... depth).map { f.state(at: $0)!.toArray() }
            out.dW += (0 ..< depth).map { g.dW[$0].toArray() }
            out.db += (0 ..< depth).map { g.db[$0].toArray() }
            out.lambda0 += a.inputAdjoint!.toArray()
            out.reused.append(a.reusedPreactivations)
        }
        return out
    }

    @Test(arguments: cases.indices)
    func gradientsEqualRecomputedPreactivations(index: Int) throws {
        let (name, options, coarseStep) = Self.cases[index]
        let depth = 23
        let reused = try Self.run(options, coarseStep, reuse: true, depth: depth)
        let recomputed = try Self.run(options, coarseStep, reuse: false, depth: depth)
        #expect(reused.states == recomputed.states, "\(name): recording must not change the forward solve")
        #expect(reused.dW == recomputed.dW && reused.db == recomputed.db, "\(name): gradients")
        #expect(reused.lambda0 == recomputed.lambda0, "\(name): λ⁰")
        #expect(recomputed.reused == [0, 0])
        // Most layers' zⁿ come from the forward solve; each one saves a kernel call.
        #expect(reused.reused.allSatisfy { $0 >= depth / 2 }, "\(name): reused \(reused.reused) of \(depth)")
        for k in 0 ..< 2 { #expect(reused.zCalls[k] + reused.reused[k] == recomputed.zCalls[k], "\(name): calls") }
        // Masks instead of zⁿ, recorded by the forward solve or made by the adjoint: the same bits.
        for reuse in [true, false] {
            let masked = try Self.run(options, coarseStep, reuse: reuse, depth: depth, keeping: .mask)
            #expect(masked.states == recomputed.states, "\(name): recording masks must not change the forward solve")
            #expect(masked.dW == recomputed.dW && masked.db == recomputed.db && masked.lambda0 == recomputed.lambda0,
                    "\(name): gradients from masks (reuse \(reuse))")
            #expect(masked.reused == (reuse ? reused.reused : [0, 0]) && masked.zCalls == (reuse ? reused.zCalls : recomputed.zCalls),
                    "\(name): masks are recorded and reused exactly where zⁿ is")
        }
    }

    /// A zⁿ recorded in one solve is not used in the next before a fine step recorded it anew:
    /// with one layer changed and the forward solve not run again, every zⁿ is recomputed.
    @Test func staleAfterTheSolveIsOver() throws {
        let stack = try HiddenStack.uniform(width: 4, depth: 12, beta: 0.2, range: -0.5 ... 0.5, seed: 41)
        let input = randomMatrix(4, 3, -1 ... 1, seed: 42)
        let options = MGRITOptions(coarsening: 4).fixedIterations(1)
        let f = try ResNetForwardSolver(stack: stack, batch: 3, options: options, comm: SerialCommunicator())
        let a = try ResNetAdjointSolver(forward: f, options: options, comm: SerialCommunicator(), storePreactivations: true)
        _ = try f.solve(input: input)
        #expect((0 ..< 12).contains { f.problem.preactivation(at: $0) != nil })
        f.problem.beginSolve()   // what the next forward solve does first
        #expect((0 ..< 12).allSatisfy { f.problem.preactivation(at: $0) == nil })
        _ = a
    }
}
