import Comm

extension ExampleWarmStart {
    /// Makes every batch group's store hold the C-points of the whole mini-batch after
    /// a step in which each group solved its share: group `g` writes the blocks of its
    /// examples (positions `share` of `batch`) into a `B·points·width` buffer, zeros
    /// elsewhere, and a sum over `batches` (the ranks that own the same points in every
    /// group) hands every group all of them. Afterwards each group's store is the one
    /// a single group solving the whole batch would keep — each example starts from its
    /// own last visit whichever group solves it next — and all groups' stores are equal,
    /// so a checkpoint is the same on every group and resumes on any decomposition.
    ///
    /// `incoming(j)` multiplies the block received for batch position `j` (the adjoint
    /// store: another group's adjoints are scaled by its `1/B_h`, this group's by `1/B_g`).
    func share(batch: [Int], share: Range<Int>, over batches: any Communicator,
               buffer: UnsafeMutableBufferPointer<Double>, incoming: (Int) -> Double = { _ in 1 }) throws {
        let block = points.count * width
        precondition(buffer.count >= batch.count * block)
        guard block > 0 else { return }
        let exchanged = UnsafeMutableBufferPointer(rebasing: buffer[0 ..< batch.count * block])
        exchanged.update(repeating: 0)
        let x = exchanged.baseAddress!
        values.withUnsafeBufferPointer { v in
            for j in share { (x + j * block).update(from: v.baseAddress! + batch[j] * block, count: block) }
        }
        try batches.allreduceSum(inPlace: exchanged)
        values.withUnsafeMutableBufferPointer { v in
            for (j, e) in batch.enumerated() where !share.contains(j) {
                let f = incoming(j), to = v.baseAddress! + e * block, from = x + j * block
                if f == 1 {
                    to.update(from: from, count: block)
                } else {
                    for i in 0 ..< block { to[i] = f * from[i] }
                }
            }
        }
        for e in batch { seen[e] = true }
    }
}
