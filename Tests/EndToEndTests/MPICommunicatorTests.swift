import Comm
import Foundation
import Testing
import Performance

/// The MPI communicator, exercised through `layerpar comm-selftest` on 1…4 and 7
/// ranks (oversubscribed: this checks correctness, not speed), and the abort path.
/// Serialized: each test starts up to 7 processes on a small machine.
@Suite("MPI communicator across ranks", .serialized)
struct MPICommunicatorTests {
    typealias SelfTestReport = CommCheckReport

    @Test("ring exchange, allreduce, in-place allgather and barrier are correct on K ranks", arguments: [1, 2, 3, 4, 7])
    func selfTest(ranks: Int) throws {
        let dir = try MPIRun.scratchDirectory("selftest")
        defer { try? FileManager.default.removeItem(at: dir) }
        let json = dir.appendingPathComponent("selftest.json")
        let result = try MPIRun.layerpar(["comm-selftest", "--repetitions", "20", "--output", json.path], ranks: ranks)
        #expect(result.succeeded, "\(result.transcript)")
        let report = try JSONDecoder().decode(SelfTestReport.self, from: Data(contentsOf: json))
        #expect(report.ranks == ranks)
        #expect(report.checksPassed)
        #expect(report.ringSizes.contains(1 << 17))   // beyond the eager limit: rendezvous path ran
        // MPI_Comm_split into every D×L grid: sub-communicator sums and exchanges checked, then freed.
        #expect(report.gridsChecked == (1 ... ranks).filter { ranks % $0 == 0 }.map { "\($0)×\(ranks / $0)" })
        // MPI_ERRORS_RETURN: an invalid MPI call came back as a CommError naming the call and MPI's reason.
        #expect(result.stdout.contains("MPI error returned as expected: MPI_Isend failed: rank 0 (to rank \(ranks) of \(ranks)"), "\(result.transcript)")
        #expect(result.stdout.contains("MPI_ERR_RANK"), "\(result.transcript)")
        if ranks >= 2 {
            let fit = try #require(report.pingPong)
            // Shared-memory MPI on one node: microseconds, not milliseconds; bandwidth ≥ 10 MB/s.
            // With more ranks than cores a rank waits for a time slice, so the time of a
            // message is the scheduler's, not MPI's: there only a finite positive fit is asserted.
            #expect(fit.latencySeconds > 0 && fit.latencySeconds.isFinite)
            if ranks <= ProcessInfo.processInfo.activeProcessorCount {
                #expect(fit.latencySeconds < 1e-3)
                #expect(fit.bandwidthBytesPerSecond > 1e7)
            }

            let gathered = try #require(report.gradientCollectives)
            #expect(gathered.map(\.doubles) == CommCheck.gradientLengths)
            #expect(gathered.allSatisfy { $0.allreduceSeconds > 0 && $0.allgatherSeconds > 0 && $0.allreduceSeconds.isFinite && $0.allgatherSeconds.isFinite })
        } else {
            #expect(report.pingPong == nil)
            #expect(report.gradientCollectives == nil)
        }
    }

    @Test("--gradient-doubles times the collectives on the lengths given; a length of 0 is refused by name")
    func gradientLengths() throws {
        let dir = try MPIRun.scratchDirectory("selftest-lengths")
        defer { try? FileManager.default.removeItem(at: dir) }
        let json = dir.appendingPathComponent("selftest.json")
        let result = try MPIRun.layerpar(["comm-selftest", "--repetitions", "20", "--gradient-doubles", "1000, 13730",
                                          "--output", json.path], ranks: 2)
        #expect(result.succeeded, "\(result.transcript)")
        let report = try JSONDecoder().decode(SelfTestReport.self, from: Data(contentsOf: json))
        let rows = try #require(report.gradientCollectives)
        #expect(rows.map(\.doubles) == [1000, 13730])
        #expect(rows.allSatisfy { $0.allreduceSeconds > 0 && $0.allreduceSeconds.isFinite })
        #expect(result.stdout.contains("gradient of 13730 doubles: in-place allreduce"), "\(result.stdout)")
        let bad = try MPIRun.layerpar(["comm-selftest", "--gradient-doubles", "1000,0"], ranks: nil)
        #expect(!bad.succeeded && bad.stderr.contains("--gradient-doubles '1000,0'"), "\(bad.transcript)")
    }

