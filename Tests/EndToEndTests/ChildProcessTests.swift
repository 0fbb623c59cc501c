import Foundation
import Reports
import Testing

/// `ChildProcess` starts its children with a clean signal state, whatever the caller's.
@Suite("ChildProcess")
struct ChildProcessTests {
    /// Runs `sh -c 'kill -SIG $$; sleep 10'`: a shell that can receive SIG dies of it at once.
    static func selfSignal(_ name: String) throws -> ChildProcess.Result {
        try ChildProcess.run("sh", ["-c", "kill -\(name) $$; sleep 10"], timeout: 30)
    }

    @Test("A child spawned from a thread that blocks SIGTERM and SIGINT, by a process that ignores SIGPIPE, still dies of them")
    func signalStateReset() throws {
        final class Box: @unchecked Sendable { var results: [String: ChildProcess.Result] = [:]; var error: String? }
        let box = Box()
        let done = DispatchSemaphore(value: 0)
        let previous = signal(SIGPIPE, SIG_IGN)   // as a server or a test runner may have it
        defer { signal(SIGPIPE, previous) }
        let thread = Thread {
            defer { done.signal() }
            var set = sigset_t()
            sigemptyset(&set)
            sigaddset(&set, SIGTERM)
            sigaddset(&set, SIGINT)
            pthread_sigmask(SIG_BLOCK, &set, nil)   // this thread only; it ends with the test
            do {
                for name in ["TERM", "INT", "PIPE"] { box.results[name] = try Self.selfSignal(name) }
            } catch {
                box.error = "\(error)"
            }
        }
        thread.start()
        done.wait()
        #expect(box.error == nil, "\(box.error ?? "")")
        for (name, status) in [("TERM", SIGTERM), ("INT", SIGINT), ("PIPE", SIGPIPE)] {
            let r = try #require(box.results[name])
            #expect(r.status == 128 + status && r.seconds < 5, "SIG\(name): status \(r.status) after \(r.seconds) s (inherited a blocked or ignored signal)")
        }
    }

    @Test("ownProcessGroup: the child leads its own process group; by default it shares the caller's")
    func processGroup() throws {
        let own = try ChildProcess.run("sh", ["-c", "echo $$ $(ps -o pgid= -p $$)"], timeout: 30, ownProcessGroup: true)
        let ids = own.stdout.split(whereSeparator: \.isWhitespace).compactMap { Int32($0) }
        #expect(ids.count == 2 && ids[0] == ids[1], "pid and pgid: \(own.stdout) \(own.stderr)")
        let shared = try ChildProcess.run("sh", ["-c", "ps -o pgid= -p $$"], timeout: 30)
        #expect(Int32(shared.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) == getpgrp(), "\(shared.stdout)")
    }
}
