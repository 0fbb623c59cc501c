/// A rows × cols matrix of `Scalar` in 64-byte-aligned memory, stored row-major
/// with a leading dimension `ld >= cols`: element (i, j) is at `i·ld + j`.
///
/// A batch of B samples of width w is a w × B matrix (feature-major, batch
/// contiguous), the layout of `layerpar_kernels.h`; a weight matrix is
/// outputs × inputs. By default `ld` is `cols` rounded up to a whole cache
/// line (8 doubles / 16 floats), so every row starts on a line boundary, plus
/// one line when the stride would be a multiple of 1 KiB (see
/// ``paddedLeadingDimension(_:_:)``); the padding is zero-initialised and
/// never read by any operation here.
///
/// `Matrix` is a class: copies of a reference share the elements. ``clone()``
/// makes a deep copy, ``columns(_:)`` and ``rows(_:)`` make *views* that share
/// the storage (and keep it alive). Nothing is synchronised: concurrent writes
/// to the same elements are the caller's business, as with
/// `UnsafeMutablePointer`.
///
/// Shape mismatches in the operations throw ``KernelError`` naming both
/// shapes; element access out of range is a programming error and traps, as
/// for `Array`.
public final class Matrix<Scalar: KernelScalar>: @unchecked Sendable {
    /// Number of rows (features of a batch; outputs of a weight matrix).
    public let rows: Int
    /// Number of columns (samples of a batch; inputs of a weight matrix).
    public let cols: Int
    /// Distance in elements between the starts of consecutive rows (≥ `cols`).
    public let ld: Int

    let storage: AlignedStorage<Scalar>
    let offset: Int
    /// Pointer to element (0, 0). Valid while this matrix (or any view of its
    /// storage) is alive; prefer ``withUnsafeMutablePointer(_:)`` which
    /// guarantees that. For hot loops that call CKernels through this module.
    /// Stored, not computed from `storage`: reading it touches no reference, so a
    /// kernel wrapper's operands cost no retain/release.
    public let baseAddress: UnsafeMutablePointer<Scalar>

    /// A number the one owner of this object may attach to it (a solver: the time point
    /// a state holds), −1 when none; a field rather than a table keyed by the object, so
    /// reading it costs a load. Neither copied by ``clone()`` nor shared with views.
    public var tag = -1

    /// A zero matrix. `ld` defaults to `cols` rounded up to a cache line;
    /// pass `ld: cols` for a packed (unpadded) matrix.
    public init(rows: Int, cols: Int, ld: Int? = nil) {
        precondition(rows >= 0 && cols >= 0, "negative matrix shape \(rows)×\(cols)")
        let lead = ld ?? paddedLeadingDimension(cols, Scalar.self)
        precondition(lead >= cols, "leading dimension \(lead) < cols \(cols)")
        self.rows = rows
        self.cols = cols
        self.ld = lead
        self.storage = AlignedStorage(count: rows * lead)
        self.offset = 0
        baseAddress = storage.base
    }

    /// A matrix from row-major `values` (`values.count == rows·cols`).
    public convenience init(rows: Int, cols: Int, ld: Int? = nil, rowMajor values: [Scalar]) throws(KernelError) {
        guard values.count == rows * cols else {
            throw KernelError("matrix \(rows)×\(cols) needs \(rows * cols) values, got \(values.count)")
        }
        self.init(rows: rows, cols: cols, ld: ld)
        values.withUnsafeBufferPointer { copyPacked(from: $0.baseAddress) }
    }

    /// A view (shared storage).
    init(storage: AlignedStorage<Scalar>, offset: Int, rows: Int, cols: Int, ld: Int) {
        self.storage = storage
        self.offset = offset
        baseAddress = storage.base + offset
        self.rows = rows
        self.cols = cols
        self.ld = ld
    }

    /// "rows×cols", for messages.
    public var shapeDescription: String { "\(rows)×\(cols)" }

    /// Number of elements, `rows·cols`.
    public var count: Int { rows * cols }

    /// Calls `body(pointer to (0,0), ld)` with the storage kept alive.
    public func withUnsafeMutablePointer<R, E: Error>(
        _ body: (UnsafeMutablePointer<Scalar>, Int) throws(E) -> R
    ) throws(E) -> R {
        defer { withExtendedLifetime(storage) {} }
        return try body(baseAddress, ld)
    }

    /// Element (i, j). Traps if out of range.
    public subscript(i: Int, j: Int) -> Scalar {
        get {
            precondition(i >= 0 && i < rows && j >= 0 && j < cols, "index (\(i), \(j)) out of \(shapeDescription)")
            return baseAddress[i * ld + j]
        }
        set {
            precondition(i >= 0 && i < rows && j >= 0 && j < cols, "index (\(i), \(j)) out of \(shapeDescription)")
            baseAddress[i * ld + j] = newValue
        }
    }

    /// A view of columns `range` (a sub-batch): shares storage, same `ld`.
    public func columns(_ range: Range<Int>) -> Matrix {
        precondition(range.lowerBound >= 0 && range.upperBound <= cols, "columns \(range) out of \(shapeDescription)")
        return Matrix(storage: storage, offset: offset + range.lowerBound, rows: rows,
                      cols: range.count, ld: ld)
    }

    /// A view of rows `range`: shares storage, same `ld`.
    public func rows(_ range: Range<Int>) -> Matrix {
        precondition(range.lowerBound >= 0 && range.upperBound <= rows, "rows \(range) out of \(shapeDescription)")
        return Matrix(storage: storage, offset: offset + range.lowerBound * ld, rows: range.count,
                      cols: cols, ld: ld)
    }

