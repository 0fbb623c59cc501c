import Reports

/// The numeric fields of a configuration checked for finiteness and range, with the
/// `layerpar train` option each comes from: a NaN or infinite value parses as a number
/// and would otherwise surface steps later as a NaN loss ("try a smaller --lr").
extension TrainingConfiguration {
    public func validateNumbers() throws(TrainingError) {
        func need(_ ok: Bool, _ option: String, _ rule: String, _ value: Double) throws(TrainingError) {
            if !ok { throw TrainingError("\(option) must be \(rule), got \(value)") }
        }
        try need(beta > 0 && beta.isFinite, "--beta", "a positive finite number", beta)
        try need(initLow.isFinite, "--init-low", "finite", initLow)
        try need(initHigh.isFinite, "--init-high", "finite", initHigh)
        try need(optimizer.momentum >= 0 && optimizer.momentum < 1, "--momentum", "in [0, 1)", optimizer.momentum)
        try need(tolForward >= 0 && tolForward.isFinite, "--tol-forward", "a finite number ≥ 0", tolForward)
        try need(tolBackward >= 0 && tolBackward.isFinite, "--tol-backward", "a finite number ≥ 0", tolBackward)
        try need(noiseForward >= 0 && noiseForward.isFinite, "--noise-forward", "a finite number ≥ 0", noiseForward)
        try need(noiseBackward >= 0 && noiseBackward.isFinite, "--noise-backward", "a finite number ≥ 0", noiseBackward)
        switch optimizer.schedule {
        case .constant, .cosine: break
        case .step(_, let factor): try need(factor > 0 && factor.isFinite, "--lr-schedule step:EVERY:FACTOR", "a positive finite FACTOR", factor)
        case .inverseTime(let decay): try need(decay >= 0 && decay.isFinite, "--lr-schedule inverse:DECAY", "a finite DECAY ≥ 0", decay)
        }
    }
}

extension TrainingConfiguration {
    /// A rough upper bound on one rank's memory for the network, its gradient and
    /// optimiser moments (5 copies of the parameters), the batch's states forward and
    /// backward (4 per layer) and the evaluation workspace (256 samples, 2 per layer);
    /// nil if the count overflows. Checked before anything is allocated.
    public var estimatedBytes: Int? {
        let m = MemoryEstimate.self
        let parameters = m.product([depth, width, width &+ 1])
        let states = m.product([depth &+ 1, width, m.sum([m.product([batchSize, 4]), 512]) ?? -1])
        return m.sum([parameters.flatMap { m.product([$0, 5 * 8]) }, states.flatMap { m.product([$0, 8]) }])
    }
}
