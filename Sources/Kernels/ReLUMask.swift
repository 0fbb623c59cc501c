/// The sign mask of a residual layer's pre-activation: a rows × cols matrix of
/// bytes, 1 where ReLU'(z) = 1 (`not (z <= 0)`, so also for NaN) and 0
/// elsewhere, in the feature-major layout of ``Matrix`` with its own leading
/// dimension `ld >= cols` (element (i, j) at `i·ld + j`).
///
/// ``LayerKernels/residualForward(beta:W:b:X:Y:Z:mask:family:)`` writes it
/// where it writes `Z`, and ``LayerKernels/residualAdjoint(beta:W:X:Z:mask:lambdaNext:lambda:dW:db:family:)``
/// reads it instead of `Z`: the same gradients bit for bit, from one byte per
/// entry instead of a `Double`'s eight. Memory is 64-byte aligned and zeroed;
/// `ld` defaults to `cols` rounded up to a cache line (64 bytes), plus one line
/// when that is a multiple of 1 KiB (the rule of ``paddedLeadingDimension(_:_:)``).
/// A class like ``Matrix``: ``columns(_:)`` makes a view sharing the bytes.
public final class ReLUMask: @unchecked Sendable {
    public let rows: Int
    public let cols: Int
    public let ld: Int

    private let storage: ByteStorage
    private let offset: Int
    /// Pointer to entry (0, 0); valid while this mask or a view of it is alive (stored, like ``Matrix/baseAddress``).
    public let baseAddress: UnsafeMutablePointer<UInt8>

    /// A zero mask (every ReLU off).
    public init(rows: Int, cols: Int, ld: Int? = nil) {
        precondition(rows >= 0 && cols >= 0, "negative mask shape \(rows)×\(cols)")
        let lead = ld ?? ReLUMask.paddedLeadingDimension(cols)
        precondition(lead >= cols, "leading dimension \(lead) < cols \(cols)")
        self.rows = rows
        self.cols = cols
        self.ld = lead
        storage = ByteStorage(count: rows * lead)
        offset = 0
        baseAddress = storage.base
    }

    private init(storage: ByteStorage, offset: Int, rows: Int, cols: Int, ld: Int) {
        self.storage = storage
        self.offset = offset
        baseAddress = storage.base + offset
        self.rows = rows
        self.cols = cols
        self.ld = ld
    }

    /// `cols` bytes rounded up to whole 64-byte lines (at least one), one more
    /// line when the stride would be a multiple of 1 KiB.
    public static func paddedLeadingDimension(_ cols: Int) -> Int {
        let lines = max(64, (cols + 63) / 64 * 64)
        return lines % 1024 == 0 ? lines + 64 : lines
    }

    /// "rows×cols", for messages.
    public var shapeDescription: String { "\(rows)×\(cols)" }

    /// Whether ReLU is on at (i, j). Traps if out of range.
    public subscript(i: Int, j: Int) -> Bool {
        precondition(i >= 0 && i < rows && j >= 0 && j < cols, "index (\(i), \(j)) out of \(shapeDescription)")
        return baseAddress[i * ld + j] != 0
    }

    /// A view of columns `range` (a sub-batch): shares the bytes, same `ld`.
    public func columns(_ range: Range<Int>) -> ReLUMask {
        precondition(range.lowerBound >= 0 && range.upperBound <= cols, "columns \(range) out of \(shapeDescription)")
        return ReLUMask(storage: storage, offset: offset + range.lowerBound, rows: rows, cols: range.count, ld: ld)
    }

    /// The entries row by row (0 or 1).
    public func toArray() -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(rows * cols)
        for i in 0 ..< rows { out.append(contentsOf: UnsafeBufferPointer(start: baseAddress + i * ld, count: cols)) }
        return out
    }

    @usableFromInline
    func span(_ name: StaticString) -> MemorySpan {
        let s = UInt(bitPattern: baseAddress)
        let n = rows == 0 || cols == 0 ? 0 : (rows - 1) * ld + cols
        return MemorySpan(name: name, start: s, end: s + UInt(n))
    }

    /// Zeroed, 64-byte-aligned bytes, freed once.
    private final class ByteStorage {
        let base: UnsafeMutablePointer<UInt8>
        init(count: Int) {
            let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: 64)
            raw.initializeMemory(as: UInt8.self, repeating: 0, count: max(count, 1))
            base = raw.bindMemory(to: UInt8.self, capacity: max(count, 1))
        }
        deinit { UnsafeMutableRawPointer(base).deallocate() }
    }
}
