import Comm
import Testing

@Suite("Block distribution and the serial communicator")
struct BlockDistributionTests {
    @Test("ranges cover 0..<count once, in order, sizes differ by at most one",
          arguments: [(0, 1), (1, 4), (5, 7), (17, 4), (10240, 3), (322, 2)])
    func ranges(count: Int, parts: Int) throws {
        let d = try BlockDistribution(count: count, parts: parts)
        var next = 0
        var sizes: [Int] = []
        for r in 0..<parts {
            let range = d.range(of: r)
            #expect(range.lowerBound == next)
            next = range.upperBound
            sizes.append(range.count)
            for item in range { #expect(d.owner(of: item) == r) }
        }
        #expect(next == count)
        #expect((sizes.max() ?? 0) - (sizes.min() ?? 0) <= 1)
    }

    @Test("invalid distributions are rejected")
    func invalid() {
        #expect(throws: CommError.self) { try BlockDistribution(count: -1, parts: 2) }
        #expect(throws: CommError.self) { try BlockDistribution(count: 4, parts: 0) }
    }

    @Test("serial communicator delivers a message to itself and reduces trivially")
    func serialSelfMessage() throws {
        let comm = SerialCommunicator()
        let send = UnsafeMutablePointer<Double>.allocate(capacity: 3)
        let recv = UnsafeMutablePointer<Double>.allocate(capacity: 3)
        defer { send.deallocate(); recv.deallocate() }
        send.initialize(from: [1, 2, 3], count: 3)
        recv.initialize(repeating: 0, count: 3)
        var requests = [try comm.irecv(recv, count: 3, from: 0, tag: 7),
                        try comm.isend(send, count: 3, to: 0, tag: 7)]
        try comm.waitAll(&requests)
        #expect(requests.isEmpty)
        #expect(Array(UnsafeBufferPointer(start: recv, count: 3)) == [1, 2, 3])
        #expect(try comm.allreduceSum([2.5, -1]) == [2.5, -1])
        #expect(throws: CommError.self) { _ = try comm.isend(send, count: 3, to: 1, tag: 0) }
    }

    @Test("an unmatched receive is an error, not a hang")
    func serialUnmatched() throws {
        let comm = SerialCommunicator()
        let recv = UnsafeMutablePointer<Double>.allocate(capacity: 1)
        defer { recv.deallocate() }
        var requests = [try comm.irecv(recv, count: 1, from: 0, tag: 1)]
        #expect(throws: CommError.self) { try comm.waitAll(&requests) }
    }
}

@Suite("Launch environment")
struct LaunchTests {
    @Test("the eager limit is raised only where it lets a boundary state go without a rendezvous")
    func eagerLimit() {
        #expect(Launch.eagerLimit(forMessageBytes: 8 * 16 * 64) == 9216)      // width 16, batch 64
        #expect(Launch.eagerLimit(forMessageBytes: 8 * 16 * 8) == nil)        // 1 KiB: the 4 KiB default suffices
        #expect(Launch.eagerLimit(forMessageBytes: 3072) == nil)              // 3072 + 1024 = the default itself
        #expect(Launch.eagerLimit(forMessageBytes: 31744) == 32768)           // the largest vader fragment
        #expect(Launch.eagerLimit(forMessageBytes: 8 * 64 * 64) == nil)       // 32 KiB: no limit helps
        #expect(Launch.underMPILauncher(["OMPI_COMM_WORLD_SIZE": "2"]) && !Launch.underMPILauncher(["PATH": "/bin"]))
    }
}
