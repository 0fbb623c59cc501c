import Comm

// Halo exchange and the norm reduction (XBraid's communication.c): the only
// cross-rank operations of the solver. A level sends its last owned point to
// the next rank owning points there; receives are posted first, polled between
// intervals and waited for as late as possible; a send completes only when its
// buffer is needed again or the solve ends. Every call is timed into its
// level's post, poll or wait seconds (two clock reads per call, no allocation
// beyond the request arrays the communicator's interface takes).

extension MGRITSolver {
    /// What a message carries; part of its tag, so that a level's exchanges of
    /// different phases can never be matched with each other.
    enum Kind: Int { case relax = 0, restrict = 1, coarsest = 2, tangent = 3 }

    /// `level·4 + kind` (tools outside the solver decode the level as `tag / 4`).
    func tag(_ L: Level, _ kind: Kind) -> Int { L.index * 4 + kind.rawValue }

    func postReceive(_ L: Level, _ kind: Kind) throws -> CommRequest? {
        guard let left = L.leftRank else { return nil }
        let t0 = monotonicSeconds()
        defer { L.postSeconds += seconds(since: t0) }
        return try comm.irecv(L.recvBuffer, count: bufferCount, from: left, tag: tag(L, kind))
    }

    func finishReceive(_ L: Level, _ request: inout CommRequest?) throws {
        guard try wait(L, &request) else { return }
        problem.unpack(from: UnsafeBufferPointer(start: L.recvBuffer, count: bufferCount), into: L.ghost)
    }

    /// Waits for a pending receive (timed as the level's wait) and clears it;
    /// false if there was none.
    func wait(_ L: Level, _ request: inout CommRequest?) throws -> Bool {
        guard let r = request else { return false }
        var rs = [r]
        let t0 = monotonicSeconds()
        try comm.waitAll(&rs)
        L.waitSeconds += seconds(since: t0)
        request = nil
        return true
    }

    /// Lets a pending receive progress between pieces of work and takes its
    /// value into the ghost as soon as it is there (then ``finishReceive`` has
    /// nothing left to wait for).
    func poll(_ L: Level, _ request: inout CommRequest?) throws {
        guard let r = request else { return }
        var rs = [r]
        let t0 = monotonicSeconds()
        let done = try comm.testAll(&rs)
        L.pollSeconds += seconds(since: t0)
        guard done else { return }
        problem.unpack(from: UnsafeBufferPointer(start: L.recvBuffer, count: bufferCount), into: L.ghost)
        request = nil
    }

    /// Sends the last owned point to the right neighbour. The previous send from
    /// this level's buffer is completed first (it has long been received: the
    /// receiver consumes a level's messages in order); this one stays pending.
    func sendLast(_ L: Level, _ kind: Kind) throws {
        guard let right = L.rightRank else { return }
        if !L.pendingSends.isEmpty {
            let t0 = monotonicSeconds()
            try comm.waitAll(&L.pendingSends)
            L.waitSeconds += seconds(since: t0)
        }
        problem.pack(L.u[L.hi - L.lo], into: UnsafeMutableBufferPointer(start: L.sendBuffer, count: bufferCount))
        let t0 = monotonicSeconds()
        L.pendingSends.append(try comm.isend(L.sendBuffer, count: bufferCount, to: right, tag: tag(L, kind)))
        L.postSeconds += seconds(since: t0)
    }

    /// Completes every level's pending send (end of a solve or sweep: no request
    /// outlives the call that started it).
    func completeSends() throws {
        for L in levels where !L.pendingSends.isEmpty || !L.pendingTangentSends.isEmpty {
            let t0 = monotonicSeconds()
            try comm.waitAll(&L.pendingSends)
            try comm.waitAll(&L.pendingTangentSends)
            let t = seconds(since: t0)
            L.seconds += t
            L.waitSeconds += t
        }
    }

    // MARK: Tangents (Delta correction)
    //
    // A tangent-propagating F-relaxation sends, besides its last point, the running tangent
    // of an interval that continues on the right rank: when the last owned point `hi` is an
    // F-point of an interval that ends at a coarse point. The receiver expects it under the
    // same condition on its `lo − 1` (the sender's `hi`).

    /// Whether the left neighbour sends a tangent in a tangent F-relaxation of `L`.
    func expectsTangent(_ L: Level) -> Bool {
        L.leftRank != nil && !L.isC(L.lo - 1) && intervalEnd(L, L.lo - 1) <= L.count - 1
    }

    func postTangentReceive(_ L: Level) throws -> CommRequest? {
        guard expectsTangent(L), let left = L.leftRank else { return nil }
        let t0 = monotonicSeconds()
        defer { L.postSeconds += seconds(since: t0) }
        return try comm.irecv(L.tangentRecvBuffer!, count: L.tangentCount, from: left, tag: tag(L, .tangent))
    }

    /// Waits for the tangent and unpacks it where the interval's running tangent lives.
    func finishTangentReceive(_ L: Level, _ request: inout CommRequest?) throws {
        guard try wait(L, &request) else { return }
        problem.unpackTangent(from: UnsafeBufferPointer(start: L.tangentRecvBuffer!, count: L.tangentCount),
                              into: tangentSlot(L, endingAt: intervalEnd(L, L.lo - 1))!)
    }

    /// Sends the tail interval's tangent to the right neighbour (if it continues there).
    func sendTangent(_ L: Level) throws {
        guard let right = L.rightRank, !L.isC(L.hi), intervalEnd(L, L.hi) <= L.count - 1 else { return }
        if !L.pendingTangentSends.isEmpty {
            let t0 = monotonicSeconds()
            try comm.waitAll(&L.pendingTangentSends)
            L.waitSeconds += seconds(since: t0)
        }
        problem.packTangent(L.tailTangent!, into: UnsafeMutableBufferPointer(start: L.tangentSendBuffer!, count: L.tangentCount))
        let t0 = monotonicSeconds()
        L.pendingTangentSends.append(try comm.isend(L.tangentSendBuffer!, count: L.tangentCount, to: right, tag: tag(L, .tangent)))
        L.postSeconds += seconds(since: t0)
    }

    /// √(Σ squares) over all ranks, summed in global slot order when affordable.
    /// Only the reduction itself counts as ``MGRITStatistics/reduceSeconds``.
    func globalNorm(_ squares: [(Int, Double)], slots: Int) throws -> Double {
        if slots <= 65536 {
            var v = [Double](repeating: 0, count: max(slots, 1))
            for (i, s) in squares { v[i] = s }
            let all = comm.size > 1 ? try timedReduce { try comm.allreduceSum(v) } : v
            return all.reduce(0, +).squareRoot()
        }
        let local = squares.reduce(0) { $0 + $1.1 }
        return (comm.size > 1 ? try timedReduce { try comm.allreduceSum(local) } : local).squareRoot()
    }

    private func timedReduce<T>(_ body: () throws -> T) rethrows -> T {
        let t0 = monotonicSeconds()
        defer { reduceSeconds += seconds(since: t0) }
        return try body()
    }
}
