import Foundation

/// A named float64 tensor: `values` in row-major (C) order, `shape` its
/// dimensions (`[]` for a scalar, which holds one value).
public struct NamedTensor: Sendable, Equatable {
    public var name: String
    public var shape: [Int]
    public var values: [Double]

    public init(name: String, shape: [Int], values: [Double]) {
        precondition(shape.allSatisfy { $0 >= 0 } && shape.reduce(1, *) == values.count,
                     "tensor \(name): shape \(shape) does not hold \(values.count) values")
        self.name = name
        self.shape = shape
        self.values = values
    }
}

/// Tensors in order plus a string-to-string metadata map: what a
/// safetensors file or an `.npz` archive holds (see ``SafeTensors`` and
/// ``NumPyArchive``), independent of either format.
public struct TensorArchive: Sendable, Equatable {
    public var tensors: [NamedTensor]
    public var metadata: [String: String]

    public init(tensors: [NamedTensor], metadata: [String: String] = [:]) {
        self.tensors = tensors
        self.metadata = metadata
    }

    /// The tensor called `name`.
    /// - Throws: ``TensorFileError`` naming the missing tensor, or a wrong shape when `shape` is given.
    public func tensor(_ name: String, shape: [Int]? = nil, in file: String) throws -> NamedTensor {
        guard let t = tensors.first(where: { $0.name == name }) else {
            throw TensorFileError(file: file, problem: "no tensor named '\(name)'")
        }
        if let shape, t.shape != shape {
            throw TensorFileError(file: file, problem: "tensor '\(name)' has shape \(t.shape), expected \(shape)")
        }
        return t
    }
}

/// A tensor file that cannot be written or read; names the file and the problem.
public struct TensorFileError: Error, CustomStringConvertible, Sendable, Equatable {
    public let file: String
    public let problem: String
    public init(file: String, problem: String) {
        self.file = file
        self.problem = problem
    }
    public var description: String { "\(file): \(problem)" }
}

/// Little-endian byte appends and reads shared by the two formats.
extension Data {
    mutating func appendLE<T: FixedWidthInteger>(_ v: T) {
        Swift.withUnsafeBytes(of: v.littleEndian) { append(contentsOf: $0) }
    }

    mutating func appendLE(_ values: [Double]) {
        reserveCapacity(count + 8 * values.count)
        for v in values { appendLE(v.bitPattern) }
    }

    /// The little-endian integer at byte `offset` from the start (nil past the end).
    func readLE<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T? {
        let size = MemoryLayout<T>.size
        guard offset >= 0, offset + size <= count else { return nil }
        return withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: T.self)) }
    }

    /// `n` little-endian doubles from byte `offset` (nil past the end).
    func readDoublesLE(at offset: Int, count n: Int) -> [Double]? {
        guard offset >= 0, n >= 0, offset + 8 * n <= count else { return nil }
        return withUnsafeBytes { raw in
            (0..<n).map { Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset + 8 * $0, as: UInt64.self))) }
        }
    }
}
