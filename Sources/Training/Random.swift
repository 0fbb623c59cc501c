import ResNet

/// Seeded random numbers of our own, so a run with the same seed produces the
/// same data, batches, initial weights and noise on every machine and Swift
/// version (the standard library's generators promise neither).
///
/// `SplitMix64` (Steele, Lea, Flood 2014; the ResNet module's stream) expands a 64-bit seed; it seeds
/// ``Xoshiro256StarStar`` (Blackman, Vigna 2018), the generator we draw from.
public typealias SplitMix64 = SplitMix64Stream

/// xoshiro256** with a 256-bit state; `init(seed:stream:)` derives independent
/// streams (data, validation data, initial weights, batch order of each epoch,
/// noise of each step) from one user seed, so each can be regenerated alone —
/// which is what makes `--resume` reproduce an uninterrupted run.
public struct Xoshiro256StarStar: RandomNumberGenerator, Sendable, Codable, Equatable {
    public private(set) var s: [UInt64]

    /// A generator for `(seed, stream…)`; distinct stream tuples give unrelated sequences.
    public init(seed: UInt64, stream: UInt64...) {
        var mix = SplitMix64(seed: seed)
        for k in stream { mix = SplitMix64(seed: mix.next() ^ (k &* 0xD1B5_4A32_D192_ED03)) }
        var st = [mix.next(), mix.next(), mix.next(), mix.next()]
        if st == [0, 0, 0, 0] { st[0] = 1 }   // the all-zero state is a fixed point
        s = st
    }

    public mutating func next() -> UInt64 {
        let result = rotl(s[1] &* 5, 7) &* 9
        let t = s[1] << 17
        s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result
    }

    @inline(__always) private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// Uniform in [0, 1) with 53 random bits.
    @inline(__always) public mutating func unit() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// Uniform in [lo, hi).
    @inline(__always) public mutating func uniform(_ lo: Double, _ hi: Double) -> Double {
        lo + (hi - lo) * unit()
    }

    /// Uniform integer in 0 ..< n (n ≥ 1), unbiased (Lemire's rejection method).
    public mutating func below(_ n: Int) -> Int {
        precondition(n >= 1)
        let bound = UInt64(n)
        var m = next().multipliedFullWidth(by: bound)
        if m.low < bound {
            let threshold = (0 &- bound) % bound
            while m.low < threshold { m = next().multipliedFullWidth(by: bound) }
        }
        return Int(m.high)
    }

    /// Fisher–Yates shuffle with this generator.
    public mutating func shuffle<T>(_ a: inout [T]) {
        guard a.count > 1 else { return }
        for i in stride(from: a.count - 1, to: 0, by: -1) {
            a.swapAt(i, below(i + 1))
        }
    }
}

/// Stream identifiers of ``Xoshiro256StarStar/init(seed:stream:)``.
public enum RandomStream: UInt64 {
    case trainData = 1, validationData, initialWeights, batchOrder, forwardNoise, backwardNoise
}
