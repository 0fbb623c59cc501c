import Comm
import Foundation
import Kernels
import Topology

/// The clock that times benchmark samples.
public enum BenchClock: String, Codable, Sendable {
    /// CLOCK_MONOTONIC: wall time, which includes time the thread spent
    /// preempted by other processes.
    case wall
    /// CLOCK_THREAD_CPUTIME_ID: time this thread was on a core. On a core
    /// shared with other jobs it excludes preemption, so a 40 ms call is not
    /// charged for the 20 ms another process ran in the middle of it.
    case cpu

    public func now() -> Double {
        guard self == .cpu else { return monotonicSeconds() }   // Comm's one wall clock
        var t = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
        return Double(t.tv_sec) + 1e-9 * Double(t.tv_nsec)
    }

    /// Seconds one call of `body` takes.
    @inline(never)
    public func time(_ body: () -> Void) -> Double {
        let t0 = now()
        body()
        return now() - t0
    }
}


/// The minimum time per call of `run` over repeated samples.
public struct BenchTiming {
    /// Seconds per call (minimum over samples).
    public var seconds: Double
    public var samples: Int
    /// Calls per sample.
    public var inner: Int

    /// Each sample makes enough back-to-back calls to last ≥ `minSample`
    /// seconds, so timer resolution and call overhead vanish; the minimum of
    /// `repeats` samples is kept because on a shared machine noise only ever
    /// adds time. Calls slower than a quarter second get fewer samples (at most
    /// about one second in all), so slow reference kernels at large shapes do
    /// not dominate the run.
    public static func measure(clock: BenchClock, repeats: Int, minSample: Double = 1e-3,
                        _ run: (Int) -> Void) -> BenchTiming {
        let benchTime = clock.time
        // Warm-up (page faults, caches). A call this slow is its own sample:
        // the cold-start share of a quarter second is negligible.
        let first = benchTime { run(1) }
        if first >= 0.25 {
            var best = first
            let samples = max(1, min(repeats, Int(1.0 / first)))
            for _ in 1..<samples { best = min(best, benchTime { run(1) }) }
            return BenchTiming(seconds: best, samples: samples, inner: 1)
        }
        let once = benchTime { run(1) }
        var inner = max(1, Int((minSample / max(once, 1e-9)).rounded(.up)))
        // Refine once: a single call's time is noisy at the microsecond scale.
        let calib = benchTime { run(inner) }
        if calib < minSample { inner = max(inner + 1, Int((Double(inner) * minSample / max(calib, 1e-9)).rounded(.up))) }
        var best = Double.infinity
        for _ in 0..<repeats {
            let n = inner
            best = min(best, benchTime { run(n) } / Double(n))
        }
        return BenchTiming(seconds: best, samples: repeats, inner: inner)
    }
}

/// What one core can do: its clock and FP peak, measured and computed.
public struct BenchMachine: Codable, Sendable {
    public var cpuModel: String
    public var host: String
    /// `cpu MHz` of /proc/cpuinfo (the hypervisor's figure on a VM), if present.
    public var cpuMHzReported: Double?
    /// Clock estimated from a chain of dependent one-cycle integer adds.
    public var clockGHz: Double?
    public var clockMethod: String
    public var hasAVX2FMA: Bool
    public var hasAVX512: Bool
    /// GFLOP/s of the FMA-throughput loop (AVX2, independent chains), per precision.
    public var measuredPeakGflopsDouble: Double?
    public var measuredPeakGflopsFloat: Double?
    /// lanes × 2 FMA units × 2 flops × clock, per precision.
    public var computedPeakGflopsDouble: Double?
    public var computedPeakGflopsFloat: Double?
    /// The same FMA loop with 512-bit vectors, where the CPU has AVX-512 (a core
    /// with one 512-bit FMA port, or one that splits zmm into two halves,
    /// measures about the 256-bit figure here).
    public var measuredPeak512GflopsDouble: Double?
    public var measuredPeak512GflopsFloat: Double?
    public var peakMethod: String

    /// FMA units per core assumed in the computed peak (two on every x86 core
    /// with AVX2 since Haswell/Zen 2).
    public static let fmaUnits = 2

