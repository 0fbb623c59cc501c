// L-BFGS against independent oracles: a convex quadratic's known minimiser, and the
// explicit BFGS inverse-Hessian update formed as a matrix.
import Foundation
import Testing
import Training

/// f(x) = ½ (x − x*)ᵀA(x − x*) with A symmetric positive definite: minimiser x*, minimum 0
/// (written around x* so that the loss near the minimiser keeps its relative precision).
struct Quadratic {
    let n: Int
    let a: [Double]   // row-major n×n
    let minimiser: [Double]

    /// A diagonally dominant SPD matrix with diagonal spread over ~[1, 30] plus the off-diagonal sums.
    init(n: Int, minimiser: [Double]) {
        self.n = n
        self.minimiser = minimiser
        var a = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0..<n where i < j { a[i * n + j] = 0.3 * sin(Double(3 * i + 7 * j + i * j)) }
        }
        for i in 0..<n { for j in 0..<i { a[i * n + j] = a[j * n + i] } }
        for i in 0..<n {
            let off = (0..<n).filter { $0 != i }.map { abs(a[i * n + $0]) }.reduce(0, +)
            a[i * n + i] = off + 1 + 29 * Double(i) / Double(max(n - 1, 1))
        }
        self.a = a
    }

    func gradient(_ x: [Double]) -> [Double] {
        let e = zip(x, minimiser).map(-)
        return (0..<n).map { i in (0..<n).map { a[i * n + $0] * e[$0] }.reduce(0, +) }
    }

    func value(_ x: [Double]) -> Double { 0.5 * dot(zip(x, minimiser).map(-), gradient(x)) }
}

func dot(_ u: [Double], _ v: [Double]) -> Double { zip(u, v).map(*).reduce(0, +) }

/// One L-BFGS step on `q` from `x`; returns the trial points it evaluated and the outcome.
func step(_ state: inout OptimizerState, _ x: inout [Double], _ q: Quadratic, _ s: OptimizerSettings,
          loss: (([Double]) -> Double)? = nil) -> (trials: [[Double]], outcome: LineSearchOutcome) {
    let g = q.gradient(x), f = (loss ?? q.value)(x)
    var trials: [[Double]] = []
    let o = x.withUnsafeMutableBufferPointer { p in
        g.withUnsafeBufferPointer { gb in
            state.lbfgsStep(p, gradient: gb, loss: f, settings: s) {
                let t = Array(p)
                trials.append(t)
                return (loss ?? q.value)(t)
            }
        }
    }
    return (trials, o)
}

@Suite("L-BFGS")
struct LBFGSTests {
    let xStar = [1.0, -2.0, 0.5, 3.0, -1.5, 0.25]

    @Test("On a convex quadratic it converges to the known minimiser, each accepted step lowering the loss (Armijo)")
    func quadraticConverges() {
        let q = Quadratic(n: xStar.count, minimiser: xStar)
        let s = OptimizerSettings(kind: .lbfgs, learningRate: 0.01, lbfgs: LBFGSSettings(history: 4))
        var st = OptimizerState(count: q.n, settings: s)
        var x = [Double](repeating: 0, count: q.n)
        var losses = [q.value(x)]
        for _ in 0..<60 {
            let r = step(&st, &x, q, s)
            #expect(r.outcome.accepted)
            losses.append(q.value(x))
            #expect(r.outcome.loss == losses.last!)
            if q.gradient(x).map(abs).max()! < 1e-13 { break }
        }
        let err = zip(x, xStar).map { abs($0 - $1) }.max()!
        #expect(err < 1e-12, "max error to the minimiser \(err) after \(losses.count - 1) steps")
        #expect(losses.count < 40, "\(losses.count - 1) steps: L-BFGS on a 6-dimensional quadratic should need far fewer")
        for k in 1..<losses.count {
            #expect(losses[k] < losses[k - 1], "loss rose at step \(k): \(losses[k - 1]) → \(losses[k])")
        }
        #expect(st.steps == losses.count - 1 && st.lbfgsPairs == 4 && st.lbfgsSkippedPairs == 0)
    }

