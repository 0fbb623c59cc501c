import Comm
import Foundation
import _TestSupport
import Testing
import Training

/// What happens when a run is killed, stopped, pointed at a bad place, or stops on NaN under mpirun.
@Suite("layerpar run safety", .serialized)
struct RunSafetyCommandTests {
    static let small = ["train", "--task", "f2", "--train-samples", "200", "--validation-samples", "50", "--depth", "6",
                        "--width", "8", "--batch-size", "16", "--seed", "3"]

    func files(_ dir: String) -> [String] { (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] }

    @Test("Bad --out is refused before training (exit 1, one line, no Usage); an existing run needs --resume or --force")
    func outputDirectory() throws {
        let base = tempDir("safety-out")
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        try "x".write(toFile: base + "/file", atomically: true, encoding: .utf8)
        for (out, text) in [("", "--out is empty"), ("/proc/layerpar-x", "--out /proc/layerpar-x"), (base + "/file", "not a directory")] {
            let r = runLayerpar(Self.small + ["--iterations", "100000", "--out", out], timeout: 30)
            #expect(r.status == 1 && r.stderr.contains(text), "\(out): \(r.status) \(r.stderr)")
            #expect(!r.stderr.contains("Usage") && !r.stderr.contains("step "), "\(r.stderr)")
            #expect(r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
        }
        let run = base + "/run"
        #expect(runLayerpar(Self.small + ["--iterations", "4", "--out", run]).status == 0)
        let again = runLayerpar(Self.small + ["--iterations", "8", "--out", run])
        #expect(again.status == 1 && again.stderr.contains("--resume") && again.stderr.contains("--force"), "\(again.stderr)")
        #expect(try Checkpoint.load(directory: run).header.step == 4, "the refused run touched the old one")
        let forced = runLayerpar(Self.small + ["--iterations", "2", "--out", run, "--force"])
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(try Checkpoint.load(directory: run).header.step == 2)
        #expect(!FileManager.default.fileExists(atPath: Checkpoint.previousPath(in: run)))
        // Other commands check their output files before they start.
        for args in [["convergence", "--depths", "8", "--json", "/proc/layerpar-x/c.json"],
                     ["topology", "--preset", "xeon-e5-2630v4-2s", "--ranks", "2", "--rankfile", base],
                     ["predict", "--model", run, "--input", base + "/file", "--output", "/proc/layerpar-x/p.csv"]] {
            let r = runLayerpar(args, timeout: 30)
            #expect(r.status == 1 && r.stderr.split(separator: "\n").count == 1 && !r.stderr.contains("Usage"), "\(args): \(r.stderr)")
        }
    }

