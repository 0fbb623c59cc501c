// `layerpar convergence --weights` on a trained run, the trained depth family, and stall reports.
import Foundation
import ResNet
import Studies
import Testing
import Training
import _TestSupport

@Suite("layerpar convergence on trained weights", .serialized)
struct ConvergenceWeightsTests {
    /// A model of depth `n0` whose hidden entry (0, 0) of layer i is `1 + i` and bias 0 is `2 − i`.
    static func rampModel(depth n0: Int) throws -> TrainedModel {
        let shape = NetworkShape(inputs: 6, width: 3, outputs: 1, depth: n0, beta: 0.2)
        let net = try Network(shape: shape)
        for i in 0 ..< n0 {
            net.hidden.weights[i][0, 0] = 1 + Double(i)
            net.hidden.biases[i][0] = 2 - Double(i)
        }
        net.parameters.opening.W[1, 2] = 0.5
        return try TrainedModel(shape: shape, parameters: net.parameters.toArray(), scaling: .identity(features: 6, targets: 1),
                                provenance: nil, source: "ramp")
    }

    @Test func depthFamilyKeepsTheFinalTimeAndInterpolatesLinearly() throws {
        let m = try Self.rampModel(depth: 5)
        let same = try TrainedDepthFamily.network(m, depth: 5)
        #expect(same.parameters.toArray() == m.parameters && same.shape.beta == 0.2)
        for depth in [2, 9, 20] {
            let net = try TrainedDepthFamily.network(m, depth: depth)
            #expect(abs(net.shape.beta * Double(depth) - 1.0) <= 1e-15)
            #expect(net.parameters.opening.W[1, 2] == 0.5)
            for n in 0 ..< depth {
                // Position of layer n in the trained layers, clamped to 0 … 4; the ramp is linear in it.
                let t = min(max((Double(n) + 0.5) * 5 / Double(depth) - 0.5, 0), 4)
                #expect(abs(net.hidden.weights[n][0, 0] - (1 + t)) <= 1e-14)
                #expect(abs(net.hidden.biases[n][0] - (2 - t)) <= 1e-14)
                #expect(net.hidden.weights[n][1, 1] == 0)
            }
        }
    }

    @Test func trainedRunStudiedAtItsDepthAndDeeper() throws {
        let dir = tempDir("conv-weights")
        let t = runLayerpar(["train", "--task", "f2", "--depth", "12", "--width", "8", "--iterations", "40", "--out", dir + "/run"])
        #expect(t.status == 0, "\(t.stderr)")
        let json = dir + "/conv.json"
        let r = runLayerpar(["convergence", "--weights", dir + "/run", "--depths", "12,48", "--batch", "8", "--tol", "1e-10",
                             "--max-iter", "40", "--json", json])
        #expect(r.status == 0, "\(r.stderr)")
        let out = try JSONDecoder().decode(ConvergenceOutput.self, from: Data(contentsOf: URL(fileURLWithPath: json)))
        #expect(out.runs.map(\.depth) == [12, 12, 48, 48])
        #expect(out.runs.map(\.pass) == ["forward", "adjoint", "forward", "adjoint"])
        for run in out.runs {
            #expect(run.family == "trained f2 (depth 12)")
            #expect(abs(run.beta * Double(run.depth) - 1.2) <= 1e-12)
            #expect(run.converged && run.stop == "converged")
            #expect(run.errorVersusSerial <= 1e-8, "\(run.pass) depth \(run.depth): \(run.errorVersusSerial)")
            #expect(run.serialNorm > 0 && run.serialSeconds > 0 && run.secondsPerIterationOverSerial > 0)
        }
        #expect(r.stdout.contains("serial ‖x_N‖|‖λ_0‖"))
    }

    @Test func checkpointsThatDoNotFitAreRefusedNamingTheOption() throws {
        let dir = tempDir("conv-weights-bad")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try rawUnitCSV(samples: 64, stream: 1).write(toFile: dir + "/train.csv", atomically: true, encoding: .utf8)
        try rawUnitCSV(samples: 32, stream: 2).write(toFile: dir + "/val.csv", atomically: true, encoding: .utf8)
        let t = runLayerpar(["train", "--train", dir + "/train.csv", "--validation", dir + "/val.csv", "--depth", "4",
                             "--width", "4", "--iterations", "2", "--out", dir + "/run"])
        #expect(t.status == 0, "\(t.stderr)")
        for (args, needle) in [(["--weights", dir + "/run"], "2 inputs"), (["--weights", dir + "/missing"], "no such file"),
                               (["--weights", dir + "/train.csv"], "neither a layerpar checkpoint"),
                               (["--weights", dir + "/run", "--init-range", "-1,1"], "--init-range does not apply")] {
            let r = runLayerpar(["convergence"] + args)
            #expect(r.status != 0)
            #expect(r.stderr.contains("--weights") && r.stderr.contains(needle), "\(args): \(r.stderr)")
            if !args.contains("--init-range") { #expect(r.status == 1 && !r.stderr.contains("Usage"), "a file error: one line, no usage text") }
        }
    }

    @Test func stalledSolveIsReportedAndMarked() throws {
        let dir = tempDir("conv-stall")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let json = dir + "/conv.json"
        // Ratio 1e-6: an iteration that does not gain six digits counts as a stall.
        let r = runLayerpar(["convergence", "--depths", "64", "--batch", "4", "--stall-iterations", "1",
                             "--stall-ratio", "1e-6", "--json", json])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("stalled at iteration 2, level 0"), "\(r.stderr)")
        let out = try JSONDecoder().decode(ConvergenceOutput.self, from: Data(contentsOf: URL(fileURLWithPath: json)))
        #expect(out.runs.allSatisfy { $0.stop == "stalled" && $0.iterations == 2 && $0.stall != nil })
        let bad = runLayerpar(["convergence", "--depths", "8", "--stall-ratio", "0"])
        #expect(bad.status != 0 && bad.stderr.contains("--stall-ratio"))
        let help = runLayerpar(["convergence", "--help"])
        for option in ["--weights", "--final-time", "--stall-iterations", "--stall-ratio", "--on-stall", "--fine-sweeps"] {
            #expect(help.stdout.contains(option), "\(option) missing from --help")
        }
    }
}