    @Test("The two-loop recursion equals the explicit BFGS inverse-Hessian updates applied to the gradient (1 pair, and a full ring)")
    func twoLoopEqualsExplicitBFGS() {
        let q = Quadratic(n: xStar.count, minimiser: xStar)
        let m = 3
        let s = OptimizerSettings(kind: .lbfgs, learningRate: 0.02, lbfgs: LBFGSSettings(history: m))
        var st = OptimizerState(count: q.n, settings: s)
        var x = [Double](repeating: 0.1, count: q.n)
        var pairs: [(s: [Double], y: [Double])] = []
        var previous: (x: [Double], g: [Double])?
        for k in 0..<6 {
            let g = q.gradient(x)
            if let p = previous { pairs.append((zip(x, p.x).map(-), zip(g, p.g).map(-))) }
            let x0 = x
            let r = step(&st, &x, q, s)
            #expect(r.outcome.accepted)
            // The first trial is α = 1: the direction itself.
            let d = zip(r.trials[0], x0).map(-)
            let used = Array(pairs.suffix(m))
            let expected: [Double]
            if used.isEmpty {
                expected = g.map { -s.learningRate * $0 }
            } else {
                // H₀ = γI with the newest pair's γ, then H ← (I − ρsyᵀ) H (I − ρysᵀ) + ρssᵀ oldest to newest.
                let n = q.n, newest = used.last!
                let gamma = dot(newest.s, newest.y) / dot(newest.y, newest.y)
                var h = [Double](repeating: 0, count: n * n)
                for i in 0..<n { h[i * n + i] = gamma }
                for (sv, yv) in used {
                    let rho = 1 / dot(sv, yv)
                    var v = [Double](repeating: 0, count: n * n)   // V = I − ρ y sᵀ
                    for i in 0..<n { for j in 0..<n { v[i * n + j] = (i == j ? 1 : 0) - rho * yv[i] * sv[j] } }
                    var hv = [Double](repeating: 0, count: n * n)
                    for i in 0..<n { for j in 0..<n { for l in 0..<n { hv[i * n + j] += h[i * n + l] * v[l * n + j] } } }
                    var vthv = [Double](repeating: 0, count: n * n)
                    for i in 0..<n { for j in 0..<n { for l in 0..<n { vthv[i * n + j] += v[l * n + i] * hv[l * n + j] } } }
                    for i in 0..<n { for j in 0..<n { h[i * n + j] = vthv[i * n + j] + rho * sv[i] * sv[j] } }
                }
                expected = (0..<n).map { i in -(0..<n).map { h[i * n + $0] * g[$0] }.reduce(0, +) }
            }
            let scale = expected.map(abs).max()!
            let err = zip(d, expected).map { abs($0 - $1) }.max()!
            #expect(err <= 1e-10 * scale, "step \(k) with \(used.count) pair(s): direction differs by \(err) (scale \(scale))")
            previous = (x0, g)
        }
        #expect(pairs.count == 5 && st.lbfgsPairs == m)
    }

    @Test("A pair without positive curvature is skipped; a line search that never satisfies Armijo restores the parameters")
    func skipAndFailure() {
        let q = Quadratic(n: 3, minimiser: [1, 2, 3])
        let s = OptimizerSettings(kind: .lbfgs, learningRate: 0.01, lbfgs: LBFGSSettings(history: 5, maxTrials: 7))
        var st = OptimizerState(count: 3, settings: s)
        var x = [0.0, 0.0, 0.0]
        let g0 = q.gradient(x)
        _ = step(&st, &x, q, s)
        // The same gradient at the new point: y = 0, sᵀy = 0 — skipped, the direction is −lr·g again.
        var trials: [[Double]] = []
        let x1 = x
        _ = x.withUnsafeMutableBufferPointer { p in
            g0.withUnsafeBufferPointer { gb in
                st.lbfgsStep(p, gradient: gb, loss: q.value(x1), settings: s) { trials.append(Array(p)); return q.value(Array(p)) }
            }
        }
        #expect(st.lbfgsSkippedPairs == 1 && st.lbfgsPairs == 0)
        for i in 0..<3 { #expect(abs(trials[0][i] - (x1[i] - s.learningRate * g0[i])) < 1e-15) }
        // Every trial worse than the current loss: 7 trials, nothing taken, memory cleared.
        let before = x
        let r = step(&st, &x, q, s, loss: { v in v == before ? q.value(v) : q.value(before) + 1 })
        #expect(!r.outcome.accepted && r.outcome.trials == 7 && x == before && st.lbfgsPairs == 0)
        #expect(st.lbfgsResets == 1)
        // Backtracking halves α: trial k is x + 0.5ᵏ d.
        let d = zip(r.trials[0], before).map(-)
        for (k, t) in r.trials.enumerated() {
            for i in 0..<3 { #expect(abs(t[i] - (before[i] + pow(0.5, Double(k)) * d[i])) <= 1e-15 * max(1, abs(t[i]))) }
        }
    }

    @Test("--optimizer lbfgs needs the full batch and a constant schedule; its settings are range-checked")
    func validation() {
        func message(_ c: TrainingConfiguration) -> String? {
            do { try c.validate(); return nil } catch { return error.message }
        }
        var c = TrainingConfiguration(data: .task(.f2, train: 100, validation: 10), depth: 4, width: 4, batchSize: 64,
                                      optimizer: OptimizerSettings(kind: .lbfgs, learningRate: 1e-2), iterations: 3)
        #expect(message(c)?.contains("--batch-size 100") == true, "\(message(c) ?? "accepted")")
        c.batchSize = 100
        #expect(message(c) == nil)
        c.optimizer.lbfgs?.history = 0
        #expect(message(c)?.contains("--lbfgs-history") == true)
        c.optimizer.lbfgs?.history = 5; c.optimizer.lbfgs?.armijo = .nan
        #expect(message(c)?.contains("--lbfgs-armijo") == true)
        c.optimizer.lbfgs?.armijo = 1e-4; c.optimizer.schedule = .cosine(steps: 10)
        #expect(message(c)?.contains("--lr-schedule") == true)
    }
}
