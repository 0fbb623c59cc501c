import Comm
import Reports
import ResNet

/// What the layer-serial passes keep of each hidden layer's pre-activation
/// `zⁿ = Wⁿxⁿ + bⁿ` for the backward pass (``NetworkWorkspace/preactivationStorage``):
/// `zⁿ` itself (store), its ReLU mask (mask, one byte per entry), or nothing, the
/// backward pass recomputing it (recompute); in parallel mode, what the adjoint
/// MGRIT solve linearises around (``ResNetAdjointSolver/preactivationStorage``).
/// All give bitwise the same gradients; which is fastest depends on whether the
/// states and pre-activations of a batch fit in cache.
public enum PreactivationPolicy: String, Sendable, Codable, CaseIterable {
    /// Time the three on the first steps of the run and keep the fastest (``PreactivationPlanner``).
    case auto
    case store
    case recompute
    case mask

    /// The storage a fixed policy runs (nil for auto).
    public var storage: PreactivationStorage? {
        switch self {
        case .auto: return nil
        case .store: return .store
        case .recompute: return .recompute
        case .mask: return .mask
        }
    }

    init(_ storage: PreactivationStorage) {
        switch storage {
        case .store: self = .store
        case .recompute: self = .recompute
        case .mask: self = .mask
        }
    }
}

/// What a rank's ``PreactivationPlanner`` ran, for the run summary.
public struct PreactivationChoice: Codable, Sendable, Equatable {
    /// The policy asked for.
    public var policy: PreactivationPolicy
    /// What the steps after the trial ran: store, recompute or mask.
    public var chosen: PreactivationPolicy
    /// Median CPU seconds of the trial steps' forward + backward passes with each (auto only).
    public var storeSeconds: Double?
    public var recomputeSeconds: Double?
    public var maskSeconds: Double?

    public init(policy: PreactivationPolicy, chosen: PreactivationPolicy, storeSeconds: Double? = nil,
                recomputeSeconds: Double? = nil, maskSeconds: Double? = nil) {
        self.policy = policy
        self.chosen = chosen
        self.storeSeconds = storeSeconds
        self.recomputeSeconds = recomputeSeconds
        self.maskSeconds = maskSeconds
    }
}

/// Chooses per rank how the pre-activations are kept, as an autotuner does
/// (FFTW's planner, ATLAS): with ``PreactivationPolicy/auto`` the steps after one
/// warm-up step cycle store, recompute, mask, store, … for `3 · trials` steps —
/// interleaved, so all see the same machine load — timing each step's forward and
/// backward passes in the thread's CPU time (preemption by other processes
/// excluded, cache and memory stalls included); the rest of the run keeps the one
/// with the lowest median (ties: store, then mask). The trial steps are ordinary
/// training steps: the choice changes how fast the gradient is computed, never its value.
public final class PreactivationPlanner {
    public let policy: PreactivationPolicy
    let trials: Int
    private var step = 0
    private var started = 0.0
    private var current = PreactivationStorage.recompute
    /// Trial CPU seconds per storage, in the order the trial cycles through them.
    private static let cycle: [PreactivationStorage] = [.store, .recompute, .mask]
    private var samples: [PreactivationStorage: [Double]] = [:]
    private var decided: PreactivationStorage?

    public init(policy: PreactivationPolicy, trials: Int = 5) {
        precondition(trials >= 1)
        self.policy = policy
        self.trials = trials
        decided = policy.storage
    }

    /// What this step keeps of the pre-activations; starts its clock.
    public func begin() -> PreactivationStorage {
        // step 0 (warm-up) recomputes, then store, recompute, mask, store, …
        current = decided ?? (step == 0 ? .recompute : Self.cycle[(step - 1) % Self.cycle.count])
        started = threadCPUSeconds()
        return current
    }

    /// Sets the workspace's choice for this step and starts its clock.
    public func begin(_ ws: NetworkWorkspace) { ws.preactivationStorage = begin() }

    /// Ends the step begun by ``begin()`` (after its backward pass).
    public func end() {
        defer { step += 1 }
        guard decided == nil, step > 0 else { return }
        samples[current, default: []].append(threadCPUSeconds() - started)
        if Self.cycle.allSatisfy({ (samples[$0]?.count ?? 0) >= trials }) {
            // Ties go to store, then mask (less arithmetic than recomputing).
            func m(_ s: PreactivationStorage) -> Double { Median.of(samples[s] ?? []) ?? .infinity }
            decided = [PreactivationStorage.store, .mask, .recompute].min { m($0) < m($1) }
        }
    }

    /// The choice so far: nil while an auto trial has not finished.
    public var choice: PreactivationChoice? {
        guard let decided else { return nil }
        func seconds(_ s: PreactivationStorage) -> Double? { samples[s].flatMap { Median.of($0) } }
        return PreactivationChoice(policy: policy, chosen: PreactivationPolicy(decided), storeSeconds: seconds(.store),
                                   recomputeSeconds: seconds(.recompute), maskSeconds: seconds(.mask))
    }
}
