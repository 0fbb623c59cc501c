import CMPI

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The ``Communicator`` over Open MPI: one rank of an `mpirun -np P` job.
///
/// Every call is made synchronously on the calling thread, which must be the
/// thread that initialised MPI (the main thread of `layerpar`): MPI is
/// initialised with `MPI_THREAD_FUNNELED`, and the class is deliberately not
/// `Sendable`, so Swift 6 keeps it on one thread.
///
/// The communicator works on a private duplicate of `MPI_COMM_WORLD` whose error
/// handler is `MPI_ERRORS_RETURN`: a failing MPI call returns to us and becomes a
/// thrown ``CommError`` naming the call, the peer and MPI's error string. A rank
/// that cannot continue ends the whole job with ``abort(message:code:)`` (never
/// a hang of the other ranks in a receive that will not come).
///
/// Waiting: no call blocks inside MPI. ``waitAll(_:)`` polls `MPI_Testall`, and the
/// collectives (allreduce, barrier, allgather) start their non-blocking form and poll
/// `MPI_Test`, both paced by ``WaitBackoff``: a busy poll for the first millisecond
/// (the latency of a ready exchange is that of a spin), then sleeps of growing length,
/// so a rank whose peer is stopped or slow does not hold a core at 100 %.
///
/// Requests: ``isend(_:count:to:tag:)`` and ``irecv(_:count:from:tag:)`` hand
/// the caller's buffer to MPI directly (no copy); the caller keeps it pinned until
/// ``waitAll(_:)`` returns (see ``Communicator``). A request handle is an index
/// into a table of live `MPI_Request`s, so a stale or foreign handle is an error.
public final class MPICommunicator: Communicator {
    /// Our duplicate of MPI_COMM_WORLD (an `ompi_communicator_t *`).
    private var comm: MPI_Comm?
    public let rank: Int
    public let size: Int
    /// Largest tag MPI accepts here (`MPI_TAG_UB`).
    public let maxTag: Int

    /// Live requests by handle; completed ones are removed in `waitAll`.
    private var live: [Int: MPI_Request?] = [:]
    private var nextHandle = 0
    /// Scratch array passed to MPI_Testall; reused so waits do not allocate.
    private var scratch: [MPI_Request?] = []
    private var statuses: [MPI_Status] = []
    private var finalized = false
    /// Whether this communicator came from ``split(color:key:)`` (freed, never finalised).
    private let isSub: Bool
    /// Sub-communicators made from this one and not yet freed; freed before this one.
    private var children: [MPICommunicator] = []

    /// Initialises MPI (if not yet initialised) and returns the world communicator.
    ///
    /// - Throws: ``CommError`` if MPI cannot be initialised or the world cannot be duplicated.
    public static func world() throws -> MPICommunicator {
        var initialized: Int32 = 0
        _ = MPI_Initialized(&initialized)
        if initialized == 0 {
            var argc: Int32 = 0
            var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = nil
            var provided: Int32 = 0
            let rc = MPI_Init_thread(&argc, &argv, CMPI_THREAD_FUNNELED(), &provided)
            guard rc == CMPI_SUCCESS() else {
                throw CommError(call: "MPI_Init_thread", message: "returned \(rc) (is this process started by mpirun?)")
            }
        }
        // Errors on MPI_COMM_WORLD itself (e.g. in Comm_dup) should also come back to us.
        _ = MPI_Comm_set_errhandler(CMPI_COMM_WORLD(), CMPI_ERRORS_RETURN())
        var dup: MPI_Comm? = nil
        try check(MPI_Comm_dup(CMPI_COMM_WORLD(), &dup), "MPI_Comm_dup")
        try check(MPI_Comm_set_errhandler(dup, CMPI_ERRORS_RETURN()), "MPI_Comm_set_errhandler")
        return try MPICommunicator(comm: dup, isSub: false)
    }

    private init(comm: MPI_Comm?, isSub: Bool) throws {
        self.comm = comm
        self.isSub = isSub
        var r: Int32 = 0, s: Int32 = 0
        try Self.check(MPI_Comm_rank(comm, &r), "MPI_Comm_rank")
        try Self.check(MPI_Comm_size(comm, &s), "MPI_Comm_size")
        rank = Int(r)
        size = Int(s)
        let ub = CMPI_tag_upper_bound(CMPI_COMM_WORLD())
        maxTag = ub > 0 ? Int(ub) : 32767
    }

