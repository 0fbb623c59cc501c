/// How ranks are laid out over the machine.
public enum PlacementPolicy: String, Codable, CaseIterable, Sendable {
    /// Like `hwloc_distrib`: ranks spread over packages, then caches, then
    /// cores, proportionally to their PU counts, with consecutive ranks kept
    /// together — consecutive layer blocks (halo neighbours) share a socket
    /// and its L3 wherever the count allows.
    case spread
    /// PUs filled in logical order: both threads of core 0, then core 1, …,
    /// package 0 before package 1.
    case compact
}

/// Where one rank runs.
public struct RankPlacement: Codable, Sendable, Equatable {
    public var rank: Int
    /// OS indexes of the PUs the rank is bound to (one per thread of the rank).
    public var pus: [Int]
    /// The same set in hwloc bitmap form (as `hwloc-distrib` prints it).
    public var cpuset: String
    /// Logical indexes of the cores holding those PUs.
    public var cores: [Int]
    /// Logical indexes of the packages (sockets).
    public var packages: [Int]
    /// OS indexes of the NUMA nodes local to those PUs: where the rank's memory belongs.
    public var numaNodes: [Int]
    /// The single NUMA node to allocate on (the first of ``numaNodes``).
    public var numaNode: Int? { numaNodes.first }
}

/// A placement plan: each rank's PUs, cores, socket and NUMA node.
public struct PlacementPlan: Codable, Sendable {
    public var source: String
    public var ranks: Int
    public var threadsPerRank: Int
    public var policy: PlacementPolicy
    /// True when ranks × threads exceeds the PUs and PUs are shared.
    public var oversubscribed: Bool
    public var placements: [RankPlacement]

    /// Plans `ranks` ranks of `threadsPerRank` threads each on `topology`.
    ///
    /// Spread: the `ranks × threadsPerRank` threads are distributed exactly as
    /// `hwloc_distrib` does (hwloc 2.9 `helper.h`) from the machine root down
    /// to PUs, each share reduced to its first PU (`hwloc_bitmap_singlify`),
    /// and rank r takes threads `r·T ..< (r+1)·T`; for T = 1 the plan is
    /// `hwloc-distrib --single P`. Compact: rank r takes PUs `r·T ..< (r+1)·T`
    /// in logical order.
    ///
    /// - Throws: ``TopologyError`` if `ranks` or `threadsPerRank` is below 1, or if
    ///   `ranks × threadsPerRank` exceeds the PUs and `oversubscribe` is false.
    /// The most threads (ranks × threads per rank) a plan holds: far beyond any machine
    /// or job, yet a few hundred MiB of plan at most.
    public static let largestPlan = 1 << 22

    public init(topology: MachineTopology, ranks: Int, threadsPerRank: Int = 1,
                policy: PlacementPolicy = .spread, oversubscribe: Bool = false) throws {
        guard ranks >= 1 else { throw TopologyError("invalid rank count \(ranks): need at least 1 rank") }
        guard threadsPerRank >= 1 else {
            throw TopologyError("invalid threads per rank \(threadsPerRank): need at least 1")
        }
        let puCount = topology.pus.count
        guard puCount > 0 else { throw TopologyError("topology \(topology.source) has no PUs") }
        let (threads, overflow) = ranks.multipliedReportingOverflow(by: threadsPerRank)
        // One entry per thread and a few per rank: refuse a plan that could not be held (or counted).
        guard !overflow, threads <= Self.largestPlan else {
            throw TopologyError("\(ranks) ranks × \(threadsPerRank) threads is too large a plan (at most \(Self.largestPlan) threads)")
        }
        if threads > puCount && !oversubscribe {
            throw TopologyError("\(ranks) ranks × \(threadsPerRank) threads = \(threads) exceeds the \(puCount) PUs of "
                + "\(topology.source); pass --oversubscribe to share PUs")
        }
        source = topology.source
        self.ranks = ranks
        self.threadsPerRank = threadsPerRank
        self.policy = policy
        oversubscribed = threads > puCount

        let threadPUs: [Int]
        switch policy {
        case .spread:
            threadPUs = distribute(topology.distribTree, count: threads).map { $0.min()! }
        case .compact:
            let logical = topology.pus.sorted { $0.index < $1.index }.map(\.osIndex)
            threadPUs = (0..<threads).map { logical[$0 % puCount] }
        }
        let coreOfPU = Dictionary(topology.pus.map { ($0.osIndex, $0.core) }, uniquingKeysWith: { a, _ in a })
        let packageOfPU = Dictionary(topology.packages.flatMap { p in p.pus.map { ($0, p.index) } },
                                     uniquingKeysWith: { a, _ in a })
        let nodeOfPU = Dictionary(topology.numaNodes.flatMap { n in n.pus.map { ($0, n.osIndex) } },
                                  uniquingKeysWith: { a, _ in a })
        placements = (0..<ranks).map { r in
            let pus = Array(threadPUs[(r * threadsPerRank)..<((r + 1) * threadsPerRank)])
            let unique = Array(Set(pus)).sorted()
            func collect(_ map: [Int: Int]) -> [Int] {
                var seen: [Int] = []
                for p in pus { if let v = map[p], !seen.contains(v) { seen.append(v) } }
                return seen.sorted()
            }
            let cores = collect(coreOfPU.compactMapValues { $0 })
            return RankPlacement(rank: r, pus: unique, cpuset: CPUSetString.format(unique), cores: cores,
                                 packages: collect(packageOfPU), numaNodes: collect(nodeOfPU))
        }
    }

