// Tests of module Training and the full network of module ResNet (see DESIGN.md).
import Comm
import Foundation
import ResNet
import Testing
import Training

@Suite("Random numbers and data")
struct DataTests {
    @Test("SplitMix64 matches the published reference sequence for seed 0")
    func splitmix() {
        // Reference values of Vigna's splitmix64.c with x = 0.
        var g = SplitMix64(seed: 0)
        #expect(g.next() == 0xE220_A839_7B1D_CDAF)
        #expect(g.next() == 0x6E78_9E6A_A1B9_65F4)
        #expect(g.next() == 0x06C4_5D18_8009_454F)
    }

    @Test("Streams are reproducible and distinct; uniform draws stay in range")
    func streams() {
        var a = Xoshiro256StarStar(seed: 7, stream: 1, 2), b = Xoshiro256StarStar(seed: 7, stream: 1, 2)
        var c = Xoshiro256StarStar(seed: 7, stream: 1, 3)
        let xa = (0..<100).map { _ in a.next() }, xb = (0..<100).map { _ in b.next() }, xc = (0..<100).map { _ in c.next() }
        #expect(xa == xb)
        #expect(xa != xc)
        var u = Xoshiro256StarStar(seed: 3)
        var mean = 0.0
        for _ in 0..<100_000 { let v = u.uniform(0, 4); #expect(v >= 0 && v < 4); mean += v }
        #expect(abs(mean / 100_000 - 2) < 0.02)   // σ of the mean ≈ 1.15/316 ≈ 0.004
    }

    @Test("Tasks f1, f2 follow eqs. 7–8 and are scaled into [0, 1]")
    func tasks() {
        #expect(RegressionTask.f1.value([1, 1, 1, 1, 1, 1]) == 6)
        #expect(RegressionTask.f1.value([2, 2, 2, 2, 2, 2]) == 126)   // 2+4+8+16+32+64
        #expect(RegressionTask.f1.value([4, 4, 4, 4, 4, 4]) == 400)
        #expect(RegressionTask.f2.value([0, 0, 0, 0, 3, 2]) == 307)   // 3⁵ + 2⁶
        #expect(RegressionTask.f2.value([0, 0, 0, 0, 0, 3]) == 400)   // 3⁶ = 729
        #expect(RegressionTask.f2.value([0, 0, 0, 0, 0, 3.5]) == 800) // 3.5⁶ ≈ 1838
        let d = RegressionTask.f2.generate(count: 2000, seed: 5, stream: .trainData)
        #expect(d.count == 2000 && d.featureCount == 6)
        #expect(d.targets.allSatisfy { $0 >= 0 && $0 <= 1 })
        #expect(d.features.allSatisfy { $0 >= 0 && $0 < 4 })
        // Recompute a target independently.
        let x = Array(d.features[6..<12])
        var s = 0.0
        for i in 0..<6 { s += pow(x[i], Double(i + 1)) }
        let f2 = s < 400 ? s : (s < 800 ? 400 : 800)
        #expect(abs(d.targets[1] - f2 / 800) < 1e-12)
        #expect(d == RegressionTask.f2.generate(count: 2000, seed: 5, stream: .trainData))
    }

    func parseError(_ text: String, targets: Int = 1) -> DataError? {
        do { _ = try CSVDataReader.parse(text: text, file: "d.csv", targetCount: targets); return nil } catch let e as DataError { return e } catch { return nil }
    }

    @Test("CSV: good file parses; bad files are refused naming file, line and column")
    func csv() throws {
        let ok = try CSVDataReader.parse(text: "a,b,y\n1,2,3\n\n4, 5 ,6\r\n", file: "d.csv", targetCount: 1)
        #expect(ok.count == 2 && ok.featureCount == 2 && ok.features == [1, 2, 4, 5] && ok.targets == [3, 6])
        let two = try CSVDataReader.parse(text: "a,y1,y2\n1,2,3\n", file: "d.csv", targetCount: 2)
        #expect(two.featureCount == 1 && two.targets == [2, 3])

        let wrong = parseError("a,b,y\n1,2,3\n1,2\n")
        #expect(wrong?.line == 3)
        #expect(wrong?.description.contains("d.csv, line 3") == true)
        #expect(wrong?.problem.contains("expected 3 fields") == true)
        let nan = parseError("a,b,y\n1,nan,3\n")
        #expect(nan?.line == 2 && nan?.column == 2)
        #expect(nan?.problem.contains("not finite") == true)
        let inf = parseError("a,b,y\n1,2,inf\n")
        #expect(inf?.line == 2 && inf?.column == 3)
        let word = parseError("a,b,y\n1,x,3\n")
        #expect(word?.column == 2 && word?.problem.contains("'x' is not a number") == true)
        let empty = parseError("")
        #expect(empty?.problem.contains("empty") == true)
        let headerOnly = parseError("a,b,y\n")
        #expect(headerOnly?.problem.contains("no samples") == true)
        let noHeader = parseError("1,2,3\n")
        #expect(noHeader?.problem.contains("header") == true)
        let tooManyTargets = parseError("a,y\n1,2\n", targets: 2)
        #expect(tooManyTargets?.problem.contains("feature column") == true)
        #expect(throws: DataError.self) { _ = try CSVDataReader.read(path: "/nonexistent/x.csv", targetCount: 1) }
    }
}

@Suite("Network gradient and optimisers")
struct NetworkTests {
    @Test("Full-network gradient (opening, hidden, closing) matches central differences")
    func gradient() throws {
        let shape = NetworkShape(inputs: 3, width: 5, outputs: 2, depth: 6, beta: 0.3)
        var rng = Xoshiro256StarStar(seed: 11)
        // Signed weights so that ReLUs switch within the batch (the harder case).
        let p = initialParameters(shape: shape, low: -0.8, high: 0.8, using: &rng)
        let net = try Network(shape: shape, parameters: p)
        let B = 7
        let xs = (0..<(B * 3)).map { _ in rng.uniform(-1, 1) }
        let ys = (0..<(B * 2)).map { _ in rng.uniform(-1, 1) }
        let ws = NetworkWorkspace(shape: shape, capacity: B)
        let grad = net.makeGradient()
        _ = try net.lossAndGradient(gradient: grad, features: xs, targets: ys, samples: nil, batch: B, workspace: ws)
        let g = grad.toArray()
        let dummy = net.makeGradient()
        func loss(_ q: [Double]) throws -> Double {
            try net.parameters.load(q)
            return try net.lossAndGradient(gradient: dummy, features: xs, targets: ys, samples: nil, batch: B, workspace: ws)
        }
        let h = 1e-6
        var worst = 0.0
        for i in 0..<p.count {
            var a = p, b = p
            a[i] += h; b[i] -= h
            let fd = (try loss(a) - loss(b)) / (2 * h)
            // Central differences: truncation O(h²)·|f'''| and round-off ε·|L|/h ≈ 1e-10.
            let err = abs(fd - g[i]) / max(1e-3, abs(g[i]))
            worst = max(worst, err)
        }
        #expect(worst < 1e-5, "worst relative gradient error \(worst)")
    }

