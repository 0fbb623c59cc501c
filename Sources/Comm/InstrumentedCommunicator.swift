/// Time and traffic of one kind of communication, accumulated over calls.
public struct CommStatistics: Sendable, Codable, Equatable {
    /// Messages started (isend) and bytes in them.
    public var sends = 0
    public var bytesSent = 0
    /// Receives started (irecv) and bytes expected.
    public var receives = 0
    public var bytesReceived = 0
    /// Seconds inside isend/irecv (posting requests; eager sends copy here).
    public var postSeconds = 0.0
    /// Seconds blocked in waitAll: the part of communication not hidden behind work.
    public var waitSeconds = 0.0
    public var waitCalls = 0
    /// Seconds in testAll (polling that lets messages progress during work) and calls.
    public var testSeconds = 0.0
    public var testCalls = 0
    /// Seconds in allreduceSum/Max and their count.
    public var reduceSeconds = 0.0
    public var reduceCalls = 0
    /// Seconds in barrier and their count.
    public var barrierSeconds = 0.0
    public var barrierCalls = 0

    public init() {}

    /// All seconds spent inside the communicator.
    public var totalSeconds: Double { postSeconds + testSeconds + waitSeconds + reduceSeconds + barrierSeconds }

    public static func + (a: CommStatistics, b: CommStatistics) -> CommStatistics {
        var s = a
        s.sends += b.sends; s.bytesSent += b.bytesSent
        s.receives += b.receives; s.bytesReceived += b.bytesReceived
        s.postSeconds += b.postSeconds; s.waitSeconds += b.waitSeconds; s.waitCalls += b.waitCalls
        s.testSeconds += b.testSeconds; s.testCalls += b.testCalls
        s.reduceSeconds += b.reduceSeconds; s.reduceCalls += b.reduceCalls
        s.barrierSeconds += b.barrierSeconds; s.barrierCalls += b.barrierCalls
        return s
    }
}

/// A ``Communicator`` that forwards every call to another one and records how
/// long each took, split by a caller-set ``phase`` label (e.g. `"level 2"`).
///
/// Semantics are exactly those of the wrapped communicator; only clocks are read.
/// Used by tests to count a solver's calls (e.g. its residual reductions). The
/// solver's own per-level split is ``MGRIT``'s `MGRITStatistics`.
public final class InstrumentedCommunicator: Communicator {
    public let base: any Communicator
    /// Label under which the following calls are recorded.
    public var phase: String = "all"
    /// Accumulated statistics by phase label.
    public private(set) var byPhase: [String: CommStatistics] = [:]

    public init(_ base: any Communicator) { self.base = base }

    public var rank: Int { base.rank }
    public var size: Int { base.size }

    /// Sum over all phases.
    public var total: CommStatistics { byPhase.values.reduce(CommStatistics(), +) }

    /// Forgets all statistics (e.g. after a warm-up solve).
    public func reset() { byPhase.removeAll() }

    public func isend(_ buffer: UnsafePointer<Double>, count: Int, to: Int, tag: Int) throws -> CommRequest {
        let t0 = monotonicSeconds()
        let phase = self.phase
        defer {
            byPhase[phase, default: CommStatistics()].postSeconds += monotonicSeconds() - t0
            byPhase[phase, default: CommStatistics()].sends += 1
            byPhase[phase, default: CommStatistics()].bytesSent += count * MemoryLayout<Double>.size
        }
        return try base.isend(buffer, count: count, to: to, tag: tag)
    }

    public func irecv(_ buffer: UnsafeMutablePointer<Double>, count: Int, from: Int, tag: Int) throws -> CommRequest {
        let t0 = monotonicSeconds()
        let phase = self.phase
        defer {
            byPhase[phase, default: CommStatistics()].postSeconds += monotonicSeconds() - t0
            byPhase[phase, default: CommStatistics()].receives += 1
            byPhase[phase, default: CommStatistics()].bytesReceived += count * MemoryLayout<Double>.size
        }
        return try base.irecv(buffer, count: count, from: from, tag: tag)
    }

    public func waitAll(_ requests: inout [CommRequest]) throws {
        let t0 = monotonicSeconds()
        let phase = self.phase
        defer {
            byPhase[phase, default: CommStatistics()].waitSeconds += monotonicSeconds() - t0
            byPhase[phase, default: CommStatistics()].waitCalls += 1
        }
        try base.waitAll(&requests)
    }

    public func testAll(_ requests: inout [CommRequest]) throws -> Bool {
        let t0 = monotonicSeconds()
        let phase = self.phase
        defer {
            byPhase[phase, default: CommStatistics()].testSeconds += monotonicSeconds() - t0
            byPhase[phase, default: CommStatistics()].testCalls += 1
        }
        return try base.testAll(&requests)
    }

    public func allreduceSum(_ values: [Double]) throws -> [Double] {
        let t0 = monotonicSeconds()
        defer {
            byPhase[phase, default: CommStatistics()].reduceSeconds += monotonicSeconds() - t0
            byPhase[phase, default: CommStatistics()].reduceCalls += 1
        }
        return try base.allreduceSum(values)
    }

    public func allreduceMax(_ values: [Double]) throws -> [Double] {
        let t0 = monotonicSeconds()
        defer {
            byPhase[phase, default: CommStatistics()].reduceSeconds += monotonicSeconds() - t0
            byPhase[phase, default: CommStatistics()].reduceCalls += 1
        }
        return try base.allreduceMax(values)
    }

    public func barrier() throws {
        let t0 = monotonicSeconds()
        defer {
            byPhase[phase, default: CommStatistics()].barrierSeconds += monotonicSeconds() - t0
            byPhase[phase, default: CommStatistics()].barrierCalls += 1
        }
        try base.barrier()
    }

    public func allreduceSum(inPlace buffer: UnsafeMutableBufferPointer<Double>) throws {
        let t0 = monotonicSeconds()
        defer {
            byPhase[phase, default: CommStatistics()].reduceSeconds += monotonicSeconds() - t0
            byPhase[phase, default: CommStatistics()].reduceCalls += 1
        }
        try base.allreduceSum(inPlace: buffer)
    }

    /// Counted as a reduction (a collective of the same kind: one vector assembled on every rank).
    public func allgather(inPlace buffer: UnsafeMutableBufferPointer<Double>, blocks: [Range<Int>]) throws {
        let t0 = monotonicSeconds()
        defer {
            byPhase[phase, default: CommStatistics()].reduceSeconds += monotonicSeconds() - t0
            byPhase[phase, default: CommStatistics()].reduceCalls += 1
        }
        try base.allgather(inPlace: buffer, blocks: blocks)
    }

    /// Counted as a reduction; its completion is timed by the wait or test that completes it.
    public func startAllreduceSum(inPlace buffer: UnsafeMutableBufferPointer<Double>) throws -> CommRequest? {
        let t0 = monotonicSeconds()
        defer {
            byPhase[phase, default: CommStatistics()].reduceSeconds += monotonicSeconds() - t0
            byPhase[phase, default: CommStatistics()].reduceCalls += 1
        }
        return try base.startAllreduceSum(inPlace: buffer)
    }

    /// A sub-communicator of the base, instrumented on its own.
    public func split(color: Int, key: Int) throws -> any Communicator {
        InstrumentedCommunicator(try base.split(color: color, key: key))
    }

    public func free() throws { try base.free() }
}
