/// A group of ranks that solve one layer-parallel system together.
///
/// This is the whole interface MGRIT sees of the parallel machine: point-to-point
/// exchange of boundary states between neighbouring ranks, reductions of norms,
/// and a barrier. ``SerialCommunicator`` is the one-rank implementation;
/// `MPICommunicator` runs over Open MPI.
///
/// Non-blocking semantics follow MPI: a buffer handed to ``isend(_:count:to:tag:)``
/// or ``irecv(_:count:from:tag:)`` must stay allocated and must not be touched
/// (written for a send, read or written for a receive) until the request has
/// completed in ``waitAll(_:)``. Callers keep such buffers in storage they own
/// for the whole solve, never in temporaries.
public protocol Communicator: AnyObject {
    /// This rank's index, `0 ..< size`.
    var rank: Int { get }
    /// Number of ranks in the group, at least 1.
    var size: Int { get }

    /// Starts sending `count` doubles from `buffer` to rank `to` with message `tag` (≥ 0).
    func isend(_ buffer: UnsafePointer<Double>, count: Int, to: Int, tag: Int) throws -> CommRequest
    /// Starts receiving exactly `count` doubles into `buffer` from rank `from` with message `tag` (≥ 0).
    func irecv(_ buffer: UnsafeMutablePointer<Double>, count: Int, from: Int, tag: Int) throws -> CommRequest
    /// Completes every request in `requests` and empties the array.
    func waitAll(_ requests: inout [CommRequest]) throws
    /// Does not block: if every request in `requests` has completed, completes them,
    /// empties the array and returns true; otherwise leaves them pending and returns
    /// false. Either way it lets the library progress outstanding messages (a
    /// message above MPI's eager limit moves only while its receiver is inside MPI),
    /// so a caller polls it between pieces of work.
    func testAll(_ requests: inout [CommRequest]) throws -> Bool
    /// The sum of `values` element-wise over all ranks, returned on every rank.
    func allreduceSum(_ values: [Double]) throws -> [Double]
    /// The maximum of `values` element-wise over all ranks, returned on every rank.
    func allreduceMax(_ values: [Double]) throws -> [Double]
    /// Blocks until every rank has called it.
    func barrier() throws

    /// Sums `buffer` element-wise over all ranks, in place (`MPI_IN_PLACE`): no copy of
    /// a long vector such as a gradient.
    func allreduceSum(inPlace buffer: UnsafeMutableBufferPointer<Double>) throws
    /// Starts ``allreduceSum(inPlace:)`` without waiting for it (`MPI_Iallreduce`):
    /// returns a request to complete with ``waitAll(_:)`` or ``testAll(_:)``, during which
    /// `buffer` stays pinned and untouched, or nil if the sum is already in `buffer`
    /// (one rank; communicators without non-blocking collectives).
    func startAllreduceSum(inPlace buffer: UnsafeMutableBufferPointer<Double>) throws -> CommRequest?
    /// Assembles a vector whose parts are written by different ranks, in place
    /// (`MPI_Allgatherv` with `MPI_IN_PLACE`): rank r contributes `buffer[blocks[r]]`,
    /// and on return every rank's buffer holds every rank's block. `blocks` has one
    /// range per rank, the same on every rank, disjoint and inside `buffer`; entries in
    /// no block are left as they are. Moves each entry once instead of summing whole
    /// vectors as ``allreduceSum(inPlace:)`` would (and the result is the owner's
    /// value, bit for bit).
    /// - Throws: ``CommError`` for blocks that are not one disjoint range per rank inside `buffer`.
    func allgather(inPlace buffer: UnsafeMutableBufferPointer<Double>, blocks: [Range<Int>]) throws

    /// Splits the group into disjoint sub-groups, as `MPI_Comm_split`: the ranks that
    /// pass the same `color` (≥ 0) form one communicator, ranked by `key`, ties by
    /// rank here. Collective: every rank of this group calls it, in the same order
    /// relative to its other collectives. The sub-communicator has its own requests
    /// and collectives; ``free()`` releases it (a world communicator frees what is
    /// left of its sub-communicators when it is finalised).
    func split(color: Int, key: Int) throws -> any Communicator
    /// Releases a communicator made by ``split(color:key:)``; it is unusable
    /// afterwards. Idempotent; a no-op for communicators that hold nothing.
    func free() throws
}

extension Communicator {
    public func allreduceSum(inPlace buffer: UnsafeMutableBufferPointer<Double>) throws {
        guard size > 1, buffer.count > 0 else { return }
        let sum = try allreduceSum(Array(buffer))
        _ = buffer.update(from: sum)
    }

    public func startAllreduceSum(inPlace buffer: UnsafeMutableBufferPointer<Double>) throws -> CommRequest? {
        try allreduceSum(inPlace: buffer)
        return nil
    }

    /// Through ``allreduceSum(_:)``: every rank sends its block in a vector of zeros.
    public func allgather(inPlace buffer: UnsafeMutableBufferPointer<Double>, blocks: [Range<Int>]) throws {
        try checkBlocks(blocks, count: buffer.count, call: "allgather")
        guard size > 1 else { return }
        var mine = [Double](repeating: 0, count: buffer.count)
        for i in blocks[rank] { mine[i] = buffer[i] }
        let all = try allreduceSum(mine)
        for block in blocks { for i in block { buffer[i] = all[i] } }
    }

    /// Throws unless `blocks` holds one range per rank inside `0 ..< count`, pairwise disjoint.
    public func checkBlocks(_ blocks: [Range<Int>], count: Int, call: String) throws {
        guard blocks.count == size else {
            throw CommError(call: call, message: "rank \(rank): \(blocks.count) blocks for \(size) ranks")
        }
        let sorted = blocks.filter { !$0.isEmpty }.sorted { $0.lowerBound < $1.lowerBound }
        for (k, b) in sorted.enumerated() {
            guard b.lowerBound >= 0, b.upperBound <= count else {
                throw CommError(call: call, message: "rank \(rank): block \(b) outside the buffer of \(count) values")
            }
            if k > 0, sorted[k - 1].upperBound > b.lowerBound {
                throw CommError(call: call, message: "rank \(rank): blocks \(sorted[k - 1]) and \(b) overlap")
            }
        }
    }

    public func split(color: Int, key: Int) throws -> any Communicator {
        throw CommError(call: "split", message: "\(type(of: self)) has no sub-communicators")
    }

    public func free() throws {}

    /// Sum of one value over all ranks.
    public func allreduceSum(_ value: Double) throws -> Double { try allreduceSum([value])[0] }
    /// Maximum of one value over all ranks.
    public func allreduceMax(_ value: Double) throws -> Double { try allreduceMax([value])[0] }
}

/// A handle for one non-blocking operation, completed by ``Communicator/waitAll(_:)``.
/// Its meaning belongs to the communicator that returned it.
public struct CommRequest: Sendable, Hashable {
    /// Opaque handle, interpreted only by the issuing communicator.
    public let handle: Int
    public init(handle: Int) { self.handle = handle }
}

/// Errors of any communicator, naming the failing call.
public struct CommError: Error, CustomStringConvertible, Sendable {
    public let call: String
    public let message: String
    public init(call: String, message: String) {
        self.call = call
        self.message = message
    }
    public var description: String { "\(call) failed: \(message)" }
}
