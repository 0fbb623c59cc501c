/// The one-rank communicator: reductions are the identity, and a rank may send
/// to itself (a send is matched with the receive of the same tag at `waitAll`).
public final class SerialCommunicator: Communicator {
    private struct Pending {
        var send: (buffer: UnsafePointer<Double>, count: Int)?
        var recv: (buffer: UnsafeMutablePointer<Double>, count: Int)?
    }
    private var pending: [Int: Pending] = [:]   // by tag
    private var nextHandle = 0
    private var handleTag: [Int: Int] = [:]

    public init() {}

    public var rank: Int { 0 }
    public var size: Int { 1 }

    private func checkPeer(_ peer: Int, tag: Int, call: String) throws {
        guard peer == 0 else { throw CommError(call: call, message: "rank \(peer) does not exist (1 rank)") }
        guard tag >= 0 else { throw CommError(call: call, message: "negative tag \(tag)") }
    }

    private func register(tag: Int) -> CommRequest {
        defer { nextHandle += 1 }
        handleTag[nextHandle] = tag
        return CommRequest(handle: nextHandle)
    }

    public func isend(_ buffer: UnsafePointer<Double>, count: Int, to: Int, tag: Int) throws -> CommRequest {
        try checkPeer(to, tag: tag, call: "isend")
        guard pending[tag]?.send == nil else {
            throw CommError(call: "isend", message: "a send with tag \(tag) is already pending")
        }
        pending[tag, default: Pending()].send = (buffer, count)
        return register(tag: tag)
    }

    public func irecv(_ buffer: UnsafeMutablePointer<Double>, count: Int, from: Int, tag: Int) throws -> CommRequest {
        try checkPeer(from, tag: tag, call: "irecv")
        guard pending[tag]?.recv == nil else {
            throw CommError(call: "irecv", message: "a receive with tag \(tag) is already pending")
        }
        pending[tag, default: Pending()].recv = (buffer, count)
        return register(tag: tag)
    }

    public func waitAll(_ requests: inout [CommRequest]) throws {
        for request in requests {
            guard let tag = handleTag.removeValue(forKey: request.handle) else {
                throw CommError(call: "waitAll", message: "unknown or completed request \(request.handle)")
            }
            guard let p = pending[tag] else { continue }   // completed with its partner
            guard let send = p.send, let recv = p.recv else {
                throw CommError(call: "waitAll", message: "message with tag \(tag) has no matching \(p.send == nil ? "send" : "receive") on rank 0 (would deadlock)")
            }
            guard send.count == recv.count else {
                throw CommError(call: "waitAll", message: "message with tag \(tag): sent \(send.count) doubles, receive expects \(recv.count)")
            }
            recv.buffer.update(from: send.buffer, count: send.count)
            pending[tag] = nil
        }
        requests.removeAll()
    }

    /// Completes the requests if every message among them has both its send and
    /// its receive posted (or is already complete).
    public func testAll(_ requests: inout [CommRequest]) throws -> Bool {
        for request in requests {
            guard let tag = handleTag[request.handle] else {
                throw CommError(call: "testAll", message: "unknown or completed request \(request.handle)")
            }
            if let p = pending[tag], p.send == nil || p.recv == nil { return false }
        }
        try waitAll(&requests)
        return true
    }

    public func allreduceSum(_ values: [Double]) throws -> [Double] { values }
    public func allreduceMax(_ values: [Double]) throws -> [Double] { values }
    public func barrier() throws {}

    /// Another one-rank communicator (its own requests).
    public func split(color: Int, key: Int) throws -> any Communicator {
        guard color >= 0 else { throw CommError(call: "split", message: "negative color \(color)") }
        return SerialCommunicator()
    }
}
