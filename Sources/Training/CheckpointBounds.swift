/// A checkpoint's checksum proves it is the file that was written, not that it fits
/// this run: every count, step and position in it is checked against the run's
/// configuration and data before anything is allocated or indexed with it.
extension Checkpoint {
    /// Throws a ``TrainingError`` naming the first field of `self` that does not fit a run
    /// of `config` with `parameterCount` parameters and `trainingExamples` training samples.
    public func checkBounds(configuration config: TrainingConfiguration, parameterCount: Int,
                            trainingExamples: Int, path: String) throws {
        func need(_ ok: Bool, _ why: @autoclosure () -> String) throws {
            if !ok { throw TrainingError("--resume: checkpoint \(path) does not fit this run: \(why())") }
        }
        let h = header
        try need(parameters.count == parameterCount,
                 "it has \(parameters.count) parameters, the network has \(parameterCount)")
        let sizes = OptimizerState.sizes(count: parameterCount, settings: config.optimizer)
        try need(optimizer.first.count == sizes.first,
                 "its optimiser first moments have \(optimizer.first.count) values, not \(sizes.first)")
        try need(optimizer.second.count == sizes.second,
                 "its optimiser second moments have \(optimizer.second.count) values, not \(sizes.second)")
        if config.optimizer.kind == .lbfgs {
            let m = Double(config.optimizer.lbfgsSettings.history), c = optimizer.second
            func whole(_ v: Double, _ range: ClosedRange<Double>) -> Bool { range.contains(v) && v == v.rounded() }
            try need(whole(c[0], 0...m) && whole(c[1], 0...(m - 1)) && whole(c[2], 0...1) && whole(c[3], 0...1e15) && whole(c[4], 0...1e15),
                     "its L-BFGS counters \(c) are not pairs in 0…\(Int(m)), a ring slot, a 0/1 flag and two counts")
        }
        try need(h.step >= 0, "step \(h.step) is negative")
        try need(h.optimizerSteps >= 0 && h.optimizerSteps <= h.step,
                 "optimiser step count \(h.optimizerSteps) is not within 0…\(h.step)")
        try need(h.samplerEpoch >= 0, "sampler epoch \(h.samplerEpoch) is negative")
        try need(h.samplerPosition >= 0 && h.samplerPosition <= trainingExamples,
                 "sampler position \(h.samplerPosition) is outside 0…\(trainingExamples) (the training set's size)")
        let (samples, overflow) = h.step.multipliedReportingOverflow(by: config.batchSize)
        try need(!overflow && h.samplerEpoch <= samples / max(trainingExamples, 1) + 1,
                 "sampler epoch \(h.samplerEpoch) cannot be reached in \(h.step) steps of \(config.batchSize) samples")
        try need(h.history.count <= h.step + 1, "its history has \(h.history.count) rows for \(h.step) steps")
        var previous = -1
        for row in h.history {
            try need(row.iteration > previous && row.iteration <= h.step,
                     "history row for iteration \(row.iteration) is out of order or beyond step \(h.step)")
            previous = row.iteration
        }
        try need(h.trainSeconds.isFinite && h.trainSeconds >= 0, "training time \(h.trainSeconds) s is not a finite non-negative number")
    }
}
