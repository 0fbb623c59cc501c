import Foundation

/// L-BFGS's memory and line search (Nocedal & Wright, *Numerical Optimization*,
/// 2nd ed., Alg. 7.4 for the direction, Alg. 3.1 for the backtracking line search).
public struct LBFGSSettings: Sendable, Codable, Equatable {
    /// Pairs (s, y) kept, m (N&W: 3–20 usually suffice).
    public var history: Int
    /// Armijo's sufficient-decrease constant c₁: a trial α is accepted when
    /// f(x + αd) ≤ f(x) + c₁·α·∇f(x)ᵀd.
    public var armijo: Double
    /// Backtracking factor ρ ∈ (0, 1): a rejected trial is followed by α ← ρα (first trial α = 1).
    public var backtrack: Double
    /// Trials per line search; when none is accepted the step is not taken and the memory is cleared.
    public var maxTrials: Int

    public init(history: Int = 10, armijo: Double = 1e-4, backtrack: Double = 0.5, maxTrials: Int = 20) {
        self.history = history
        self.armijo = armijo
        self.backtrack = backtrack
        self.maxTrials = maxTrials
    }

    /// A pair with sᵀy ≤ ε‖s‖‖y‖ is skipped (its curvature is not positive enough
    /// to keep the inverse-Hessian approximation positive definite).
    public static let curvatureEpsilon = 1e-8

    /// Checks the ranges, naming the `layerpar train` option.
    public func validate() throws(TrainingError) {
        func need(_ ok: Bool, _ message: String) throws(TrainingError) { if !ok { throw TrainingError(message) } }
        try need(history >= 1 && history <= 1000, "--lbfgs-history must be 1…1000, got \(history)")
        try need(armijo > 0 && armijo < 1, "--lbfgs-armijo must be in (0, 1), got \(armijo)")
        try need(backtrack > 0 && backtrack < 1, "--lbfgs-backtrack must be in (0, 1), got \(backtrack)")
        try need(maxTrials >= 1 && maxTrials <= 1000, "--lbfgs-max-trials must be 1…1000, got \(maxTrials)")
    }
}

/// Where L-BFGS keeps its state in ``OptimizerState`` (n parameters, m pairs), so that a
/// checkpoint holds it as plain doubles and a resumed run continues bit for bit:
/// `first` = [g_prev (n) | s_pending (n) | s₀ … s_{m−1} (m·n) | y₀ … y_{m−1} (m·n)],
/// the pairs a ring; `second` = [pairs stored, ring slot of the next pair, whether
/// s_pending/g_prev hold the last step (0/1), pairs skipped so far, memory resets so far].
public struct LBFGSLayout: Sendable {
    public let count: Int
    public let history: Int
    public static let counterCount = 5
    public init(count: Int, history: Int) { self.count = count; self.history = history }
    public var vectorCount: Int { (2 + 2 * history) * count }
    var previousGradient: Int { 0 }
    var pendingStep: Int { count }
    func s(_ slot: Int) -> Int { (2 + slot) * count }
    func y(_ slot: Int) -> Int { (2 + history + slot) * count }
}

/// What one L-BFGS step's line search did.
public struct LineSearchOutcome: Sendable, Equatable {
    /// Loss evaluations at trial points (0 when there was no descent direction).
    public var trials: Int
    /// Whether a trial satisfied the Armijo condition (else the parameters are unchanged).
    public var accepted: Bool
    /// The accepted α (0 if none).
    public var stepLength: Double
    /// The loss at the accepted point (nil if none).
    public var loss: Double?
}

extension OptimizerState {
    /// Pairs currently stored (L-BFGS).
    public var lbfgsPairs: Int { second.count == LBFGSLayout.counterCount ? Int(second[0]) : 0 }
    /// Pairs skipped for too little curvature, and memory resets, so far (L-BFGS).
    public var lbfgsSkippedPairs: Int { second.count == LBFGSLayout.counterCount ? Int(second[3]) : 0 }
    public var lbfgsResets: Int { second.count == LBFGSLayout.counterCount ? Int(second[4]) : 0 }

