import ArgumentParser
import Comm
import Foundation
import Performance
import Reports

/// `layerpar comm-selftest` (hidden): checks the communicator the way MGRIT uses
/// it, on however many ranks it is started with, and measures the point-to-point
/// latency and bandwidth that `layerpar scaling model` needs.
///
/// Checks (each rank verifies what it received; a wrong value is an error that
/// ends the whole job):
/// - ring: every rank exchanges a rank-dependent vector with both neighbours
///   (isend/irecv posted, then one waitAll), for message sizes from 0 doubles up
///   to 2^17 doubles (beyond Open MPI's eager limit, so the rendezvous protocol
///   runs too), several tags in flight at once;
/// - allreduce: sum and max of rank-dependent vectors against closed forms;
/// - barrier;
/// - error return (under MPI): an invalid MPI call must come back as a
///   ``CommError`` naming the call and MPI's error text, not kill the job.
/// Ping-pong (with ≥ 2 ranks): rank 0 ↔ rank 1 round trips of sizes 1…2^17
/// doubles; half the round-trip time `t(n)` is modelled as `α + n·8 B/bandwidth`;
/// then the mean time of a 2-double allreduce (the training loop's per-step stop decision),
/// and the median time of assembling a gradient of the width-16 network at depths 322,
/// 1280 and 5120 (or of the `--gradient-doubles` lengths) by an in-place allreduce and
/// by an allgather of each rank's block.
struct CommSelfTest: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "comm-selftest",
        abstract: "Check the communicator on the ranks it runs with; measure ping-pong latency and bandwidth.",
        shouldDisplay: false
    )

    @Option(help: "Write the result (checks passed, ping-pong table and fit) as JSON to this file (rank 0 only).")
    var output: String?

    @Option(help: "Round trips per message size in the ping-pong (0 skips the ping-pong and the collective timings; those repeat min(this, 10) times).")
    var repetitions: Int = 200

    @Option(help: "Make this rank fail with a user error after the first exchange, while the others wait in a collective (tests the abort path).")
    var failRank: Int?

    @Option(help: "Vector lengths (doubles, comma-separated) of the gradient collective timings (default: the width-16 gradients at depths 322, 1280 and 5120).")
    var gradientDoubles: String?

    func validate() throws {
        _ = try lengths()
        guard repetitions >= 0 else { throw ValidationError("--repetitions must be ≥ 0, got \(repetitions)") }
        if let failRank, failRank < 0 { throw ValidationError("--fail-rank must be ≥ 0, got \(failRank)") }
    }

    func lengths() throws -> [Int] {
        try gradientDoubles.map { try positiveIntegers($0, option: "gradient-doubles") } ?? CommCheck.gradientLengths
    }

    func run() throws {
        try OutputPath.checkFiles([("--output", output)])
        try withWorld { comm in
            let report = try CommCheck.run(comm, repetitions: repetitions, failRank: failRank, gradientLengths: try lengths())
            if comm.isRoot {
                print("comm-selftest: \(comm.size) rank(s): ring, allreduce, allgather and barrier checks passed")
                if let fit = report.pingPong {
                    print(String(format: "ping-pong rank 0 <-> 1: latency %.2f us, bandwidth %.2f GB/s (%d sizes)",
                                 fit.latencySeconds * 1e6, fit.bandwidthBytesPerSecond / 1e9, fit.table.count))
                }
                if let t = report.allreduceSeconds { print(String(format: "allreduce (max of 2 doubles): %.2f us", t * 1e6)) }
                for row in report.gradientCollectives ?? [] {
                    print(String(format: "gradient of %d doubles: in-place allreduce %.3f ms, allgather of each rank's block %.3f ms (median)",
                                 row.doubles, row.allreduceSeconds * 1e3, row.allgatherSeconds * 1e3))
                }
                if let output { try AtomicFile.writeJSON(report, to: output) }
            }
        }
    }
}
