import CHwloc
import Foundation

/// The outcome of a binding request, with the binding read back from the OS.
public struct BindingResult: Codable, Sendable, Equatable {
    /// False when the topology is not this system (planning only): nothing was bound.
    public var applied: Bool
    /// OS indexes of the PUs requested.
    public var requestedPUs: [Int]
    /// OS indexes of the PUs the OS reports the process (or thread) bound to,
    /// read back with `hwloc_get_cpubind` after binding; `nil` when not applied.
    public var boundPUs: [Int]?
    /// The CPU the calling thread was running on right after binding (`sched_getcpu`).
    public var currentCPU: Int?
    public var note: String
}

/// Binding of processes, threads and memory to the PUs and NUMA nodes of this machine.
///
/// Every function acts only when the topology of the plan is this system:
/// with a synthetic, XML or preset topology it binds nothing and says so in
/// ``BindingResult/note``.
public enum Placement {
    /// The running system's topology, loaded once.
    static let system: Result<HwlocTopology, any Error> = Result { try HwlocTopology(.thisMachine) }

    static func systemTopology() throws -> HwlocTopology { try system.get() }

    /// Binds every thread of the calling process to `pus` (OS indexes) with
    /// `hwloc_set_cpubind(…, HWLOC_CPUBIND_PROCESS)` and reads the binding back.
    /// - Throws: ``TopologyError`` naming the failing hwloc call, or if a PU does not exist.
    public static func bindProcess(to pus: [Int], topology source: TopologySource = .thisMachine) throws -> BindingResult {
        try bind(pus, source: source, flags: HWLOC_CPUBIND_PROCESS, what: "process")
    }

    /// Binds the calling thread to `pus` (`HWLOC_CPUBIND_THREAD`) and reads the binding back.
    public static func bindThread(to pus: [Int], topology source: TopologySource = .thisMachine) throws -> BindingResult {
        try bind(pus, source: source, flags: HWLOC_CPUBIND_THREAD, what: "thread")
    }

    /// The PUs (OS indexes) the calling process is bound to, as the OS reports them.
    public static func processBinding() throws -> [Int] { try readBinding(HWLOC_CPUBIND_PROCESS) }

    /// The PUs (OS indexes) the calling thread is bound to, as the OS reports them.
    public static func threadBinding() throws -> [Int] { try readBinding(HWLOC_CPUBIND_THREAD) }

    /// The CPU (OS index) the calling thread runs on now (`sched_getcpu`).
    public static func currentCPU() -> Int { Int(CHwloc_current_cpu()) }

    /// OS indexes of the NUMA nodes of this machine.
    public static func numaNodesOfThisMachine() throws -> [Int] {
        let topo = try systemTopology()
        return topo.objects(of: HWLOC_OBJ_NUMANODE).map { Int($0.pointee.os_index) }
    }

    /// Binds future memory allocations of the calling thread to NUMA node `node`
    /// (`hwloc_set_membind`, `HWLOC_MEMBIND_BIND`): pages first touched after
    /// this call are placed on that node. Returns false (and does nothing) when
    /// `source` is not this system.
    @discardableResult
    public static func bindMemory(toNUMANode node: Int, topology source: TopologySource = .thisMachine) throws -> Bool {
        guard source == .thisMachine else { return false }
        let topo = try systemTopology()
        try checkNode(node)
        return try HwlocTopology.withBitmap([node]) { set in
            let flags = Int32(bitPattern: HWLOC_MEMBIND_BYNODESET.rawValue | HWLOC_MEMBIND_THREAD.rawValue)
            if hwloc_set_membind(topo.handle, set, HWLOC_MEMBIND_BIND, flags) != 0 {
                throw TopologyError.call("hwloc_set_membind(node \(node), HWLOC_MEMBIND_BIND)")
            }
            return true
        }
    }

    /// Returns the calling thread's memory policy to the system default
    /// (`HWLOC_MEMBIND_DEFAULT`: first touch on the local node), undoing ``bindMemory(toNUMANode:topology:)``.
    public static func unbindMemory() throws {
        let topo = try systemTopology()
        let flags = Int32(bitPattern: HWLOC_MEMBIND_THREAD.rawValue)
        if hwloc_set_membind(topo.handle, hwloc_topology_get_topology_cpuset(topo.handle), HWLOC_MEMBIND_DEFAULT, flags) != 0 {
            throw TopologyError.call("hwloc_set_membind(HWLOC_MEMBIND_DEFAULT)")
        }
    }