    @Test("Network with every ReLU on is affine: loss equals an explicit affine evaluation")
    func affineOracle() throws {
        let shape = NetworkShape(inputs: 2, width: 3, outputs: 1, depth: 4, beta: 0.1)
        var rng = Xoshiro256StarStar(seed: 2)
        let p = initialParameters(shape: shape, low: 0.01, high: 0.5, using: &rng)   // positive: all ReLUs on for x ≥ 0
        let net = try Network(shape: shape, parameters: p)
        let xs = [0.5, 1.0, 2.0, 0.25], ys = [0.3, 0.7]
        // Oracle: x⁰ = W₀x + b₀; xⁿ⁺¹ = xⁿ + β(Wⁿxⁿ + bⁿ); y = W_c x^N + b_c.
        let L = shape.layout
        var expected = 0.0
        for s in 0..<2 {
            var x = (0..<3).map { i in p[L.openingBias + i] + (0..<2).reduce(0.0) { $0 + p[L.openingWeights + i * 2 + $1] * xs[s * 2 + $1] } }
            for n in 0..<4 {
                let z = (0..<3).map { i in p[L.hiddenBias(n) + i] + (0..<3).reduce(0.0) { $0 + p[L.hiddenWeights(n) + i * 3 + $1] * x[$1] } }
                x = (0..<3).map { x[$0] + 0.1 * z[$0] }
            }
            let y = p[L.closingBias] + (0..<3).reduce(0.0) { $0 + p[L.closingWeights + $1] * x[$1] }
            expected += 0.5 * (y - ys[s]) * (y - ys[s]) / 2
        }
        let ws = NetworkWorkspace(shape: shape, capacity: 2)
        let l = try net.lossAndGradient(gradient: net.makeGradient(), features: xs, targets: ys, samples: nil, batch: 2, workspace: ws)
        #expect(abs(l - expected) <= 1e-14 * max(1, expected))
    }