    // MARK: point to point

    public func isend(_ buffer: UnsafePointer<Double>, count: Int, to: Int, tag: Int) throws -> CommRequest {
        try checkPeer(to, tag: tag, count: count, call: "MPI_Isend")
        var request: MPI_Request? = nil
        try check(MPI_Isend(buffer, Int32(count), CMPI_DOUBLE(), Int32(to), Int32(tag), comm, &request),
                  "MPI_Isend", detail: "to rank \(to), tag \(tag), \(count) doubles")
        return register(request)
    }

    public func irecv(_ buffer: UnsafeMutablePointer<Double>, count: Int, from: Int, tag: Int) throws -> CommRequest {
        try checkPeer(from, tag: tag, count: count, call: "MPI_Irecv")
        var request: MPI_Request? = nil
        try check(MPI_Irecv(buffer, Int32(count), CMPI_DOUBLE(), Int32(from), Int32(tag), comm, &request),
                  "MPI_Irecv", detail: "from rank \(from), tag \(tag), \(count) doubles")
        return register(request)
    }

    public func waitAll(_ requests: inout [CommRequest]) throws {
        scratch.removeAll(keepingCapacity: true)
        for request in requests {
            guard let r = live.removeValue(forKey: request.handle) else {
                // Put back what we took, so the caller's requests stay consistent.
                for (i, taken) in zip(requests, scratch) { live[i.handle] = taken }
                throw CommError(call: "MPI_Waitall", message: "rank \(rank): unknown or already completed request \(request.handle)")
            }
            scratch.append(r)
        }
        if !scratch.isEmpty {
            if statuses.count < scratch.count { statuses = [MPI_Status](repeating: MPI_Status(), count: scratch.count) }
            // MPI_Testall until all are done (MPI leaves every request as it was while flag is 0).
            var rc = CMPI_SUCCESS(), flag: Int32 = 0, backoff = WaitBackoff()
            while true {
                rc = scratch.withUnsafeMutableBufferPointer { buf in
                    statuses.withUnsafeMutableBufferPointer { st in
                        MPI_Testall(Int32(buf.count), buf.baseAddress, &flag, st.baseAddress)
                    }
                }
                if rc != CMPI_SUCCESS() || flag != 0 { break }
                backoff.pause()
            }
            if rc == CMPI_ERR_IN_STATUS() {
                // Name each failed request's peer, tag and reason, not just "error in status".
                let failed = statuses.prefix(scratch.count).filter {
                    $0.MPI_ERROR != CMPI_SUCCESS() && $0.MPI_ERROR != CMPI_ERR_PENDING()
                }.map { "source \($0.MPI_SOURCE), tag \($0.MPI_TAG): \(Self.errorString($0.MPI_ERROR))" }
                throw CommError(call: "MPI_Testall", message: "rank \(rank) (\(scratch.count) requests): " + failed.joined(separator: "; "))
            }
            try check(rc, "MPI_Testall", detail: "\(scratch.count) requests")
        }
        requests.removeAll()
    }

    public func testAll(_ requests: inout [CommRequest]) throws -> Bool {
        guard !requests.isEmpty else { return true }
        scratch.removeAll(keepingCapacity: true)
        for request in requests {
            guard let r = live[request.handle] else {
                throw CommError(call: "MPI_Testall", message: "rank \(rank): unknown or already completed request \(request.handle)")
            }
            scratch.append(r)
        }
        if statuses.count < scratch.count { statuses = [MPI_Status](repeating: MPI_Status(), count: scratch.count) }
        var flag: Int32 = 0
        let rc = scratch.withUnsafeMutableBufferPointer { buf in
            statuses.withUnsafeMutableBufferPointer { st in
                MPI_Testall(Int32(buf.count), buf.baseAddress, &flag, st.baseAddress)
            }
        }
        try check(rc, "MPI_Testall", detail: "\(scratch.count) requests")
        guard flag != 0 else { return false }   // none completed: MPI left every request as it was
        for request in requests { live.removeValue(forKey: request.handle) }
        requests.removeAll()
        return true
    }