    @Test("started plainly, layerpar runs as one rank without MPI")
    func plainStart() throws {
        let result = try MPIRun.layerpar(["comm-selftest", "--repetitions", "0"], ranks: nil)
        #expect(result.succeeded, "\(result.transcript)")
        #expect(result.stdout.contains("1 rank(s)"))
    }

    @Test("a user error on one rank ends the whole job with its message within seconds")
    func failingRankAborts() throws {
        let result = try MPIRun.layerpar(["comm-selftest", "--fail-rank", "1"], ranks: 3, timeout: 30)
        #expect(!result.timedOut, "\(result.transcript)")
        #expect(result.status != 0)
        #expect(result.seconds < 15, "\(result.transcript)")
        #expect(result.stderr.contains("layerpar: rank 1 of 3: error: --fail-rank 1"), "\(result.transcript)")
    }

    @Test("a communication error on one rank (injected in waitAll) ends the job, never hangs")
    func injectedFaultAborts() throws {
        let result = try MPIRun.layerpar(["comm-selftest", "--repetitions", "5"], ranks: 4,
                                         environment: ["LAYERPAR_COMM_FAULT": "rank=2,call=waitAll,after=3"], timeout: 30)
        #expect(!result.timedOut, "\(result.transcript)")
        #expect(result.status != 0)
        #expect(result.seconds < 15, "\(result.transcript)")
        #expect(result.stderr.contains("rank 2 of 4: error: waitAll failed: rank 2: injected fault"), "\(result.transcript)")
    }

    @Test("an invalid fault specification is a clear user error on one rank")
    func invalidFaultSpec() throws {
        let result = try MPIRun.layerpar(["comm-selftest"], ranks: nil,
                                         environment: ["LAYERPAR_COMM_FAULT": "rank=0,call=send"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("call= must be one of"), "\(result.transcript)")
    }

    @Test("a fault hook naming a rank outside the job, or a call never made that often, is an error, not ignored")
    func faultHookThatCannotFire() throws {
        let outside = try MPIRun.layerpar(["comm-selftest", "--repetitions", "1"], ranks: 2,
                                          environment: ["LAYERPAR_COMM_FAULT": "rank=5,call=waitAll"], timeout: 30)
        #expect(outside.status != 0 && outside.stderr.contains("names rank 5, but this job has 2 rank(s)"), "\(outside.transcript)")
        let never = try MPIRun.layerpar(["comm-selftest", "--repetitions", "1"], ranks: nil,
                                        environment: ["LAYERPAR_COMM_FAULT": "rank=0,call=waitAll,after=100000"], timeout: 30)
        #expect(never.status != 0 && never.stderr.contains("never fired"), "\(never.transcript)")
    }
}

@Suite("Communicator helpers")
struct CommHelperTests {
    @Test("launch detection looks for the launcher's variables")
    func launchDetection() {
        #expect(!Launch.underMPILauncher([:]))
        #expect(!Launch.underMPILauncher(["PATH": "/usr/bin", "OMPI_MCA_foo": "1"]))
        #expect(Launch.underMPILauncher(["OMPI_COMM_WORLD_SIZE": "4"]))
        #expect(Launch.underMPILauncher(["PMIX_RANK": "0"]))
        #expect(Launch.underMPILauncher(["PMI_SIZE": "2"]))
    }

    @Test("fault specifications parse, and bad ones are rejected with the reason")
    func faultParsing() throws {
        #expect(try FaultInjection(parsing: "rank=2,call=waitAll,after=3") == FaultInjection(rank: 2, call: "waitAll", after: 3))
        #expect(try FaultInjection(parsing: "call=barrier, rank=0") == FaultInjection(rank: 0, call: "barrier", after: 0))
        #expect(throws: CommError.self) { try FaultInjection(parsing: "rank=-1,call=isend") }
        #expect(throws: CommError.self) { try FaultInjection(parsing: "rank=1,call=send") }
        #expect(throws: CommError.self) { try FaultInjection(parsing: "rank=1,call=isend,after=x") }
        #expect(throws: CommError.self) { try FaultInjection(parsing: "rank1") }
    }

