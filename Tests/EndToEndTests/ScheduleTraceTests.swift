import Foundation
import Testing
import Comm
import Performance
import Studies

/// The traced schedule of the real MGRIT solver (`Schedule`), its SimGrid replay and
/// `layerpar scaling run --trace` / `scaling simulate`, on small cases (seconds).
@Suite("Schedule traces and SimGrid replay", .serialized)
struct ScheduleTraceTests {
    /// One calibration shared by the unit tests (depth 64, width 16, batch 8: 5 levels).
    nonisolated(unsafe) static let calibration: ScheduleCalibration = {
        try! ScheduleCalibration.measure(ScalingCase(depth: 64, width: 16, batch: 8), setup: ScalingSolverSetup(), repeats: 1)
    }()

    static func key(_ a: Int, _ b: Int, _ tag: Int, _ bytes: Int) -> String { "\(a)>\(b)#\(tag):\(bytes)" }

    @Test("every send has its receive (peer, tag, size), and every request is completed by a wait in the trace")
    func messagePairs() throws {
        let s = try Schedule.record(Self.calibration, ranks: 5, cyclesPerSecond: 1e9)
        let sent = s.ranks.flatMap { r in r.sends.map { Self.key(r.rank, $0.to, $0.tag, $0.bytes) } }.sorted()
        let received = s.ranks.flatMap { r in r.receives.map { Self.key($0.from, r.rank, $0.tag, $0.bytes) } }.sorted()
        #expect(!sent.isEmpty)
        #expect(sent == received)
        #expect(s.ranks.allSatisfy { r in r.sends.allSatisfy { $0.bytes == 8 * 16 * 8 } })
        for r in s.ranks {
            // Outstanding (src, dst, tag) keys: opened by isend/irecv, closed by wait; never two at once.
            var open = Set<String>()
            for line in r.lines {
                let f = line.split(separator: " ").map(String.init)
                #expect(Int(f[0]) == r.rank)
                switch f[1] {
                case "isend": #expect(open.insert("\(r.rank) \(f[2]) \(f[3])").inserted, "\(line)")
                case "irecv": #expect(open.insert("\(f[2]) \(r.rank) \(f[3])").inserted, "\(line)")
                case "wait": #expect(open.remove("\(f[2]) \(f[3]) \(f[4])") != nil, "\(line)")
                case "test": #expect(open.contains("\(f[2]) \(f[3]) \(f[4])"), "\(line)")
                case "compute": #expect(f.count == 4 && Int(f[2])! >= 1 && Int(f[3])! >= -1, "\(line)")
                case "init", "finalize", "allreduce", "barrier": break
                default: Issue.record("unknown action: \(line)")
                }
            }
            #expect(open.isEmpty, "rank \(r.rank) leaves \(open) open")
            #expect(r.lines.first == "\(r.rank) init" && r.lines.last == "\(r.rank) finalize")
        }
    }

    @Test("the traced compute is the solver's own step counts times the calibrated step costs; one rank repeats the real solve")
    func computeMatchesStatistics() throws {
        let cal = Self.calibration
        for p in [1, 3] {
            let s = try Schedule.record(cal, ranks: p, cyclesPerSecond: 1e9)
            for r in s.ranks {
                #expect(r.forward.iterations == cal.forward.iterations && r.adjoint.iterations == cal.adjoint.iterations)
                #expect(r.forward.converged == cal.forward.converged && r.adjoint.converged == cal.adjoint.converged)
                let sweep = r.adjoint.sweep!.steps
                for l in 0 ..< s.levelCount {
                    var expected = Double(r.forward.stepsPerLevel[l]) * cal.forward.stepSeconds[l]
                        + Double(r.adjoint.stepsPerLevel[l]) * cal.adjoint.stepSeconds[l]
                    if l == 0 { expected += Double(sweep) * cal.adjoint.sweepStepSeconds! }
                    #expect(abs((r.workByLevel[l] ?? 0) - expected) <= 1e-12 * max(expected, 1e-9))
                }
                let rest = (cal.forward.remainderSeconds + cal.adjoint.remainderSeconds) / Double(p)
                #expect(abs((r.workByLevel[-1] ?? 0) - rest) <= 1e-12 + 1e-9 * rest)
            }
            if p == 1 {
                // The cost problem stopped where the real solve stopped: the same steps on every level.
                #expect(s.ranks[0].forward.stepsPerLevel == cal.forward.steps)
                #expect(s.ranks[0].adjoint.stepsPerLevel == cal.adjoint.steps)
                #expect(s.ranks[0].sends.isEmpty)
                let total = s.work(level: -1)[0] + (0 ..< s.levelCount).map { s.work(level: $0)[0] }.reduce(0, +)
                #expect(abs(total - cal.oneRankSeconds) <= 0.2 * cal.oneRankSeconds, "schedule \(total) s, solve \(cal.oneRankSeconds) s")
            }
        }
    }