    // MARK: collectives

    public func allreduceSum(_ values: [Double]) throws -> [Double] {
        return try allreduce(values, op: CMPI_SUM(), name: "sum")
    }

    public func allreduceMax(_ values: [Double]) throws -> [Double] {
        return try allreduce(values, op: CMPI_MAX(), name: "max")
    }

    private func allreduce(_ values: [Double], op: MPI_Op?, name: String) throws -> [Double] {
        guard !values.isEmpty else { return [] }
        guard values.count <= Int(Int32.max) else {
            throw CommError(call: "MPI_Allreduce", message: "\(values.count) values exceed MPI's int count")
        }
        var result = values
        try result.withUnsafeMutableBufferPointer { buffer in
            try allreduce(inPlace: buffer, op: op, detail: "\(name) of \(values.count) doubles")
        }
        return result
    }

    /// `MPI_Iallreduce` in place, then ``complete(_:_:detail:)``: the blocking allreduce
    /// waits as every other wait here does.
    private func allreduce(inPlace buffer: UnsafeMutableBufferPointer<Double>, op: MPI_Op?, detail: String) throws {
        var request: MPI_Request? = nil
        try check(MPI_Iallreduce(CMPI_IN_PLACE(), buffer.baseAddress, Int32(buffer.count), CMPI_DOUBLE(), op, comm, &request),
                  "MPI_Iallreduce", detail: detail)
        try complete(&request, "MPI_Iallreduce", detail: detail)
    }

    /// Polls one request of a blocking call (`MPI_Test`, paced by ``WaitBackoff``) until it completes.
    private func complete(_ request: inout MPI_Request?, _ call: String, detail: String) throws {
        var flag: Int32 = 0, backoff = WaitBackoff()
        while true {
            try check(MPI_Test(&request, &flag, CMPI_STATUS_IGNORE()), call, detail: detail + " (MPI_Test)")
            if flag != 0 { return }
            backoff.pause()
        }
    }

    public func barrier() throws {
        var request: MPI_Request? = nil
        try check(MPI_Ibarrier(comm, &request), "MPI_Ibarrier")
        try complete(&request, "MPI_Ibarrier", detail: "\(size) ranks")
    }

    public func allreduceSum(inPlace buffer: UnsafeMutableBufferPointer<Double>) throws {
        guard buffer.count > 0 else { return }
        try checkCount(buffer.count, "MPI_Iallreduce")
        try allreduce(inPlace: buffer, op: CMPI_SUM(), detail: "in-place sum of \(buffer.count) doubles")
    }

    public func startAllreduceSum(inPlace buffer: UnsafeMutableBufferPointer<Double>) throws -> CommRequest? {
        guard buffer.count > 0 else { return nil }
        try checkCount(buffer.count, "MPI_Iallreduce")
        var request: MPI_Request? = nil
        try check(MPI_Iallreduce(CMPI_IN_PLACE(), buffer.baseAddress, Int32(buffer.count), CMPI_DOUBLE(), CMPI_SUM(), comm, &request),
                  "MPI_Iallreduce", detail: "in-place sum of \(buffer.count) doubles")
        return register(request)
    }

    /// `MPI_Iallgatherv` in place, completed as every wait here is.
    public func allgather(inPlace buffer: UnsafeMutableBufferPointer<Double>, blocks: [Range<Int>]) throws {
        try checkBlocks(blocks, count: buffer.count, call: "MPI_Iallgatherv")
        guard size > 1 else { return }
        try checkCount(buffer.count, "MPI_Iallgatherv")
        let counts = blocks.map { Int32($0.count) }, displacements = blocks.map { Int32($0.lowerBound) }
        let detail = "in place, \(blocks[rank].count) of \(buffer.count) doubles from rank \(rank)"
        var request: MPI_Request? = nil
        // The count and displacement arrays stay pinned until complete(...) returns, inside the closures.
        try counts.withUnsafeBufferPointer { c in
            try displacements.withUnsafeBufferPointer { d in
                try check(MPI_Iallgatherv(CMPI_IN_PLACE(), 0, CMPI_DOUBLE(), buffer.baseAddress, c.baseAddress, d.baseAddress,
                                          CMPI_DOUBLE(), comm, &request),
                          "MPI_Iallgatherv", detail: detail)
                try complete(&request, "MPI_Iallgatherv", detail: detail)
            }
        }
    }

