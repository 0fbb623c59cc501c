extension PlacementPlan {
    /// Where the batch groups of a `D × L` grid (`train --data-groups D`) land in this
    /// plan: batch group `g` is ranks `g·L … g·L+L−1` (its layer blocks, neighbours
    /// exchanging boundary states), listed with the sockets, cores and NUMA nodes
    /// they cover. A group on more than one socket is marked: its boundary messages
    /// cross the socket link (unavoidable only when its ranks do not fit on one).
    ///
    /// - Throws: ``TopologyError`` when `dataGroups` does not divide the rank count.
    public func gridTable(dataGroups d: Int) throws -> String {
        guard d >= 1, ranks % d == 0 else {
            throw TopologyError("--data-groups \(d) does not divide --ranks \(ranks)")
        }
        let l = ranks / d
        var lines = ["Grid \(d) batch group(s) × \(l) layer rank(s): batch group g = ranks g·\(l) … g·\(l)+\(l - 1)"]
        for g in 0 ..< d {
            let members = placements[g * l ..< (g + 1) * l]
            let sockets = Set(members.flatMap(\.packages)).sorted()
            let numa = Set(members.flatMap(\.numaNodes)).sorted()
            let cores = members.flatMap(\.cores)
            lines.append("batch group \(g): ranks \(g * l)-\((g + 1) * l - 1), socket(s) \(rangeList(sockets)), cores \(rangeList(cores.sorted())), NUMA \(numa.isEmpty ? "-" : rangeList(numa))"
                         + (sockets.count > 1 ? "  (spans \(sockets.count) sockets)" : ""))
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
