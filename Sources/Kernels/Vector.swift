/// A contiguous vector of `Scalar` in 64-byte-aligned memory (biases, their
/// gradients). A class: copies of a reference share the elements; ``clone()``
/// copies. Shape mismatches throw ``KernelError``; index out of range traps.
public final class Vector<Scalar: KernelScalar>: @unchecked Sendable {
    /// Number of elements.
    public let count: Int
    let storage: AlignedStorage<Scalar>

    /// A zero vector of `count` elements.
    public init(count: Int) {
        precondition(count >= 0, "negative vector length \(count)")
        self.count = count
        storage = AlignedStorage(count: count)
    }

    /// A vector holding `values`.
    public convenience init(_ values: [Scalar]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { buf in
            if let src = buf.baseAddress { storage.base.update(from: src, count: count) }
        }
    }

    /// Pointer to element 0 (valid while the vector is alive).
    public var baseAddress: UnsafeMutablePointer<Scalar> { storage.base }

    /// Element i. Traps if out of range.
    public subscript(i: Int) -> Scalar {
        get { precondition(i >= 0 && i < count, "index \(i) out of vector of \(count)"); return storage.base[i] }
        set { precondition(i >= 0 && i < count, "index \(i) out of vector of \(count)"); storage.base[i] = newValue }
    }

    /// A deep copy.
    public func clone() -> Vector { Vector(toArray()) }

    /// The elements as an array.
    public func toArray() -> [Scalar] { Array(UnsafeBufferPointer(start: storage.base, count: count)) }

    /// Sets every element to `value`.
    public func fill(_ value: Scalar) { storage.base.update(repeating: value, count: count) }

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
        values.withUnsafeBufferPointer { if let s = $0.baseAddress { storage.base.update(from: s, count: count) } }
    }

    /// self ← x.
    public func copy(from x: Vector) throws(KernelError) {
        try checkSameCount(x, "copy")
        withExtendedLifetime(x) { storage.base.update(from: x.storage.base, count: count) }
    }

    /// self ← self + a·x.
    public func axpy(_ a: Scalar, _ x: Vector) throws(KernelError) {
        try checkSameCount(x, "axpy")
        withExtendedLifetime(x) { Scalar._axpy(count, a, x.storage.base, storage.base) }
    }

    /// self ← a·self.
    public func scale(_ a: Scalar) {
        let p = storage.base
        for i in 0..<count { p[i] *= a }
    }

    /// Σ self[i]·x[i].
    public func dot(_ x: Vector) throws(KernelError) -> Scalar {
        try checkSameCount(x, "dot")
        return withExtendedLifetime(x) { Scalar._dot(count, storage.base, x.storage.base) }
    }

    /// Σ self[i]².
    public func squaredNorm() -> Scalar { Scalar._dot(count, storage.base, storage.base) }

    /// ℓ² norm.
    public func norm() -> Scalar { squaredNorm().squareRoot() }
}
