import Comm
import Foundation
import Reports
import Studies

public struct PingPongRow: Codable {
    public var doubles: Int
    public var bytes: Int
    /// Half the mean round-trip time: one message's one-way time.
    public var oneWaySeconds: Double
}

public struct PingPongFit: Codable {
    public var latencySeconds: Double
    public var bandwidthBytesPerSecond: Double
    public var table: [PingPongRow]
}

public struct CommCheckReport: Codable {
    public var tool = "layerpar comm-selftest"
    public var version = LayerParallel.version
    public var ranks: Int
    public var host: String
    public var ringSizes: [Int]
    public var checksPassed: Bool
    /// The error MPI returned for a deliberately invalid call (under MPI only).
    public var errorReturnMessage: String?
    public var pingPong: PingPongFit?
    /// Mean time of one `allreduceMax` of 2 doubles (the training loop's stop decision), with ≥ 2 ranks.
    public var allreduceSeconds: Double?
    public var oversubscribed: Bool
    /// Every D×L grid (D dividing the rank count) whose sub-communicators passed ``CommCheck/gridCheck(_:dataGroups:)``.
    public var gridsChecked: [String]?
    /// The two ways to assemble a gradient, timed on gradient-sized vectors (≥ 2 ranks).
    public var gradientCollectives: [GradientCollectiveRow]?
}

/// One vector length of ``CommCheck/gradientCollectives(_:repetitions:lengths:)``: median seconds of an
/// in-place sum over all ranks (`MPI_Iallreduce`, the algorithm Open MPI's
/// `coll_libnbc_iallreduce_algorithm` selects) and of an in-place allgather of each
/// rank's block (`MPI_Iallgatherv`), both polled as every wait in layerpar.
public struct GradientCollectiveRow: Codable, Sendable {
    public var doubles: Int
    public var allreduceSeconds: Double
    public var allgatherSeconds: Double

    public init(doubles: Int, allreduceSeconds: Double, allgatherSeconds: Double) {
        self.doubles = doubles
        self.allreduceSeconds = allreduceSeconds
        self.allgatherSeconds = allgatherSeconds
    }
}