    /// A deep copy with the same shape (and a cache-line-padded `ld`).
    public func clone() -> Matrix {
        let c = Matrix(rows: rows, cols: cols)
        c.copyRows(from: self)
        return c
    }

    /// Sets every element to `value`.
    public func fill(_ value: Scalar) {
        let p = baseAddress
        for i in 0..<rows { (p + i * ld).update(repeating: value, count: cols) }
    }

    /// Sets every element to zero.
    public func zero() { fill(0) }

    /// The elements, row-major and packed (`rows·cols` values).
    public func toArray() -> [Scalar] {
        [Scalar](unsafeUninitializedCapacity: count) { buf, n in
            pack(into: UnsafeMutableBufferPointer(rebasing: buf[...]))
            n = count
        }
    }

    /// Row `i` as an array.
    public func row(_ i: Int) -> [Scalar] {
        precondition(i >= 0 && i < rows, "row \(i) out of \(shapeDescription)")
        return Array(UnsafeBufferPointer(start: baseAddress + i * ld, count: cols))
    }

    /// Copies the elements row-major and packed into `buffer` (for messages):
    /// `buffer.count` must be at least `rows·cols`.
    public func pack(into buffer: UnsafeMutableBufferPointer<Scalar>) {
        precondition(buffer.count >= count, "pack: buffer of \(buffer.count) < \(count) elements")
        guard let dst = buffer.baseAddress else { return }
        let p = baseAddress
        for i in 0..<rows { (dst + i * cols).update(from: p + i * ld, count: cols) }
    }

    /// Copies row-major packed elements from `buffer` (the inverse of ``pack(into:)``).
    public func unpack(from buffer: UnsafeBufferPointer<Scalar>) {
        precondition(buffer.count >= count, "unpack: buffer of \(buffer.count) < \(count) elements")
        copyPacked(from: buffer.baseAddress)
    }

    /// Copies row-major packed `values` (`values.count == rows·cols`).
    public func copy(from values: [Scalar]) throws(KernelError) {
        guard values.count == count else {
            throw KernelError("copy: matrix \(shapeDescription) needs \(count) values, got \(values.count)")
        }
        values.withUnsafeBufferPointer { copyPacked(from: $0.baseAddress) }
    }

    private func copyPacked(from src: UnsafePointer<Scalar>?) {
        guard let src else { return }
        let p = baseAddress
        for i in 0..<rows { (p + i * ld).update(from: src + i * cols, count: cols) }
    }

    private func copyRows(from x: Matrix) {
        let p = baseAddress, q = x.baseAddress
        withExtendedLifetime(x) {
            for i in 0..<rows { (p + i * ld).update(from: q + i * x.ld, count: cols) }
        }
    }

    func checkSameShape(_ x: Matrix, _ op: String) throws(KernelError) {
        guard x.rows == rows && x.cols == cols else {
            throw KernelError("\(op): shapes differ, \(x.shapeDescription) and \(shapeDescription)")
        }
    }

    /// self ← x (same shape; any leading dimensions).
    public func copy(from x: Matrix) throws(KernelError) {
        try checkSameShape(x, "copy")
        copyRows(from: x)
    }

    /// self ← self + a·x (BLAS axpy, row by row; same shape).
    public func axpy(_ a: Scalar, _ x: Matrix) throws(KernelError) {
        try checkSameShape(x, "axpy")
        let p = baseAddress, q = x.baseAddress
        withExtendedLifetime(x) {
            if ld == cols && x.ld == cols {
                Scalar._axpy(count, a, q, p)
            } else {
                for i in 0..<rows { Scalar._axpy(cols, a, q + i * x.ld, p + i * ld) }
            }
        }
    }

    /// self ← a·x + b·self (same shape): XBraid's `Sum`.
    public func sum(_ a: Scalar, _ x: Matrix, _ b: Scalar) throws(KernelError) {
        try checkSameShape(x, "sum")
        let p = baseAddress, q = x.baseAddress
        withExtendedLifetime(x) {
            for i in 0..<rows {
                let yr = p + i * ld, xr = q + i * x.ld
                for j in 0..<cols { yr[j] = a * xr[j] + b * yr[j] }
            }
        }
    }

    /// self ← a·self.
    public func scale(_ a: Scalar) {
        let p = baseAddress
        for i in 0..<rows {
            let r = p + i * ld
            for j in 0..<cols { r[j] *= a }
        }
    }

    /// Σᵢⱼ self(i,j)·x(i,j) (BLAS dot, row by row; same shape).
    public func dot(_ x: Matrix) throws(KernelError) -> Scalar {
        try checkSameShape(x, "dot")
        let p = baseAddress, q = x.baseAddress
        return withExtendedLifetime(x) {
            if ld == cols && x.ld == cols { return Scalar._dot(count, p, q) }
            var s: Scalar = 0
            for i in 0..<rows { s += Scalar._dot(cols, p + i * ld, q + i * x.ld) }
            return s
        }
    }

    /// ‖self‖²_F = Σ self(i,j)².
    public func squaredNorm() -> Scalar {
        let p = baseAddress
        if ld == cols { return Scalar._dot(count, p, p) }
        var s: Scalar = 0
        for i in 0..<rows { s += Scalar._dot(cols, p + i * ld, p + i * ld) }
        return s
    }

    /// ‖self‖_F, the ℓ² norm of all elements.
    public func norm() -> Scalar { squaredNorm().squareRoot() }

    /// max |self(i,j)| (0 for an empty matrix; NaN if any element is NaN).
    public func maxAbs() -> Scalar {
        var m: Scalar = 0
        let p = baseAddress
        for i in 0..<rows {
            for j in 0..<cols {
                let v = p[i * ld + j]
                if v.isNaN { return v }
                m = Swift.max(m, Swift.abs(v))
            }
        }
        return m
    }
}
