import Comm
import Foundation
import Testing

/// ``WaitBackoff``: a long wait sleeps between polls, so its thread uses a small part
/// of a core (that a short one spins is measured by `comm-selftest`'s ping-pong, not timed here).
@Suite("WaitBackoff")
struct WaitBackoffTests {
    /// Waits `seconds` of wall time, pausing after every "unsuccessful test" as MPICommunicator does;
    /// returns the thread's CPU seconds and the number of pauses.
    static func wait(_ seconds: Double) -> (cpu: Double, pauses: Int) {
        var backoff = WaitBackoff()
        let t0 = monotonicSeconds(), c0 = threadCPUSeconds()
        var pauses = 0
        while monotonicSeconds() - t0 < seconds { backoff.pause(); pauses += 1 }
        return (threadCPUSeconds() - c0, pauses)
    }

    @Test("A long wait sleeps: 0.5 s of waiting costs well under a quarter of that in CPU time, with growing sleeps capped at 1 ms")
    func longWaitSleeps() {
        let (cpu, pauses) = Self.wait(0.5)
        #expect(cpu < 0.125, "\(cpu) CPU s in a 0.5 s wait")
        // Sleeping at most 1 ms (plus timer slack) at a time: some 400 polls in 0.5 s; spinning would make millions.
        #expect(pauses > 100 && pauses < 100_000, "\(pauses) polls")
    }
}
