import CHwloc
import CNuma
import Foundation

/// Where the pages of a buffer live, page by page (`move_pages(2)` query).
public struct PageLocationReport: Codable, Sendable, Equatable {
    public var intendedNode: Int
    public var pages: Int
    public var onIntendedNode: Int
    /// Pages not yet backed by memory (never touched).
    public var notPresent: Int
    /// Count of pages per other node (node OS index → pages).
    public var elsewhere: [Int: Int]
    /// onIntendedNode / pages (1 = every page local).
    public var share: Double { pages == 0 ? 1 : Double(onIntendedNode) / Double(pages) }

    /// The reports of several buffers meant for the same node, added page by
    /// page (for a run summary: states + weights + gradients of one rank).
    /// - Precondition: all reports have the same ``intendedNode``.
    public static func combined(_ reports: [PageLocationReport]) -> PageLocationReport {
        var total = PageLocationReport(intendedNode: reports.first?.intendedNode ?? 0, pages: 0, onIntendedNode: 0,
                                       notPresent: 0, elsewhere: [:])
        for r in reports {
            precondition(r.intendedNode == total.intendedNode, "combining page reports of different nodes")
            total.pages += r.pages
            total.onIntendedNode += r.onIntendedNode
            total.notPresent += r.notPresent
            total.elsewhere.merge(r.elsewhere, uniquingKeysWith: +)
        }
        return total
    }
}

public enum PageLocations {
    /// Queries the node of every page of `buffer` with `move_pages` (no pages are moved).
    /// - Throws: ``TopologyError`` naming `move_pages` if the kernel refuses the query.
    public static func check(_ buffer: UnsafeRawBufferPointer, intendedNode: Int) throws -> PageLocationReport {
        guard let base = buffer.baseAddress, buffer.count > 0 else {
            return PageLocationReport(intendedNode: intendedNode, pages: 0, onIntendedNode: 0, notPresent: 0, elsewhere: [:])
        }
        let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        let first = Int(bitPattern: base) & ~(pageSize - 1)
        let last = (Int(bitPattern: base) + buffer.count - 1) & ~(pageSize - 1)
        let count = (last - first) / pageSize + 1
        var pages = (0..<count).map { UnsafeMutableRawPointer(bitPattern: first + $0 * pageSize) }
        var status = [Int32](repeating: Int32.min, count: count)
        let rc = pages.withUnsafeMutableBufferPointer { p in
            status.withUnsafeMutableBufferPointer { s in CNuma_query_pages(UInt(count), p.baseAddress, s.baseAddress) }
        }
        if rc != 0 { throw TopologyError.call("move_pages(query \(count) pages)") }
        var report = PageLocationReport(intendedNode: intendedNode, pages: count, onIntendedNode: 0, notPresent: 0, elsewhere: [:])
        for s in status {
            if s == Int32(intendedNode) { report.onIntendedNode += 1 }
            else if s == -ENOENT { report.notPresent += 1 }
            else { report.elsewhere[Int(s), default: 0] += 1 }
        }
        return report
    }
}

/// A page-aligned buffer whose memory is bound to one NUMA node of this
/// machine (`hwloc_alloc_membind`, `HWLOC_MEMBIND_BIND`). Pages are placed when
/// first touched: call ``firstTouch()`` from the thread that will use the buffer.
public final class NUMABuffer: @unchecked Sendable {
    public let baseAddress: UnsafeMutableRawPointer
    public let byteCount: Int
    /// OS index of the NUMA node.
    public let node: Int
    private let topology: HwlocTopology

    /// - Throws: ``TopologyError`` if `node` does not exist or the allocation fails.
    public init(byteCount: Int, node: Int) throws {
        guard byteCount > 0 else { throw TopologyError("invalid NUMA buffer size \(byteCount): must be positive") }
        topology = try Placement.systemTopology()
        try Placement.checkNode(node)
        let topo = topology
        let pointer: UnsafeMutableRawPointer = try HwlocTopology.withBitmap([node]) { set in
            let flags = Int32(bitPattern: HWLOC_MEMBIND_BYNODESET.rawValue)
            guard let p = hwloc_alloc_membind(topo.handle, byteCount, set, HWLOC_MEMBIND_BIND, flags) else {
                throw TopologyError.call("hwloc_alloc_membind(\(byteCount) bytes, node \(node))")
            }
            return p
        }
        baseAddress = pointer
        self.byteCount = byteCount
        self.node = node
    }

    /// A buffer of `count` doubles on `node`.
    public convenience init(doubles count: Int, node: Int) throws {
        try self.init(byteCount: count * MemoryLayout<Double>.stride, node: node)
    }

    deinit { hwloc_free(topology.handle, baseAddress, byteCount) }

    /// The memory as doubles.
    public var doubles: UnsafeMutableBufferPointer<Double> {
        UnsafeMutableBufferPointer(start: baseAddress.assumingMemoryBound(to: Double.self),
                                   count: byteCount / MemoryLayout<Double>.stride)
    }

    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: baseAddress, count: byteCount) }

    /// Writes zeros over the whole buffer from the calling thread, so every page
    /// is allocated now (on the bound node) rather than at its first later use.
    public func firstTouch() { memset(baseAddress, 0, byteCount) }

    /// Where each page of the buffer lives.
    public func pageLocations() throws -> PageLocationReport {
        try PageLocations.check(bytes, intendedNode: node)
    }
}