    /// The placement of `rank` (0-based).
    public func placement(ofRank rank: Int) -> RankPlacement? {
        placements.indices.contains(rank) ? placements[rank] : nil
    }

    /// A human-readable table, one line per rank.
    public func table() -> String {
        var lines = ["Placement of \(ranks) rank(s) × \(threadsPerRank) thread(s), policy \(policy.rawValue), "
            + "on \(source)" + (oversubscribed ? " (OVERSUBSCRIBED: PUs are shared)" : "")]
        let header = ["rank", "cpuset", "PUs (P#)", "cores (L#)", "socket", "NUMA node"]
        let rows = placements.map { p in
            [String(p.rank), p.cpuset, rangeList(p.pus), rangeList(p.cores),
             p.packages.isEmpty ? "-" : rangeList(p.packages), p.numaNodes.isEmpty ? "-" : rangeList(p.numaNodes)]
        }
        let widths = header.indices.map { c in ([header[c]] + rows.map { $0[c] }).map(\.count).max()! }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { c, s in s.padding(toLength: widths[c], withPad: " ", startingAt: 0) }
                .joined(separator: "  ").trimmingTrailingSpaces()
        }
        lines.append(line(header))
        lines += rows.map(line)
        return lines.joined(separator: "\n") + "\n"
    }

    /// An Open MPI (4.1) rankfile: `rank R=HOST slot=S:C,S:C…` with logical
    /// socket S and the logical core C counted inside that socket, the form
    /// `mpirun --rankfile FILE` maps and binds with. Open MPI binds a rank to
    /// whole cores (all hardware threads of each listed core). Lines starting
    /// with `#` are comments for Open MPI's rankfile parser.
    public func rankfile(host: String = "localhost", topology: MachineTopology) -> String {
        let coreByIndex = Dictionary(topology.cores.map { ($0.index, $0) }, uniquingKeysWith: { a, _ in a })
        var text = "# layerpar topology rankfile: \(ranks) rank(s) × \(threadsPerRank) thread(s), "
            + "policy \(policy.rawValue), topology \(source)\n"
            + "# slot=socket:core with logical indexes (core counted within its socket)\n"
        for p in placements {
            let slots = p.cores.compactMap { coreByIndex[$0] }.map { "\($0.package ?? 0):\($0.indexInPackage)" }
            text += "rank \(p.rank)=\(host) slot=\(slots.joined(separator: ","))\n"
        }
        return text
    }
}

/// `hwloc_distrib` (hwloc 2.9, helper.h) over our snapshot of the normal-object
/// tree, down to the leaves: each root gets a share of `count` proportional to
/// its PU count, rounded so that the shares add up
/// (chunk = ⌈(W_given + w)·n / W⌉ − ⌈W_given·n / W⌉), and a root that gets more
/// than one share is split among its children. A root that gets none is
/// merged into the previous share so that no PU is left out.
func distribute(_ root: DistribNode, count: Int) -> [[Int]] {
    var out: [[Int]] = []
    distribute([root], count: count, into: &out)
    return out
}

private func distribute(_ roots: [DistribNode], count n: Int, into out: inout [[Int]]) {
    let total = roots.reduce(0) { $0 + $1.pus.count }
    guard total > 0 else { return }
    var givenWeight = 0
    for root in roots {
        let weight = root.pus.count
        if weight == 0 { continue }
        let chunk = ((givenWeight + weight) * n + total - 1) / total - (givenWeight * n + total - 1) / total
        if root.children.isEmpty || chunk <= 1 {
            if chunk > 0 {
                for _ in 0..<chunk { out.append(root.pus) }
            } else if !out.isEmpty {
                out[out.count - 1] = Array(Set(out[out.count - 1] + root.pus)).sorted()
            }
        } else {
            distribute(root.children, count: chunk, into: &out)
        }
        givenWeight += weight
    }
}

extension String {
    func trimmingTrailingSpaces() -> String {
        var s = self
        while s.last == " " { s.removeLast() }
        return s
    }
}
