import Foundation
import Testing
import Studies

/// The real solver on several ranks: `layerpar scaling check` solves one forward
/// and one adjoint MGRIT pass (with the gradient sweep) and writes residual
/// histories, all states, all adjoints and the weight gradients; runs on K ranks
/// must agree with the one-rank run to 1e-12 relative (they are in fact expected
/// to be bitwise equal: the solver computes every point by the same operations
/// and sums the residual norm in global point order), and every run must match
/// the layer-serial passes.
@Suite("MGRIT across rank counts", .serialized)
struct MGRITAcrossRanksTests {
    typealias Snapshot = SolveSnapshot
    typealias Output = ScalingCheckOutput

    static func solve(_ args: [String], ranks: Int?) throws -> Output {
        let dir = try MPIRun.scratchDirectory("check")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("check.json").path
        let result = try MPIRun.layerpar(["scaling", "check", "--output", file] + args, ranks: ranks, timeout: 120)
        guard result.succeeded else { throw MPIRun.HarnessError(description: result.transcript) }
        return try JSONDecoder().decode(Output.self, from: Data(contentsOf: URL(fileURLWithPath: file)))
    }

    /// max |a − b| / max |b|.
    static func relative(_ a: [Double], _ b: [Double]) -> Double {
        guard a.count == b.count else { return .infinity }
        var d = 0.0, s = 0.0
        for (x, y) in zip(a, b) { d = max(d, abs(x - y)); s = max(s, abs(y)) }
        return s == 0 ? d : d / s
    }

    static func compare(_ runs: [Int: Output], reference: Output, label: String) {
        let r = reference.snapshot
        // A converged solve: the layer-serial passes are the oracle.
        #expect(reference.serialStateError < 1e-12 && reference.serialAdjointError < 1e-12 && reference.serialGradientError < 1e-12,
                "\(label): one rank vs layer-serial: \(reference.serialStateError), \(reference.serialAdjointError), \(reference.serialGradientError)")
        for (k, out) in runs.sorted(by: { $0.key < $1.key }) {
            let s = out.snapshot
            #expect(out.ranks == k)
            #expect(s.forwardIterations == r.forwardIterations && s.adjointIterations == r.adjointIterations, "\(label) K=\(k)")
            for (name, a, b) in [("forward residuals", s.forwardResiduals, r.forwardResiduals),
                                 ("adjoint residuals", s.adjointResiduals, r.adjointResiduals),
                                 ("states", s.states, r.states), ("adjoints", s.adjoints, r.adjoints),
                                 ("gradients", s.gradient, r.gradient)] {
                #expect(relative(a, b) <= 1e-12, "\(label) K=\(k): \(name) differ by \(relative(a, b)) relative")
            }
            #expect(out.serialStateError < 1e-12 && out.serialAdjointError < 1e-12 && out.serialGradientError < 1e-12,
                    "\(label) K=\(k) vs layer-serial: \(out.serialStateError), \(out.serialAdjointError), \(out.serialGradientError)")
            print("\(label): K=\(k) \(s == r ? "bitwise equal to" : "within 1e-12 of, not bitwise equal to") the one-rank run")
        }
    }

    @Test("depth 64, m = 4 and m = 2: K = 1, 2, 3, 4 ranks give the one-rank results", arguments: [4, 2])
    func depth64(cfactor: Int) throws {
        let args = ["--depth", "64", "--width", "16", "--batch", "8", "--cfactor", String(cfactor)]
        let reference = try Self.solve(args, ranks: nil)   // plain start: SerialCommunicator
        var runs: [Int: Output] = [:]
        for k in 1 ... 4 { runs[k] = try Self.solve(args, ranks: k) }
        #expect(reference.snapshot.forwardIterations > 1)   // the coarse levels took part
        Self.compare(runs, reference: reference, label: "depth 64 m=\(cfactor)")
    }

    /// Depth 61 on 2 and 3 ranks: rank boundaries inside intervals on the fine and coarse levels.
    static let correctedCases = [(["--cfactor", "4", "--delta-correction"], "m=4 Delta"),
                                 (["--cfactor", "2", "--fmg", "--delta-correction"], "m=2 FMG Delta")]

    @Test("Delta correction, also after FMG: K = 1, 2, 3 ranks give bitwise the one-rank residual histories and states (tangents of split intervals travel)",
          arguments: correctedCases.indices)
    func deltaCorrection(index: Int) throws {
        let (options, label) = Self.correctedCases[index]
        let args = ["--depth", "61", "--width", "8", "--batch", "4"] + options
        let reference = try Self.solve(args, ranks: nil)
        var runs: [Int: Output] = [:]
        for k in 1 ... 3 { runs[k] = try Self.solve(args, ranks: k) }
        #expect(reference.snapshot.forwardIterations > 1)
        for (k, out) in runs {
            #expect(out.snapshot.forwardResiduals == reference.snapshot.forwardResiduals, "\(label) K=\(k): forward residual history not bitwise equal")
            #expect(out.snapshot.adjointResiduals == reference.snapshot.adjointResiduals, "\(label) K=\(k): adjoint residual history not bitwise equal")
            #expect(out.snapshot.states == reference.snapshot.states, "\(label) K=\(k): states not bitwise equal")
        }
        Self.compare(runs, reference: reference, label: "depth 61 \(label)")
    }

    @Test("7 ranks on 6 and 14 points (m = 2): ranks without C-points, a rank without any point",
          arguments: [5, 13])
    func ranksWithoutCPoints(depth: Int) throws {
        let args = ["--depth", String(depth), "--width", "4", "--batch", "3", "--cfactor", "2"]
        let reference = try Self.solve(args, ranks: nil)
        let runs = [7: try Self.solve(args, ranks: 7), 3: try Self.solve(args, ranks: 3)]
        #expect(reference.snapshot.forwardIterations > 1)
        Self.compare(runs, reference: reference, label: "depth \(depth) m=2")
    }

    @Test("bad input on one rank only (NaN in rank 2's input) ends the job within seconds")
    func nanOnOneRank() throws {
        let result = try MPIRun.layerpar(["scaling", "check", "--output", "/dev/null", "--nan-rank", "2"], ranks: 4, timeout: 60)
        #expect(!result.timedOut && result.status != 0, "\(result.transcript)")
        #expect(result.seconds < 20, "\(result.transcript)")
        #expect(result.stderr.contains("error: MGRIT diverged: fine residual norm is nan"), "\(result.transcript)")
    }

    @Test("a communication failure on one rank inside the solver ends the job within seconds")
    func faultInsideSolver() throws {
        let result = try MPIRun.layerpar(["scaling", "check", "--output", "/dev/null"], ranks: 4,
                                         environment: ["LAYERPAR_COMM_FAULT": "rank=3,call=waitAll,after=10"], timeout: 60)
        #expect(!result.timedOut && result.status != 0, "\(result.transcript)")
        #expect(result.seconds < 20, "\(result.transcript)")
        #expect(result.stderr.contains("layerpar: rank 3 of 4: error: waitAll failed: rank 3: injected fault"), "\(result.transcript)")
    }
}