    @Test("Adam's first step moves each parameter by lr·sign(g); SGD momentum accumulates")
    func optimisers() {
        let adam = OptimizerSettings(kind: .adam, learningRate: 0.01)
        var st = OptimizerState(count: 3, settings: adam)
        var p = [1.0, 1.0, 1.0]
        st.update(&p, gradient: [2, -0.5, 1e-3], settings: adam)
        for (v, s) in zip(p, [-1.0, 1.0, -1.0]) { #expect(abs(v - (1 + 0.01 * s)) < 1e-7) }   // ε/|g| ≤ 1e-5 relative
        let sgd = OptimizerSettings(kind: .sgd, learningRate: 0.1, momentum: 0.5)
        var s2 = OptimizerState(count: 1, settings: sgd)
        var q = [0.0]
        s2.update(&q, gradient: [1], settings: sgd)   // v = 1, q = -0.1
        s2.update(&q, gradient: [1], settings: sgd)   // v = 1.5, q = -0.25
        #expect(abs(q[0] + 0.25) < 1e-15)
        #expect(LearningRateSchedule.step(every: 10, factor: 0.5).rate(base: 1, step: 25) == 0.25)
        #expect(abs(LearningRateSchedule.cosine(steps: 100).rate(base: 2, step: 50) - 1) < 1e-15)
    }

    @Test("Mini-batches cover each epoch exactly once and resume from (epoch, position)")
    func batches() {
        var s = MiniBatchSampler(count: 10, batchSize: 4, seed: 9)
        let a = s.next(), b = s.next(), c = s.next()   // c spans the epoch boundary
        #expect(Set(a + b + c.prefix(2)) == Set(0..<10))
        var r = MiniBatchSampler(count: 10, batchSize: 4, seed: 9, epoch: s.epoch, position: s.position)
        #expect(r.next() == s.next())
    }
}

@Suite("Noise experiments")
struct NoiseTests {
    @Test("Forward/backward noise perturbs the loss/gradient by O(c), reproducibly per step")
    func noise() throws {
        let data = RegressionTask.f2.generate(count: 64, seed: 1, stream: .trainData)
        let shape = NetworkShape(inputs: 6, width: 8, outputs: 1, depth: 10)
        var rng = Xoshiro256StarStar(seed: 4)
        let p = initialParameters(shape: shape, low: -0.3, high: 0.3, using: &rng)
        let batch = Array(0..<64)
        func run(_ f: Double, _ b: Double, step: Int) throws -> (Double, [Double]) {
            let net = try Network(shape: shape, parameters: p)
            let e = SerialEngine(network: net, batchSize: 64, noiseForward: f, noiseBackward: b, seed: 9)
            let g = net.makeGradient()
            let r = try e.compute(gradient: g, data: data, batch: batch, step: step)
            return (r.loss, g.toArray())
        }
        let (l0, g0) = try run(0, 0, step: 0)
        let (lf, _) = try run(1e-3, 0, step: 0)
        let (lf2, _) = try run(1e-3, 0, step: 0)
        let (lf3, _) = try run(1e-3, 0, step: 1)
        #expect(lf == lf2)                  // same step, same noise
        #expect(lf != lf3)                  // another step draws other noise
        #expect(lf != l0 && abs(lf - l0) < 0.05 * l0)
        let (lb, gb) = try run(0, 1e-6, step: 0)
        let (_, gb2) = try run(0, 2e-6, step: 0)
        #expect(lb == l0)                   // backward noise leaves the forward pass alone
        // The gradient is linear in the adjoints, and the same draws scaled by 2 give twice the change.
        let d1 = zip(gb, g0).map { $0 - $1 }, d2 = zip(gb2, g0).map { $0 - $1 }
        let scale = d1.map(abs).max()!
        #expect(scale > 0)
        #expect(zip(d1, d2).map { abs($1 - 2 * $0) }.max()! <= 1e-6 * scale)
    }
}

@Suite("Stored, masked or recomputed pre-activations")
struct PreactivationPolicyTests {
    /// Signed weights, so that ReLUs switch and a wrong zⁿ would change the gradient.
    static func engines(_ policies: [PreactivationPolicy]) throws -> [(SerialEngine, Network)] {
        let shape = NetworkShape(inputs: 6, width: 8, outputs: 1, depth: 12)
        var rng = Xoshiro256StarStar(seed: 11)
        let p = initialParameters(shape: shape, low: -0.5, high: 0.5, using: &rng)
        return try policies.map { policy in
            let net = try Network(shape: shape, parameters: p)
            return (SerialEngine(network: net, batchSize: 48, seed: 1, preactivations: policy), net)
        }
    }

