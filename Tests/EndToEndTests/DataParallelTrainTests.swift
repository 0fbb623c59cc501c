import Foundation
import Testing
import Training

/// `layerpar train --data-groups D`: batch groups under mpirun against one rank.
@Suite("layerpar train --data-groups", .serialized)
struct DataParallelTrainTests {
    static let common = ["train", "--task", "f2", "--train-samples", "200", "--validation-samples", "50", "--depth", "12",
                         "--width", "8", "--batch-size", "15", "--eval-every", "3", "--seed", "5", "--checkpoint-every", "1000"]

    /// Columns batch, train and validation loss of every row of `DIR/history.csv` (nil where empty).
    static func losses(_ dir: String) throws -> [[Double?]] {
        try String(contentsOfFile: dir + "/history.csv", encoding: .utf8).split(separator: "\n").dropFirst().map { line in
            let f = line.split(separator: ",", omittingEmptySubsequences: false)
            return [2, 3, 4].map { Double(f[$0]) }
        }
    }

    /// Whether two histories have the same rows and losses within `tolerance` relative.
    static func same(_ a: [[Double?]], _ b: [[Double?]], tolerance: Double) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { ra, rb in
            zip(ra, rb).allSatisfy { x, y in
                switch (x, y) {
                case (nil, nil): return true
                case let (x?, y?): return abs(x - y) <= tolerance * abs(x)
                default: return false
                }
            }
        }
    }

    @Test("--mode serial --data-groups 2 on 2 ranks (uneven shares 8 + 7) gives the one-rank history to 1e-12; its checkpoint resumes on one rank and back")
    func dataParallelEqualsSerial() throws {
        let base = tempDir("data-parallel")
        let serial = Self.common + ["--mode", "serial"]
        let one = runLayerpar(serial + ["--iterations", "12", "--out", base + "/one"])
        #expect(one.status == 0, "\(one.stderr)")
        let two = runLayerpar(serial + ["--iterations", "12", "--data-groups", "2", "--out", base + "/two"], ranks: 2)
        #expect(two.status == 0, "\(two.stderr)")
        let a = try Self.losses(base + "/one"), b = try Self.losses(base + "/two")
        #expect(a.count == 13)
        #expect(Self.same(a, b, tolerance: 1e-12), "\(a)\n\(b)")
        let summary = try JSONDecoder().decode(RunSummary.self, from: Data(contentsOf: URL(fileURLWithPath: base + "/two/summary.json")))
        let d = try #require(summary.decomposition)
        #expect(d.dataGroups == 2 && d.layerGroups == 1 && d.shares == [8, 7] && (d.reduceSecondsPerStep ?? -1) >= 0)
        #expect(summary.ranks == 2)
        // One reduction after the backward pass instead of 4 overlapped buckets: the same sums (2 ranks: a + b).
        let blocking = runLayerpar(serial + ["--iterations", "12", "--data-groups", "2", "--gradient-buckets", "1", "--out", base + "/blocking"], ranks: 2)
        #expect(blocking.status == 0, "\(blocking.stderr)")
        #expect(try Self.losses(base + "/blocking") == b)

        // 5 steps on (2,1), steps 6–9 on (1,1), steps 10–12 on (2,1) again: the uninterrupted one-rank history.
        let split = base + "/split"
        var r = runLayerpar(serial + ["--iterations", "5", "--data-groups", "2", "--out", split], ranks: 2)
        #expect(r.status == 0, "\(r.stderr)")
        r = runLayerpar(serial + ["--iterations", "9", "--resume", "--out", split])
        #expect(r.status == 0, "\(r.stderr)")
        r = runLayerpar(serial + ["--iterations", "12", "--data-groups", "2", "--resume", "--out", split], ranks: 2)
        #expect(r.status == 0, "\(r.stderr)")
        let c = try Self.losses(split)
        #expect(Self.same(a, c, tolerance: 1e-12), "\(a)\n\(c)")
    }

    @Test("--mode parallel on (D, L) = (1,1), (1,2), (2,1), (2,2) (4 ranks, oversubscribed): the same loss history to the solver's error; a (2,2) checkpoint resumes on (1,2)")
    func twoDimensional() throws {
        let base = tempDir("two-dimensional")
        let tight = Self.common + ["--mode", "parallel", "--preset", "paper", "--warm-start", "example", "--tol-forward", "1e-13", "--tol-backward", "1e-13",
                                   "--max-forward-iterations", "40", "--max-backward-iterations", "40"]
        let runs: [(name: String, ranks: Int?, groups: Int)] = [("1x1", nil, 1), ("1x2", 2, 1), ("2x1", 2, 2), ("2x2", 4, 2)]
        var histories: [String: [[Double?]]] = [:]
        for run in runs {
            let r = runLayerpar(tight + ["--iterations", "9", "--data-groups", String(run.groups), "--out", base + "/" + run.name],
                                ranks: run.ranks, timeout: 180)
            #expect(r.status == 0, "\(run.name): \(r.stderr)")
            histories[run.name] = try Self.losses(base + "/" + run.name)
        }
        let serial = runLayerpar(Self.common + ["--mode", "serial", "--iterations", "9", "--out", base + "/serial"])
        #expect(serial.status == 0, "\(serial.stderr)")
        let reference = try Self.losses(base + "/serial")
        for run in runs {
            #expect(Self.same(reference, histories[run.name] ?? [], tolerance: 1e-9), "\(run.name): \(histories[run.name] ?? [])")
        }
        let summary = try JSONDecoder().decode(RunSummary.self, from: Data(contentsOf: URL(fileURLWithPath: base + "/2x2/summary.json")))
        #expect(summary.decomposition.map { [$0.dataGroups, $0.layerGroups] + $0.shares } == [2, 2, 8, 7])

        // 5 steps on (2,2), the rest on (1,2): the per-example warm starts travel in the checkpoint.
        let split = base + "/split"
        var r = runLayerpar(tight + ["--iterations", "5", "--data-groups", "2", "--out", split], ranks: 4, timeout: 180)
        #expect(r.status == 0, "\(r.stderr)")
        r = runLayerpar(tight + ["--iterations", "9", "--resume", "--out", split], ranks: 2, timeout: 180)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(Self.same(reference, try Self.losses(split), tolerance: 1e-9))
    }

    @Test("One MGRIT iteration per solve on (2,1) follows (1,1) to rounding, and resumes on (1,1) from a (2,1) checkpoint: each example starts from its own last visit in whichever group")
    func warmStartsAcrossGroups() throws {
        let base = tempDir("warm-across-groups")
        // 60 examples, batch 15 (shares 8 + 7): from step 5 on every example comes back, often in the other group.
        let inexact = ["train", "--task", "f2", "--train-samples", "60", "--validation-samples", "20", "--depth", "40",
                       "--width", "8", "--batch-size", "15", "--eval-every", "3", "--seed", "5", "--mode", "parallel",
                       "--preset", "paper", "--warm-start", "example", "--forward-iterations", "1", "--backward-iterations", "1"]
        let one = runLayerpar(inexact + ["--iterations", "12", "--out", base + "/one"])
        #expect(one.status == 0, "\(one.stderr)")
        let two = runLayerpar(inexact + ["--iterations", "12", "--data-groups", "2", "--out", base + "/two"], ranks: 2)
        #expect(two.status == 0, "\(two.stderr)")
        // Measured: starting from no stored state changes these losses by up to 3e-3; from another
        // group's adjoints without their 1/B_h → 1/B_g rescaling, by up to 3e-6.
        let a = try Self.losses(base + "/one")
        #expect(Self.same(a, try Self.losses(base + "/two"), tolerance: 1e-12))
        let split = base + "/split"
        var r = runLayerpar(inexact + ["--iterations", "7", "--data-groups", "2", "--out", split], ranks: 2)
        #expect(r.status == 0, "\(r.stderr)")
        r = runLayerpar(inexact + ["--iterations", "12", "--resume", "--out", split])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(Self.same(a, try Self.losses(split), tolerance: 1e-12))
    }

    @Test("--optimizer lbfgs --data-groups 2 takes the one-rank steps (same losses to 1e-10, same line-search trials); a mini-batch is refused")
    func lbfgsDataParallel() throws {
        let base = tempDir("lbfgs-data-parallel")
        let lbfgs = ["train", "--task", "f2", "--train-samples", "45", "--validation-samples", "20", "--depth", "12",
                     "--width", "8", "--batch-size", "45", "--eval-every", "3", "--seed", "5", "--optimizer", "lbfgs",
                     "--lr", "1e-2", "--lbfgs-history", "3", "--iterations", "10"]
        let one = runLayerpar(lbfgs + ["--out", base + "/one"])
        #expect(one.status == 0, "\(one.stderr)")
        let two = runLayerpar(lbfgs + ["--data-groups", "2", "--out", base + "/two"], ranks: 2)
        #expect(two.status == 0, "\(two.stderr)")
        let a = try Self.losses(base + "/one"), b = try Self.losses(base + "/two")
        #expect(a.count == 11 && Self.same(a, b, tolerance: 1e-10), "\(a)\n\(b)")
        func trials(_ dir: String) throws -> [String] {
            let rows = try String(contentsOfFile: dir + "/history.csv", encoding: .utf8).split(separator: "\n")
                .map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
            let k = try #require(rows[0].firstIndex(of: "line_search_trials"))
            return rows.dropFirst().map { $0[k] }
        }
        let t = try trials(base + "/one")
        #expect(t == (try trials(base + "/two")))
        #expect(t.count == 11 && t[0] == "" && t.dropFirst().allSatisfy { (Int($0) ?? 0) >= 1 }, "\(t)")
        var miniArgs = lbfgs
        miniArgs[miniArgs.firstIndex(of: "--batch-size")! + 1] = "15"
        let mini = runLayerpar(miniArgs + ["--out", base + "/mini"], timeout: 60)
        #expect(mini.status != 0 && mini.stderr.contains("--optimizer lbfgs works on the full batch: give --batch-size 45"), "\(mini.stderr)")
    }

    @Test("A bad decomposition is one clear error before training: D not dividing P, D > batch, serial layer groups, noise")
    func badDecompositions() throws {
        let args = Self.common + ["--iterations", "2", "--out", tempDir("bad-grid")]
        func refused(_ extra: [String], ranks: Int?, _ text: String) {
            let r = runLayerpar(args + extra, ranks: ranks, timeout: 60)
            #expect(r.status != 0 && r.stderr.contains(text), "\(extra) on \(ranks ?? 1) ranks: \(r.stderr)")
            #expect(!r.stderr.contains("step "), "nothing was trained: \(r.stderr)")
        }
        refused(["--mode", "serial", "--data-groups", "2"], ranks: nil, "do not divide the job's 1 rank")
        refused(["--mode", "parallel", "--data-groups", "3"], ranks: 2, "do not divide the job's 2 ranks")
        refused(["--mode", "serial"], ranks: 2, "needs --data-groups 2")
        refused(["--mode", "serial", "--data-groups", "2", "--batch-size", "1"], ranks: 2, "a batch group would get no examples")
        refused(["--mode", "serial", "--data-groups", "0"], ranks: nil, "--data-groups")
        refused(["--mode", "serial", "--gradient-buckets", "0"], ranks: nil, "--gradient-buckets")
        refused(["--mode", "parallel", "--data-groups", "2", "--warm-start", "previous"], ranks: 2, "--warm-start previous")
    }
}
