/// Zero-initialised, 64-byte-aligned memory owned by a class, so that matrices
/// and vectors (and views of them) can share it and free it exactly once.
///
/// 64 bytes is one cache line on x86-64 and the width of two ymm registers:
/// rows that start on a line boundary never split a vector load across lines.
public final class AlignedStorage<Scalar: KernelScalar>: @unchecked Sendable {
    /// Alignment in bytes of every allocation.
    public static var alignment: Int { 64 }

    public let base: UnsafeMutablePointer<Scalar>
    public let count: Int

    public init(count: Int) {
        precondition(count >= 0, "negative element count \(count)")
        self.count = count
        let bytes = max(count, 1) * MemoryLayout<Scalar>.stride
        let raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: Self.alignment)
        raw.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        base = raw.bindMemory(to: Scalar.self, capacity: max(count, 1))
    }

    deinit { UnsafeMutableRawPointer(base).deallocate() }
}

/// Elements of `Scalar` in one 64-byte cache line (8 doubles, 16 floats).
@inlinable
public func cacheLineElements<Scalar: KernelScalar>(_: Scalar.Type) -> Int {
    64 / MemoryLayout<Scalar>.stride
}

/// The default leading dimension for rows of `n` elements: `n` rounded up to a
/// whole number of cache lines (at least one line), plus one more line when
/// the row stride would be a multiple of 1 KiB.
///
/// Why the extra line: with a stride of k·1 KiB, rows i, i+1, … of X, Y and Z
/// map to only 64/(16k) of the 64 sets of a 32 KiB 8-way L1, so a kernel that
/// walks one batch panel down all rows evicts its own lines. Measured on the
/// AVX2 forward kernel at w = 16/32, B = 256: 39 → 44 and 44 → 49 GFLOP/s.
@inlinable
public func paddedLeadingDimension<Scalar: KernelScalar>(_ n: Int, _: Scalar.Type) -> Int {
    let line = cacheLineElements(Scalar.self)
    let lines = max(line, (n + line - 1) / line * line)
    return (lines * MemoryLayout<Scalar>.stride) % 1024 == 0 ? lines + line : lines
}