    @Test("the fault-injecting communicator fails exactly the (N+1)-th call on its rank")
    func faultInjecting() throws {
        let comm = FaultInjectingCommunicator(SerialCommunicator(), fault: FaultInjection(rank: 0, call: "allreduce", after: 2))
        #expect(try comm.allreduceSum([1]) == [1])
        #expect(try comm.allreduceMax([2]) == [2])
        #expect(throws: CommError.self) { _ = try comm.allreduceSum([3]) }
        try comm.barrier()   // other calls unaffected
        let other = FaultInjectingCommunicator(SerialCommunicator(), fault: FaultInjection(rank: 1, call: "barrier"))
        try other.barrier()  // names another rank: no effect here
    }

    @Test("testAll completes nothing until every message has both ends posted, then delivers (one rank, sent to itself)")
    func testAllOnOneRank() throws {
        let comm = InstrumentedCommunicator(SerialCommunicator())
        let send = UnsafeMutablePointer<Double>.allocate(capacity: 3)
        let recv = UnsafeMutablePointer<Double>.allocate(capacity: 3)
        defer { send.deallocate(); recv.deallocate() }
        send.initialize(from: [7, 8, 9], count: 3)
        recv.initialize(repeating: 0, count: 3)
        comm.phase = "level 2"
        var receive = [try comm.irecv(recv, count: 3, from: 0, tag: 5)]
        #expect(try !comm.testAll(&receive), "no send posted yet")
        #expect(receive.count == 1 && recv[0] == 0)
        var sendRequest = [try comm.isend(send, count: 3, to: 0, tag: 5)]
        #expect(try comm.testAll(&receive))
        #expect(receive.isEmpty && Array(UnsafeBufferPointer(start: recv, count: 3)) == [7, 8, 9])
        #expect(try comm.testAll(&sendRequest) && sendRequest.isEmpty)
        #expect(try comm.testAll(&sendRequest), "nothing to complete is complete")
        #expect(throws: CommError.self) {
            var stale = [CommRequest(handle: 12345)]
            _ = try comm.testAll(&stale)
        }
        #expect(comm.byPhase["level 2"]?.testCalls == 5)
    }

    @Test("the instrumented communicator forwards unchanged and counts calls, bytes and phases")
    func instrumented() throws {
        let comm = InstrumentedCommunicator(SerialCommunicator())
        let send = UnsafeMutablePointer<Double>.allocate(capacity: 4)
        let recv = UnsafeMutablePointer<Double>.allocate(capacity: 4)
        defer { send.deallocate(); recv.deallocate() }
        send.initialize(from: [1, 2, 3, 4], count: 4)
        recv.initialize(repeating: 0, count: 4)
        comm.phase = "level 0"
        var requests = [try comm.irecv(recv, count: 4, from: 0, tag: 3), try comm.isend(send, count: 4, to: 0, tag: 3)]
        try comm.waitAll(&requests)
        comm.phase = "level 1"
        #expect(try comm.allreduceSum([1.5]) == [1.5])
        try comm.barrier()
        #expect(Array(UnsafeBufferPointer(start: recv, count: 4)) == [1, 2, 3, 4])
        let l0 = try #require(comm.byPhase["level 0"]), l1 = try #require(comm.byPhase["level 1"])
        #expect(l0.sends == 1 && l0.receives == 1 && l0.bytesSent == 32 && l0.bytesReceived == 32 && l0.waitCalls == 1)
        #expect(l1.reduceCalls == 1 && l1.barrierCalls == 1 && l1.sends == 0)
        #expect(comm.total.sends == 1 && comm.total.reduceCalls == 1)
        #expect(comm.total.totalSeconds >= 0 && comm.total.totalSeconds < 1)
        comm.reset()
        #expect(comm.byPhase.isEmpty)
    }
}
