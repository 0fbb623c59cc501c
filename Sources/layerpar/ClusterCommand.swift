import ArgumentParser
import Foundation
import Performance
import Reports
import Studies

/// `layerpar cluster`: running layerpar on a cluster.
struct Cluster: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Job scripts for running layerpar on a cluster.",
        subcommands: [ClusterScript.self])
}

/// `layerpar cluster script`: writes a SLURM or plain-mpirun job script.
struct ClusterScript: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "script",
        abstract: "Write a job script that runs a layerpar command bound as the topology plan says, results in a per-job folder.",
        discussion: """
            The script makes RESULTS/job-<job id> and runs everything in it: the node list (hosts.txt), one Open MPI \
            rankfile of the placement plan of the node's hardware for all nodes (rankfile.txt, from `layerpar topology \
            --ranks R --threads-per-rank T --rankfile`), OMPI_MCA_btl_vader_eager_limit, every rank's binding read back \
            from the OS before the run (binding.txt, `layerpar topology --check-binding`), then the command under \
            `mpirun --rankfile` (stdout.txt, stderr.txt; relative output paths land in the job folder) and job.txt \
            (nodes, ranks, limit, exit status). --scheduler slurm adds #SBATCH lines (submit with `sbatch FILE`; \
            mpirun starts its daemons through SLURM); --scheduler mpirun is a plain script for --hosts (default: this node). \
            Example: layerpar cluster script --scheduler slurm --nodes 4 --ranks-per-node 20 --output job.sh -- train --task f2 --depth 1024 --mode parallel --out run
            """)

    @Option(help: "slurm (an sbatch script) or mpirun (a plain bash script).") var scheduler: String = "slurm"
    @Option(help: "Nodes of the job.") var nodes: Int = 1
    @Option(help: "MPI ranks per node.") var ranksPerNode: Int
    @Option(help: "Threads (cores) per rank.") var threadsPerRank: Int = 1
    @Option(help: "Folder under which each job makes job-<id>/ (created now; default: ./results).") var results: String = "results"
    @Option(help: "Write the script here (default: print it).") var output: String?
    @Option(help: "Open MPI shared-memory eager limit in bytes (default: one boundary state of the command's --width × --batch-size plus headers; 0: Open MPI's default).")
    var eagerLimit: Int?
    @Option(help: "Hosts of the mpirun form, comma-separated (default: this node).") var hosts: String?
    @Option(help: "SLURM time limit (#SBATCH --time).") var time: String?
    @Option(help: "SLURM partition (#SBATCH --partition).") var partition: String?
    @Option(help: "The layerpar executable the job runs (default: this one).") var executable: String?
    @Argument(parsing: .postTerminator, help: "The layerpar command to run, after --, e.g. -- train --depth 1024 --mode parallel --out run.")
    var command: [String] = []

    static let runnable = ["train", "scaling", "convergence", "reproduce", "predict", "comm-selftest", "topology"]

    func validate() throws {
        guard ClusterJobScript.Scheduler(rawValue: scheduler) != nil else {
            throw ValidationError("--scheduler must be slurm or mpirun, got '\(scheduler)'")
        }
        try NumericCheck.atLeast(1, ["--nodes": nodes, "--ranks-per-node": ranksPerNode, "--threads-per-rank": threadsPerRank])
        guard let first = command.first else { throw ValidationError("give the layerpar command after --, e.g. -- train --depth 1024") }
        guard Self.runnable.contains(first) else {
            throw ValidationError("'\(first)' is not a layerpar command a job can run (\(Self.runnable.joined(separator: ", ")))")
        }
        if let eagerLimit, eagerLimit < 0 { throw ValidationError("--eager-limit must be ≥ 0 bytes, got \(eagerLimit)") }
        if hosts != nil && scheduler == "slurm" { throw ValidationError("--hosts belongs to --scheduler mpirun (SLURM gives the nodes)") }
        if let hosts, hosts.split(separator: ",").count != nodes {
            throw ValidationError("--hosts lists \(hosts.split(separator: ",").count) host(s), --nodes is \(nodes)")
        }
        if scheduler == "mpirun" && hosts == nil && nodes > 1 { throw ValidationError("--nodes \(nodes) with --scheduler mpirun needs --hosts") }
    }

    func run() throws {
        let exe = executable ?? ScalingLauncher.selfPath()
        let dir = URL(fileURLWithPath: results).standardizedFileURL.path
        do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
            throw ValidationError("--results: cannot create '\(dir)': \(error.localizedDescription)")
        }
        var s = ClusterJobScript(scheduler: ClusterJobScript.Scheduler(rawValue: scheduler)!, nodes: nodes, ranksPerNode: ranksPerNode,
                                 threadsPerRank: threadsPerRank, executable: URL(fileURLWithPath: exe).standardizedFileURL.path,
                                 results: dir, command: command,
                                 eagerLimit: eagerLimit.map { $0 == 0 ? nil : $0 } ?? ClusterJobScript.eagerLimit(for: command),
                                 hosts: hosts.map { $0.split(separator: ",").map(String.init) } ?? [])
        s.timeLimit = time
        s.partition = partition
        if let output {
            try AtomicFile.write(s.text, to: output)
            chmod(output, 0o755)
            print("cluster script: wrote \(output) (\(scheduler), \(nodes) × \(ranksPerNode) ranks; results in \(dir)/job-<id>)")
        } else {
            print(s.text, terminator: "")
        }
    }
}
