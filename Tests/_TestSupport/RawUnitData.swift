import Training

/// A raw-unit regression set: features far from [0, 1], targets in the thousands,
/// `y = 5000 + 3·t + 40000·s + 0.01·(t − 200)²` for t ∈ [100, 300], s ∈ [−0.02, 0.02].
public func rawUnitCSV(samples: Int, stream: UInt64) -> String {
    var rng = Xoshiro256StarStar(seed: 7, stream: stream)
    var text = "temperature,slope,power\n"
    for _ in 0..<samples {
        let t = rng.uniform(100, 300), s = rng.uniform(-0.02, 0.02)
        text += "\(t),\(s),\(5000 + 3 * t + 40000 * s + 0.01 * (t - 200) * (t - 200))\n"
    }
    return text
}
