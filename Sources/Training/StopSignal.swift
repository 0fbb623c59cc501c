import Foundation
import Synchronization

/// SIGTERM and SIGINT as a request to stop training cleanly: the handler only records
/// the signal; the training loop finishes its step, writes checkpoint, history and
/// summary, and the command exits with status 128 + the signal (143 for SIGTERM, 130
/// for SIGINT). A second signal of either kind ends the process at once, as usual —
/// unless it comes within a second of the first: `timeout` (without `--foreground`)
/// and some batch systems signal both the process and its process group, which is one
/// request, not two.
public enum StopSignal {
    /// The signal received, or 0.
    public static var received: Int32 { flag.load(ordering: .relaxed) }

    /// Installs the handlers (once per process; before training starts).
    public static func install() {
        _ = flag.load(ordering: .relaxed)   // initialise the globals before a handler can touch them
        _ = first.load(ordering: .relaxed)
        for s in [SIGTERM, SIGINT] {
            signal(s) { sig in
                // clock_gettime is async-signal-safe.
                var t = timespec()
                clock_gettime(CLOCK_MONOTONIC, &t)
                let now = Int64(t.tv_sec) * 1_000_000_000 + Int64(t.tv_nsec)
                if flag.exchange(sig, ordering: .relaxed) == 0 {
                    first.store(now, ordering: .relaxed)
                } else if now - first.load(ordering: .relaxed) >= 1_000_000_000 {
                    signal(sig, SIG_DFL)
                    raise(sig)
                }
            }
        }
    }

    /// For tests: forget a received signal.
    public static func reset() { flag.store(0, ordering: .relaxed) }

    /// The signal's name for messages.
    public static func name(_ signal: Int32) -> String {
        switch signal {
        case SIGTERM: "SIGTERM"
        case SIGINT: "SIGINT"
        default: "signal \(signal)"
        }
    }
}

private let flag = Atomic<Int32>(0)
/// CLOCK_MONOTONIC nanoseconds of the first signal.
private let first = Atomic<Int64>(0)
