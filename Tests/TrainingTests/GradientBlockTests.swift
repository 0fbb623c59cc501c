import Comm
import MGRIT
import ResNet
import Testing
import Training

@Suite("Layer-parallel gradient blocks")
struct GradientBlockTests {
    @Test("every parameter's gradient is in the block of the rank that computes it, and the blocks tile the vector",
          arguments: [1, 2, 3, 12, 50])
    func blocksFollowOwnership(depth N: Int) throws {
        let shape = NetworkShape(inputs: 6, width: 4, outputs: 1, depth: N)
        let layout = shape.layout
        for P in [1, 2, 3, 5, 8] {
            let blocks = ParallelEngine.gradientBlocks(adjoint: try TimePartition.block(stepCount: N, size: P).reversed(),
                                                       depth: N, layout: layout)
            #expect(blocks.count == P)
            // Oracle: λⁿ lives on the owner of forward point n, and layer n's gradient is
            // formed with it (the adjoint step from λⁿ⁺¹ to λⁿ); the opening layer's with λ⁰,
            // the closing layer's with the loss at xᴺ.
            let points = try BlockDistribution(count: N + 1, parts: P)
            func owner(_ index: Int) -> Int? { blocks.firstIndex { $0.contains(index) } }
            #expect(owner(layout.openingWeights) == points.owner(of: 0) && owner(layout.openingBias) == points.owner(of: 0))
            for n in 0 ..< N {
                #expect(owner(layout.hiddenWeights(n)) == points.owner(of: n), "depth \(N), \(P) ranks, layer \(n)")
                #expect(owner(layout.hiddenBias(n)) == points.owner(of: n), "depth \(N), \(P) ranks, bias \(n)")
            }
            #expect(owner(layout.closingWeights) == points.owner(of: N) && owner(layout.count - 1) == points.owner(of: N))
            // Disjoint, and together exactly 0 ..< count.
            let sorted = blocks.filter { !$0.isEmpty }.sorted { $0.lowerBound < $1.lowerBound }
            #expect(sorted.first?.lowerBound == 0 && sorted.last?.upperBound == layout.count)
            #expect(zip(sorted, sorted.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound }, "depth \(N), \(P) ranks: \(blocks)")
        }
    }
}
