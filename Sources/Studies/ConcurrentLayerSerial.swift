import Comm
import Foundation
import Reports
import ResNet
#if canImport(Glibc)
import Glibc
#endif

/// The time of one step of `copies` layer-serial passes that run at the same time on
/// this machine and wait for each other at the end of every step — what each batch
/// group of pure data-parallel training computes between two gradient allreduces.
///
/// Every copy (its own ``LayerSerialPass``, buffers allocated once) runs on its own
/// thread; the threads meet at a barrier before and after each step, and the main
/// thread times barrier to barrier, so a step costs what the slowest copy took: the
/// copies slow each other through the cores' shared cache and memory bandwidth (on a
/// 2-core VM by 20–40 %), and the wait for the slower one is part of the step, as the
/// allreduce's wait is in training. Returns the median step over the repeats (as
/// training's per-step mean sees it, not the luckiest step), of the fastest of storing
/// the pre-activations, their masks, and recomputing them. With `copies` = 1 it is a one-rank step.
/// At least `repeats` steps, more until they add up to `minimumSeconds`. Throws if
/// the copies' gradients differ (each must be the one-rank pass's, bit for bit).
public func timeLayerSerialConcurrently(_ c: ScalingCase, copies: Int, repeats: Int,
                                        minimumSeconds: Double = 0.2) throws -> Double {
    guard copies >= 1 else { throw StudyError("concurrent layer-serial passes need at least one copy, got \(copies)") }
    let passes = try (0 ..< copies).map { _ in try LayerSerialPass(c) }
    var best = Double.infinity
    for keeping in [PreactivationStorage.store, .mask, .recompute] {
        // One untimed step of one copy sizes the run.
        let t0 = monotonicSeconds()
        try passes[0].run(keeping: keeping)
        let single = max(monotonicSeconds() - t0, 1e-7)
        let steps = min(100_000, max(repeats, Int((minimumSeconds / 2 / single).rounded(.up))))
        best = min(best, try ConcurrentSteps(passes: passes, keeping: keeping).run(steps: steps))
    }
    return best
}

/// The threads of ``timeLayerSerialConcurrently(_:copies:repeats:minimumSeconds:)`` and
/// their barrier (the passes' buffers are only touched by their own thread).
private final class ConcurrentSteps: @unchecked Sendable {
    let passes: [LayerSerialPass]
    let keeping: PreactivationStorage
    let barrier: UnsafeMutablePointer<pthread_barrier_t>
    let lock = NSLock()
    var error: (any Error)?

    init(passes: [LayerSerialPass], keeping: PreactivationStorage) {
        self.passes = passes
        self.keeping = keeping
        barrier = .allocate(capacity: 1)
        pthread_barrier_init(barrier, nil, UInt32(passes.count + 1))
    }
    deinit { pthread_barrier_destroy(barrier); barrier.deallocate() }

    func wait() { pthread_barrier_wait(barrier) }

    /// `steps` synchronised steps after one untimed warm-up step; the median step's seconds.
    func run(steps: Int) throws -> Double {
        let threads = passes.indices.map { k in
            Thread { [self] in
                for _ in 0 ... steps {
                    wait()
                    do { try passes[k].run(keeping: keeping) } catch {
                        lock.lock(); self.error = error; lock.unlock()
                    }
                    wait()
                }
            }
        }
        threads.forEach { $0.start() }
        var seconds: [Double] = []
        for k in 0 ... steps {
            wait()
            let t0 = monotonicSeconds()
            wait()
            if k > 0 { seconds.append(monotonicSeconds() - t0) }
        }
        if let error { throw error }
        // The copies compute the same case from the same data: equal gradients, a cheap
        // check that every thread ran whole passes on buffers of its own.
        let first = passes[0].gradient.flat.toArray()
        for (k, pass) in passes.enumerated().dropFirst() where pass.gradient.flat.toArray() != first {
            throw StudyError("concurrent layer-serial pass \(k) computed another gradient than pass 0")
        }
        return Median.of(seconds) ?? .infinity
    }
}