    /// One L-BFGS step from `p` with loss `f` and gradient `g` there.
    ///
    /// 1. The last step's pair s = x_k − x_{k−1}, y = g_k − g_{k−1} joins the memory
    ///    (the oldest drops out beyond m) unless sᵀy ≤ ε‖s‖‖y‖ (``LBFGSSettings/curvatureEpsilon``).
    /// 2. d = −H g by the two-loop recursion (N&W Alg. 7.4) with H₀ = γI,
    ///    γ = sᵀy / yᵀy of the newest pair (N&W 7.20); with no pair, γ = the learning
    ///    rate (the first step is a gradient step of length lr·‖g‖ at α = 1).
    ///    If d is not a descent direction (gᵀd ≥ 0: only an inexact gradient can do
    ///    that), the memory is cleared and d = −lr·g.
    /// 3. Backtracking: α = 1, ρα, ρ²α, … until f(x + αd) ≤ f + c₁αgᵀd; each trial
    ///    writes x + αd into `p` and calls `trialLoss`, which returns the loss at `p`.
    ///    If no trial in `maxTrials` is accepted (or a trial loss is not finite at the
    ///    last), `p` is restored and the memory is cleared.
    ///
    /// Deterministic plain loops: every rank given the same `p`, `g`, `f` and trial
    /// losses computes the same bits.
    public mutating func lbfgsStep(_ p: UnsafeMutableBufferPointer<Double>, gradient g: UnsafeBufferPointer<Double>,
                                   loss f: Double, settings s: OptimizerSettings,
                                   trialLoss: () throws -> Double) rethrows -> LineSearchOutcome {
        let ls = s.lbfgsSettings
        let n = p.count, m = ls.history
        let L = LBFGSLayout(count: n, history: m)
        precondition(g.count == n && first.count == L.vectorCount && second.count == LBFGSLayout.counterCount)
        steps += 1
        var pairs = Int(second[0]), head = Int(second[1])
        let pending = second[2] != 0
        var skipped = second[3], resets = second[4]
        var outcome = LineSearchOutcome(trials: 0, accepted: false, stepLength: 0, loss: nil)
        let x0 = Array(p)
        try first.withUnsafeMutableBufferPointer { v in
            let base = v.baseAddress!
            func dot(_ a: UnsafePointer<Double>, _ b: UnsafePointer<Double>) -> Double {
                var t = 0.0
                for i in 0..<n { t += a[i] * b[i] }
                return t
            }
            let gp = g.baseAddress!
            let gPrev = base + L.previousGradient, d = base + L.pendingStep
            // 1. The pair of the last step.
            if pending {
                // Measured before it is stored: a skipped pair must not overwrite the oldest one.
                var sy = 0.0, ss = 0.0, yy = 0.0
                for i in 0..<n {
                    let y = gp[i] - gPrev[i]
                    sy += d[i] * y; ss += d[i] * d[i]; yy += y * y
                }
                if sy > LBFGSSettings.curvatureEpsilon * (ss * yy).squareRoot() && sy.isFinite {
                    let sk = base + L.s(head), yk = base + L.y(head)
                    for i in 0..<n { sk[i] = d[i]; yk[i] = gp[i] - gPrev[i] }
                    head = (head + 1) % m
                    pairs = min(pairs + 1, m)
                } else {
                    skipped += 1
                }
            }
            // 2. d = −H g (two-loop recursion), newest pair first.
            func steepest() { for i in 0..<n { d[i] = -s.learningRate * gp[i] } }
            if pairs == 0 {
                steepest()
            } else {
                var alpha = [Double](repeating: 0, count: pairs)
                for i in 0..<n { d[i] = gp[i] }   // q
                for j in stride(from: pairs - 1, through: 0, by: -1) {
                    let slot = (head - pairs + j + m) % m
                    let sj = base + L.s(slot), yj = base + L.y(slot)
                    let a = dot(sj, d) / dot(yj, sj)
                    alpha[j] = a
                    for i in 0..<n { d[i] -= a * yj[i] }
                }
                let newest = (head - 1 + m) % m
                let sn = base + L.s(newest), yn = base + L.y(newest)
                let gamma = dot(sn, yn) / dot(yn, yn)
                for i in 0..<n { d[i] *= gamma }   // r = H₀ q
                for j in 0..<pairs {
                    let slot = (head - pairs + j + m) % m
                    let sj = base + L.s(slot), yj = base + L.y(slot)
                    let b = dot(yj, d) / dot(yj, sj)
                    let c = alpha[j] - b
                    for i in 0..<n { d[i] += c * sj[i] }
                }
                for i in 0..<n { d[i] = -d[i] }
            }
            var slope = dot(gp, d)
            if !(slope < 0) && pairs > 0 {
                pairs = 0
                resets += 1
                steepest()
                slope = dot(gp, d)
            }
            // 3. Backtracking Armijo line search.
            if slope < 0 && f.isFinite {
                var a = 1.0
                for _ in 0..<ls.maxTrials {
                    for i in 0..<n { p[i] = x0[i] + a * d[i] }
                    let ft = try trialLoss()
                    outcome.trials += 1
                    if ft.isFinite && ft <= f + ls.armijo * a * slope {
                        outcome.accepted = true
                        outcome.stepLength = a
                        outcome.loss = ft
                        break
                    }
                    a *= ls.backtrack
                }
            }
            if outcome.accepted {
                for i in 0..<n { d[i] = p[i] - x0[i]; gPrev[i] = gp[i] }   // s_k = x_{k+1} − x_k as stored
            } else {
                for i in 0..<n { p[i] = x0[i] }
                if pairs > 0 || outcome.trials > 0 { resets += 1 }
                pairs = 0
            }
        }
        second[0] = Double(pairs)
        second[1] = Double(head)
        second[2] = outcome.accepted ? 1 : 0
        second[3] = skipped
        second[4] = resets
        return outcome
    }
}
