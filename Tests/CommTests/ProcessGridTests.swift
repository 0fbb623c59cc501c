import _TestSupport
import Comm
import Testing

/// Sub-communicators and the batch × layer grid, on in-process ranks
/// (`LocalGroup`, whose split follows MPI_Comm_split's rules); the same checks run
/// over Open MPI in `layerpar comm-selftest` (EndToEndTests).
@Suite("Process grid and sub-communicators")
struct ProcessGridTests {
    @Test("D batch groups × L layer groups: ranks, sizes and sums over each sub-communicator", arguments: [(6, 1), (6, 2), (6, 3), (6, 6), (4, 2)])
    func grid(ranks: Int, dataGroups: Int) throws {
        let results = try LocalGroup.run(size: ranks) { comm -> [Double] in
            let grid = try ProcessGrid(world: comm, dataGroups: dataGroups)
            defer { try? grid.free() }
            let me = Double(comm.rank)
            // Each sum involves only the group's members: world ranks g·L … g·L+L−1, or l, l+L, ….
            return [Double(grid.batchGroup), Double(grid.layerRank), Double(grid.layers.size), Double(grid.batches.size),
                    try grid.layers.allreduceSum(me), try grid.batches.allreduceSum(me), try grid.world.allreduceSum(me)]
        }
        let L = ranks / dataGroups
        for (r, v) in results.enumerated() {
            let g = r / L, l = r % L
            let overLayers = (0 ..< L).map { Double(g * L + $0) }.reduce(0, +)
            let overBatches = (0 ..< dataGroups).map { Double($0 * L + l) }.reduce(0, +)
            #expect(v == [Double(g), Double(l), Double(L), Double(dataGroups), overLayers, overBatches, Double(ranks * (ranks - 1) / 2)], "rank \(r)")
        }
    }

    @Test("split orders members by key, then rank; point-to-point inside a sub-group stays inside it")
    func splitOrderAndMessages() throws {
        let results = try LocalGroup.run(size: 4) { comm -> [Double] in
            // Colors 0,1,0,1; keys reverse the order in each color.
            let sub = try comm.split(color: comm.rank % 2, key: -comm.rank)
            let peer = (sub.rank + 1) % sub.size
            let send = UnsafeMutablePointer<Double>.allocate(capacity: 1), recv = UnsafeMutablePointer<Double>.allocate(capacity: 1)
            defer { send.deallocate(); recv.deallocate() }
            send.pointee = Double(comm.rank)
            var requests = [try sub.irecv(recv, count: 1, from: peer, tag: 7), try sub.isend(send, count: 1, to: peer, tag: 7)]
            try sub.waitAll(&requests)
            return [Double(sub.rank), Double(sub.size), recv.pointee]
        }
        // Color 0 = {0, 2}: key −2 < 0, so world 2 is sub rank 0. Each receives the other member's rank.
        #expect(results == [[1, 2, 2], [1, 2, 3], [0, 2, 0], [0, 2, 1]])
    }

    @Test("a D that does not divide the ranks, or D < 1, is refused with the option's name")
    func badGrids() throws {
        for (p, d) in [(4, 3), (2, 4), (3, 0)] {
            #expect(throws: CommError.self) { try ProcessGrid.check(ranks: p, dataGroups: d) }
        }
        do {
            try ProcessGrid.check(ranks: 6, dataGroups: 4)
            Issue.record("6 ranks into 4 groups accepted")
        } catch let e as CommError {
            #expect(e.call == "--data-groups" && e.message.contains("6 ranks"))
        }
        try ProcessGrid.check(ranks: 6, dataGroups: 3)
    }

    @Test("one rank: the serial communicator splits into itself; the in-place sum is the identity")
    func serial() throws {
        let grid = try ProcessGrid(world: SerialCommunicator(), dataGroups: 1)
        #expect(grid.layers.size == 1 && grid.batches.size == 1 && grid.shape == "1×1")
        var v = [1.5, -2.0]
        try v.withUnsafeMutableBufferPointer { try grid.world.allreduceSum(inPlace: $0) }
        #expect(v == [1.5, -2.0])
        #expect(try SerialCommunicator().split(color: 3, key: 0).size == 1)
        #expect(throws: CommError.self) { try SerialCommunicator().split(color: -1, key: 0) }
    }

    @Test("an injected fault follows its world rank into sub-communicators (one shared count)")
    func faultInSubCommunicator() throws {
        let results = try LocalGroup.run(size: 2) { comm -> String in
            let faulty = FaultInjectingCommunicator(comm, fault: FaultInjection(rank: 1, call: "allreduce", after: 1))
            _ = try faulty.allreduceSum(1)   // call 1 on the world: allowed
            let sub = try faulty.split(color: comm.rank, key: 0)   // one group per rank
            do {
                _ = try sub.allreduceSum(1)   // call 2, on the sub-communicator: rank 1 fails
                return "ok"
            } catch let e as CommError {
                return e.description
            }
        }
        #expect(results[0] == "ok")
        #expect(results[1].contains("injected fault"), "\(results[1])")
    }
}
