// Test support shared by the MGRIT and ResNet test targets (not a product).
import Comm
import Foundation

/// In-process ranks for tests: `LocalGroup.run(size:)` starts one thread per
/// rank, each with a ``LocalCommunicator``. Sends are eager (copied into a
/// mailbox at `isend`), receives block in `waitAll` until their message is
/// there, reductions add contributions in rank order. Enough to run the
/// distributed MGRIT cycle on several ranks without MPI.
public final class LocalGroup: @unchecked Sendable {
    struct Key: Hashable { let from: Int, to: Int, tag: Int }
    let size: Int
    let cond = NSCondition()
    var mailbox: [Key: [[Double]]] = [:]
    var contributions: [[Double]?]
    var arrived = 0
    var generation = 0
    var result: [Double] = []
    var failed = false
    /// Groups made by ``LocalCommunicator/split(color:key:)``, by split number and color.
    var subgroups: [[Int]: LocalGroup] = [:]

    init(size: Int) {
        self.size = size
        contributions = Array(repeating: nil, count: size)
    }

    func post(_ key: Key, _ data: [Double]) {
        cond.lock()
        mailbox[key, default: []].append(data)
        cond.broadcast()
        cond.unlock()
    }

    func take(_ key: Key) throws -> [Double] {
        cond.lock()
        defer { cond.unlock() }
        let deadline = Date().addingTimeInterval(60)
        while mailbox[key]?.isEmpty ?? true {
            if failed { throw CommError(call: "waitAll", message: "another rank failed") }
            guard cond.wait(until: deadline) else { throw CommError(call: "waitAll", message: "timed out waiting for \(key)") }
        }
        return mailbox[key]!.removeFirst()
    }

    /// Whether every key's next message is in the mailbox (a key listed k times needs k).
    func available(_ keys: [Key]) -> Bool {
        cond.lock()
        defer { cond.unlock() }
        var need: [Key: Int] = [:]
        for k in keys { need[k, default: 0] += 1 }
        return need.allSatisfy { (mailbox[$0.key]?.count ?? 0) >= $0.value }
    }

    func reduce(rank: Int, _ values: [Double], _ op: ([Double], [Double]) -> [Double]) throws -> [Double] {
        cond.lock()
        defer { cond.unlock() }
        let myGeneration = generation
        contributions[rank] = values
        arrived += 1
        if arrived == size {
            var acc = contributions[0]!
            for r in 1 ..< size { acc = op(acc, contributions[r]!) }
            result = acc
            arrived = 0
            contributions = Array(repeating: nil, count: size)
            generation += 1
            cond.broadcast()
            return acc
        }
        let deadline = Date().addingTimeInterval(60)
        while generation == myGeneration {
            if failed { throw CommError(call: "allreduce", message: "another rank failed") }
            guard cond.wait(until: deadline) else { throw CommError(call: "allreduce", message: "timed out") }
        }
        return result
    }

    func fail() {
        cond.lock()
        failed = true
        let subs = Array(subgroups.values)
        cond.broadcast()
        cond.unlock()
        subs.forEach { $0.fail() }
    }

    /// The sub-group of split number `index` and `color` (made by its first member).
    func subgroup(index: Int, color: Int, size: Int) -> LocalGroup {
        cond.lock()
        defer { cond.unlock() }
        if let g = subgroups[[index, color]] { return g }
        let g = LocalGroup(size: size)
        subgroups[[index, color]] = g
        return g
    }

    /// Runs `body(comm)` on `size` threads and returns the results in rank order;
    /// rethrows the first error of any rank.
    public static func run<R>(size: Int, _ body: @escaping (LocalCommunicator) throws -> R) throws -> [R] {
        let group = LocalGroup(size: size)
        let box = ResultBox<R>(size)
        let lock = NSLock()
        let done = DispatchGroup()
        let work = UncheckedBody(body)
        for r in 0 ..< size {
            done.enter()
            let t = Thread {
                let comm = LocalCommunicator(rank: r, group: group)
                let res = Result { try work.body(comm) }
                if case .failure = res { group.fail() }
                lock.lock(); box.results[r] = res; lock.unlock()
                done.leave()
            }
            t.stackSize = 16 << 20
            t.start()
        }
        done.wait()
        return try box.results.map { try $0!.get() }
    }

