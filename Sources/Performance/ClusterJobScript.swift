import Comm
import Foundation

/// A job script that runs one `layerpar` command on a cluster (`layerpar cluster script`).
///
/// What the script does, in order, on the job's first node:
/// 1. makes a per-job folder `RESULTS/job-<SLURM_JOB_ID or a time stamp>` and runs everything in it;
/// 2. lists the job's nodes (`scontrol show hostnames`, or the hosts given for the `mpirun` form);
/// 3. writes the placement plan of this node's hardware as an Open MPI rankfile for every
///    node (`layerpar topology --ranks R --threads-per-rank T --rankfile …`, ranks numbered
///    node after node, so neighbouring layer blocks share a node and a socket);
/// 4. sets Open MPI's shared-memory eager limit (`OMPI_MCA_btl_vader_eager_limit`) and the
///    threads per rank (`OMP_NUM_THREADS`, `OPENBLAS_NUM_THREADS`);
/// 5. records every rank's binding as the OS reports it (`mpirun --rankfile … layerpar
///    topology --check-binding` → `binding.txt`) before the run;
/// 6. runs the command under `mpirun --rankfile` (inside a SLURM allocation Open MPI starts
///    its daemons through SLURM), its output in `stdout.txt`/`stderr.txt`, and writes
///    `job.txt` (nodes, ranks, limit, exit status).
public struct ClusterJobScript {
    public enum Scheduler: String, CaseIterable, Sendable { case slurm, mpirun }

    public var scheduler: Scheduler
    public var nodes: Int
    public var ranksPerNode: Int
    public var threadsPerRank: Int
    /// Absolute path of the `layerpar` executable the job runs.
    public var executable: String
    /// Absolute folder under which each job makes its own folder.
    public var results: String
    /// The `layerpar` command and its arguments (e.g. `["train", "--depth", "1024"]`).
    public var command: [String]
    /// Bytes of `OMPI_MCA_btl_vader_eager_limit` (nil: Open MPI's default).
    public var eagerLimit: Int?
    /// Hosts of the `mpirun` form (default: this node alone).
    public var hosts: [String]
    public var jobName = "layerpar"
    public var timeLimit: String?
    public var partition: String?

    public init(scheduler: Scheduler, nodes: Int, ranksPerNode: Int, threadsPerRank: Int, executable: String, results: String,
                command: [String], eagerLimit: Int?, hosts: [String] = []) {
        self.scheduler = scheduler; self.nodes = nodes; self.ranksPerNode = ranksPerNode; self.threadsPerRank = threadsPerRank
        self.executable = executable; self.results = results; self.command = command; self.eagerLimit = eagerLimit; self.hosts = hosts
    }

    /// The eager limit for a command: one boundary state (`--width` × `--batch-size`, or
    /// `--batch` for `scaling`; train's defaults 16 × 64) plus headers, as `train` sets it itself.
    public static func eagerLimit(for command: [String]) -> Int? {
        func value(_ names: [String], _ d: Int) -> Int {
            for (i, a) in command.enumerated() where names.contains(a) && i + 1 < command.count { if let v = Int(command[i + 1]) { return v } }
            return d
        }
        return Launch.eagerLimit(forMessageBytes: 8 * value(["--width"], 16) * value(["--batch-size", "--batch"], 64))
    }

    /// `'text'` with embedded quotes escaped, for bash.
    static func quote(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }

