import Foundation
import Testing
import Kernels

/// The Adam kernel of every family against the formula written out in Swift
/// (the oracle): bit for bit, since the kernels promise the scalar loop's
/// rounding (no FMA contraction), over lengths that exercise the vector body
/// and every tail, for several steps so the moments and bias corrections vary.
@Suite("Optimizer kernels")
struct OptimizerKernelTests {
    @Test("Adam: every family gives the bits of the scalar formula", arguments: [0, 1, 3, 4, 5, 8, 31, 1000])
    func adamMatchesFormula(n: Int) throws {
        var rng = SplitMix64(seed: UInt64(n) + 17)
        func draw(_ scale: Double) -> [Double] { (0 ..< n).map { _ in scale * (Double(rng.next() >> 11) * 0x1.0p-53 * 2 - 1) } }
        let p0 = draw(1), gradients = (0 ..< 5).map { k in draw(pow(10, Double(-k))) }
        let lr = 3e-3, b1 = 0.9, b2 = 0.999, eps = 1e-8
        // Oracle, and the textbook form lr·m̂/(√v̂ + ε) it must equal to rounding.
        var p = p0, m = [Double](repeating: 0, count: n), v = m, textbook = p0
        for (t, g) in gradients.enumerated() {
            let c1 = 1 - pow(b1, Double(t + 1)), c2 = 1 - pow(b2, Double(t + 1))
            let s = lr / c1, r = 1 / c2.squareRoot()
            for i in 0 ..< n {
                m[i] = b1 * m[i] + (1 - b1) * g[i]
                v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i]
                p[i] -= (s * m[i]) / (v[i].squareRoot() * r + eps)
                textbook[i] -= lr * (m[i] / c1) / ((v[i] / c2).squareRoot() + eps)
            }
        }
        for i in 0 ..< n {
            // A few roundings per step apart: ulps of p and of the update, nothing more.
            #expect(abs(p[i] - textbook[i]) <= 1e-14 * (abs(p0[i]) + abs(p0[i] - textbook[i])),
                    "folded bias corrections differ from the textbook update at \(i): \(p[i]) vs \(textbook[i])")
        }
        for family in KernelFamily.allCases where family.isSupported {
            var q = p0, mk = [Double](repeating: 0, count: n), vk = mk
            for (t, g) in gradients.enumerated() {
                let c1 = 1 - pow(b1, Double(t + 1)), c2 = 1 - pow(b2, Double(t + 1))
                try g.withUnsafeBufferPointer { gb in
                    try q.withUnsafeMutableBufferPointer { qb in
                        try mk.withUnsafeMutableBufferPointer { mb in
                            try vk.withUnsafeMutableBufferPointer { vb in
                                try OptimizerKernels.adam(parameters: qb, gradient: gb, firstMoment: mb, secondMoment: vb,
                                                          learningRate: lr, beta1: b1, beta2: b2, biasCorrection1: c1,
                                                          biasCorrection2: c2, epsilon: eps, family: family)
                            }
                        }
                    }
                }
            }
            #expect(q == p && mk == m && vk == v, "\(family) differs from the formula at n = \(n)")
            #expect(n == 0 || q != p0, "the update changed nothing: the test would prove nothing")
        }
    }

    @Test("Adam: buffers of different lengths are refused")
    func adamLengthMismatch() {
        var p = [0.0, 0.0], m = [0.0, 0.0], v = [0.0]
        let g = [1.0, 1.0]
        #expect(throws: KernelError.self) {
            try g.withUnsafeBufferPointer { gb in
                try p.withUnsafeMutableBufferPointer { pb in
                    try m.withUnsafeMutableBufferPointer { mb in
                        try v.withUnsafeMutableBufferPointer { vb in
                            try OptimizerKernels.adam(parameters: pb, gradient: gb, firstMoment: mb, secondMoment: vb,
                                                      learningRate: 1, beta1: 0.9, beta2: 0.999, biasCorrection1: 0.1,
                                                      biasCorrection2: 0.001, epsilon: 1e-8)
                        }
                    }
                }
            }
        }
    }

    /// The finite check against Swift's `isFinite` (the oracle), element by element: every
    /// kind of non-finite value (quiet and signalling NaN, ±∞, NaN with a sign or a payload)
    /// planted at every position of short vectors (the vectorised body and each tail) and at
    /// chosen positions of a long one, beside the finite extremes that must pass (±max,
    /// subnormals, ±0).
    @Test("allFinite: any NaN or infinity anywhere, and nothing else, makes it false", arguments: [0, 1, 2, 3, 7, 8, 9, 33])
    func allFiniteMatchesIsFinite(n: Int) {
        let extremes: [Double] = [.greatestFiniteMagnitude, -.greatestFiniteMagnitude, .leastNonzeroMagnitude,
                                  -.leastNormalMagnitude, 0, -0.0, 1, -1e300]
        let bad: [Double] = [.nan, -.nan, .signalingNaN, .infinity, -.infinity,
                             Double(bitPattern: 0x7FF0_0000_0000_0001), Double(bitPattern: 0xFFF8_0000_0000_00FF)]
        let finite = (0 ..< n).map { extremes[$0 % extremes.count] }
        #expect(finite.allSatisfy { $0.isFinite })
        #expect(finite.withUnsafeBufferPointer(OptimizerKernels.allFinite))
        for i in 0 ..< n {
            for b in bad {
                var x = finite
                x[i] = b
                #expect(!x[i].isFinite)
                #expect(!x.withUnsafeBufferPointer(OptimizerKernels.allFinite), "\(b) (bits \(String(b.bitPattern, radix: 16))) at \(i) of \(n)")
            }
        }
        var long = (0 ..< 100_003).map { Double($0) * 1e-3 - 50 }
        #expect(long.withUnsafeBufferPointer(OptimizerKernels.allFinite))
        for i in [0, 7, 8, 50_000, 99_999, 100_002] {
            long[i] = .infinity
            #expect(!long.withUnsafeBufferPointer(OptimizerKernels.allFinite), "∞ at \(i)")
            long[i] = 0
        }
    }
}
