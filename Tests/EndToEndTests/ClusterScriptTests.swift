import Foundation
import Testing
import _TestSupport

/// `layerpar cluster script`, run for real: on a one-node SLURM started for the test
/// (`tools/slurm-local`: munged, slurmctld and slurmd on localhost), the script is
/// submitted with `sbatch --wait` and its per-job folder checked; where SLURM cannot
/// start here the test says so and runs the script's mpirun form instead.
@Suite("Cluster job scripts", .serialized)
struct ClusterScriptTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let train = ["train", "--task", "f2", "--depth", "8", "--batch-size", "16", "--iterations", "4", "--eval-every", "2",
                        "--mode", "parallel", "--train-samples", "64", "--validation-samples", "16", "--out", "run"]

    /// The one job folder under `results`, checked: 2 ranks bound and read back, the run's summary, exit status 0.
    func checkJob(_ results: URL) throws {
        let jobs = try FileManager.default.contentsOfDirectory(atPath: results.path).filter { $0.hasPrefix("job-") }
        #expect(jobs.count == 1, "\(jobs)")
        guard let job = jobs.first.map({ results.appendingPathComponent($0) }) else { return }
        let binding = try String(contentsOf: job.appendingPathComponent("binding.txt"), encoding: .utf8)
        #expect(binding.contains("rank 0/2:") && binding.contains("rank 1/2:") && binding.contains("bound (read back) P#"), "\(binding)")
        let rankfile = try String(contentsOf: job.appendingPathComponent("rankfile.txt"), encoding: .utf8)
        #expect(rankfile.split(separator: "\n").filter { $0.hasPrefix("rank ") }.count == 2, "\(rankfile)")
        let info = try String(contentsOf: job.appendingPathComponent("job.txt"), encoding: .utf8)
        #expect(info.contains("exit status: 0") && info.contains("= 2 ranks"), "\(info)")
        #expect(FileManager.default.fileExists(atPath: job.appendingPathComponent("run/summary.json").path),
                "\((try? String(contentsOf: job.appendingPathComponent("stderr.txt"), encoding: .utf8)) ?? "")")
    }

    @Test("a generated SLURM script runs under sbatch on a real one-node SLURM (or, where SLURM cannot start, its mpirun form)")
    func slurmJob() throws {
        let dir = try MPIRun.scratchDirectory("cluster")
        defer { try? FileManager.default.removeItem(at: dir) }
        let slurm = dir.appendingPathComponent("slurm").path
        let tool = Self.root.appendingPathComponent("tools/slurm-local").path
        let start = try runTool(tool, ["start", slurm], timeout: 60)
        if start.status == 0 {
            defer { _ = try? runTool(tool, ["stop", slurm], timeout: 60) }
            let results = dir.appendingPathComponent("results")
            let script = dir.appendingPathComponent("job.sh").path
            let g = try MPIRun.layerpar(["cluster", "script", "--scheduler", "slurm", "--nodes", "1", "--ranks-per-node", "2",
                                         "--results", results.path, "--output", script, "--"] + Self.train, ranks: nil, timeout: 60)
            #expect(g.succeeded, "\(g.transcript)")
            let text = try String(contentsOfFile: script, encoding: .utf8)
            // A 16 × 16 state (2 KiB) fits Open MPI's default eager limit: the script leaves it.
            #expect(text.contains("#SBATCH --ntasks-per-node=2") && !text.contains("OMPI_MCA_btl_vader_eager_limit="))
            let env = ["SLURM_CONF": slurm + "/slurm.conf"]
            let r = try runTool("sbatch", ["--wait", "--chdir", dir.path, script], environment: env, timeout: 300)
            #expect(r.status == 0, "sbatch: \(r.stdout) \(r.stderr)")
            try checkJob(results)
        } else {
            print("ClusterScriptTests: SLURM could not start here (\(start.stderr.trimmingCharacters(in: .whitespacesAndNewlines))); running the script's mpirun form instead")
            let results = dir.appendingPathComponent("results-mpirun")
            let script = dir.appendingPathComponent("job-mpirun.sh").path
            let g = try MPIRun.layerpar(["cluster", "script", "--scheduler", "mpirun", "--ranks-per-node", "2",
                                         "--results", results.path, "--output", script, "--"] + Self.train, ranks: nil, timeout: 60)
            #expect(g.succeeded, "\(g.transcript)")
            let r = try runTool("bash", [script], timeout: 300)
            #expect(r.status == 0, "\(r.stdout) \(r.stderr)")
            try checkJob(results)
        }
    }

    @Test("the printed script sets the eager limit for train's default 16 × 64 state; bad requests are one clear error line")
    func printedAndBadInput() throws {
        let p = try MPIRun.layerpar(["cluster", "script", "--ranks-per-node", "4", "--threads-per-rank", "5", "--", "train", "--depth", "64"],
                                    ranks: nil, timeout: 30)
        #expect(p.succeeded && p.stdout.contains("export OMPI_MCA_btl_vader_eager_limit=9216")
                && p.stdout.contains("#SBATCH --cpus-per-task=5") && p.stdout.contains("'train' '--depth' '64'"), "\(p.transcript)")
        let a = try MPIRun.layerpar(["cluster", "script", "--scheduler", "pbs", "--ranks-per-node", "2", "--", "train"], ranks: nil, timeout: 30)
        #expect(!a.succeeded && a.stderr.contains("--scheduler must be slurm or mpirun"))
        let b = try MPIRun.layerpar(["cluster", "script", "--ranks-per-node", "2"], ranks: nil, timeout: 30)
        #expect(!b.succeeded && b.stderr.contains("give the layerpar command after --"))
        let c = try MPIRun.layerpar(["cluster", "script", "--ranks-per-node", "2", "--", "rm", "-rf"], ranks: nil, timeout: 30)
        #expect(!c.succeeded && c.stderr.contains("'rm' is not a layerpar command"))
    }
}