    private func checkCount(_ count: Int, _ call: String) throws {
        guard !finalized else { throw CommError(call: call, message: "rank \(rank): communicator already freed") }
        guard count <= Int(Int32.max) else {
            throw CommError(call: call, message: "\(count) values exceed MPI's int count")
        }
    }

    // MARK: sub-communicators

    /// `MPI_Comm_split` of this communicator (errors return, as here). The result is
    /// freed by ``free()``, or with this communicator (``finalize()`` for the world).
    public func split(color: Int, key: Int) throws -> any Communicator {
        guard !finalized else { throw CommError(call: "MPI_Comm_split", message: "rank \(rank): communicator already freed") }
        guard (0...Int(Int32.max)).contains(color), (Int(Int32.min)...Int(Int32.max)).contains(key) else {
            throw CommError(call: "MPI_Comm_split", message: "rank \(rank): color \(color) must be in 0...Int32.max, key \(key) an Int32")
        }
        var sub: MPI_Comm? = nil
        try check(MPI_Comm_split(comm, Int32(color), Int32(key), &sub), "MPI_Comm_split", detail: "color \(color), key \(key)")
        try check(MPI_Comm_set_errhandler(sub, CMPI_ERRORS_RETURN()), "MPI_Comm_set_errhandler")
        let child = try MPICommunicator(comm: sub, isSub: true)
        children.append(child)
        return child
    }

    /// Frees a communicator made by ``split(color:key:)`` (and its own sub-communicators);
    /// MPI stays initialised. The world is released by ``finalize()`` instead.
    /// - Throws: ``CommError`` if requests are still pending.
    public func free() throws {
        guard isSub else { return }
        try release()
    }

    /// Frees the sub-communicators, then this one's MPI_Comm.
    private func release() throws {
        guard !finalized else { return }
        guard live.isEmpty else {
            throw CommError(call: "MPI_Comm_free", message: "rank \(rank): \(live.count) requests still pending (missing waitAll)")
        }
        for child in children { try child.release() }
        children.removeAll()
        finalized = true
        try check(MPI_Comm_free(&comm), "MPI_Comm_free")
    }

    /// Gathers one `Double` array of equal length from every rank to every rank,
    /// concatenated in rank order (`MPI_Allgather`). Used by diagnostics and by
    /// result collection; not part of ``Communicator``.
    public func allgather(_ values: [Double]) throws -> [Double] {
        var result = [Double](repeating: 0, count: values.count * size)
        guard !values.isEmpty else { return [] }
        let detail = "\(values.count) doubles per rank"
        var request: MPI_Request? = nil
        // Both buffers stay pinned until complete(...) returns, inside the closures.
        try values.withUnsafeBufferPointer { src in
            try result.withUnsafeMutableBufferPointer { dst in
                try check(MPI_Iallgather(src.baseAddress, Int32(src.count), CMPI_DOUBLE(),
                                         dst.baseAddress, Int32(src.count), CMPI_DOUBLE(), comm, &request),
                          "MPI_Iallgather", detail: detail)
                try complete(&request, "MPI_Iallgather", detail: detail)
            }
        }
        return result
    }

    /// Makes one deliberately invalid MPI call (`MPI_Isend` to rank `size`, which
    /// does not exist; our own peer check is bypassed) and returns the error it
    /// produced. Shows that MPI_ERRORS_RETURN is in effect: the call returns an
    /// error code that becomes a ``CommError`` instead of aborting the job.
    /// - Throws: ``CommError`` if the invalid call unexpectedly succeeded.
    public func provokeErrorReturn() throws -> CommError {
        var value = 0.0
        var request: MPI_Request? = nil
        let rc = MPI_Isend(&value, 1, CMPI_DOUBLE(), Int32(size), 0, comm, &request)
        do {
            try check(rc, "MPI_Isend", detail: "to rank \(size) of \(size), deliberately invalid")
        } catch let error as CommError {
            return error
        }
        var requests = [register(request)]
        try waitAll(&requests)
        throw CommError(call: "MPI_Isend", message: "rank \(rank): a send to non-existent rank \(size) did not fail (MPI parameter checking off?)")
    }

