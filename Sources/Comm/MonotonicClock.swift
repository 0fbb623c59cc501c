#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Seconds on the monotonic clock (`CLOCK_MONOTONIC`), for intervals only: the
/// package's one interval clock (the solver's per-level split, the scaling and
/// training timings, the benchmarks' wall clock). Its origin is arbitrary (boot);
/// a `Double` of it resolves well below a microsecond for centuries of uptime.
/// Topology's bandwidth probe, which must not import Comm, reads the same clock
/// through `DispatchTime`.
@inlinable
public func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// CPU seconds this thread has run (`CLOCK_THREAD_CPUTIME_ID`): the work of a
/// computation on a machine shared with other jobs, where wall intervals also
/// count the time the thread waited for a core. A rank waiting in MPI polls for up
/// to a millisecond and then sleeps (``WaitBackoff``), so across ranks it counts
/// short waits as work and long ones hardly at all.
@inlinable
public func threadCPUSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}
