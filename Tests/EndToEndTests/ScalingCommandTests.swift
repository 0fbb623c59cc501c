import Foundation
import Testing
import Performance
import Studies

/// `layerpar scaling strong|weak|model` end to end, on tiny cases (a few seconds).
@Suite("Scaling commands", .serialized)
struct ScalingCommandTests {
    typealias Study = ScalingStudyOutput

    @Test("strong and weak studies launch mpirun per rank count and report consistent points")
    func studies() throws {
        let dir = try MPIRun.scratchDirectory("scaling")
        defer { try? FileManager.default.removeItem(at: dir) }
        let strong = dir.appendingPathComponent("strong.json").path, csv = dir.appendingPathComponent("strong.csv").path
        let r1 = try MPIRun.layerpar(["scaling", "strong", "--depths", "16", "--ranks", "1,2,3", "--repeats", "1",
                                      "--batch", "8", "--json", strong, "--csv", csv], ranks: nil, timeout: 120)
        #expect(r1.succeeded, "\(r1.transcript)")
        let s = try JSONDecoder().decode(Study.self, from: Data(contentsOf: URL(fileURLWithPath: strong)))
        #expect(s.kind == "strong" && s.points.map(\.measurement.ranks) == [1, 2, 3])
        for p in s.points {
            let m = p.measurement
            #expect(m.depth == 16 && m.seconds > 0 && p.serialSeconds > 0)
            #expect(abs(p.speedup - p.serialSeconds / m.seconds) <= 1e-12 * p.speedup)
            #expect(abs(p.efficiency - p.speedup / Double(m.ranks)) <= 1e-12 * p.speedup)
            #expect(m.oversubscribed == (m.ranks > m.cores))
            // Rank-count invariance shows in the iteration counts, and the levels are the solver's.
            #expect(m.forwardIterations == s.points[0].measurement.forwardIterations)
            #expect(m.adjointIterations == s.points[0].measurement.adjointIterations)
            #expect(m.levels.first?.points == 17)
            #expect(m.waitFraction >= 0 && m.waitFraction <= 1)
        }
        #expect(s.points[0].measurement.levels.allSatisfy { $0.waitSeconds == 0 })   // one rank never waits
        // 1 KiB boundary states (batch 8) fit Open MPI's default eager limit: left alone.
        #expect(s.points.allSatisfy { $0.measurement.eagerLimitBytes == nil })
        #expect(s.note.contains("oversubscribed"))
        #expect(r1.stdout.contains("speed-up"))
        let text = try String(contentsOfFile: csv, encoding: .utf8)
        #expect(text.hasPrefix("kind,depth,ranks,oversubscribed,") && text.split(separator: "\n").count == 4)

        let weak = dir.appendingPathComponent("weak.json").path
        let r2 = try MPIRun.layerpar(["scaling", "weak", "--layers-per-rank", "4", "--ranks", "1,2", "--repeats", "1",
                                      "--batch", "8", "--json", weak], ranks: nil, timeout: 120)
        #expect(r2.succeeded, "\(r2.transcript)")
        let w = try JSONDecoder().decode(Study.self, from: Data(contentsOf: URL(fileURLWithPath: weak)))
        #expect(w.points.map(\.measurement.depth) == [4, 8])
    }

