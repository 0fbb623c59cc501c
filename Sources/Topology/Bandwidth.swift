import CHwloc
import Foundation

/// One STREAM-like triad measurement.
public struct BandwidthResult: Codable, Sendable, Equatable {
    /// OS index of the NUMA node holding the arrays.
    public var numaNode: Int
    public var threads: Int
    /// PUs (OS indexes) the threads were bound to, one per core.
    public var pus: [Int]
    public var arrayMiB: Int
    public var repetitions: Int
    /// Best of the repetitions, counting 24 bytes per element (read b, read c,
    /// write a) as STREAM does (write-allocate traffic not counted).
    public var gbPerSecond: Double
}

/// A short STREAM-triad-like bandwidth measurement per NUMA node of this machine.
public enum Bandwidth {
    /// Measures `a[i] = b[i] + s·c[i]` on each NUMA node with 1 thread and with
    /// one thread per core of the node, threads bound with hwloc to the node's
    /// cores, arrays bound to the node and first touched by the thread that
    /// streams through them.
    /// - Parameters:
    ///   - arrayMiB: size of each of the three arrays; default 4 × the node's
    ///     last-level cache (STREAM's rule), at least 64 MiB.
    ///   - repetitions: timed repetitions (the best is reported).
    public static func measure(arrayMiB: Int? = nil, repetitions: Int = 5) throws -> [BandwidthResult] {
        let topology = try MachineTopology(Placement.systemTopology())
        var results: [BandwidthResult] = []
        for node in topology.numaNodes where !node.cores.isEmpty {
            let coreObjects = topology.cores.filter { node.cores.contains($0.index) }
            let llc = topology.caches.filter { $0.kind != "instruction" && !Set($0.cores).isDisjoint(with: node.cores) }
            let maxLevel = llc.map(\.level).max() ?? 0
            let llcBytes = llc.filter { $0.level == maxLevel }.reduce(UInt64(0)) { $0 + $1.sizeBytes }
            let mib = arrayMiB ?? max(64, Int(4 * llcBytes / (1 << 20)))
            let counts = Array(Set([1, coreObjects.count])).sorted()
            for k in counts {
                let pus = coreObjects.prefix(k).compactMap { $0.pus.first }
                let gbs = try triad(node: node.osIndex, pus: pus, arrayBytes: mib << 20, repetitions: repetitions)
                results.append(BandwidthResult(numaNode: node.osIndex, threads: k, pus: pus, arrayMiB: mib,
                                               repetitions: repetitions, gbPerSecond: gbs))
            }
        }
        return results
    }

    /// Shared state of the triad threads (raw memory, synchronised by the barrier).
    private final class Shared: @unchecked Sendable {
        let a, b, c: NUMABuffer
        let n: Int
        let barrier: UnsafeMutablePointer<pthread_barrier_t>
        /// Each worker's clock readings around its slice of the current repetition (ns).
        let starts, ends: UnsafeMutablePointer<UInt64>
        var error: (any Error)?
        let lock = NSLock()
        init(a: NUMABuffer, b: NUMABuffer, c: NUMABuffer, n: Int, parties: Int) {
            self.a = a; self.b = b; self.c = c; self.n = n
            barrier = .allocate(capacity: 1)
            pthread_barrier_init(barrier, nil, UInt32(parties))
            starts = .allocate(capacity: parties)
            ends = .allocate(capacity: parties)
        }
        deinit { pthread_barrier_destroy(barrier); barrier.deallocate(); starts.deallocate(); ends.deallocate() }
        func wait() { pthread_barrier_wait(barrier) }
    }

    private static func triad(node: Int, pus: [Int], arrayBytes: Int, repetitions: Int) throws -> Double {
        guard !pus.isEmpty else { throw TopologyError("bandwidth triad on NUMA node \(node): no processing unit to run on") }
        let n = arrayBytes / 8
        let shared = Shared(a: try NUMABuffer(doubles: n, node: node), b: try NUMABuffer(doubles: n, node: node),
                            c: try NUMABuffer(doubles: n, node: node), n: n, parties: pus.count + 1)
        let k = pus.count
        var threads: [Thread] = []
        for (t, pu) in pus.enumerated() {
            let thread = Thread {
                do { _ = try Placement.bindThread(to: [pu]) } catch {
                    shared.lock.lock(); shared.error = error; shared.lock.unlock()
                }
                let lo = shared.n * t / k, hi = shared.n * (t + 1) / k
                let a = shared.a.doubles.baseAddress!, b = shared.b.doubles.baseAddress!, c = shared.c.doubles.baseAddress!
                for i in lo..<hi { a[i] = 0; b[i] = 1; c[i] = 2 }   // first touch from the bound thread
                shared.wait()
                for _ in 0..<repetitions {
                    shared.wait()
                    let s = 3.0
                    shared.starts[t] = DispatchTime.now().uptimeNanoseconds
                    for i in lo..<hi { a[i] = b[i] + s * c[i] }
                    shared.ends[t] = DispatchTime.now().uptimeNanoseconds
                    shared.wait()
                }
            }
            threads.append(thread)
        }
        threads.forEach { $0.start() }
        shared.wait()   // all arrays touched
        var best = Double.infinity
        for _ in 0..<repetitions {
            shared.wait()
            shared.wait()
            // The workers time themselves, first start to last end: the main thread's own
            // readings would miss the work done while it waits for a core (with a worker on
            // every core it may run only after they finish, and report absurd bandwidths).
            // DispatchTime reads CLOCK_MONOTONIC, the clock of Comm's monotonicSeconds()
            // (Topology sits beside Comm in the module graph and does not import it).
            let t0 = (0..<k).map { shared.starts[$0] }.min()!, t1 = (0..<k).map { shared.ends[$0] }.max()!
            best = min(best, Double(max(t1 - t0, 1)) * 1e-9)
        }
        if let error = shared.error { throw error }
        // a = 1 + 3·2 = 7 everywhere: a cheap check that every thread ran its slice.
        let a = shared.a.doubles
        guard a[0] == 7, a[n - 1] == 7, a[n / 2] == 7 else {
            throw TopologyError("bandwidth triad produced wrong values on NUMA node \(node)")
        }
        return 24 * Double(n) / best / 1e9
    }
}