    @Test("Exit statuses: 2 for a usage error (with Usage), 1 for a run-time error (one line); numeric options name themselves")
    func exitStatuses() {
        let usage = runLayerpar(Self.small + ["--iterations", "3", "--out", tempDir("x"), "--beta", "nan"])
        #expect(usage.status == 2 && usage.stderr.contains("--beta") && usage.stderr.contains("Usage"), "\(usage.status) \(usage.stderr)")
        for bad in [["--momentum", "2"], ["--init-high", "inf"], ["--lr-schedule", "step:5:inf"], ["--max-levels", "0"]] {
            let r = runLayerpar(Self.small + ["--iterations", "3", "--out", tempDir("x")] + bad)
            #expect(r.status == 2 && r.stderr.contains(bad[0]), "\(bad): \(r.status) \(r.stderr)")
        }
        for bad in [["--bandwidth-gbs", "0"], ["--latency-us", "-1"], ["--cluster-time-scale", "-1"]] {
            let r = runLayerpar(["scaling", "model"] + bad)
            #expect(r.status == 2 && r.stderr.contains(bad[0]), "\(bad): \(r.status) \(r.stderr)")
        }
        let missing = runLayerpar(["train", "--train", "/nonexistent/t.csv", "--validation", "/nonexistent/v.csv",
                                   "--iterations", "3", "--out", tempDir("missing")])
        #expect(missing.status == 1 && !missing.stderr.contains("Usage") && missing.stderr.split(separator: "\n").count == 1,
                "\(missing.status) \(missing.stderr)")
        let help = runLayerpar(["--help"])
        #expect(help.stdout.contains("Exit status") && help.stdout.contains("3 training stopped"), "\(help.stdout)")
    }

    @Test("Negative numbers given as separate arguments reach the option's own check (not \"Missing value\"), in every subcommand")
    func negativeValues() {
        let train = Self.small + ["--iterations", "3", "--out", tempDir("x")]
        for (args, option) in [(train + ["--depth", "-1"], "--depth"), (train + ["--iterations", "-5"], "--iterations"),
                               (train + ["--beta", "-0.5"], "--beta"), (train + ["--lr", "-1e-3"], "--lr"),
                               (train + ["--batch-size", "-16"], "--batch-size"), (train + ["--timeout", "-inf"], "--timeout"),
                               (["topology", "--preset", "xeon-e5-2630v4-2s", "--ranks", "-2"], "--ranks"),
                               (["scaling", "model", "--latency-us", "-1"], "--latency-us"),
                               (["scaling", "advise", "--ranks", "-2", "--depth", "64", "--batch", "64"], "--ranks"),
                               (["scaling", "advise", "--ranks", "2", "--depth", "64", "--batch", "64", "--width", "-16"], "--width"),
                               (["convergence", "--depths", "-8"], "--depths"),
                               (["comm-selftest", "--repetitions", "-3"], "--repetitions")] {
            let r = runLayerpar(args, timeout: 60)
            // The value as typed, or as the option's type prints it (-1e-3 → -0.001).
            let typed = args[args.lastIndex(of: option)! + 1]
            let value = Int(typed).map(String.init) ?? Double(typed).map { "\($0)" } ?? typed
            #expect(r.status == 2 && r.stderr.contains(option) && (r.stderr.contains(typed) || r.stderr.contains(value))
                    && !r.stderr.contains("Missing value"),
                    "\(args): \(r.status) \(r.stderr)")
        }
        // A negative value that is allowed is taken as the value.
        let ok = runLayerpar(Self.small + ["--iterations", "1", "--init-low", "-0.01", "--init-high", "0.01", "--out", tempDir("negative")])
        #expect(ok.status == 0, "\(ok.stderr)")
    }

    @Test("Huge sizes end with one clear line, not an overflow trap or an allocation that exhausts the machine")
    func sizes() {
        for (args, text) in [(["topology", "--preset", "xeon-e5-2630v4-2s", "--ranks", "2", "--threads-per-rank", "4611686018427387904", "--oversubscribe"], "too large a plan"),
                             (["topology", "--preset", "xeon-e5-2630v4-2s", "--ranks", "1000000000", "--oversubscribe"], "too large a plan"),
                             (["convergence", "--depths", "100000000"], "GiB"),
                             (["convergence", "--depths", "9223372036854775807"], "too large"),
                             (Self.small + ["--iterations", "3", "--out", tempDir("x"), "--depth", "100000000", "--width", "64"], "GiB")] {
            let r = runLayerpar(args, timeout: 60)
            #expect((r.status == 1 || r.status == 2) && r.stderr.contains(text), "\(args): \(r.status) \(r.stderr)")
        }
    }

    @Test("SIGKILL at any moment, checkpointing every step, leaves a loadable checkpoint; --resume continues and cleans up")
    func killLoop() throws {
        let dir = tempDir("safety-kill")
        // A checkpoint of ~2 MB every step: most of the run's time is spent writing checkpoints.
        let args = ["train", "--task", "f2", "--train-samples", "200", "--validation-samples", "50", "--depth", "40", "--width", "48",
                    "--batch-size", "16", "--seed", "3", "--checkpoint-every", "1", "--eval-every", "100000", "--progress-every", "100000",
                    "--out", dir]
        var everCheckpointed = false
        for (k, delay) in [0.35, 0.5, 0.65, 0.8, 0.45, 0.95, 0.6, 1.1].enumerated() {
            let resume = FileManager.default.fileExists(atPath: Checkpoint.path(in: dir))
            let r = try runTool("timeout", ["-s", "KILL", String(delay), layerparPath()] + args + ["--iterations", "1000000"]
                                    + (resume ? ["--resume"] : k > 0 ? ["--force"] : []), timeout: 60)
            #expect(r.status == 137 || r.status == 124, "kill \(k): status \(r.status) \(r.stderr)")
            let present = files(dir)
            if present.contains("checkpoint.lpck") || present.contains("checkpoint.prev.lpck") || everCheckpointed {
                everCheckpointed = true
                #expect(present.contains("checkpoint.lpck"), "kill \(k) after \(delay) s left no checkpoint.lpck: \(present)")
                #expect(throws: Never.self, "kill \(k)") { _ = try Checkpoint.load(directory: dir) }
                // The history is appended as steps end: it holds at least every step up to the checkpoint's.
                if let step = try? Checkpoint.load(directory: dir).header.step {
                    let rows = (try? String(contentsOfFile: dir + "/history.csv", encoding: .utf8))?.split(separator: "\n").count ?? 0
                    #expect(rows >= step + 2, "kill \(k): history.csv has \(rows) lines, the checkpoint is at step \(step)")
                }
            }
        }
        #expect(everCheckpointed)
        let step = try Checkpoint.load(directory: dir).header.step
        let done = runLayerpar(args + ["--iterations", String(step + 2), "--resume"])
        #expect(done.status == 0, "\(done.stderr)")
        #expect(!files(dir).contains { $0.contains(".tmp-") }, "temporaries left: \(files(dir))")
        #expect(try Checkpoint.load(directory: dir).header.step == step + 2)
    }

    @Test("SIGTERM finishes the step, writes checkpoint, history and summary, exits 143; --resume continues")
    func sigterm() throws {
        let dir = tempDir("safety-term")
        let args = Self.small + ["--iterations", "100000000", "--checkpoint-every", "100000", "--eval-every", "1000", "--out", dir]
        let r = try runTool("timeout", ["--preserve-status", "-s", "TERM", "1.5", layerparPath()] + args, timeout: 60)
        #expect(r.status == 143, "\(r.status) \(r.stderr)")
        #expect(r.stderr.contains("SIGTERM"), "\(r.stderr)")
        let summary = try JSONDecoder().decode(RunSummary.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/summary.json")))
        #expect(summary.stopReason == .signal && summary.steps > 0)
        #expect(try Checkpoint.load(directory: dir).header.step == summary.steps)
        let rows = try String(contentsOfFile: dir + "/history.csv", encoding: .utf8).split(separator: "\n")
        #expect(rows.count == summary.steps + 2, "header + iterations 0…steps")
        let more = runLayerpar(Self.small + ["--iterations", String(summary.steps + 3), "--checkpoint-every", "100000",
                                             "--eval-every", "1000", "--out", dir, "--resume"])
        #expect(more.status == 0, "\(more.stderr)")
    }

    @Test("Under mpirun -np 2 a NaN stop is collective: exit 3, history, summary and plot written, no temporaries (repeated)")
    func nanOnTwoRanks() throws {
        let plots = FileManager.default.fileExists(atPath: "tools/plots/loss.py")
        for k in 0..<3 {
            let dir = tempDir("safety-nan-\(k)")
            let r = runLayerpar(Self.small + ["--iterations", "100", "--mode", "parallel", "--debug-nan-at-step", "20", "--out", dir], ranks: 2)
            #expect(r.status == 3, "\(r.status) \(r.stderr)")
            #expect(r.stderr.contains("at step 20") && !r.stderr.contains("MPI_ABORT"), "\(r.stderr)")
            let present = files(dir)
            #expect(present.contains("history.csv") && present.contains("summary.json"), "\(present)")
            if plots { #expect(present.contains("loss.png"), "\(present)") }
            #expect(!present.contains { $0.contains(".tmp-") }, "\(present)")
        }
        // A dead network under mpirun is the same collective stop, exit 3.
        let dead = runLayerpar(Self.small + ["--iterations", "300", "--mode", "parallel", "--optimizer", "sgd", "--lr", "50",
                                             "--momentum", "0", "--eval-every", "5", "--out", tempDir("safety-dead")], ranks: 2)
        #expect(dead.status == 3 && !dead.stderr.contains("ExitCode"), "\(dead.status) \(dead.stderr)")
    }

    /// Pids of processes whose command line starts with `program` and contains `text`, in increasing order.
    func processes(_ program: String = layerparPath(), containing text: String) -> [Int32] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return names.compactMap { Int32($0) }.sorted().filter { pid in
            guard let raw = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            let args = raw.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            return args.first == program && args.contains(text)
        }
    }

    func layerparProcesses(containing text: String) -> [Int32] { processes(containing: text) }

    /// CPU seconds (user + system, all threads) a process has used, from /proc/PID/stat.
    func cpuSeconds(_ pid: Int32) -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        // After "pid (comm)": field 3 (state) onwards; utime and stime are fields 14 and 15.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// history.csv without its timing columns (seconds, cpu_seconds): what a run computed.
    func computedHistory(_ dir: String) -> [String] {
        let lines = ((try? String(contentsOfFile: dir + "/history.csv", encoding: .utf8)) ?? "").split(separator: "\n")
        return lines.map { line in
            line.split(separator: ",", omittingEmptySubsequences: false).enumerated()
                .filter { ![1, 9].contains($0.offset) }.map { String($0.element) }.joined(separator: ",")
        }
    }

    @Test("A rank whose peer is stopped (SIGSTOP) for 2 s sleeps in its wait instead of spinning; after SIGCONT the run ends with the same result")
    func stoppedPeerYields() throws {
        let args = Self.small + ["--iterations", "1500", "--mode", "parallel", "--eval-every", "100", "--checkpoint-every", "100000",
                                 "--progress-every", "100000"]
        let reference = tempDir("safety-yield-ref")
        let ref = runLayerpar(args + ["--out", reference], ranks: 2, timeout: 120)
        #expect(ref.status == 0, "\(ref.stderr)")
        let dir = tempDir("safety-yield")
        final class Observed: @unchecked Sendable { var cpu: Double?; var wall = 0.0 }
        let observed = Observed()
        let watcher = Thread {
            for _ in 0..<1000 {
                Thread.sleep(forTimeInterval: 0.01)
                let ranks = layerparProcesses(containing: dir)
                guard ranks.count == 2, FileManager.default.fileExists(atPath: dir + "/history.csv") else { continue }
                kill(ranks[1], SIGSTOP)
                defer { kill(ranks[1], SIGCONT) }   // never leave it stopped
                Thread.sleep(forTimeInterval: 0.2)   // the other rank reaches a wait for it
                let t0 = monotonicSeconds()
                guard let c0 = cpuSeconds(ranks[0]) else { return }
                Thread.sleep(forTimeInterval: 2)
                guard let c1 = cpuSeconds(ranks[0]) else { return }
                observed.wall = monotonicSeconds() - t0
                observed.cpu = c1 - c0
                return
            }
        }
        watcher.start()
        let r = runLayerpar(args + ["--out", dir], ranks: 2, timeout: 120)
        #expect(r.status == 0, "\(r.stderr)")
        let cpu = try #require(observed.cpu, "no rank was stopped while both ran")
        #expect(cpu < 0.25 * observed.wall, "the waiting rank used \(cpu) CPU s in \(observed.wall) s while its peer was stopped")
        #expect(computedHistory(dir) == computedHistory(reference) && computedHistory(dir).count == 1502)
    }

    @Test("kill -TERM of mpirun: the ranks stop together; checkpoint, history, summary and loss.png are written")
    func sigtermUnderMPIRun() throws {
        let dir = tempDir("safety-term-mpi")
        final class Killed: @unchecked Sendable { var pid: Int32? }
        let killed = Killed()
        let killer = Thread {
            for _ in 0..<1000 {
                Thread.sleep(forTimeInterval: 0.02)
                guard FileManager.default.fileExists(atPath: dir + "/history.csv"),
                      let mpirun = processes("mpirun", containing: dir).first else { continue }
                Thread.sleep(forTimeInterval: 0.3)
                kill(mpirun, SIGTERM)
                killed.pid = mpirun
                return
            }
        }
        killer.start()
        let r = runLayerpar(Self.small + ["--iterations", "100000000", "--mode", "parallel", "--checkpoint-every", "100000",
                                          "--eval-every", "1000", "--out", dir], ranks: 2, timeout: 60)
        #expect(killed.pid != nil, "mpirun was not found")
        #expect(r.status != 0 && r.status != -2, "\(r.status) \(r.stderr)")
        let summary = try JSONDecoder().decode(RunSummary.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/summary.json")))
        #expect(summary.stopReason == .signal && summary.steps > 0, "\(summary.stopReason)")
        #expect(try Checkpoint.load(directory: dir).header.step == summary.steps)
        #expect(computedHistory(dir).count == summary.steps + 2)
        if FileManager.default.fileExists(atPath: "tools/plots/loss.py") {
            // mpirun kills each rank's process group a second after its SIGTERM; the plot,
            // in a group of its own, is finished even when rank 0 did not live to see it.
            var waited = 0.0
            while !FileManager.default.fileExists(atPath: dir + "/loss.png") && waited < 30 {
                Thread.sleep(forTimeInterval: 0.1)
                waited += 0.1
            }
            #expect(FileManager.default.fileExists(atPath: dir + "/loss.png"), "\(files(dir))")
        }
    }

    @Test("train --timeout ends a job whose rank was stopped (SIGSTOP) instead of hanging; the history so far is kept")
    func watchdog() throws {
        let dir = tempDir("safety-watchdog")
        final class Stopped: @unchecked Sendable { var pid: Int32? }
        let stopped = Stopped()
        let stopper = Thread {
            for _ in 0..<100 {
                Thread.sleep(forTimeInterval: 0.1)
                if FileManager.default.fileExists(atPath: dir + "/history.csv"), let pid = layerparProcesses(containing: dir).last {
                    kill(pid, SIGSTOP)
                    stopped.pid = pid
                    return
                }
            }
        }
        stopper.start()
        let r = runLayerpar(Self.small + ["--iterations", "100000000", "--mode", "parallel", "--timeout", "4", "--out", dir], ranks: 2, timeout: 40)
        #expect(stopped.pid != nil, "no rank was stopped")
        #expect(r.status != 0 && r.status != -2, "\(r.status) \(r.stderr)")
        #expect(r.stderr.contains("--timeout 4.0 s exceeded"), "\(r.stderr)")
        #expect(((try? String(contentsOfFile: dir + "/history.csv", encoding: .utf8))?.split(separator: "\n").count ?? 0) > 2)
        for pid in layerparProcesses(containing: dir) { kill(pid, SIGKILL) }   // none should be left; never leave one stopped
    }
}
