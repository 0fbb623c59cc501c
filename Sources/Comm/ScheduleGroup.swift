import Foundation

/// P ranks in one process, one thread each, for running a solver's *schedule*
/// without its arithmetic (``ScheduleCommunicator``): messages are matched by
/// (source, destination, tag) in order and carry **no data** — the receiver's
/// buffer is left as it was — so it serves problems whose states hold nothing
/// (a cost-recording problem), not real solves. Sends complete at once (eager);
/// a receive blocks in `waitAll` until its message has been sent; `testAll`
/// never completes a receive (see ``ScheduleCommunicator/testAll(_:)``). Reductions return
/// the element-wise sum or maximum of every rank's contribution, added in rank
/// order. Each rank waits on its own condition, so thousands of ranks do not wake
/// each other on every message.
public final class ScheduleGroup: @unchecked Sendable {
    struct Key: Hashable { let from: Int, tag: Int }
    final class Mailbox {
        let cond = NSCondition()
        var arrived: [Key: Int] = [:]
    }

    public let size: Int
    let boxes: [Mailbox]
    let reduceCond = NSCondition()
    var contributions: [[Double]?]
    var arrivedRanks = 0
    var generation = 0
    var result: [Double] = []
    var failed = false
    /// Seconds a blocked call waits before it reports a deadlock.
    let timeout: Double

    init(size: Int, timeout: Double) {
        self.size = size
        self.timeout = timeout
        boxes = (0 ..< size).map { _ in Mailbox() }
        contributions = Array(repeating: nil, count: size)
    }

    func post(to: Int, _ key: Key) {
        let b = boxes[to]
        b.cond.lock()
        b.arrived[key, default: 0] += 1
        b.cond.signal()
        b.cond.unlock()
    }

    /// Takes one message of each key, waiting for those not there yet.
    func take(at rank: Int, _ keys: [Key]) throws {
        let b = boxes[rank]
        b.cond.lock()
        defer { b.cond.unlock() }
        let deadline = Date().addingTimeInterval(timeout)
        for k in keys {
            while (b.arrived[k] ?? 0) == 0 {
                if failed { throw CommError(call: "waitAll", message: "another rank failed") }
                guard b.cond.wait(until: deadline) else {
                    throw CommError(call: "waitAll", message: "rank \(rank) waited \(timeout) s for message tag \(k.tag) from rank \(k.from) (deadlock)")
                }
            }
            b.arrived[k]! -= 1
        }
    }

    func reduce(rank: Int, _ values: [Double], _ op: (Double, Double) -> Double) throws -> [Double] {
        reduceCond.lock()
        defer { reduceCond.unlock() }
        let mine = generation
        contributions[rank] = values
        arrivedRanks += 1
        if arrivedRanks == size {
            var acc = contributions[0]!
            for r in 1 ..< size {
                guard contributions[r]!.count == acc.count else {
                    failed = true
                    reduceCond.broadcast()
                    throw CommError(call: "allreduce", message: "ranks reduce vectors of different lengths")
                }
                for i in acc.indices { acc[i] = op(acc[i], contributions[r]![i]) }
            }
            result = acc
            arrivedRanks = 0
            contributions = Array(repeating: nil, count: size)
            generation += 1
            reduceCond.broadcast()
            return acc
        }
        let deadline = Date().addingTimeInterval(timeout)
        while generation == mine {
            if failed { throw CommError(call: "allreduce", message: "another rank failed") }
            guard reduceCond.wait(until: deadline) else { throw CommError(call: "allreduce", message: "timed out after \(timeout) s (deadlock)") }
        }
        return result
    }

    func fail() {
        reduceCond.lock(); failed = true; reduceCond.broadcast(); reduceCond.unlock()
        for b in boxes { b.cond.lock(); b.cond.broadcast(); b.cond.unlock() }
    }