    @Test("the schedule is rank-count invariant: the same iterations and, summed over ranks, the same steps on every level")
    func rankCountInvariance() throws {
        let cal = Self.calibration
        let one = try Schedule.record(cal, ranks: 1, cyclesPerSecond: 1e9)
        for p in [2, 4, 7] {
            let s = try Schedule.record(cal, ranks: p, cyclesPerSecond: 1e9)
            for l in 0 ..< s.levelCount {
                let a = s.work(level: l).reduce(0, +), b = one.work(level: l)[0]
                #expect(abs(a - b) <= 1e-9 * max(b, 1e-12), "P = \(p), level \(l): \(a) vs \(b)")
            }
            #expect(s.ranks.allSatisfy { $0.forward.iterations == one.ranks[0].forward.iterations })
            // Each rank's trace is deterministic: recording again gives the same lines.
            let again = try Schedule.record(cal, ranks: p, cyclesPerSecond: 1e9)
            #expect(again.ranks.map(\.lines) == s.ranks.map(\.lines))
        }
    }

    @Test("SimGrid replays one rank as its traced compute, and two ranks in between the busiest rank's compute and the sum")
    func replayBounds() throws {
        let cal = Self.calibration
        let dir = try MPIRun.scratchDirectory("replay")
        defer { try? FileManager.default.removeItem(at: dir) }
        let platform = dir.appendingPathComponent("p.xml").path
        try SimGridPlatform.thisMachine(latencySeconds: 1e-6, bandwidthBytesPerSecond: 5e9, cores: 2, clockHz: 2e9, source: "test")
            .write(toFile: platform, atomically: true, encoding: .utf8)
        for p in [1, 2] {
            let s = try Schedule.record(cal, ranks: p, cyclesPerSecond: 2e9)
            let sub = dir.appendingPathComponent("p\(p)").path
            try s.write(to: sub)
            let r = try SimGridReplay.run(directory: sub, ranks: p, levels: s.levelCount, platform: platform, timeout: 120)
            let perRank = s.ranks.map { rank in rank.workByLevel.values.reduce(0, +) }
            #expect(r.seconds >= perRank.max()! * (1 - 1e-3) - 2e-6)
            if p == 1 {
                #expect(abs(r.seconds - perRank[0]) <= 1e-3 * perRank[0] + 2e-6, "replay \(r.seconds) s, trace \(perRank[0]) s")
            } else {
                #expect(r.seconds <= perRank.reduce(0, +) + 0.01)
                #expect(r.communicationSeconds.reduce(0, +) > 0)
            }
            let replayed = r.computeSeconds.reduce(0, +) + r.otherComputeSeconds
            #expect(abs(replayed - perRank.reduce(0, +) / Double(p)) <= 1e-3 * replayed + 1e-5 * Double(s.ranks[0].lines.count))
        }
    }

