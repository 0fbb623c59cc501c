/// A deliberate failure of one rank, for testing that an error on a single rank
/// ends the whole job with its message rather than hanging the others.
///
/// Parsed from `rank=R,call=C[,after=N]` (the `LAYERPAR_COMM_FAULT` environment
/// variable of `layerpar`): rank `R`'s `(N+1)`-th call of `C` (`isend`, `irecv`,
/// `waitAll`, `allreduce`, `allgather`, `barrier`) throws a ``CommError``.
public struct FaultInjection: Sendable, Equatable {
    public let rank: Int
    public let call: String
    public let after: Int

    public static let calls = ["isend", "irecv", "waitAll", "allreduce", "allgather", "barrier"]

    public init(rank: Int, call: String, after: Int = 0) {
        self.rank = rank
        self.call = call
        self.after = after
    }

    /// Parses `rank=R,call=C[,after=N]`.
    public init(parsing text: String) throws {
        var fields: [String: String] = [:]
        for part in text.split(separator: ",") {
            let kv = part.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2 else {
                throw CommError(call: "LAYERPAR_COMM_FAULT", message: "expected key=value, found '\(part)' in '\(text)'")
            }
            fields[kv[0].trimmingSpaces] = kv[1].trimmingSpaces
        }
        guard let r = fields["rank"].flatMap({ Int($0) }), r >= 0 else {
            throw CommError(call: "LAYERPAR_COMM_FAULT", message: "missing or invalid rank=R in '\(text)'")
        }
        guard let c = fields["call"], Self.calls.contains(c) else {
            throw CommError(call: "LAYERPAR_COMM_FAULT", message: "call= must be one of \(Self.calls.joined(separator: ", ")) in '\(text)'")
        }
        let a = fields["after"].map { Int($0) } ?? 0
        guard let after = a, after >= 0 else {
            throw CommError(call: "LAYERPAR_COMM_FAULT", message: "invalid after=N in '\(text)'")
        }
        self.init(rank: r, call: c, after: after)
    }
}

extension String {
    fileprivate var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
        return String(s)
    }
}

/// Forwards every call to another communicator, except that the call named by
/// a ``FaultInjection`` throws on its rank once its count is exceeded.
public final class FaultInjectingCommunicator: Communicator {
    public let base: any Communicator
    public let fault: FaultInjection
    /// Calls counted so far and whether the fault fired, shared with the sub-communicators split from this one.
    private final class Counter { var count = 0; var fired = false }
    private let counter: Counter
    /// Whether this process is the fault's rank (of the world it was made for).
    private let armed: Bool
    /// The fault was injected (a hook that never fires names a call the command does not make that often).
    public var fired: Bool { counter.fired }

    /// Why the hook did not fire on this rank, or nil (it fired, or it names another rank).
    public var neverFired: String? {
        guard armed, !counter.fired else { return nil }
        return "LAYERPAR_COMM_FAULT rank=\(fault.rank),call=\(fault.call),after=\(fault.after) never fired: rank \(fault.rank) made \(counter.count) \(fault.call) call(s)"
    }

    public init(_ base: any Communicator, fault: FaultInjection) {
        self.base = base
        self.fault = fault
        counter = Counter()
        armed = base.rank == fault.rank
    }

    private init(_ base: any Communicator, fault: FaultInjection, counter: Counter, armed: Bool) {
        self.base = base
        self.fault = fault
        self.counter = counter
        self.armed = armed
    }

    public var rank: Int { base.rank }
    public var size: Int { base.size }

    private func tick(_ call: String) throws {
        guard call == fault.call, armed else { return }
        counter.count += 1
        if counter.count > fault.after {
            counter.fired = true
            throw CommError(call: call, message: "rank \(fault.rank): injected fault after \(fault.after) \(call) calls (LAYERPAR_COMM_FAULT)")
        }
    }

    public func isend(_ buffer: UnsafePointer<Double>, count: Int, to: Int, tag: Int) throws -> CommRequest {
        try tick("isend")
        return try base.isend(buffer, count: count, to: to, tag: tag)
    }
    public func irecv(_ buffer: UnsafeMutablePointer<Double>, count: Int, from: Int, tag: Int) throws -> CommRequest {
        try tick("irecv")
        return try base.irecv(buffer, count: count, from: from, tag: tag)
    }
    public func waitAll(_ requests: inout [CommRequest]) throws {
        try tick("waitAll")
        try base.waitAll(&requests)
    }
    public func testAll(_ requests: inout [CommRequest]) throws -> Bool {
        try base.testAll(&requests)
    }
    public func allreduceSum(_ values: [Double]) throws -> [Double] {
        try tick("allreduce")
        return try base.allreduceSum(values)
    }
    public func allreduceMax(_ values: [Double]) throws -> [Double] {
        try tick("allreduce")
        return try base.allreduceMax(values)
    }
    public func barrier() throws {
        try tick("barrier")
        try base.barrier()
    }
    public func allreduceSum(inPlace buffer: UnsafeMutableBufferPointer<Double>) throws {
        try tick("allreduce")
        try base.allreduceSum(inPlace: buffer)
    }
    public func startAllreduceSum(inPlace buffer: UnsafeMutableBufferPointer<Double>) throws -> CommRequest? {
        try tick("allreduce")
        return try base.startAllreduceSum(inPlace: buffer)
    }
    public func allgather(inPlace buffer: UnsafeMutableBufferPointer<Double>, blocks: [Range<Int>]) throws {
        try tick("allgather")
        try base.allgather(inPlace: buffer, blocks: blocks)
    }
    /// The fault stays with the world rank it names: its calls on any sub-communicator count.
    public func split(color: Int, key: Int) throws -> any Communicator {
        FaultInjectingCommunicator(try base.split(color: color, key: key), fault: fault, counter: counter, armed: armed)
    }
    public func free() throws { try base.free() }
}