    public var text: String {
        var lines = ["#!/bin/bash",
                     "# Written by layerpar cluster script: \(scheduler.rawValue), \(nodes) node(s) × \(ranksPerNode) rank(s) × \(threadsPerRank) thread(s)."]
        if scheduler == .slurm {
            lines += ["#SBATCH --job-name=\(jobName)", "#SBATCH --nodes=\(nodes)", "#SBATCH --ntasks-per-node=\(ranksPerNode)",
                      "#SBATCH --cpus-per-task=\(threadsPerRank)", "#SBATCH --exclusive",
                      "#SBATCH --output=\(results)/slurm-%j.out"]
            if let timeLimit { lines.append("#SBATCH --time=\(timeLimit)") }
            if let partition { lines.append("#SBATCH --partition=\(partition)") }
        }
        lines += [
            "set -euo pipefail",
            "LAYERPAR=\(Self.quote(executable))",
            "RESULTS=\(Self.quote(results))",
            "NODES=\(nodes) RPN=\(ranksPerNode) TPR=\(threadsPerRank)",
            "NP=$((NODES * RPN))",
            "JOB=\"${SLURM_JOB_ID:-local-$(date +%Y%m%d-%H%M%S)-$$}\"",
            "OUT=\"$RESULTS/job-$JOB\"",
            "mkdir -p \"$OUT\"",
            "cd \"$OUT\"",
            "# The job's nodes, one per line.",
        ]
        if scheduler == .slurm {
            lines.append("scontrol show hostnames \"$SLURM_JOB_NODELIST\" > hosts.txt")
        } else if hosts.isEmpty {
            lines.append("hostname > hosts.txt")
        } else {
            lines.append("printf '%s\\n' \(hosts.map(Self.quote).joined(separator: " ")) > hosts.txt")
        }
        lines += [
            "test \"$(wc -l < hosts.txt)\" -eq \"$NODES\" || { echo \"layerpar job: expected $NODES node(s), got: $(tr '\\n' ' ' < hosts.txt)\" >&2; exit 1; }",
            "# The placement plan of this node's hardware (hwloc), as one Open MPI rankfile for all nodes.",
            ": > rankfile.txt",
            "i=0",
            "while read -r host; do",
            "    \"$LAYERPAR\" topology --ranks \"$RPN\" --threads-per-rank \"$TPR\" --rankfile \"rankfile.$host.txt\" --rankfile-host \"$host\" > /dev/null",
            "    awk -v off=$((i * RPN)) '/^rank [0-9]+=/ { n = substr($2, 1, index($2, \"=\") - 1); sub(/^rank [0-9]+=/, \"rank \" (n + off) \"=\") } { print }' \"rankfile.$host.txt\" >> rankfile.txt",
            "    rm -f \"rankfile.$host.txt\"",
            "    i=$((i + 1))",
            "done < hosts.txt",
            "export OMP_NUM_THREADS=\"$TPR\" OPENBLAS_NUM_THREADS=\"$TPR\"",
        ]
        if let eagerLimit {
            lines.append("export OMPI_MCA_btl_vader_eager_limit=\(eagerLimit)   # one boundary state plus headers: no rendezvous")
        }
        lines += [
            "MPIRUN=(mpirun --rankfile rankfile.txt -np \"$NP\")",
            "if [ \"$(id -u)\" -eq 0 ]; then MPIRUN+=(--allow-run-as-root); fi",
            "# Every rank's binding as the OS reports it, before the run.",
            "\"${MPIRUN[@]}\" \"$LAYERPAR\" topology --check-binding --ranks \"$RPN\" --threads-per-rank \"$TPR\" > binding.txt",
            "status=0",
            "\"${MPIRUN[@]}\" \"$LAYERPAR\" \(command.map(Self.quote).joined(separator: " ")) > stdout.txt 2> stderr.txt || status=$?",
            "{ echo \"job $JOB: $NODES node(s) × $RPN rank(s) × $TPR thread(s) = $NP ranks\"; echo \"nodes: $(tr '\\n' ' ' < hosts.txt)\";",
            "  echo \"eager limit: ${OMPI_MCA_btl_vader_eager_limit:-Open MPI default}\"; echo \"command: \(command.joined(separator: " ").replacingOccurrences(of: "\"", with: "\\\""))\"; echo \"exit status: $status\"; } > job.txt",
            "exit \"$status\"",
        ]
        return lines.joined(separator: "\n") + "\n"
    }
}