/// The checks and the ping-pong of `layerpar comm-selftest` (see there), on the
/// ranks of `comm`. `repetitions`: round trips per ping-pong size (0: none);
/// `failRank`: that rank throws after the first exchange (tests the abort path).
public enum CommCheck {
    public static func run(_ comm: any Communicator, repetitions: Int, failRank: Int?,
                           gradientLengths lengths: [Int] = gradientLengths) throws -> CommCheckReport {
        let sizes = [0, 1, 7, 64, 1000, 1 << 17]
        for (i, n) in sizes.enumerated() {
            try ringExchange(comm, count: n, baseTag: 10 * i)
            try ringExchange(comm, count: n, baseTag: 10 * i + 2, polling: true)
            if let failRank, failRank == comm.rank, i == 0 {
                throw StudyError("--fail-rank \(failRank): this rank was told to fail (deliberate bad input on one rank)")
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
        try allgatherCheck(comm)
        try allgatherCheck(TracingCommunicator(comm, cyclesPerSecond: 1e9))   // the protocol's default, through allreduceSum
        try comm.barrier()
        let grids = try (1 ... comm.size).filter { comm.size % $0 == 0 }.map { try gridCheck(comm, dataGroups: $0) }
        var errorMessage: String?
        if let mpi = comm as? MPICommunicator {
            let error = try mpi.provokeErrorReturn()
            errorMessage = error.description
            if comm.isRoot { print("comm-selftest: MPI error returned as expected: \(error)") }
        }
        let fit = comm.size >= 2 && repetitions > 0 ? try pingPong(comm, repetitions: repetitions) : nil
        var allreduce: Double?
        if comm.size >= 2 && repetitions > 0 {
            let t0 = monotonicSeconds()
            for _ in 0..<repetitions { _ = try comm.allreduceMax([1, Double(comm.rank)]) }
            allreduce = (monotonicSeconds() - t0) / Double(repetitions)
        }
        let gradients = comm.size >= 2 && repetitions > 0 ? try gradientCollectives(comm, repetitions: repetitions, lengths: lengths) : nil
        let cores = ProcessInfo.processInfo.activeProcessorCount
        return CommCheckReport(ranks: comm.size, host: ProcessInfo.processInfo.hostName, ringSizes: sizes,
                      checksPassed: true, errorReturnMessage: errorMessage, pingPong: fit, allreduceSeconds: allreduce,
                      oversubscribed: comm.size > cores, gridsChecked: grids, gradientCollectives: gradients)
    }

    /// The gradient lengths of the f2/f1 network (width 16) at depths 322, 1280 and 5120.
    public static let gradientLengths = [322, 1280, 5120].map { 129 + 272 * $0 }

    /// Times ``Communicator/allreduceSum(inPlace:)`` and ``Communicator/allgather(inPlace:blocks:)``
    /// (block distribution over the ranks) on each of `lengths`: the median of
    /// `min(repetitions, max(10, 10⁶ / length))` calls (more for short vectors, whose
    /// calls take microseconds), after one untimed call of each.
    static func gradientCollectives(_ comm: any Communicator, repetitions: Int, lengths: [Int]) throws -> [GradientCollectiveRow] {
        try lengths.map { n in
            let repetitions = min(repetitions, max(10, 1_000_000 / max(n, 1)))
            let blocks = try BlockDistribution(count: n, parts: comm.size)
            let ranges = (0 ..< comm.size).map { blocks.range(of: $0) }
            var buffer = [Double](repeating: 1, count: n)
            func median(_ call: (UnsafeMutableBufferPointer<Double>) throws -> Void) throws -> Double {
                var times: [Double?] = []
                for k in 0 ... repetitions {
                    try comm.barrier()
                    let t0 = monotonicSeconds()
                    try buffer.withUnsafeMutableBufferPointer { try call($0) }
                    if k > 0 { times.append(monotonicSeconds() - t0) }
                    buffer.withUnsafeMutableBufferPointer { $0.update(repeating: 1) }   // sums stay small over repeats
                }
                return Median.of(times)!
            }
            return GradientCollectiveRow(doubles: n, allreduceSeconds: try median { try comm.allreduceSum(inPlace: $0) },
                                         allgatherSeconds: try median { try comm.allgather(inPlace: $0, blocks: ranges) })
        }
    }

    /// ``Communicator/allgather(inPlace:blocks:)`` on blocks of uneven length (rank r's
    /// `r·40000 + 1` long, beyond the eager limit from rank 1 on; rank 1's empty on ≥ 3
    /// ranks) laid out in reverse rank order with a gap after each: afterwards every
    /// rank holds every block's values (`r·10⁶ + i`) and the gaps keep their own.
    static func allgatherCheck(_ comm: any Communicator) throws {
        let lengths = (0 ..< comm.size).map { $0 == 1 && comm.size >= 3 ? 0 : $0 * 40_000 + 1 }
        var blocks = [Range<Int>](repeating: 0 ..< 0, count: comm.size), start = 0
        for r in (0 ..< comm.size).reversed() {
            blocks[r] = start ..< start + lengths[r]
            start += lengths[r] + 3
        }
        func value(_ r: Int, _ i: Int) -> Double { Double(r) * 1e6 + Double(i - blocks[r].lowerBound) }
        var buffer = [Double](repeating: 42, count: start)
        for r in 0 ..< comm.size { for i in blocks[r] { buffer[i] = r == comm.rank ? value(r, i) : -1 } }
        try buffer.withUnsafeMutableBufferPointer { try comm.allgather(inPlace: $0, blocks: blocks) }
        for i in buffer.indices {
            let want = blocks.firstIndex { $0.contains(i) }.map { value($0, i) } ?? 42
            guard buffer[i] == want else {
                throw CommError(call: "allgather", message: "rank \(comm.rank): entry \(i) is \(buffer[i]), want \(want)")
            }
        }
        let overlapping = [0 ..< 2] + (1 ..< comm.size).map { _ in 1 ..< 3 }
        do {
            try buffer.withUnsafeMutableBufferPointer { try comm.allgather(inPlace: $0, blocks: comm.size > 1 ? overlapping : [0 ..< start + 1]) }
            throw CommError(call: "allgather", message: "rank \(comm.rank): overlapping or out-of-range blocks were accepted")
        } catch let error as CommError where error.message.contains("overlap") || error.message.contains("outside the buffer") {}
    }

    /// Splits `comm` into a ``ProcessGrid`` of `dataGroups` batch groups and checks its
    /// sub-communicators against closed forms: sizes and ranks; sums of `world rank + 1`
    /// over the layer group (`L·g·L + L(L+1)/2`) and over the batch group
    /// (`L·D(D−1)/2 + D(l+1)`), blocking, in place and non-blocking; a ring exchange
    /// inside each layer group (tags that collide with the world's traffic); then frees
    /// them. Returns `"D×L"`.
    public static func gridCheck(_ comm: any Communicator, dataGroups: Int) throws -> String {
        let grid = try ProcessGrid(world: comm, dataGroups: dataGroups)
        let D = grid.dataGroups, L = grid.layerGroups, g = grid.batchGroup, l = grid.layerRank
        func fail(_ what: String) -> CommError { CommError(call: "grid \(grid.shape)", message: "rank \(comm.rank): \(what)") }
        guard grid.layers.rank == l, grid.layers.size == L, grid.batches.rank == g, grid.batches.size == D,
              comm.rank == g * L + l else { throw fail("layer rank \(grid.layers.rank)/\(grid.layers.size), batch rank \(grid.batches.rank)/\(grid.batches.size)") }
        let me = Double(comm.rank + 1)
        let overLayers = Double(L * g * L) + Double(L * (L + 1)) / 2
        let overBatches = Double(L * D * (D - 1)) / 2 + Double(D * (l + 1))
        let a = try grid.layers.allreduceSum(me)
        var inPlace = [me, 2 * me]
        try inPlace.withUnsafeMutableBufferPointer { try grid.batches.allreduceSum(inPlace: $0) }
        let pinned = UnsafeMutableBufferPointer<Double>.allocate(capacity: 3)
        defer { pinned.deallocate() }
        _ = pinned.initialize(from: [me, -me, 0])
        if let request = try grid.layers.startAllreduceSum(inPlace: pinned) {
            var requests = [request]
            try grid.layers.waitAll(&requests)
        }
        guard a == overLayers, inPlace == [overBatches, 2 * overBatches], Array(pinned) == [overLayers, -overLayers, 0] else {
            throw fail("sums \(a), \(inPlace), \(Array(pinned)); want \(overLayers) over the layer group, \(overBatches) over the batch group")
        }
        try ringExchange(grid.layers, count: 64, baseTag: 0)
        try grid.free()
        return grid.shape
    }

    /// Each rank sends `count` doubles `v[k] = 1000·rank + k + tag` to both
    /// neighbours on a ring (two tags, so left- and right-going messages differ)
    /// and checks what it receives. Buffers live until waitAll returns. With
    /// `polling`, completes the requests by calling testAll until it reports them
    /// done (as MGRIT polls between intervals) instead of one waitAll.
    public static func ringExchange(_ comm: any Communicator, count: Int, baseTag: Int, polling: Bool = false) throws {
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
    public static func pingPong(_ comm: any Communicator, repetitions: Int) throws -> PingPongFit {
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
