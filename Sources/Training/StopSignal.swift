import Foundation
import Synchronization

/// SIGTERM and SIGINT as a request to stop training cleanly: the handler only records
/// the signal; the training loop finishes its step, writes checkpoint, history and
/// summary, and the command exits with status 128 + the signal (143 for SIGTERM, 130
/// for SIGINT). A second signal of either kind ends the process at once, as usual.
public enum StopSignal {
    /// The signal received, or 0.
    public static var received: Int32 { flag.load(ordering: .relaxed) }

    /// Installs the handlers (once per process; before training starts).
    public static func install() {
        _ = flag.load(ordering: .relaxed)   // initialise the global before a handler can touch it
        for s in [SIGTERM, SIGINT] {
            signal(s) { sig in
                if flag.exchange(sig, ordering: .relaxed) != 0 {
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
