/// A contiguous vector of `Scalar` in 64-byte-aligned memory (biases, their
/// gradients, a network's flat parameter vector). A class: copies of a
/// reference share the elements; ``clone()`` copies. ``slice(_:)`` and
/// ``matrix(at:rows:cols:)`` make *views* that share the storage (and keep it
/// alive): a network's parameters are one vector, and each layer's weights and
/// bias are views into it. Shape mismatches throw ``KernelError``; index out
/// of range traps.
public final class Vector<Scalar: KernelScalar>: @unchecked Sendable {
    /// Number of elements.
    public let count: Int
    let storage: AlignedStorage<Scalar>
    let offset: Int
    /// Pointer to element 0 (valid while the vector is alive); stored, like ``Matrix/baseAddress``.
    public let baseAddress: UnsafeMutablePointer<Scalar>

    /// A zero vector of `count` elements.
    public init(count: Int) {
        precondition(count >= 0, "negative vector length \(count)")
        self.count = count
        storage = AlignedStorage(count: count)
        offset = 0
        baseAddress = storage.base
    }

    init(storage: AlignedStorage<Scalar>, offset: Int, count: Int) {
        self.storage = storage
        self.offset = offset
        baseAddress = storage.base + offset
        self.count = count
    }

    /// A view of elements `range` (shared storage).
    public func slice(_ range: Range<Int>) -> Vector {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "slice \(range) out of vector of \(count)")
        return Vector(storage: storage, offset: offset + range.lowerBound, count: range.count)
    }

    /// A view of the `rows·cols` elements from `start` as a packed row-major
    /// rows × cols matrix (`ld == cols`; shared storage).
    public func matrix(at start: Int, rows: Int, cols: Int) -> Matrix<Scalar> {
        precondition(rows >= 0 && cols >= 0 && start >= 0 && start + rows * cols <= count,
                     "matrix \(rows)×\(cols) at \(start) out of vector of \(count)")
        return Matrix(storage: storage, offset: offset + start, rows: rows, cols: cols, ld: cols)
    }

    /// Calls `body` with the elements (storage kept alive).
    public func withUnsafeMutableBufferPointer<R, E: Error>(
        _ body: (UnsafeMutableBufferPointer<Scalar>) throws(E) -> R
    ) throws(E) -> R {
        defer { withExtendedLifetime(storage) {} }
        return try body(UnsafeMutableBufferPointer(start: baseAddress, count: count))
    }

    /// A vector holding `values`.
    public convenience init(_ values: [Scalar]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { buf in
            if let src = buf.baseAddress { baseAddress.update(from: src, count: count) }
        }
    }

    /// Element i. Traps if out of range.
    public subscript(i: Int) -> Scalar {
        get { precondition(i >= 0 && i < count, "index \(i) out of vector of \(count)"); return baseAddress[i] }
        set { precondition(i >= 0 && i < count, "index \(i) out of vector of \(count)"); baseAddress[i] = newValue }
    }

    /// A deep copy.
    public func clone() -> Vector { Vector(toArray()) }

    /// The elements as an array.
    public func toArray() -> [Scalar] { Array(UnsafeBufferPointer(start: baseAddress, count: count)) }

    /// Sets every element to `value`.
    public func fill(_ value: Scalar) { baseAddress.update(repeating: value, count: count) }

    /// Sets every element to zero.
    public func zero() { fill(0) }

    func checkSameCount(_ x: Vector, _ op: String) throws(KernelError) {
        guard x.count == count else {
            throw KernelError("\(op): vector lengths differ, \(x.count) and \(count)")
        }
    }

    /// self ← values (`values.count == count`).
    public func copy(from values: [Scalar]) throws(KernelError) {
        guard values.count == count else {
            throw KernelError("copy: vector of \(count) needs \(count) values, got \(values.count)")
        }
        values.withUnsafeBufferPointer { if let s = $0.baseAddress { baseAddress.update(from: s, count: count) } }
    }

    /// self ← x.
    public func copy(from x: Vector) throws(KernelError) {
        try checkSameCount(x, "copy")
        withExtendedLifetime(x) { baseAddress.update(from: x.baseAddress, count: count) }
    }

    /// self ← self + a·x.
    public func axpy(_ a: Scalar, _ x: Vector) throws(KernelError) {
        try checkSameCount(x, "axpy")
        withExtendedLifetime(x) { Scalar._axpy(count, a, x.baseAddress, baseAddress) }
    }

    /// self ← a·self.
    public func scale(_ a: Scalar) {
        let p = baseAddress
        for i in 0..<count { p[i] *= a }
    }

    /// Σ self[i]·x[i].
    public func dot(_ x: Vector) throws(KernelError) -> Scalar {
        try checkSameCount(x, "dot")
        return withExtendedLifetime(x) { Scalar._dot(count, baseAddress, x.baseAddress) }
    }

    /// Σ self[i]².
    public func squaredNorm() -> Scalar { Scalar._dot(count, baseAddress, baseAddress) }

    /// ℓ² norm.
    public func norm() -> Scalar { squaredNorm().squareRoot() }
}