    @Test("store, recompute, mask and auto give bitwise the same loss and gradient at every step, and auto decides after its trial")
    func bitwise() throws {
        let data = RegressionTask.f2.generate(count: 200, seed: 3, stream: .trainData)
        let runs = try Self.engines([.store, .recompute, .mask, .auto])
        var rng = Xoshiro256StarStar(seed: 5)
        for step in 0 ..< 18 {
            // A different batch (and, in the last steps, a smaller one in the same workspace) every step.
            let count = step < 16 ? 48 : 31
            let batch = (0 ..< count).map { _ in Int(rng.next() % 200) }
            let results = try runs.map { e, net -> (Double, [Double]) in
                let g = net.makeGradient()
                let r = try e.compute(gradient: g, data: data, batch: batch, step: step)
                return (r.loss, g.toArray())
            }
            for r in results.dropFirst() {
                #expect(r.0 == results[0].0, "loss differs at step \(step)")
                #expect(r.1 == results[0].1, "gradient differs at step \(step)")
            }
            #expect(results[0].1.contains { $0 != 0 })
        }
        #expect(runs[0].0.preactivations == PreactivationChoice(policy: .store, chosen: .store))
        #expect(runs[1].0.preactivations?.chosen == .recompute)
        #expect(runs[2].0.preactivations == PreactivationChoice(policy: .mask, chosen: .mask))
        // 1 warm-up step + 5 trial steps of each: decided at step 15, with the three medians.
        let auto = try #require(runs[3].0.preactivations)
        #expect(auto.policy == .auto)
        let s = try #require(auto.storeSeconds), r = try #require(auto.recomputeSeconds), m = try #require(auto.maskSeconds)
        #expect(auto.chosen == (s <= min(m, r) ? .store : m <= r ? .mask : .recompute))
    }

    @Test("auto has no choice before its trial ends")
    func undecided() throws {
        let planner = PreactivationPlanner(policy: .auto, trials: 2)
        let ws = NetworkWorkspace(shape: NetworkShape(inputs: 1, width: 2, outputs: 1, depth: 1), capacity: 1)
        var seen: [PreactivationStorage] = []
        for _ in 0 ..< 7 {
            #expect(planner.choice == nil)
            planner.begin(ws); seen.append(ws.preactivationStorage); planner.end()
        }
        #expect(seen == [.recompute, .store, .recompute, .mask, .store, .recompute, .mask])
        #expect(planner.choice != nil)
    }
}

@Suite("Stored or recomputed pre-activations in the one-shot solves")
struct ParallelPreactivationPolicyTests {
    @Test("--mode parallel: store, recompute, mask and auto (which switches during its trial) train bitwise the same run")
    func bitwise() throws {
        func run(_ policy: PreactivationPolicy) throws -> (rows: [[Double?]], summary: RunSummary) {
            var c = smallConfig(iterations: 16, mode: .parallel)
            c.depth = 24
            c.initLow = -0.3; c.initHigh = 0.3   // switching ReLUs: a stale zⁿ would show
            c.tolForward = 0; c.tolBackward = 0
            c.maxForwardIterations = 2; c.maxBackwardIterations = 1
            c.evalEvery = 1
            let comm = SerialCommunicator()
            let t = try Trainer(config: c, outputDirectory: nil, comm: comm, resume: false,
                                engineFactory: { try makeGradientEngine(config: $0, network: $1, comm: comm, preactivations: policy) },
                                log: { _ in })
            let s = try t.run()
            return (losses(t.history), s)
        }
        let store = try run(.store), recompute = try run(.recompute), mask = try run(.mask), auto = try run(.auto)
        #expect(store.rows.count == 17)
        #expect(recompute.rows == store.rows)
        #expect(mask.rows == store.rows)
        #expect(auto.rows == store.rows)
        #expect(store.summary.preactivations?.chosen == .store)
        #expect(recompute.summary.preactivations?.chosen == .recompute)
        #expect(mask.summary.preactivations?.chosen == .mask)
        // 16 steps: 1 warm-up + 5 of each of the three, decided at the last.
        let a = try #require(auto.summary.preactivations)
        #expect(a.policy == .auto && a.storeSeconds != nil && a.recomputeSeconds != nil && a.maskSeconds != nil)
    }
}
