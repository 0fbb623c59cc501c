import Comm
import Reports
import ResNet

/// Whether the layer-serial passes store each hidden layer's pre-activation
/// `zⁿ = Wⁿxⁿ + bⁿ` for the backward pass, or recompute it there
/// (``NetworkWorkspace/storesPreactivations``); in parallel mode, whether the adjoint
/// MGRIT solve reuses the zⁿ the forward solve recorded or recomputes them
/// (``ResNetAdjointSolver/storePreactivations``). Either gives bitwise the same
/// gradients; which is faster depends on whether the states and pre-activations
/// of a batch fit in cache.
public enum PreactivationPolicy: String, Sendable, Codable, CaseIterable {
    /// Time both on the first steps of the run and keep the faster (``PreactivationPlanner``).
    case auto
    case store
    case recompute
}

/// What a rank's ``PreactivationPlanner`` ran, for the run summary.
public struct PreactivationChoice: Codable, Sendable, Equatable {
    /// The policy asked for.
    public var policy: PreactivationPolicy
    /// What the steps after the trial ran: store or recompute.
    public var chosen: PreactivationPolicy
    /// Median CPU seconds of the trial steps' forward + backward passes with each (auto only).
    public var storeSeconds: Double?
    public var recomputeSeconds: Double?

    public init(policy: PreactivationPolicy, chosen: PreactivationPolicy, storeSeconds: Double? = nil, recomputeSeconds: Double? = nil) {
        self.policy = policy
        self.chosen = chosen
        self.storeSeconds = storeSeconds
        self.recomputeSeconds = recomputeSeconds
    }
}

/// Chooses per rank between storing and recomputing the pre-activations, as an
/// autotuner does (FFTW's planner, ATLAS): with ``PreactivationPolicy/auto`` the
/// steps after one warm-up step alternate store, recompute, store, … for
/// `2 · trials` steps — interleaved, so both see the same machine load — timing
/// each step's forward and backward passes in the thread's CPU time (preemption by
/// other processes excluded, cache and memory stalls included); the rest of the
/// run keeps the one with the lower median. The trial steps are ordinary training
/// steps: the choice changes how fast the gradient is computed, never its value.
public final class PreactivationPlanner {
    public let policy: PreactivationPolicy
    let trials: Int
    private var step = 0
    private var started = 0.0
    private var current = true
    private var samples: (store: [Double], recompute: [Double]) = ([], [])
    private var decided: Bool?

    public init(policy: PreactivationPolicy, trials: Int = 5) {
        precondition(trials >= 1)
        self.policy = policy
        self.trials = trials
        switch policy {
        case .store: decided = true
        case .recompute: decided = false
        case .auto: decided = nil
        }
    }

    /// Whether this step stores the pre-activations; starts its clock.
    public func begin() -> Bool {
        current = decided ?? (step % 2 == 1)   // step 0 (warm-up) recomputes, then store first
        started = threadCPUSeconds()
        return current
    }

    /// Sets the workspace's choice for this step and starts its clock.
    public func begin(_ ws: NetworkWorkspace) { ws.storesPreactivations = begin() }

    /// Ends the step begun by ``begin()`` (after its backward pass).
    public func end() {
        defer { step += 1 }
        guard decided == nil, step > 0 else { return }
        let t = threadCPUSeconds() - started
        if current { samples.store.append(t) } else { samples.recompute.append(t) }
        if samples.recompute.count >= trials && samples.store.count >= trials,
           let store = Median.of(samples.store), let recompute = Median.of(samples.recompute) {
            decided = store <= recompute
        }
    }

    /// The choice so far: nil while an auto trial has not finished.
    public var choice: PreactivationChoice? {
        guard let decided else { return nil }
        return PreactivationChoice(policy: policy, chosen: decided ? .store : .recompute,
                                   storeSeconds: Median.of(samples.store),
                                   recomputeSeconds: Median.of(samples.recompute))
    }
}