    static func checkNode(_ node: Int) throws {
        let nodes = try numaNodesOfThisMachine()
        guard nodes.contains(node) else {
            throw TopologyError("NUMA node \(node) does not exist on this machine (nodes: \(rangeList(nodes)))")
        }
    }

    private static func bind(_ pus: [Int], source: TopologySource, flags: hwloc_cpubind_flags_t,
                             what: String) throws -> BindingResult {
        guard !pus.isEmpty else { throw TopologyError("cannot bind a \(what) to an empty PU set") }
        guard source == .thisMachine else {
            return BindingResult(applied: false, requestedPUs: pus, boundPUs: nil, currentCPU: nil,
                                 note: "not bound: the plan's topology (\(source)) is not this system; "
                                     + "binding is a no-op for planning topologies")
        }
        let topo = try systemTopology()
        guard topo.isThisSystem else {
            return BindingResult(applied: false, requestedPUs: pus, boundPUs: nil, currentCPU: nil,
                                 note: "not bound: hwloc does not consider the loaded topology this system")
        }
        let allowed = Set(HwlocTopology.indexes(hwloc_topology_get_allowed_cpuset(topo.handle)))
        if let missing = pus.first(where: { !allowed.contains($0) }) {
            throw TopologyError("hwloc_set_cpubind(\(CPUSetString.format(pus))) failed: PU P#\(missing) "
                + "does not exist or is not allowed on this machine (PUs P#\(rangeList(Array(allowed))))")
        }
        try HwlocTopology.withBitmap(pus) { set in
            if hwloc_set_cpubind(topo.handle, set, Int32(bitPattern: flags.rawValue)) != 0 {
                throw TopologyError.call("hwloc_set_cpubind(\(CPUSetString.format(pus)), \(what))")
            }
        }
        let back = try readBinding(flags)
        return BindingResult(applied: true, requestedPUs: pus.sorted(), boundPUs: back, currentCPU: currentCPU(),
                             note: "\(what) bound to PUs P#\(rangeList(pus)); read back P#\(rangeList(back))")
    }

    private static func readBinding(_ flags: hwloc_cpubind_flags_t) throws -> [Int] {
        let topo = try systemTopology()
        guard let set = hwloc_bitmap_alloc() else { throw TopologyError.call("hwloc_bitmap_alloc") }
        defer { hwloc_bitmap_free(set) }
        if hwloc_get_cpubind(topo.handle, set, Int32(bitPattern: flags.rawValue)) != 0 {
            throw TopologyError.call("hwloc_get_cpubind")
        }
        return HwlocTopology.indexes(set)
    }
}

/// What one rank of a run did about its placement: the plan, the binding as
/// the OS reports it, and the NUMA node its memory is bound to. Meant for the
/// run summary of `train` and `scaling`.
public struct RankBindingSummary: Codable, Sendable {
    public var rank: Int
    public var planned: RankPlacement
    public var binding: BindingResult
    /// OS index of the NUMA node the rank's later allocations are bound to, `nil` if none.
    public var memoryNode: Int?
}

/// One call for a rank of a run: plan, bind, bind memory.
public enum RunPlacement {
    /// Plans `ranks` ranks on `source`, binds the calling process (rank `rank`)
    /// to its planned PUs, and binds the calling thread's future allocations to
    /// the rank's NUMA node, so buffers allocated and first touched afterwards
    /// (layer states, weights, gradients) are local. With a planning topology
    /// (synthetic/XML/preset) nothing is bound and the summary says so.
    public static func bindRank(_ rank: Int, of ranks: Int, threadsPerRank: Int = 1,
                                policy: PlacementPolicy = .spread, source: TopologySource = .thisMachine,
                                oversubscribe: Bool = false) throws -> RankBindingSummary {
        let topology = try MachineTopology.load(source)
        let plan = try PlacementPlan(topology: topology, ranks: ranks, threadsPerRank: threadsPerRank,
                                     policy: policy, oversubscribe: oversubscribe)
        guard let mine = plan.placement(ofRank: rank) else {
            throw TopologyError("rank \(rank) is outside the plan of \(ranks) ranks")
        }
        let binding = try Placement.bindProcess(to: mine.pus, topology: source)
        var node: Int?
        if binding.applied, let n = mine.numaNode, try Placement.bindMemory(toNUMANode: n, topology: source) {
            node = n
        }
        return RankBindingSummary(rank: rank, planned: mine, binding: binding, memoryNode: node)
    }
}
