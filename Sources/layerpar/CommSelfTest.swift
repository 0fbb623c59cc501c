import ArgumentParser
import Comm
import Foundation
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
/// doubles; half the round-trip time `t(n)` is modelled as `α + n·8 B/bandwidth`.
struct CommSelfTest: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "comm-selftest",
        abstract: "Check the communicator on the ranks it runs with; measure ping-pong latency and bandwidth.",
        shouldDisplay: false
    )

    @Option(help: "Write the result (checks passed, ping-pong table and fit) as JSON to this file (rank 0 only).")
    var output: String?

    @Option(help: "Round trips per message size in the ping-pong (0 skips the ping-pong).")
    var repetitions: Int = 200

    @Option(help: "Make this rank fail with a user error after the first exchange, while the others wait in a collective (tests the abort path).")
    var failRank: Int?

    func validate() throws {
        guard repetitions >= 0 else { throw ValidationError("--repetitions must be ≥ 0, got \(repetitions)") }
        if let failRank, failRank < 0 { throw ValidationError("--fail-rank must be ≥ 0, got \(failRank)") }
    }

    func run() throws {
        try withWorld { comm in
            let report = try runChecks(comm)
            if comm.isRoot {
                print("comm-selftest: \(comm.size) rank(s): ring, allreduce and barrier checks passed")
                if let fit = report.pingPong {
                    print(String(format: "ping-pong rank 0 <-> 1: latency %.2f us, bandwidth %.2f GB/s (%d sizes)",
                                 fit.latencySeconds * 1e6, fit.bandwidthBytesPerSecond / 1e9, fit.table.count))
                }
                if let output { try AtomicFile.writeJSON(report, to: output) }
            }
        }
    }

    struct PingPongRow: Codable {
        var doubles: Int
        var bytes: Int
        /// Half the mean round-trip time: one message's one-way time.
        var oneWaySeconds: Double
    }

    struct PingPongFit: Codable {
        var latencySeconds: Double
        var bandwidthBytesPerSecond: Double
        var table: [PingPongRow]
    }

    struct Report: Codable {
        var tool = "layerpar comm-selftest"
        var version = LayerPar.version
        var ranks: Int
        var host: String
        var ringSizes: [Int]
        var checksPassed: Bool
        /// The error MPI returned for a deliberately invalid call (under MPI only).
        var errorReturnMessage: String?
        var pingPong: PingPongFit?
        var oversubscribed: Bool
    }

    func runChecks(_ comm: any Communicator) throws -> Report {
        let sizes = [0, 1, 7, 64, 1000, 1 << 17]
        for (i, n) in sizes.enumerated() {
            try ringExchange(comm, count: n, baseTag: 10 * i)
            try ringExchange(comm, count: n, baseTag: 10 * i + 2, polling: true)
            if let failRank, failRank == comm.rank, i == 0 {
                throw ValidationError("--fail-rank \(failRank): this rank was told to fail (deliberate bad input on one rank)")
            }
        }
        // Sum of (rank+1)·(j+1) over ranks = (j+1)·P(P+1)/2; max = (j+1)·P.
        let p = Double(comm.size)
        let mine = (0..<5).map { Double(comm.rank + 1) * Double($0 + 1) }
        let sum = try comm.allreduceSum(mine), max = try comm.allreduceMax(mine)
        for j in 0..<5 {
            let s = Double(j + 1) * p * (p + 1) / 2, m = Double(j + 1) * p
            guard sum[j] == s, max[j] == m else {
                throw CommError(call: "allreduce", message: "rank \(comm.rank): element \(j) sum \(sum[j]) (want \(s)), max \(max[j]) (want \(m))")
            }
        }
        try comm.barrier()
        var errorMessage: String?
        if let mpi = comm as? MPICommunicator {
            let error = try mpi.provokeErrorReturn()
            errorMessage = error.description
            if comm.isRoot { print("comm-selftest: MPI error returned as expected: \(error)") }
        }
        let fit = comm.size >= 2 && repetitions > 0 ? try pingPong(comm) : nil
        let cores = ProcessInfo.processInfo.activeProcessorCount
        return Report(ranks: comm.size, host: ProcessInfo.processInfo.hostName, ringSizes: sizes,
                      checksPassed: true, errorReturnMessage: errorMessage, pingPong: fit, oversubscribed: comm.size > cores)
    }

    /// Each rank sends `count` doubles `v[k] = 1000·rank + k + tag` to both
    /// neighbours on a ring (two tags, so left- and right-going messages differ)
    /// and checks what it receives. Buffers live until waitAll returns. With
    /// `polling`, completes the requests by calling testAll until it reports them
    /// done (as MGRIT polls between intervals) instead of one waitAll.
    func ringExchange(_ comm: any Communicator, count: Int, baseTag: Int, polling: Bool = false) throws {
        let p = comm.size, r = comm.rank
        let left = (r + p - 1) % p, right = (r + 1) % p
        let sendR = UnsafeMutablePointer<Double>.allocate(capacity: max(count, 1))
        let sendL = UnsafeMutablePointer<Double>.allocate(capacity: max(count, 1))
        let recvL = UnsafeMutablePointer<Double>.allocate(capacity: max(count, 1))
        let recvR = UnsafeMutablePointer<Double>.allocate(capacity: max(count, 1))
        defer { [sendR, sendL].forEach { $0.deallocate() }; [recvL, recvR].forEach { $0.deallocate() } }
        func value(_ rank: Int, _ k: Int, _ tag: Int) -> Double { Double(1000 * rank + k + tag) }
        for k in 0..<count {
            sendR[k] = value(r, k, baseTag)
            sendL[k] = value(r, k, baseTag + 1)
            recvL[k] = .nan
            recvR[k] = .nan
        }
        // Receives first (as MGRIT does), then sends; one waitAll for all four.
        var requests = [
            try comm.irecv(recvL, count: count, from: left, tag: baseTag),       // left's right-going message
            try comm.irecv(recvR, count: count, from: right, tag: baseTag + 1),  // right's left-going message
            try comm.isend(sendR, count: count, to: right, tag: baseTag),
            try comm.isend(sendL, count: count, to: left, tag: baseTag + 1),
        ]
        if polling {
            let start = monotonicSeconds()
            var calls = 0
            while try !comm.testAll(&requests) {
                calls += 1
                if monotonicSeconds() - start > 30 {
                    throw CommError(call: "testAll", message: "rank \(r): \(count)-double ring exchange not complete after \(calls) polls in 30 s")
                }
            }
            guard requests.isEmpty else { throw CommError(call: "testAll", message: "rank \(r): reported completion but left \(requests.count) requests") }
        } else {
            try comm.waitAll(&requests)
        }
        for k in 0..<count {
            guard recvL[k] == value(left, k, baseTag), recvR[k] == value(right, k, baseTag + 1) else {
                throw CommError(call: "ring exchange", message: "rank \(r): element \(k) of \(count): got \(recvL[k]), \(recvR[k]); want \(value(left, k, baseTag)), \(value(right, k, baseTag + 1))")
            }
        }
    }

    /// Ranks 0 and 1 bounce messages; other ranks only join the final barrier.
    func pingPong(_ comm: any Communicator) throws -> PingPongFit {
        let sizes = [1, 2, 16, 64, 256, 1024, 4096, 16384, 1 << 17]
        let buffer = UnsafeMutablePointer<Double>.allocate(capacity: sizes.max()!)
        buffer.initialize(repeating: 1, count: sizes.max()!)
        defer { buffer.deallocate() }
        var table: [PingPongRow] = []
        for (i, n) in sizes.enumerated() {
            let reps = n >= 16384 ? max(repetitions / 10, 5) : repetitions
            var seconds = 0.0
            if comm.rank <= 1 {
                let peer = 1 - comm.rank
                for rep in -5..<reps {   // 5 warm-up round trips
                    let t0 = monotonicSeconds()
                    var req: [CommRequest]
                    if comm.rank == 0 {
                        req = [try comm.isend(buffer, count: n, to: peer, tag: i)]
                        try comm.waitAll(&req)
                        req = [try comm.irecv(buffer, count: n, from: peer, tag: i)]
                        try comm.waitAll(&req)
                    } else {
                        req = [try comm.irecv(buffer, count: n, from: peer, tag: i)]
                        try comm.waitAll(&req)
                        req = [try comm.isend(buffer, count: n, to: peer, tag: i)]
                        try comm.waitAll(&req)
                    }
                    if rep >= 0 { seconds += monotonicSeconds() - t0 }
                }
            }
            table.append(PingPongRow(doubles: n, bytes: 8 * n, oneWaySeconds: seconds / Double(max(reps, 1)) / 2))
        }
        try comm.barrier()
        // t(n) = α + bytes/bandwidth: α from the smallest message, where bandwidth
        // does not matter; bandwidth from the best of the large messages (≥ 32 KiB),
        // where α does not matter. Best, not mean: other load on a shared machine
        // only ever slows a round trip down.
        let alpha = max(table[0].oneWaySeconds, 1e-9)
        let bandwidth = table.filter { $0.bytes >= 32768 }
            .map { Double($0.bytes) / max($0.oneWaySeconds - alpha, 1e-12) }.max() ?? 1e9
        return PingPongFit(latencySeconds: alpha, bandwidthBytesPerSecond: bandwidth, table: table)
    }
}
