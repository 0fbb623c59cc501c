import Foundation
import Testing
import Topology
import _TestSupport


/// hwloc-calc's comma-separated index list output ("0,1,5") as integers.
func indexList(_ text: String) -> [Int] {
    text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ",").compactMap { Int($0) }
}

/// The synthetic topologies the placement is checked on: 1, 2 and 4 packages,
/// with and without SMT, one or two L3 per package, plus the target preset.
let plannedTopologies: [TopologySource] = [
    .preset(.xeonE5_2630v4_2s),
    .synthetic("pack:1 [numa] l3:1 core:10 pu:1"),
    .synthetic("pack:1 [numa] l3:1 core:8 pu:2"),
    .synthetic("pack:2 [numa] l3:1 core:10 pu:1"),
    .synthetic("pack:2 [numa] l3:1 core:5 pu:2"),
    .synthetic("pack:4 [numa] l3:1 core:10 pu:1"),
    .synthetic("pack:4 [numa] l3:2 core:3 pu:2"),
]

let plannedRankCounts = [1, 2, 4, 10, 20, 40]
