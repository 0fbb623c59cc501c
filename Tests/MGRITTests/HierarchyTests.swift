import Comm
import _TestSupport
import MGRIT
import Testing

/// ``MGRITHierarchy``: the levels and per-rank ownership the solver builds,
/// readable without a solver (a cost model's input).
@Suite("MGRIT hierarchy and ownership")
struct HierarchyTests {
    @Test func hierarchyAndOwnershipAreTheSolversOwn() throws {
        let p = ScalarProblem(steps: 50)
        let options = MGRITOptions(coarsening: 3)
        let uneven = try TimePartition(ranks: [3, 1, 0, 2], ranges: [0 ..< 2, 2 ..< 2, 2 ..< 30, 30 ..< 51], pointCount: 51)
        let h = try MGRITHierarchy(stepCount: 50, options: options)
        #expect(h.pointsPerLevel == [51, 17, 6, 2])
        #expect(h.strides == [1, 3, 9, 27])
        #expect(h.ownedPoints(level: 0, partition: uneven) == uneven.ranges)
        #expect(h.ownedPoints(level: 2, partition: uneven) == [0 ..< 1, 1 ..< 1, 1 ..< 4, 4 ..< 6])
        #expect(h.ownedPoints(level: 3, partition: uneven) == [0 ..< 1, 1 ..< 1, 1 ..< 2, 2 ..< 2])
        for l in 0 ..< h.levelCount {
            let owned = h.ownedPoints(level: l, partition: uneven)
            #expect(owned.first!.lowerBound == 0 && owned.last!.upperBound == h.pointsPerLevel[l])
            for (a, b) in zip(owned, owned.dropFirst()) { #expect(a.upperBound == b.lowerBound, "level \(l): \(owned)") }
        }
        // The solver on every rank of the partition reports the same hierarchy and its own fine range.
        let outs = try LocalGroup.run(size: 4) { comm -> (MGRITHierarchy, [Range<Int>], Int) in
            let s = try MGRITSolver(problem: ScalarProblem(steps: 50), options: options, comm: comm, partition: uneven)
            #expect(s.ownedRange == s.ownedRange(level: 0))
            return (s.hierarchy, (0 ..< s.levelCount).map { s.ownedRange(level: $0) }, s.position)
        }
        for (hierarchy, ranges, position) in outs {
            #expect(hierarchy == h)
            #expect(ranges == (0 ..< h.levelCount).map { h.ownedPoints(level: $0, partition: uneven)[position] })
        }
        // Block distributions, more ranks than coarse points: what a cost model reads per level.
        for (steps, ranks) in [(40, 7), (200, 3), (9, 4)] {
            let hb = try MGRITHierarchy(stepCount: steps, options: MGRITOptions(coarsening: 4))
            let block = try TimePartition.block(stepCount: steps, size: ranks)
            let solvers = try LocalGroup.run(size: ranks) { comm -> [Range<Int>] in
                let s = try MGRITSolver(problem: ScalarProblem(steps: steps), options: MGRITOptions(coarsening: 4), comm: comm)
                return (0 ..< s.levelCount).map { s.ownedRange(level: $0) }
            }
            for l in 0 ..< hb.levelCount {
                let owned = hb.ownedPoints(level: l, partition: block)
                #expect(owned == solvers.map { $0[l] }, "N=\(steps) P=\(ranks) level \(l)")
                #expect(owned.map(\.count).reduce(0, +) == hb.pointsPerLevel[l])
            }
        }
        let s = try MGRITSolver(problem: p, options: options, comm: SerialCommunicator())
        #expect(s.hierarchy.pointsPerLevel == s.pointsPerLevel)
        #expect(throws: MGRITError.self) { _ = try MGRITHierarchy(stepCount: 0, options: options) }
        #expect(throws: MGRITError.self) { _ = try MGRITHierarchy(stepCount: 10, options: MGRITOptions(coarsening: 1)) }
    }
}
