import Comm
import _TestSupport
import Kernels
import MGRIT
import ResNet
import Testing

/// Forward and adjoint MGRIT of the hidden stack on in-process ranks: states,
/// λ⁰ and the gradient (summed over ranks, each rank filling its own layers)
/// must be bitwise those of one rank.
@Suite("ResNet MGRIT on several in-process ranks")
struct DistributedResNetTests {
    struct Outcome {
        var states: [Int: [Double]] = [:]
        var lambda0: [Double]? = nil
        var gradient: [Double] = []
        var residuals: [[Double]] = []
    }

    static func run(ranks: Int, depth: Int, coarseStep: CoarseStep,
                    options opts: MGRITOptions) throws -> Outcome {
        let width = 5, batch = 3
        let outs = try LocalGroup.run(size: ranks) { comm -> Outcome in
            let stack = try HiddenStack.uniform(width: width, depth: depth, beta: 0.1, range: -0.3 ... 0.3, seed: 9)
            var rng = SplitMix64Stream(seed: 4)
            let input = Matrix<Double>(rows: width, cols: batch)
            for i in 0 ..< width { for j in 0 ..< batch { input[i, j] = rng.uniform(0 ... 4) } }
            let f = try ResNetForwardSolver(stack: stack, batch: batch, options: opts, comm: comm, coarseStep: coarseStep)
            let fs = try f.solve(input: input)
            let a = try ResNetAdjointSolver(forward: f, options: opts, comm: comm)
            let g = HiddenGradient(like: stack)
            let lambdaN = f.output.map { x -> Matrix<Double> in let l = x.clone(); l.scale(0.5); return l }
            let ad = try a.solve(terminalAdjoint: lambdaN, gradient: g)
            var o = Outcome()
            for n in f.ownedRange { o.states[n] = f.state(at: n)!.toArray() }
            o.lambda0 = a.inputAdjoint?.toArray()
            o.gradient = try comm.allreduceSum(g.flat.toArray())
            o.residuals = [fs.residuals, ad.residuals]
            return o
        }
        var merged = Outcome(gradient: outs[0].gradient, residuals: outs[0].residuals)
        for o in outs {
            merged.states.merge(o.states) { a, _ in a }
            if let l = o.lambda0 { merged.lambda0 = l }
            #expect(o.residuals == merged.residuals)
        }
        return merged
    }

    /// One rank against 2, 3 and 5 ranks, bitwise.
    static func expectRankCountInvariance(depth: Int, coarseStep: CoarseStep,
                                          options: MGRITOptions = MGRITOptions(coarsening: 3, maxIterations: 4)) throws {
        let one = try Self.run(ranks: 1, depth: depth, coarseStep: coarseStep, options: options)
        for p in [2, 3, 5] {
            let many = try Self.run(ranks: p, depth: depth, coarseStep: coarseStep, options: options)
            #expect(many.states == one.states, "\(p) ranks: forward states differ")
            #expect(many.lambda0 == one.lambda0, "\(p) ranks: λ⁰ differs")
            #expect(many.gradient == one.gradient, "\(p) ranks: gradient differs")
            #expect(many.residuals == one.residuals, "\(p) ranks: residual histories differ")
        }
    }

    @Test(arguments: [CoarseStep.cPointLayer, .intervalAverage])
    func rankCountDoesNotChangeStatesOrGradients(coarseStep: CoarseStep) throws {
        try Self.expectRankCountInvariance(depth: 47, coarseStep: coarseStep)
    }

    /// The same with each per-level option: a fine-level factor (the adjoint's C-points
    /// in reversed time, its cPointsOnly storage and gradient sweep), F-relaxation on
    /// the fine level, C-relaxation weights.
    @Test(arguments: ResNetLevelOptionsTests.solverCases.indices)
    func rankCountDoesNotChangeStatesOrGradientsWithPerLevelOptions(index: Int) throws {
        var opts = ResNetLevelOptionsTests.solverCases[index]
        opts.maxIterations = 4
        try Self.expectRankCountInvariance(depth: 47, coarseStep: .cPointLayer, options: opts)
    }

    /// With Delta correction on both solves: the tangents of intervals split across ranks
    /// travel with their last point (the adjoint's on its C-point-only fine level), and its Δ,
    /// built once per solve, is valid on every rank alike.
    @Test(arguments: CoarseStep.allCases)
    func rankCountDoesNotChangeStatesOrGradientsWithDeltaCorrection(coarseStep: CoarseStep) throws {
        var opts = MGRITOptions(coarsening: 3, maxIterations: 4)
        opts.deltaCorrection = true
        try Self.expectRankCountInvariance(depth: 47, coarseStep: coarseStep, options: opts)
    }
}