    /// Runs `body` on `size` threads, each with its rank's ``ScheduleCommunicator``,
    /// and returns the results in rank order; rethrows the first error of any rank
    /// (the others are released from their waits).
    public static func run<R>(size: Int, timeout: Double = 120, stackBytes: Int = 4 << 20,
                              _ body: @escaping (ScheduleCommunicator) throws -> R) throws -> [R] {
        precondition(size >= 1)
        let group = ScheduleGroup(size: size, timeout: timeout)
        let box = ScheduleResults<R>(size), work = ScheduleBody(f: body)
        let done = DispatchGroup()
        for r in 0 ..< size {
            done.enter()
            let t = Thread {
                let res = Result { try work.f(ScheduleCommunicator(rank: r, group: group)) }
                if case .failure = res { group.fail() }
                box.lock.lock(); box.results[r] = res; box.lock.unlock()
                done.leave()
            }
            t.stackSize = stackBytes
            t.start()
        }
        done.wait()
        // The first error that is not a consequence of another rank's.
        let errors = box.results.compactMap { r -> Error? in if case .failure(let e)? = r { return e }; return nil }
        if let e = errors.first(where: { !"\($0)".contains("another rank failed") }) ?? errors.first { throw e }
        return box.results.map { try! $0!.get() }
    }
}

final class ScheduleResults<R>: @unchecked Sendable {
    var results: [Result<R, Error>?]
    let lock = NSLock()
    init(_ n: Int) { results = Array(repeating: nil, count: n) }
}

struct ScheduleBody<R>: @unchecked Sendable { let f: (ScheduleCommunicator) throws -> R }

/// One rank of a ``ScheduleGroup``: the communicator protocol's matching and
/// blocking, no data (see there).
public final class ScheduleCommunicator: Communicator {
    public let rank: Int
    let group: ScheduleGroup
    public var size: Int { group.size }
    private var receives: [Int: ScheduleGroup.Key] = [:]
    private var next = 0

    init(rank: Int, group: ScheduleGroup) {
        self.rank = rank
        self.group = group
    }

    public func isend(_ buffer: UnsafePointer<Double>, count: Int, to: Int, tag: Int) throws -> CommRequest {
        guard (0 ..< size).contains(to), to != rank, tag >= 0 else {
            throw CommError(call: "isend", message: "bad destination \(to) or tag \(tag) on rank \(rank) of \(size)")
        }
        group.post(to: to, .init(from: rank, tag: tag))
        next += 1
        return CommRequest(handle: next)
    }

    public func irecv(_ buffer: UnsafeMutablePointer<Double>, count: Int, from: Int, tag: Int) throws -> CommRequest {
        guard (0 ..< size).contains(from), from != rank, tag >= 0 else {
            throw CommError(call: "irecv", message: "bad source \(from) or tag \(tag) on rank \(rank) of \(size)")
        }
        next += 1
        receives[next] = .init(from: from, tag: tag)
        return CommRequest(handle: next)
    }

    public func waitAll(_ requests: inout [CommRequest]) throws {
        let keys = requests.compactMap { receives.removeValue(forKey: $0.handle) }   // sends are complete
        try group.take(at: rank, keys)
        requests.removeAll()
    }

    /// Completes only requests that are all sends: a pending receive is never
    /// reported complete, whether or not its message was sent, so the schedule (and
    /// a trace of it) does not depend on how the threads happened to run; where a
    /// test would have succeeded is for a replay to decide.
    public func testAll(_ requests: inout [CommRequest]) throws -> Bool {
        guard requests.allSatisfy({ receives[$0.handle] == nil }) else { return false }
        requests.removeAll()
        return true
    }

    public func allreduceSum(_ values: [Double]) throws -> [Double] { try group.reduce(rank: rank, values, +) }
    public func allreduceMax(_ values: [Double]) throws -> [Double] { try group.reduce(rank: rank, values) { Swift.max($0, $1) } }
    public func barrier() throws { _ = try group.reduce(rank: rank, [], +) }
}
