import Foundation
import Kernels

/// Learning-rate schedules: the rate used at optimiser step `k` (0-based).
public enum LearningRateSchedule: Sendable, Codable, Equatable {
    /// `lr` at every step.
    case constant
    /// `lr · factor^⌊k / every⌋`.
    case step(every: Int, factor: Double)
    /// `lr · ½(1 + cos(π·min(k, steps)/steps))`, decaying to 0 at `steps`.
    case cosine(steps: Int)
    /// `lr / (1 + decay·k)`.
    case inverseTime(decay: Double)

    public func rate(base: Double, step k: Int) -> Double {
        switch self {
        case .constant: return base
        case .step(let every, let factor): return base * pow(factor, Double(k / max(every, 1)))
        case .cosine(let steps):
            let t = Double(min(k, steps)) / Double(max(steps, 1))
            return base * 0.5 * (1 + cos(Double.pi * t))
        case .inverseTime(let decay): return base / (1 + decay * Double(k))
        }
    }
}

/// Optimisers on flat parameter vectors. State is plain arrays so it can be checkpointed exactly.
public enum OptimizerKind: String, Sendable, Codable, CaseIterable {
    case adam, sgd
    /// Limited-memory BFGS with a backtracking Armijo line search on the full batch
    /// (``OptimizerState/lbfgsStep(_:gradient:loss:settings:trialLoss:)``).
    case lbfgs
}

public struct OptimizerSettings: Sendable, Codable, Equatable {
    public var kind: OptimizerKind
    public var learningRate: Double
    public var schedule: LearningRateSchedule
    /// SGD momentum μ (heavy ball): v ← μv + g, p ← p − lr·v.
    public var momentum: Double
    /// Adam's β₁, β₂, ε (Kingma & Ba 2015).
    public var beta1: Double
    public var beta2: Double
    public var epsilon: Double
    /// L-BFGS's memory and line search; nil for the other optimisers (and in runs
    /// recorded before L-BFGS existed). Read it through ``lbfgsSettings``.
    public var lbfgs: LBFGSSettings?

    public init(kind: OptimizerKind, learningRate: Double, schedule: LearningRateSchedule = .constant,
                momentum: Double = 0.9, beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-8,
                lbfgs: LBFGSSettings? = nil) {
        self.kind = kind
        self.learningRate = learningRate
        self.schedule = schedule
        self.momentum = momentum
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.lbfgs = kind == .lbfgs ? lbfgs ?? LBFGSSettings() : lbfgs
    }

    public var lbfgsSettings: LBFGSSettings { lbfgs ?? LBFGSSettings() }
}

/// One optimiser's state: the step count and one or two moment vectors
/// (L-BFGS: its pairs and counters, laid out as ``LBFGSLayout`` says).
public struct OptimizerState: Sendable, Codable, Equatable {
    public var steps: Int
    public var first: [Double]
    public var second: [Double]

    public init(count: Int, settings: OptimizerSettings) {
        steps = 0
        let sizes = Self.sizes(count: count, settings: settings)
        first = [Double](repeating: 0, count: sizes.first)
        second = [Double](repeating: 0, count: sizes.second)
    }

    /// The lengths of ``first`` and ``second`` for `count` parameters.
    public static func sizes(count: Int, settings: OptimizerSettings) -> (first: Int, second: Int) {
        switch settings.kind {
        case .sgd: return (count, 0)
        case .adam: return (count, count)
        case .lbfgs:
            let l = LBFGSLayout(count: count, history: settings.lbfgsSettings.history)
            return (l.vectorCount, LBFGSLayout.counterCount)
        }
    }

    /// Applies one update to `p` with gradient `g` (arrays; see ``update(_:gradient:settings:)-(UnsafeMutableBufferPointer<Double>,_,_)``).
    public mutating func update(_ p: inout [Double], gradient g: [Double], settings s: OptimizerSettings) {
        g.withUnsafeBufferPointer { gb in
            p.withUnsafeMutableBufferPointer { update($0, gradient: gb, settings: s) }
        }
    }

    /// Applies one update to `p` with gradient `g`, in place.
    ///
    /// Adam: m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², p ← p − lr·m̂/(√v̂ + ε)
    /// with m̂ = m/(1−β₁ᵗ), v̂ = v/(1−β₂ᵗ). SGD: v ← μv + g, p ← p − lr·v.
    public mutating func update(_ pp: UnsafeMutableBufferPointer<Double>, gradient g: UnsafeBufferPointer<Double>,
                                settings s: OptimizerSettings) {
        precondition(pp.count == g.count && g.count == first.count && s.kind != .lbfgs)
        let lr = s.schedule.rate(base: s.learningRate, step: steps)
        steps += 1
        switch s.kind {
        case .sgd:
            let mu = s.momentum
            first.withUnsafeMutableBufferPointer { v in
                for i in 0..<g.count {
                    v[i] = mu * v[i] + g[i]
                    pp[i] -= lr * v[i]
                }
            }
        case .adam:
            let c1 = 1 - pow(s.beta1, Double(steps)), c2 = 1 - pow(s.beta2, Double(steps))
            first.withUnsafeMutableBufferPointer { m in
                second.withUnsafeMutableBufferPointer { v in
                    // Lengths are equal by the precondition above; the dispatched family always exists.
                    try! OptimizerKernels.adam(parameters: pp, gradient: g, firstMoment: m, secondMoment: v,
                                               learningRate: lr, beta1: s.beta1, beta2: s.beta2,
                                               biasCorrection1: c1, biasCorrection2: c2, epsilon: s.epsilon)
                }
            }
        case .lbfgs:
            preconditionFailure("L-BFGS steps need the loss and a line search: lbfgsStep(_:gradient:loss:settings:trialLoss:)")
        }
    }
}

/// Mini-batches from a training set shuffled anew each epoch.
///
/// Epoch `e`'s order is a Fisher–Yates shuffle drawn from stream
/// `(seed, batchOrder, e)`, so the sampler's whole state is `(epoch, position)`:
/// a resumed run regenerates exactly the same batches. A batch that would run
/// past the end of an epoch continues into the next one's order.
public struct MiniBatchSampler: Sendable {
    public let count: Int
    public let batchSize: Int
    public let seed: UInt64
    public private(set) var epoch: Int
    public private(set) var position: Int
    private var order: [Int]

    public init(count: Int, batchSize: Int, seed: UInt64, epoch: Int = 0, position: Int = 0) {
        precondition(count >= 1 && batchSize >= 1)
        self.count = count
        self.batchSize = batchSize
        self.seed = seed
        self.epoch = epoch
        self.position = position
        self.order = Self.order(count: count, seed: seed, epoch: epoch)
    }

    static func order(count: Int, seed: UInt64, epoch: Int) -> [Int] {
        var rng = Xoshiro256StarStar(seed: seed, stream: RandomStream.batchOrder.rawValue, UInt64(epoch))
        var a = Array(0..<count)
        rng.shuffle(&a)
        return a
    }

    /// The sample indices of the next batch.
    public mutating func next() -> [Int] {
        var out = [Int](); out.reserveCapacity(batchSize)
        while out.count < batchSize {
            if position == count {
                epoch += 1
                position = 0
                order = Self.order(count: count, seed: seed, epoch: epoch)
            }
            let take = min(batchSize - out.count, count - position)
            out += order[position ..< position + take]
            position += take
        }
        return out
    }
}