    @Test("layerpar scaling run --trace writes replayable traces; scaling simulate replays them on the paper's cluster")
    func commands() throws {
        let dir = try MPIRun.scratchDirectory("simulate")
        defer { try? FileManager.default.removeItem(at: dir) }
        let trace = dir.appendingPathComponent("trace").path
        let r1 = try MPIRun.layerpar(["scaling", "run", "--depth", "32", "--batch", "8", "--repeats", "1",
                                      "--output", dir.appendingPathComponent("m.json").path,
                                      "--trace", trace, "--trace-ranks", "3"], ranks: nil, timeout: 120)
        #expect(r1.succeeded, "\(r1.transcript)")
        let summary = try JSONDecoder().decode(Schedule.Summary.self,
                                               from: Data(contentsOf: URL(fileURLWithPath: trace + "/schedule.json")))
        #expect(summary.ranks == 3 && summary.traces == ["rank-0.ti", "rank-1.ti", "rank-2.ti"])
        let list = try String(contentsOfFile: trace + "/traces.txt", encoding: .utf8).split(separator: "\n")
        #expect(list.count == 3 && list.allSatisfy { FileManager.default.fileExists(atPath: String($0)) })

        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let platform = root.appendingPathComponent("platforms/meggie.xml").path
        let json = dir.appendingPathComponent("sim.json").path, csv = dir.appendingPathComponent("sim.csv").path
        let r2 = try MPIRun.layerpar(["scaling", "simulate", "--platform", platform, "--depths", "32", "--ranks", "1,4,40",
                                      "--weak-ranks", "2,4", "--layers-per-rank", "8",
                                      "--batch", "8", "--repeats", "1", "--json", json, "--csv", csv], ranks: nil, timeout: 300)
        #expect(r2.succeeded, "\(r2.transcript)")
        let out = try JSONDecoder().decode(SimulateOutput.self, from: Data(contentsOf: URL(fileURLWithPath: json)))
        // P = 40 > depth + 1 is left out; weak depths 16, 32.
        #expect(out.points.map(\.ranks) == [1, 4, 2, 4] && out.points.map(\.depth) == [32, 32, 16, 32])
        #expect(out.platform == "meggie" && out.platformClockHz == 2.2e9)
        for p in out.points {
            #expect(p.simulatedSeconds > 0 && p.modelSeconds > 0 && !p.levels.isEmpty)
            #expect(abs(p.speedup - p.serialSeconds / p.simulatedSeconds) <= 1e-9 * p.speedup)
        }
        // One rank: replay and model price the same calibration, with no messages.
        let p1 = out.points[0]
        #expect(p1.messages == 0 && abs(p1.simulatedSeconds - p1.modelSeconds) <= 0.05 * p1.modelSeconds + 2e-6)
        #expect(r2.stdout.contains("SimGrid replay on meggie"))
        let rows = try String(contentsOfFile: csv, encoding: .utf8).split(separator: "\n")
        #expect(rows.first?.hasPrefix("kind,depth,ranks,") == true)

        let bad = try MPIRun.layerpar(["scaling", "simulate", "--platform", dir.appendingPathComponent("none.xml").path],
                                      ranks: nil, timeout: 60)
        #expect(!bad.succeeded && bad.stderr.contains("--platform: cannot read"))
    }
}

@Suite("scaling simulate --validate")
struct SimulateValidationTests {
    @Test("--validate measures T(1) and T(2) here and replays them on this machine's platform from the ping-pong")
    func validate() throws {
        let dir = try MPIRun.scratchDirectory("validate")
        defer { try? FileManager.default.removeItem(at: dir) }
        let json = dir.appendingPathComponent("v.json").path, traces = dir.appendingPathComponent("traces").path
        let r = try MPIRun.layerpar(["scaling", "simulate", "--validate", "--depths", "16", "--ranks", "2", "--batch", "8",
                                     "--repeats", "1", "--validation-rounds", "1", "--trace-dir", traces, "--json", json],
                                    ranks: nil, timeout: 300)
        #expect(r.succeeded, "\(r.transcript)")
        let out = try JSONDecoder().decode(SimulateOutput.self, from: Data(contentsOf: URL(fileURLWithPath: json)))
        let v = out.validation ?? []
        #expect(v.map(\.ranks) == [1, 2] && v.allSatisfy { $0.depth == 16 && $0.measuredSeconds > 0 && $0.simulatedSeconds > 0 })
        #expect(v.allSatisfy { abs($0.relativeError - ($0.simulatedSeconds - $0.measuredSeconds) / $0.measuredSeconds) < 1e-12 })
        // The platform written from the ping-pong is the one replayed on, and it describes this machine.
        let d = try SimGridPlatform.describe(traces + "/this-machine.xml")
        #expect(out.platformFile == traces + "/this-machine.xml" && d.slots.count >= 2 && d.latencySeconds > 0)
        #expect(out.points.map(\.ranks) == [2])
        #expect(r.stdout.contains("validation depth 16 P=2: measured"))
    }
}
