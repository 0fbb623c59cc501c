// `layerpar train --normalize`, `predict` and `export` run as commands, and the export rebuilt in Python.
import Foundation
import Testing
import Training
import _TestSupport

/// Values of column `name` of a CSV file written by layerpar or tools/predict.py.
func csvColumn(_ path: String, _ name: String) throws -> [Double] {
    let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
    let header = lines[0].split(separator: ",").map(String.init)
    let c = try #require(header.firstIndex(of: name), "\(path) has no column \(name): \(header)")
    return lines.dropFirst().map { Double($0.split(separator: ",", omittingEmptySubsequences: false)[c])! }
}

func rms(_ v: [Double]) -> Double { (v.map { $0 * $0 }.reduce(0, +) / Double(v.count)).squareRoot() }

/// The package root (tools/ lives there), found from this source file.
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

@Suite("layerpar predict and export", .serialized)
struct PredictCommandTests {
    func writeRawData(_ dir: String) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try rawUnitCSV(samples: 600, stream: 1).write(toFile: dir + "/train.csv", atomically: true, encoding: .utf8)
        try rawUnitCSV(samples: 200, stream: 2).write(toFile: dir + "/val.csv", atomically: true, encoding: .utf8)
        try rawUnitCSV(samples: 1000, stream: 3).write(toFile: dir + "/new.csv", atomically: true, encoding: .utf8)
    }

    func train(_ dir: String, _ out: String, _ extra: [String], ranks: Int? = nil) {
        let r = runLayerpar(["train", "--train", dir + "/train.csv", "--validation", dir + "/val.csv", "--depth", "8",
                             "--width", "8", "--iterations", "1000", "--lr", "1e-2", "--eval-every", "100", "--out", out] + extra,
                            ranks: ranks)
        #expect(r.status == 0, "\(r.stderr)")
    }

    @Test("A raw-unit CSV trains and predicts in raw units with --normalize standard; unscaled it fails to fit")
    func rawUnits() throws {
        let dir = tempDir("raw-units")
        try writeRawData(dir)
        let power = try csvColumn(dir + "/new.csv", "power")
        let mean = power.reduce(0, +) / Double(power.count)
        let spread = rms(power.map { $0 - mean })   // ≈ 485
        var errors: [String: Double] = [:]
        for kind in ["standard", "none"] {
            train(dir, dir + "/" + kind, ["--normalize", kind])
            let p = runLayerpar(["predict", "--model", dir + "/" + kind, "--input", dir + "/new.csv", "--output", dir + "/\(kind).csv"])
            #expect(p.status == 0, "\(p.stderr)")
            #expect(p.stdout.contains("RMSE power"))
            let predicted = try csvColumn(dir + "/\(kind).csv", "predicted_power")
            #expect(try csvColumn(dir + "/\(kind).csv", "power") == power)
            errors[kind] = rms(zip(predicted, power).map { $0 - $1 })
            #expect(try csvColumn(dir + "/\(kind).csv", "error_power") == zip(predicted, power).map { $0 - $1 })
        }
        // Standard scaling: within 5 % of the targets' spread, in raw units; unscaled: not even half of it explained.
        #expect(errors["standard"]! < 0.05 * spread, "RMSE \(errors["standard"]!) against spread \(spread)")
        #expect(errors["none"]! > 0.5 * spread, "unscaled RMSE \(errors["none"]!) against spread \(spread)")
        let info = runLayerpar(["predict", "--model", dir + "/standard", "--info"])
        #expect(info.status == 0)
        for needle in ["scaling:       standard", "mode:          serial on 1 rank", "columns:       temperature, slope, power",
                       "training data: 600 samples × 2 features + 1 target(s), FNV-1a-64"] {
            #expect(info.stdout.contains(needle), "\(needle) missing from\n\(info.stdout)")
        }
    }

    @Test("Export → tools/predict.py rebuild → predictions equal layerpar predict's to 1e-12 on 1000 inputs (safetensors and npz)")
    func pythonRebuild() throws {
        let dir = tempDir("python-rebuild")
        try writeRawData(dir)
        train(dir, dir + "/run", ["--normalize", "standard"])
        let p = runLayerpar(["predict", "--model", dir + "/run", "--input", dir + "/new.csv", "--output", dir + "/swift.csv"])
        #expect(p.status == 0, "\(p.stderr)")
        let reference = try csvColumn(dir + "/swift.csv", "predicted_power")
        #expect(reference.count == 1000)
        let hasTorch = (try? runTool("python3", ["-c", "import torch"]).status) == 0
        let backends = hasTorch ? ["numpy", "torch"] : ["numpy"]
        if !hasTorch { print("PredictCommandTests: PyTorch is not installed; the export is checked with NumPy only") }
        for format in ["safetensors", "npz"] {
            let file = dir + "/model." + format
            let e = runLayerpar(["export", "--model", dir + "/run", "--format", format, "--output", file])
            #expect(e.status == 0, "\(e.stderr)")
            for backend in backends {
                let out = dir + "/py-\(format)-\(backend).csv"
                let py = try runTool("python3", [packageRoot + "/tools/predict.py", file, dir + "/new.csv", out, "--backend", backend])
                try #require(py.status == 0, "tools/predict.py failed: \(py.stderr)")
                #expect(py.stderr.contains("backend \(backend)"))
                let python = try csvColumn(out, "predicted_y1")
                #expect(python.count == 1000)
                let worst = zip(python, reference).map { abs($0 - $1) / max(1, abs($1)) }.max()!
                #expect(worst <= 1e-12, "\(format)/\(backend): largest relative difference \(worst)")
            }
            // And layerpar reads its own export back to the same predictions.
            let back = runLayerpar(["predict", "--model", file, "--input", dir + "/new.csv", "--output", dir + "/back.csv"])
            #expect(back.status == 0, "\(back.stderr)")
            #expect(try csvColumn(dir + "/back.csv", "predicted_power") == reference)
        }
    }

    @Test("A model trained layer-parallel on 2 MPI ranks predicts; its validation loss is the run's own")
    func twoRankModel() throws {
        let dir = tempDir("two-ranks")
        let r = runLayerpar(["train", "--task", "f2", "--train-samples", "200", "--validation-samples", "100", "--depth", "12",
                             "--width", "8", "--batch-size", "16", "--iterations", "20", "--eval-every", "10",
                             "--mode", "parallel", "--preset", "paper", "--fine-relax", "F", "--out", dir], ranks: 2)
        try #require(r.status == 0, "\(r.stderr)")
        let info = runLayerpar(["predict", "--model", dir, "--info"])
        #expect(info.stdout.contains("mode:          parallel on 2 ranks"), "\(info.stdout)")
        #expect(info.stdout.contains("MGRIT:         forward to 0.0001, at most 10 iterations, adjoint to 1e-06, at most 10 iterations"), "\(info.stdout)")
        #expect(info.stdout.contains("solver:        F-cycles, FCF (fine level F), 1 CF sweep"), "\(info.stdout)")
        // The validation set as CSV (features and scaled targets), predicted by the model.
        let validation = RegressionTask.f2.generate(count: 100, seed: 1, stream: .validationData)
        try CSVDataReader.text(of: validation).write(toFile: dir + "/val.csv", atomically: true, encoding: .utf8)
        let p = runLayerpar(["predict", "--model", dir, "--input", dir + "/val.csv", "--output", dir + "/pred.csv", "--batch-size", "7"])
        try #require(p.status == 0, "\(p.stderr)")
        let e = try csvColumn(dir + "/pred.csv", "error_y1")
        let loss = 0.5 * e.map { $0 * $0 }.reduce(0, +) / Double(e.count)
        let history = try String(contentsOfFile: dir + "/history.csv", encoding: .utf8).split(separator: "\n")
        let last = Double(history.last!.split(separator: ",", omittingEmptySubsequences: false)[4])!
        #expect(abs(loss - last) <= 1e-9 * last, "predicted validation loss \(loss), history's \(last)")
    }

    @Test("Bad models, inputs and options are rejected with messages that name the problem")
    func badInputs() throws {
        let dir = tempDir("predict-bad")
        let t = runLayerpar(["train", "--task", "f2", "--train-samples", "50", "--validation-samples", "20", "--depth", "4",
                             "--width", "4", "--iterations", "2", "--out", dir])
        try #require(t.status == 0, "\(t.stderr)")
        try "a,b,c,d,e\n1,2,3,4,5\n".write(toFile: dir + "/five.csv", atomically: true, encoding: .utf8)
        try "a,b,c,d,e,f\n1,2,3,4,5,nan\n".write(toFile: dir + "/nan.csv", atomically: true, encoding: .utf8)
        func fails(_ args: [String], _ needle: String) {
            let r = runLayerpar(args)
            #expect(r.status != 0, "layerpar \(args) should fail")
            #expect(r.stderr.contains(needle), "'\(needle)' missing from: \(r.stderr)")
        }
        let out = ["--output", dir + "/p.csv"]
        fails(["predict", "--model", dir + "/none", "--input", dir + "/five.csv"] + out, "no such file or directory")
        fails(["predict", "--model", dir + "/five.csv", "--input", dir + "/five.csv"] + out, "neither a layerpar checkpoint")
        fails(["predict", "--model", dir, "--input", dir + "/five.csv"] + out, "5 column(s), but the network takes 6 feature(s)")
        fails(["predict", "--model", dir, "--input", dir + "/nan.csv"] + out, "line 2, column 6")
        fails(["predict", "--model", dir, "--input", dir + "/missing.csv"] + out, "missing or unreadable")
        fails(["predict", "--model", dir, "--input", dir + "/five.csv"], "--input and --output go together")
        fails(["predict", "--model", dir, "--input", dir + "/five.csv", "--batch-size", "0"] + out, "--batch-size")
        fails(["predict", "--model", dir, "--input", dir + "/five.csv", "--batch-size", "1000000000000"] + out, "quarter of this machine's memory")
        fails(["export", "--model", dir, "--format", "onnx", "--output", dir + "/m"], "onnx")
        fails(["train", "--task", "f2", "--normalize", "standard", "--iterations", "2", "--out", dir + "/x"], "paper's fixed scaling")
        // A corrupt checkpoint: one flipped byte.
        var data = try Data(contentsOf: URL(fileURLWithPath: dir + "/checkpoint.lpck"))
        data[data.count - 3] ^= 0x10
        try data.write(to: URL(fileURLWithPath: dir + "/bad.lpck"))
        fails(["predict", "--model", dir + "/bad.lpck", "--input", dir + "/five.csv"] + out, "checksum mismatch")
        #expect(!FileManager.default.fileExists(atPath: dir + "/p.csv"))
    }
}