    // MARK: lifetime

    /// Number of requests started and not yet completed by ``waitAll(_:)``.
    public var pendingRequests: Int { live.count }

    /// Frees the communicator (and every sub-communicator not yet freed) and
    /// finalises MPI. Call once, on every rank, after the last communication; the
    /// object is unusable afterwards. On a sub-communicator it only frees it.
    ///
    /// - Throws: ``CommError`` if requests are still pending (their buffers would
    ///   be written after the caller freed them) or MPI fails to finalise.
    public func finalize() throws {
        guard !finalized else { return }
        guard !isSub else { try release(); return }
        guard live.isEmpty else {
            throw CommError(call: "MPI_Finalize", message: "rank \(rank): \(live.count) requests still pending (missing waitAll)")
        }
        try release()   // sub-communicators first, then our duplicate of the world
        try Self.check(MPI_Finalize(), "MPI_Finalize")
    }

    /// Ends the whole job: prints `message` on this rank's stderr, then
    /// `MPI_Abort`s every rank of MPI_COMM_WORLD with exit `code`. Used when one
    /// rank fails while the others may be blocked waiting for it.
    public func abort(message: String, code: Int32 = 1) -> Never {
        Self.abortWorld(message: message, code: code)
    }

    /// ``abort(message:code:)`` without a communicator object (e.g. when
    /// construction itself failed after MPI_Init).
    public static func abortWorld(message: String, code: Int32 = 1) -> Never {
        let text = message.hasSuffix("\n") ? message : message + "\n"
        fflush(nil)   // whatever stdout holds goes out before the job dies
        // write(2) directly: unbuffered, and no shared FILE* global under Swift 6.
        _ = text.utf8CString.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count - 1) }
        var initialized: Int32 = 0, finalized: Int32 = 0
        _ = MPI_Initialized(&initialized)
        _ = MPI_Finalized(&finalized)
        if initialized != 0 && finalized == 0 {
            _ = MPI_Abort(CMPI_COMM_WORLD(), code)
        }
        exit(code)
    }

    // MARK: helpers

    private func register(_ request: MPI_Request?) -> CommRequest {
        defer { nextHandle += 1 }
        live[nextHandle] = request
        return CommRequest(handle: nextHandle)
    }

    private func checkPeer(_ peer: Int, tag: Int, count: Int, call: String) throws {
        guard !finalized else { throw CommError(call: call, message: "rank \(rank): communicator already finalised") }
        guard (0..<size).contains(peer) else {
            throw CommError(call: call, message: "rank \(rank): peer rank \(peer) does not exist (\(size) ranks)")
        }
        guard (0...maxTag).contains(tag) else {
            throw CommError(call: call, message: "rank \(rank): tag \(tag) outside 0...\(maxTag) (MPI_TAG_UB)")
        }
        guard (0...Int(Int32.max)).contains(count) else {
            throw CommError(call: call, message: "rank \(rank): count \(count) is negative or exceeds MPI's int")
        }
    }

    private func check(_ rc: Int32, _ call: String, detail: String = "") throws {
        guard rc != CMPI_SUCCESS() else { return }
        throw CommError(call: call, message: "rank \(rank)\(detail.isEmpty ? "" : " (\(detail))"): \(Self.errorString(rc))")
    }

    private static func check(_ rc: Int32, _ call: String) throws {
        guard rc != CMPI_SUCCESS() else { return }
        throw CommError(call: call, message: errorString(rc))
    }

    /// MPI's text for an error code (`MPI_Error_string`), with the code.
    static func errorString(_ code: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: Int(CMPI_MAX_ERROR_STRING()) + 1)
        var length: Int32 = 0
        let rc = MPI_Error_string(code, &buffer, &length)
        guard rc == CMPI_SUCCESS() else { return "MPI error code \(code)" }
        let text = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        return "\(text) (MPI error \(code))"
    }
}