    @Test("--data-groups 1,2,P measures pure layer-, pure data-parallel and 2-D grids where D divides P, with the model beside pure data parallelism")
    func grids() throws {
        let dir = try MPIRun.scratchDirectory("scaling-grids")
        defer { try? FileManager.default.removeItem(at: dir) }
        let json = dir.appendingPathComponent("grids.json").path, csv = dir.appendingPathComponent("grids.csv").path
        let r = try MPIRun.layerpar(["scaling", "strong", "--depths", "12", "--ranks", "1,2,4", "--repeats", "1", "--batch", "6",
                                     "--data-groups", "1,2,P", "--json", json, "--csv", csv], ranks: nil, timeout: 180)
        #expect(r.succeeded, "\(r.transcript)")
        let s = try JSONDecoder().decode(Study.self, from: Data(contentsOf: URL(fileURLWithPath: json)))
        let grids = s.points.map { [$0.measurement.ranks, $0.measurement.dataGroups ?? 1] }
        // D = 2 does not divide P = 1; D = P = 1 and D = P = 2 are measured once.
        #expect(grids == [[1, 1], [2, 1], [4, 1], [2, 2], [4, 2], [4, 4]])
        for p in s.points {
            let m = p.measurement, d = m.dataGroups ?? 1
            #expect(m.depth == 12 && m.batch == 6 && m.seconds > 0)
            #expect(abs(p.speedup - p.serialSeconds / m.seconds) <= 1e-12 * p.speedup)
            if d > 1 {
                // Shares of 6 over D groups: the largest, and an allreduce inside the step's time.
                #expect(m.share == (6 + d - 1) / d)
                let reduce = try #require(m.allreduceSeconds)
                #expect(reduce > 0 && reduce < m.seconds)
            } else {
                #expect(m.share == nil && m.allreduceSeconds == nil)
            }
            // One rank per group: layer-serial passes, no MGRIT iterations; otherwise the group's solves.
            #expect((m.forwardIterations == 0) == (d == m.ranks && d > 1))
            // The model is given for pure data parallelism only.
            #expect((p.modelSeconds != nil) == (d == m.ranks && d > 1))
            if let t = p.modelSeconds { #expect(t > 0 && t.isFinite) }
        }
        let text = try String(contentsOfFile: csv, encoding: .utf8)
        let header = text.split(separator: "\n")[0]
        #expect(header.hasSuffix("levels,data_groups,layer_groups,allreduce_seconds,model_seconds"))
        #expect(r.stdout.contains("D × L"))

        let bad = try MPIRun.layerpar(["scaling", "strong", "--depths", "12", "--ranks", "2", "--data-groups", "1,x"], ranks: nil, timeout: 60)
        #expect(bad.status == 2 && bad.stderr.contains("--data-groups must be positive integers or P"), "\(bad.transcript)")
    }

    @Test("A configuration that fails is recorded and the others' measurements are kept; a study whose runs fail still writes its files")
    func failingConfigurationKeepsOthers() throws {
        let dir = try MPIRun.scratchDirectory("scaling-fail")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("run.json").path
        let r = try MPIRun.layerpar(["scaling", "run", "--depth", "8", "--batch", "8", "--repeats", "1", "--output", file], ranks: 1, timeout: 60)
        #expect(r.succeeded, "\(r.transcript)")
        let m = try JSONDecoder().decode(ScalingMeasurement.self, from: Data(contentsOf: URL(fileURLWithPath: file)))
        let (points, failed) = ScalingStudy.measure(pairs: [(8, 1), (8, 2), (8, 3)], serial: [8: 1e-3]) { _, p in
            if p == 2 { throw StudyError("mpirun -np 2 … took over 1 s and was stopped") }
            return m
        }
        #expect(points.count == 2 && failed.map(\.ranks) == [2] && failed[0].error.contains("stopped"))
        // Every run of this study fails (the fault hook names rank 1: outside the 1-rank job, injected in the 2-rank one).
        let json = dir.appendingPathComponent("strong.json").path
        let study = try MPIRun.layerpar(["scaling", "strong", "--depths", "8", "--ranks", "1,2", "--repeats", "1", "--batch", "8",
                                         "--json", json], ranks: nil, environment: ["LAYERPAR_COMM_FAULT": "rank=1,call=waitAll"], timeout: 120)
        #expect(study.status == 1 && study.stderr.contains("2 of 2 configuration(s) failed"), "\(study.transcript)")
        let s = try JSONDecoder().decode(Study.self, from: Data(contentsOf: URL(fileURLWithPath: json)))
        #expect(s.points.isEmpty && s.failed?.map(\.ranks) == [1, 2])
    }

    @Test("--iterations, --min-coarse, --cycle and --bind reach every rank: fixed count, no norm allreduce, shorter hierarchy, bound ranks")
    func solverAndPlacementOptions() throws {
        let dir = try MPIRun.scratchDirectory("scaling-options")
        defer { try? FileManager.default.removeItem(at: dir) }
        let json = dir.appendingPathComponent("strong.json").path
        // Depth 16: levels of 17, 5 and 2 points; --min-coarse 4 stops at 5. Batch 64: 8 KiB
        // boundary states, above Open MPI's 4 KiB eager limit, which each run raises to 9 KiB.
        let r = try MPIRun.layerpar(["scaling", "strong", "--depths", "16", "--ranks", "1,2", "--repeats", "1", "--batch", "64",
                                     "--iterations", "2", "--min-coarse", "4", "--cycle", "V", "--bind", "--json", json],
                                    ranks: nil, timeout: 120)
        #expect(r.succeeded, "\(r.transcript)")
        #expect(r.stdout.contains("exactly 2 iterations per pass, no residual allreduce (V-cycle, FCF, m = 4, ≤ 30 levels, coarsest ≥ 4 points;"),
                "\(r.stdout)")
        let s = try JSONDecoder().decode(Study.self, from: Data(contentsOf: URL(fileURLWithPath: json)))
        #expect(s.points.count == 2)
        for p in s.points {
            let m = p.measurement
            #expect(m.forwardIterations == 2 && m.adjointIterations == 2)
            #expect(m.reduceSeconds == 0, "no residual-norm allreduce may run")
            #expect(m.levels.map(\.points) == [17, 5])
            #expect(m.eagerLimitBytes == 8 * 16 * 64 + 1024)
            let lines = try #require(m.bindings)
            #expect(lines.count == m.ranks)
            for (rank, line) in lines.enumerated() {
                #expect(line.hasPrefix("rank \(rank): requested PUs") && line.contains("bound to PUs"), "\(line)")
            }
        }
        let bad = try MPIRun.layerpar(["scaling", "strong", "--depths", "16", "--ranks", "1", "--iterations", "0"], ranks: nil, timeout: 60)
        #expect(bad.status != 0 && bad.stderr.contains("--iterations must be ≥ 1"), "\(bad.transcript)")
    }

