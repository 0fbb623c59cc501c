import Foundation
import Reports
import Studies
import Testing
import Training

/// `layerpar reproduce oneshot` run as a command: its files, and the ratios it reports
/// recomputed from the runs' own summaries.
@Suite("layerpar reproduce oneshot", .serialized)
struct ReproduceCommandTests {
    struct Report: Decodable { var rows: [OneShotReport.Row]; var runs: [OneShotRun] }

    @Test("The reports' median: the middle value, the mean of the middle two for an even count, runs without a value left out")
    func median() {
        #expect(Median.of([3.0, nil, 1, 10]) == 3)
        #expect(Median.of([3.0, nil, 1, 2, 10]) == 2.5)
        #expect(Median.of([Int?]([1900, 1450, nil, 2900, 1700])) == 1800)
        #expect(Median.of([Double?]([nil, nil])) == nil && Median.of([Int?]()) == nil)
    }

    @Test("A short one-shot study writes its tables; W and w are the runs' CPU-time ratios against serial")
    func shortStudy() throws {
        let out = tempDir("oneshot")
        let r = runLayerpar(["reproduce", "oneshot", "--quick", "--variants", "2-1-none,noise-matched-2-1-none", "--iterations-f2", "40",
                             "--eval-every", "20", "--out", out], timeout: 300)
        #expect(r.status == 0, "\(r.stderr)")
        let report = try JSONDecoder().decode(Report.self, from: Data(contentsOf: URL(fileURLWithPath: out + "/oneshot.json")))
        #expect(report.runs.map(\.variant) == ["serial", "2-1-none", "noise-matched-2-1-none"])
        #expect(report.rows.map(\.variant) == ["serial", "2-1-none", "noise-matched-2-1-none"])
        let serial = try #require(report.runs[0].summary), parallel = try #require(report.runs[1].summary)
        #expect(serial.steps == 40 && parallel.steps == 40 && serial.configuration.mode == .serial)
        #expect(parallel.configuration.tolForward == 0 && parallel.configuration.maxForwardIterations == 2
                && parallel.configuration.maxBackwardIterations == 1 && parallel.configuration.warmStart == WarmStartPolicy.none)
        #expect(parallel.meanForwardMGRITIterations == 2 && parallel.meanBackwardMGRITIterations == 1)
        let cs = try #require(serial.trainCPUSeconds), cp = try #require(parallel.trainCPUSeconds)
        #expect(cs > 0 && cp > 0)
        let row = report.rows[1]
        let w = try #require(row.stepWorkRatio[0])
        #expect(abs(w - cp / cs) <= 1e-12 * w, "w per step = CPU time per step over serial's (both ran 40 steps)")
        // 40 steps do not reach 6e-3: no time to the reference, so no W.
        #expect(row.stepsToReference == [nil] && row.workRatio == [nil] && row.medianWorkRatio == nil)
        #expect(report.rows[0].medianStepWorkRatio == 1)
        let csv = try String(contentsOfFile: out + "/oneshot.csv", encoding: .utf8).split(separator: "\n")
        #expect(csv.count == 4 && csv[0].hasPrefix("task,variant,ranks,seed"))
        let md = try String(contentsOfFile: out + "/oneshot.md", encoding: .utf8)
        #expect(md.contains("| f2 | 2-1-none | 1 |") && md.contains("| f2 | noise-matched-2-1-none | 1 |") && md.contains("Noise-matched serial controls"))
        // The control's noise is √3 × the median RMS error the parallel run recorded at its evaluation steps (20, 40).
        let rows = try String(contentsOfFile: report.runs[1].directory + "/history.csv", encoding: .utf8).split(separator: "\n")
            .map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        func measured(_ name: String) throws -> [Double] {
            let k = try #require(rows[0].firstIndex(of: name))
            return rows.dropFirst().compactMap { Double($0[k]) }
        }
        let fe = try measured("forward_state_error"), ae = try measured("adjoint_error")
        #expect(fe.count == 2 && ae.count == 2 && fe.allSatisfy { $0 > 0 } && ae.allSatisfy { $0 > 0 }, "\(fe) \(ae)")
        let control = try #require(report.runs[2].summary).configuration
        #expect(control.mode == .serial)
        for (c, e) in [(control.noiseForward, fe), (control.noiseBackward, ae)] {
            let expected = 3.0.squareRoot() * 0.5 * (e[0] + e[1])
            #expect(abs(c - expected) <= 1e-15 * expected, "noise \(c), measured errors \(e)")
        }
        // The CPU-time column of the history grows with the steps and ends at the summary's total.
        let history = try String(contentsOfFile: report.runs[1].directory + "/history.csv", encoding: .utf8).split(separator: "\n")
        let header = history[0].split(separator: ",")
        let k = try #require(header.firstIndex(of: "cpu_seconds"))
        let cpu = history.dropFirst().map { Double($0.split(separator: ",", omittingEmptySubsequences: false)[k])! }
        #expect(cpu.first == 0 && zip(cpu, cpu.dropFirst()).allSatisfy { $0 <= $1 } && cpu.last == cp)
    }

    @Test("Unknown set-ups and --variants outside oneshot are refused with the option's name")
    func badVariants() {
        let unknown = runLayerpar(["reproduce", "oneshot", "--variants", "2-1-none,nope", "--out", tempDir("bad")])
        #expect(unknown.status != 0 && unknown.stderr.contains("--variants") && unknown.stderr.contains("nope"), "\(unknown.stderr)")
        let tables = runLayerpar(["reproduce", "tables", "--variants", "2-1-none", "--out", tempDir("bad2")])
        #expect(tables.status != 0 && tables.stderr.contains("--variants"), "\(tables.stderr)")
    }
}
