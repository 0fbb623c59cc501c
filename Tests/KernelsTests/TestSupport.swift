import Kernels

/// SplitMix64: a seeded generator, so every failure reproduces.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Leading-dimension choices: packed (ld = cols), the default cache-line padding,
/// and an odd padding that leaves rows unaligned.
enum Padding: CaseIterable, CustomStringConvertible {
    case none, cacheLine, odd
    func ld(_ cols: Int) -> Int? {
        switch self {
        case .none: return cols
        case .cacheLine: return nil
        case .odd: return cols + 3
        }
    }
    var description: String {
        switch self {
        case .none: return "none"
        case .cacheLine: return "cacheLine"
        case .odd: return "odd"
        }
    }
}

extension Matrix {
    /// A matrix with entries uniform in [-scale, scale).
    static func random(_ rows: Int, _ cols: Int, ld: Int?, scale: Double = 1,
                       using g: inout SplitMix64) -> Matrix {
        let m = Matrix(rows: rows, cols: cols, ld: ld)
        for i in 0..<rows {
            for j in 0..<cols { m[i, j] = Scalar(Double.random(in: -scale..<scale, using: &g)) }
        }
        return m
    }

    /// A copy with the given leading dimension.
    func copy(ld: Int?) -> Matrix {
        let c = Matrix(rows: rows, cols: cols, ld: ld)
        try! c.copy(from: self)
        return c
    }
}

extension Vector {
    static func random(_ n: Int, scale: Double = 1, using g: inout SplitMix64) -> Vector {
        Vector((0..<n).map { _ in Scalar(Double.random(in: -scale..<scale, using: &g)) })
    }
}

/// ‖a − r‖ / ‖r‖ in double (absolute if ‖r‖ = 0): the norm-wise error of BLIS-style kernel tests.
func relativeError<T: KernelScalar>(_ a: Matrix<T>, _ r: Matrix<T>) -> Double {
    precondition(a.rows == r.rows && a.cols == r.cols)
    var num = 0.0, den = 0.0
    for i in 0..<r.rows {
        for j in 0..<r.cols {
            let d = Double(a[i, j]) - Double(r[i, j])
            num += d * d
            den += Double(r[i, j]) * Double(r[i, j])
        }
    }
    return den > 0 ? (num / den).squareRoot() : num.squareRoot()
}

func relativeError<T: KernelScalar>(_ a: Vector<T>, _ r: Vector<T>) -> Double {
    var num = 0.0, den = 0.0
    for i in 0..<r.count {
        let d = Double(a[i]) - Double(r[i])
        num += d * d
        den += Double(r[i]) * Double(r[i])
    }
    return den > 0 ? (num / den).squareRoot() : num.squareRoot()
}

/// Tolerance of the optimized-vs-reference comparison per precision (issue 3).
func tolerance<T: KernelScalar>(_: T.Type) -> Double { T.self == Double.self ? 1e-13 : 1e-5 }

/// Random operands of a residual layer of width w on a batch of B: W scaled by
/// 1/√w (so W·X stays of order one and about half the ReLUs are on), b in
/// [−0.5, 0.5], X in [−1, 1]; drawn in that order from `g`.
func randomResidualLayer<T: KernelScalar>(_: T.Type, _ w: Int, _ B: Int, _ pad: Padding,
                                          _ g: inout SplitMix64) -> (W: Matrix<T>, b: Vector<T>, X: Matrix<T>) {
    let W = Matrix<T>.random(w, w, ld: pad.ld(w), scale: 1 / Double(w).squareRoot(), using: &g)
    let b = Vector<T>.random(w, scale: 0.5, using: &g)
    let X = Matrix<T>.random(w, B, ld: pad.ld(B), using: &g)
    return (W, b, X)
}