    public static func probe(clock timer: BenchClock) -> BenchMachine {
        let benchTime = timer.time
        let cpu = CPUInfo.thisMachine()
        var name = utsname()
        uname(&name)
        let host = withUnsafeBytes(of: &name.nodename) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        let avx2 = KernelFamily.avx2.isSupported

        // Clock: 64 dependent adds per iteration, one cycle each. Runs of about
        // 1 ms, best of 41: on a shared core a longer run is almost always
        // preempted, which would pass for a lower clock; the minimum is the
        // run the core had to itself (as for the kernels' minima).
        var clock: Double?
        if PeakLoops.addChain(1) >= 0 {
            let iters = 50_000
            var best = Double.infinity
            for _ in 0..<41 { best = min(best, benchTime { _ = PeakLoops.addChain(iters) }) }
            clock = Double(iters) * Double(PeakLoops.addChainLength) / best / 1e9
        }
        // FMA peaks: best of 41 runs of ≈ 0.5 ms (at 3.5 GHz) of the independent chains;
        // `lanes` doubles per vector (floats: twice as many).
        func fmaPeaks(iters: Int, lanes: Int, _ double: (Int) -> Double, _ float: (Int) -> Float) -> (Double, Double) {
            var bestD = Double.infinity, bestF = Double.infinity
            for _ in 0..<41 {
                bestD = min(bestD, benchTime { _ = double(iters) })
                bestF = min(bestF, benchTime { _ = float(iters) })
            }
            let flops = Double(iters) * Double(PeakLoops.fmaChains) * 2 * Double(lanes)
            return (flops / bestD / 1e9, 2 * flops / bestF / 1e9)
        }
        let peak256 = avx2 ? fmaPeaks(iters: 300_000, lanes: 4, PeakLoops.fmaDouble, PeakLoops.fmaFloat) : nil
        let peak512 = KernelFamily.avx512.isSupported
            ? fmaPeaks(iters: 150_000, lanes: 8, PeakLoops.fma512Double, PeakLoops.fma512Float) : nil
        let computed: (Int) -> Double? = { lanes in
            guard let clock, avx2 else { return nil }
            return Double(lanes * fmaUnits * 2) * clock
        }
        return BenchMachine(
            cpuModel: cpu.modelName ?? "unknown",
            host: host,
            cpuMHzReported: cpu.reportedMHz,
            clockGHz: clock,
            clockMethod: clock == nil
                ? "not measured (no one-cycle add chain on this architecture)"
                : "timed a chain of \(PeakLoops.addChainLength) dependent 1-cycle integer adds per iteration against the \(timer == .cpu ? "thread CPU-time" : "monotonic") clock (best of 41 runs of ~1 ms); /proc/cpuinfo 'cpu MHz' on a VM reports the host's nominal clock, not the turbo clock the core runs at",
            hasAVX2FMA: avx2,
            hasAVX512: SIMDFeatures.thisMachine().avx512f == true,
            measuredPeakGflopsDouble: peak256?.0,
            measuredPeakGflopsFloat: peak256?.1,
            computedPeakGflopsDouble: computed(4),
            computedPeakGflopsFloat: computed(8),
            measuredPeak512GflopsDouble: peak512?.0,
            measuredPeak512GflopsFloat: peak512?.1,
            peakMethod: "measured: \(PeakLoops.fmaChains) independent chains of 256-bit FMAs (and, with AVX-512, of 512-bit FMAs; best of 41 runs of ~0.5 ms); computed: 256-bit AVX2 lanes (4 double / 8 float) × \(fmaUnits) FMA units × 2 flops × measured clock"
        )
    }

    public func measuredPeak(_ p: BenchPrecision) -> Double? {
        p == .double ? measuredPeakGflopsDouble : measuredPeakGflopsFloat
    }

    /// The measured 512-bit peak, where the CPU has AVX-512.
    public func measuredPeak512(_ p: BenchPrecision) -> Double? {
        p == .double ? measuredPeak512GflopsDouble : measuredPeak512GflopsFloat
    }

    public func computedPeak(_ p: BenchPrecision) -> Double? {
        p == .double ? computedPeakGflopsDouble : computedPeakGflopsFloat
    }
}
