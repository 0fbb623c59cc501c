/// A ``Communicator`` that forwards every call to another one and writes what this
/// rank did as a SimGrid *time-independent* trace (SMPI's replay format, one line
/// per action: `R init`, `R compute AMOUNT LEVEL`, `R isend DST TAG BYTES`,
/// `R irecv SRC TAG BYTES`, `R wait SRC DST TAG`,
/// `R allreduce BYTES 0`, `R barrier`, `R finalize`), replayable with
/// `smpirun -replay`.
///
/// Compute between communication calls is not timed here: the caller reports it
/// with ``work(_:level:)`` (a cost-recording problem does, per step), and it is
/// written as one `compute` line per level before the next communication call, in
/// units of ``cyclesPerSecond`` (SimGrid's "flops" are then cycles of a host whose
/// speed is its clock). The level is an extra field SMPI ignores but echoes in its
/// verbose log, which is how a replay's time is split per level (`-1`: work in no level).
///
/// Requests map to SMPI's (source, destination, tag) keys: a test that found every
/// request complete is written as a `wait` per request (the data was used right
/// after); an unsuccessful one is not written (only the compute before it is), since
/// the request is waited for later anyway, and SMPI 3.32's replay aborts on a `wait`
/// whose request a replayed `test` already completed. (SimGrid moves a message
/// without the receiver inside MPI, so a poll has nothing to model there.) Sizes are
/// bytes (`init` without a datatype: SMPI's default is then `MPI_BYTE`).
public final class TracingCommunicator: Communicator {
    public let base: any Communicator
    /// Units of a `compute` line per second of reported work.
    public let cyclesPerSecond: Double
    /// The trace lines so far (without the final `finalize`; see ``finish()``).
    public private(set) var lines: [String] = []
    /// Every message this rank started: (destination, tag, bytes), in order.
    public private(set) var sends: [(to: Int, tag: Int, bytes: Int)] = []
    /// Every receive this rank started: (source, tag, bytes), in order.
    public private(set) var receives: [(from: Int, tag: Int, bytes: Int)] = []
    /// Work reported per level (key −1: in no level), in seconds.
    public private(set) var workByLevel: [Int: Double] = [:]

    private var pending: [Int: Double] = [:]
    private var keys: [Int: (src: Int, dst: Int, tag: Int)] = [:]

    public init(_ base: any Communicator, cyclesPerSecond: Double) {
        self.base = base
        self.cyclesPerSecond = cyclesPerSecond
        lines.append("\(base.rank) init")
    }

    public var rank: Int { base.rank }
    public var size: Int { base.size }

    /// Adds `seconds` of compute on `level` (−1: in no level) before the next call.
    public func work(_ seconds: Double, level: Int) {
        guard seconds > 0 else { return }
        pending[level, default: 0] += seconds
        workByLevel[level, default: 0] += seconds
    }

    /// Writes the pending compute, one line per level in level order.
    public func flush() {
        for (level, seconds) in pending.sorted(by: { $0.key < $1.key }) {
            let amount = (seconds * cyclesPerSecond).rounded()
            if amount >= 1 { lines.append("\(rank) compute \(Int(amount)) \(level)") }
        }
        pending.removeAll(keepingCapacity: true)
    }

    /// The whole trace, ending with `finalize` (flushes pending compute first).
    public func finish() -> [String] {
        flush()
        return lines + ["\(rank) finalize"]
    }

    public func isend(_ buffer: UnsafePointer<Double>, count: Int, to: Int, tag: Int) throws -> CommRequest {
        flush()
        let r = try base.isend(buffer, count: count, to: to, tag: tag)
        sends.append((to, tag, started(r, "isend", peer: to, tag: tag, count: count, key: (rank, to, tag))))
        return r
    }

    public func irecv(_ buffer: UnsafeMutablePointer<Double>, count: Int, from: Int, tag: Int) throws -> CommRequest {
        flush()
        let r = try base.irecv(buffer, count: count, from: from, tag: tag)
        receives.append((from, tag, started(r, "irecv", peer: from, tag: tag, count: count, key: (from, rank, tag))))
        return r
    }

    /// Writes the line of a started request and remembers its SMPI key; returns its bytes.
    private func started(_ r: CommRequest, _ action: String, peer: Int, tag: Int, count: Int,
                         key: (src: Int, dst: Int, tag: Int)) -> Int {
        let bytes = count * MemoryLayout<Double>.size
        lines.append("\(rank) \(action) \(peer) \(tag) \(bytes)")
        keys[r.handle] = key
        return bytes
    }

    private func write(_ action: String, _ requests: [CommRequest], forget: Bool) {
        for r in requests {
            guard let k = keys[r.handle] else { continue }
            lines.append("\(rank) \(action) \(k.src) \(k.dst) \(k.tag)")
            if forget { keys[r.handle] = nil }
        }
    }

    public func waitAll(_ requests: inout [CommRequest]) throws {
        flush()
        let rs = requests
        try base.waitAll(&requests)
        write("wait", rs, forget: true)
    }

    public func testAll(_ requests: inout [CommRequest]) throws -> Bool {
        flush()
        let rs = requests
        let done = try base.testAll(&requests)
        if done { write("wait", rs, forget: true) }
        return done
    }

    public func allreduceSum(_ values: [Double]) throws -> [Double] {
        flush()
        lines.append("\(rank) allreduce \(values.count * MemoryLayout<Double>.size) 0")
        return try base.allreduceSum(values)
    }

    public func allreduceMax(_ values: [Double]) throws -> [Double] {
        flush()
        lines.append("\(rank) allreduce \(values.count * MemoryLayout<Double>.size) 0")
        return try base.allreduceMax(values)
    }

    public func barrier() throws {
        flush()
        lines.append("\(rank) barrier")
        try base.barrier()
    }
}