    @Test("scaling strong refuses to run under mpirun (it launches mpirun itself)")
    func refusesUnderMPI() throws {
        let r = try MPIRun.layerpar(["scaling", "strong", "--depths", "8", "--ranks", "1"], ranks: 1, timeout: 60)
        #expect(r.status != 0)
        #expect(r.stderr.contains("without mpirun"), "\(r.transcript)")
    }

    typealias Model = ScalingModelOutput

    /// `layerpar scaling model` on batch 8 with given latency and bandwidth, up to 16 ranks.
    static func model(depth: Int, weakRanks: String, _ extra: [String], in dir: URL) throws -> Model {
        let json = dir.appendingPathComponent("model-\(depth).json").path
        let r = try MPIRun.layerpar(["scaling", "model", "--depths", String(depth), "--weak-ranks", weakRanks, "--layers-per-rank", "4",
                                     "--batch", "8", "--max-ranks", "16", "--latency-us", "2", "--bandwidth-gbs", "5", "--json", json]
                                    + extra, ranks: nil, timeout: 120)
        #expect(r.succeeded, "\(r.transcript)")
        return try JSONDecoder().decode(Model.self, from: Data(contentsOf: URL(fileURLWithPath: json)))
    }

    @Test("the model's one-rank prediction is its calibration; more ranks add messages, divide work")
    func model() throws {
        let dir = try MPIRun.scratchDirectory("model")
        defer { try? FileManager.default.removeItem(at: dir) }
        let m = try Self.model(depth: 64, weakRanks: "2,4", ["--cluster-time-scale", "1"], in: dir)
        let cal = try #require(m.calibrations.first { $0.depth == 64 })
        let strong = m.curves.filter { $0.kind == "strong" && $0.depth == 64 }
        #expect(strong.count == 2)
        for c in strong {
            #expect(c.ranks == [1, 2, 4, 8, 16])
            let oneRank = cal.levelSeconds.reduce(0, +) + cal.remainderSeconds
            #expect(abs(c.seconds[0] - oneRank) <= 1e-12 * oneRank)   // no messages on one rank
            #expect(abs(c.serialSeconds - cal.serialSeconds) <= 1e-12 * cal.serialSeconds)
            for (t, s) in zip(c.seconds, c.speedup) { #expect(abs(s - c.serialSeconds / t) <= 1e-12 * s) }
            if let p = c.breakEvenRanks, let i = c.ranks.firstIndex(of: p) {
                #expect(c.speedup[i] >= 1 && c.speedup[..<i].allSatisfy { $0 < 1 })
            }
        }
        // Lower latency (cluster 1.5 µs vs 2 µs here, same compute) cannot be slower.
        #expect(zip(strong[1].seconds, strong[0].seconds).allSatisfy { $0 <= $1 * (1 + 1e-12) })
        #expect(m.curves.contains { $0.kind == "weak" && $0.ranks == [2, 4] })

        // One level (--min-coarse above the depth) is a sequential relay: its time never divides
        // (only the remainder, the gradient sweep, does), and more ranks add messages.
        let one = try Self.model(depth: 20, weakRanks: "2", ["--min-coarse", "64", "--no-cache-scaling"], in: dir)
        let relay = try #require(one.calibrations.first { $0.depth == 20 })
        #expect(relay.levelSeconds.count == 1)
        let here = try #require(one.curves.first { $0.kind == "strong" && $0.machine == "this machine" })
        for (p, t) in zip(here.ranks, here.seconds) {
            #expect(t >= relay.levelSeconds[0] + relay.remainderSeconds / Double(p), "P = \(p): \(t) s")
        }
    }
}
