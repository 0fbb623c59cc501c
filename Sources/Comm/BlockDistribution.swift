/// Block distribution of `count` consecutive items (layers, time points) over
/// `parts` ranks: rank r owns `range(of: r)`, the first `count % parts` ranks one
/// item more than the rest. Ranks may own nothing when `count < parts`.
public struct BlockDistribution: Sendable, Equatable {
    public let count: Int
    public let parts: Int

    /// - Precondition: `count ≥ 0`, `parts ≥ 1` (checked; invalid values throw).
    public init(count: Int, parts: Int) throws {
        guard count >= 0 else { throw CommError(call: "BlockDistribution", message: "negative item count \(count)") }
        guard parts >= 1 else { throw CommError(call: "BlockDistribution", message: "need at least one part, got \(parts)") }
        self.count = count
        self.parts = parts
    }

    /// The items owned by `rank`, possibly empty.
    public func range(of rank: Int) -> Range<Int> {
        let base = count / parts, extra = count % parts
        let lower = rank * base + min(rank, extra)
        return lower ..< lower + base + (rank < extra ? 1 : 0)
    }

    /// The rank that owns `item` (`0 ..< count`).
    public func owner(of item: Int) -> Int {
        let base = count / parts, extra = count % parts
        let split = extra * (base + 1)
        if item < split { return item / (base + 1) }
        return extra + (item - split) / base
    }
}
