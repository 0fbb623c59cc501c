#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How a rank waits for MPI: busy polling for a short while, then sleeps of growing
/// length between polls, so a rank whose peer is stopped (SIGSTOP), swapped out or
/// slow leaves the CPU to others instead of spinning at 100 % until the job ends.
///
/// The caller tests its requests (`MPI_Test*`, which also drives Open MPI's
/// progress) and calls ``pause()`` after each test that found them incomplete:
/// - for the first ``spinSeconds``: returns at once, a busy poll as a blocking MPI
///   call's. A boundary exchange whose peer is ready completes in a few microseconds,
///   inside this phase, so its latency is unchanged. (No `sched_yield` here: on a
///   loaded machine it hands the core to another job for a whole time slice; with it,
///   a 2-rank ping-pong under a parallel build measured 1 ms instead of microseconds.)
/// - then sleeps (`nanosleep`) for 1/16 of the time waited so far, at least
///   ``minimumSleepSeconds`` and at most ``maximumSleepSeconds``: a message that
///   arrives during a sleep is seen at most ~6 % (plus the kernel's timer slack)
///   after it could have been, while a rank that waits for seconds wakes about
///   1000 times a second, i.e. uses ~1 % of a core.
public struct WaitBackoff {
    public static let spinSeconds = 1e-3
    public static let minimumSleepSeconds = 20e-6
    public static let maximumSleepSeconds = 1e-3

    private var start: Double?

    public init() {}

    /// Called after an unsuccessful test: returns at once or sleeps (see above).
    public mutating func pause() {
        let now = monotonicSeconds()
        guard let start else { start = now; return }
        let waited = now - start
        if waited < Self.spinSeconds { return }
        let seconds = min(Self.maximumSleepSeconds, max(Self.minimumSleepSeconds, waited / 16))
        var ts = timespec(tv_sec: 0, tv_nsec: Int(seconds * 1e9))
        nanosleep(&ts, nil)   // an interrupting signal just ends the sleep early: the caller tests again
    }
}