    private final class ResultBox<R>: @unchecked Sendable {
        var results: [Result<R, Error>?]
        init(_ n: Int) { results = Array(repeating: nil, count: n) }
    }

    private struct UncheckedBody<R>: @unchecked Sendable {
        let body: (LocalCommunicator) throws -> R
        init(_ b: @escaping (LocalCommunicator) throws -> R) { body = b }
    }
}

public final class LocalCommunicator: Communicator {
    public let rank: Int
    let group: LocalGroup
    public var size: Int { group.size }
    private var receives: [Int: (UnsafeMutablePointer<Double>, Int, LocalGroup.Key)] = [:]
    private var next = 0
    private var splits = 0

    init(rank: Int, group: LocalGroup) {
        self.rank = rank
        self.group = group
    }

    public func isend(_ buffer: UnsafePointer<Double>, count: Int, to: Int, tag: Int) throws -> CommRequest {
        guard (0 ..< size).contains(to), to != rank else { throw CommError(call: "isend", message: "bad destination \(to)") }
        group.post(.init(from: rank, to: to, tag: tag), Array(UnsafeBufferPointer(start: buffer, count: count)))
        next += 1
        return CommRequest(handle: next)
    }

    public func irecv(_ buffer: UnsafeMutablePointer<Double>, count: Int, from: Int, tag: Int) throws -> CommRequest {
        guard (0 ..< size).contains(from), from != rank else { throw CommError(call: "irecv", message: "bad source \(from)") }
        next += 1
        receives[next] = (buffer, count, .init(from: from, to: rank, tag: tag))
        return CommRequest(handle: next)
    }

    public func waitAll(_ requests: inout [CommRequest]) throws {
        for r in requests {
            guard let (buffer, count, key) = receives.removeValue(forKey: r.handle) else { continue }   // a send
            let data = try group.take(key)
            guard data.count == count else { throw CommError(call: "waitAll", message: "size mismatch \(data.count) vs \(count)") }
            data.withUnsafeBufferPointer { buffer.update(from: $0.baseAddress!, count: count) }
        }
        requests.removeAll()
    }

    public func testAll(_ requests: inout [CommRequest]) throws -> Bool {
        guard group.available(requests.compactMap { receives[$0.handle]?.2 }) else { return false }
        try waitAll(&requests)   // every message is there: nothing blocks
        return true
    }

    public func allreduceSum(_ values: [Double]) throws -> [Double] {
        try group.reduce(rank: rank, values) { zip($0, $1).map { $0 + $1 } }
    }

    public func allreduceMax(_ values: [Double]) throws -> [Double] {
        try group.reduce(rank: rank, values) { zip($0, $1).map { Swift.max($0, $1) } }
    }

    public func barrier() throws { _ = try allreduceSum([]) }

    /// Every rank's (color, key) by one reduction, then the members of this rank's
    /// color ordered by key and rank, as MPI_Comm_split orders them.
    public func split(color: Int, key: Int) throws -> any Communicator {
        guard color >= 0 else { throw CommError(call: "split", message: "negative color \(color)") }
        var mine = [Double](repeating: 0, count: 2 * size)
        mine[2 * rank] = Double(color)
        mine[2 * rank + 1] = Double(key)
        let all = try allreduceSum(mine)
        let members = (0 ..< size).filter { all[2 * $0] == Double(color) }
            .sorted { (all[2 * $0 + 1], $0) < (all[2 * $1 + 1], $1) }
        defer { splits += 1 }
        return LocalCommunicator(rank: members.firstIndex(of: rank)!,
                                 group: group.subgroup(index: splits, color: color, size: members.count))
    }
}
