// The one-shot solves' warm starts (`--warm-start`): per example, previous step, none.
import Foundation
import ResNet
import Testing
import Training

@Suite("One-shot warm starts")
struct WarmStartTests {
    /// Full-batch training with a learning rate so small that the parameters stay put:
    /// from the second step on, each example's own states from its last visit are the
    /// solution to ~1e-12, so both solves converge at their first residual check — while
    /// the previous step's states sit in other columns (the sampler reshuffles every
    /// epoch) and need as many iterations as a cold start, or more.
    @Test("per-example warm starts restart each example from its own states")
    func exampleWarmStartIsExact() throws {
        func run(_ policy: WarmStartPolicy) throws -> [HistoryRow] {
            var c = TrainingConfiguration(data: .task(.f2, train: 24, validation: 8), mode: .parallel, depth: 32, width: 6,
                                          batchSize: 24, optimizer: OptimizerSettings(kind: .sgd, learningRate: 1e-14, momentum: 0),
                                          initLow: -0.3, initHigh: 0.3, iterations: 4, tolForward: 1e-9, tolBackward: 1e-9,
                                          maxForwardIterations: 30, maxBackwardIterations: 30, warmStart: policy,
                                          seed: 3, evalEvery: 100, progressEvery: 1000, checkpointEvery: 1000)
            c.coarsening = 2
            return Array(try trained(c).history.dropFirst())   // row 0 is the initial evaluation
        }
        let example = try run(.example), previous = try run(.previous), cold = try run(.none)
        #expect(example[0].forwardIterations == cold[0].forwardIterations, "the first visit has nothing to start from")
        #expect(cold[0].forwardIterations >= 3, "the cold solve is too easy: the test would prove nothing")
        for k in 1 ..< example.count {
            #expect(example[k].forwardIterations == 1 && example[k].backwardIterations == 1,
                    "step \(k + 1): \(example[k].forwardIterations)/\(example[k].backwardIterations) iterations from exact states")
            #expect(previous[k].forwardIterations > 1, "step \(k + 1): the previous batch's columns were a useful start?")
        }
    }

    @Test("a per-example store larger than --warm-start-memory is refused before training, naming the option")
    func memoryBound() throws {
        var c = smallConfig(iterations: 3, mode: .parallel)
        c.warmStartMemoryMiB = 0
        #expect { _ = try makeTrainer(c, dir: nil) } throws: { e in
            "\(e)".contains("--warm-start-memory") && "\(e)".contains("MiB")
        }
        c.warmStart = WarmStartPolicy.none   // nothing to store: the bound does not apply
        _ = try makeTrainer(c, dir: nil)
    }

    @Test("the summary records the policy and the store's size")
    func summary() throws {
        let c = smallConfig(iterations: 3, mode: .parallel)
        let s = try makeTrainer(c, dir: nil).run()
        #expect(s.warmStart == .example)
        // 300 examples × (8/4 forward + 8/4 adjoint C-points) × width 6 × 8 B.
        #expect(s.warmStartBytesPerRank == 300 * 4 * 6 * 8)
    }
}

@Suite("Configurations recorded before the solver options")
struct OlderConfigurationTests {
    @Test("a configuration without warm-start and solver fields is the same run as previous + default solver, not as example")
    func olderConfigurationResumes() {
        var old = smallConfig(iterations: 5, mode: .parallel)
        old.warmStart = nil
        old.solver = nil
        var previous = old
        previous.warmStart = .previous
        previous.solver = SolverSettings()
        var example = previous
        example.warmStart = .example
        #expect(old.sameRun(as: previous))
        #expect(!old.sameRun(as: example))
        var other = previous
        other.solver?.cycle = .V
        #expect(!old.sameRun(as: other))
    }
}
