import Foundation
import Performance
import Training
import Testing

/// `layerpar scaling advise` and the model behind it.
@Suite("Scaling advise", .serialized)
struct ScalingAdviseTests {
    @Test("the gradient allreduce term against its closed form, the parameter count against the trained network's")
    func terms() throws {
        let m = ModelMachine(name: "m", latencySeconds: 2e-6, bandwidthBytesPerSecond: 1e9, timeScale: 1, source: "test")
        #expect(DataParallelModel.allreduceSeconds(doubles: 1000, ranks: 1, on: m) == 0)
        // P = 4: 2·2 latencies + 2·(3/4)·8000 B / 1 GB/s.
        #expect(abs(DataParallelModel.allreduceSeconds(doubles: 1000, ranks: 4, on: m) - (8e-6 + 12e-6)) < 1e-15)
        // Allgather: ⌈log₂4⌉·α + (3/4)·8000 B/β, half the allreduce's bandwidth term.
        #expect(DataParallelModel.allgatherSeconds(doubles: 1000, ranks: 1, on: m) == 0)
        #expect(abs(DataParallelModel.allgatherSeconds(doubles: 1000, ranks: 4, on: m) - (4e-6 + 6e-6)) < 1e-15)
        // A length measured on 2 ranks of the machine is that measurement there, and only there.
        var measured = m
        measured.gradientCollectives = [GradientCollectiveRow(doubles: 1000, allreduceSeconds: 3e-5, allgatherSeconds: 1e-5)]
        #expect(DataParallelModel.allreduceSeconds(doubles: 1000, ranks: 2, on: measured) == 3e-5)
        #expect(DataParallelModel.allreduceSeconds(doubles: 1000, ranks: 2, on: m) == 2 * 2e-6 + 8000 / 1e9)
        #expect(DataParallelModel.allreduceSeconds(doubles: 1001, ranks: 2, on: measured) == DataParallelModel.allreduceSeconds(doubles: 1001, ranks: 2, on: m))
        #expect(DataParallelModel.allreduceSeconds(doubles: 1000, ranks: 4, on: measured) == DataParallelModel.allreduceSeconds(doubles: 1000, ranks: 4, on: m))
        // The network `train` builds counts its own parameters.
        let dir = try MPIRun.scratchDirectory("advise-count")
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try MPIRun.layerpar(["train", "--task", "f2", "--depth", "7", "--width", "5", "--train-samples", "10",
                                     "--validation-samples", "5", "--batch-size", "5", "--iterations", "1", "--out", dir.path],
                                    ranks: nil, timeout: 60)
        #expect(r.succeeded, "\(r.transcript)")
        let summary = try JSONDecoder().decode(RunSummary.self, from: Data(contentsOf: dir.appendingPathComponent("summary.json")))
        #expect(DataParallelModel.parameterCount(depth: 7, width: 5) == summary.parameterCount)
    }

    @Test("every D × L grid of P ranks with a share ≥ 1 is priced; the best is marked; D > B is left out")
    func command() throws {
        let dir = try MPIRun.scratchDirectory("advise")
        defer { try? FileManager.default.removeItem(at: dir) }
        let json = dir.appendingPathComponent("advise.json").path
        let r = try MPIRun.layerpar(["scaling", "advise", "--depth", "8", "--batch", "2,8", "--ranks", "4", "--width", "4",
                                     "--latency-us", "1", "--bandwidth-gbs", "1", "--json", json], ranks: nil, timeout: 120)
        #expect(r.succeeded, "\(r.transcript)")
        let advice = try JSONDecoder().decode([GridAdvice].self, from: Data(contentsOf: URL(fileURLWithPath: json)))
        #expect(advice.map { $0.grids.map(\.dataGroups) } == [[1, 2], [1, 2, 4]])
        #expect(advice[1].grids.map(\.share) == [8, 4, 2])
        for a in advice {
            #expect(a.grids.allSatisfy { $0.computeSeconds > 0 && $0.gradientSeconds > 0 })
            #expect(a.best.seconds == a.grids.map(\.seconds).min())
            // Every rank updates all parameters: one update time, the same in every grid.
            let update = a.grids[0].updateSeconds
            #expect(update > 0 && a.grids.allSatisfy { $0.updateSeconds == update })
        }
        #expect(r.stdout.contains("← best") && r.stdout.contains("pure data parallelism does not fit"), "\(r.stdout)")
        // The crossover summary puts each case on the side its best grid is on.
        let lines = r.stdout.split(separator: "\n").map(String.init)
        let start = try #require(lines.firstIndex(of: "crossover at 4 ranks:"), "\(r.stdout)")
        let summary = lines[(start + 1)...].joined(separator: "\n")
        let b8 = advice[1].best.layerGroups > 1 ? "beats pure data parallelism: depth 8 batch 8" : "pure data parallelism is best: depth 8 batch 8"
        #expect(summary.contains(b8), "\(summary)")
        #expect(summary.contains("batch < 4, no pure data-parallel grid; best: depth 8 batch 2 (\(advice[0].best.dataGroups) × \(advice[0].best.layerGroups))"), "\(summary)")
    }
}
