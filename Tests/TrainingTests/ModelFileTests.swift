// Models as files: scaling, tensor formats, old checkpoints, prediction inputs (in-process).
import Foundation
import ResNet
import TensorIO
import Testing
import Training
import _TestSupport

@Suite("Model files and scaling")
struct ModelFileTests {
    @Test("standard scaling is fitted on the training set: mean 0 and standard deviation 1 per column there; predictions invert it")
    func standardScaling() throws {
        let data = try CSVDataReader.parse(text: rawUnitCSV(samples: 400, stream: 1), file: "raw.csv", targetCount: 1)
        let s = DataScaling.fit(.standard, to: data)
        let scaled = s.apply(to: data)
        for c in 0..<2 {
            let col = (0..<scaled.count).map { scaled.features[$0 * 2 + c] }
            let mean = col.reduce(0, +) / Double(col.count)
            let sd = (col.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(col.count)).squareRoot()
            #expect(abs(mean) < 1e-12 && abs(sd - 1) < 1e-12, "column \(c): mean \(mean), sd \(sd)")
        }
        let back = s.denormalizeTargets(scaled.targets)
        #expect(zip(back, data.targets).allSatisfy { abs($0 - $1) <= 1e-12 * abs($1) })
        // minmax maps the training range onto [0, 1]; a constant column keeps scale 1.
        let m = DataScaling.fit(.minmax, to: data).apply(to: data)
        #expect(m.targets.min()! == 0 && abs(m.targets.max()! - 1) < 1e-15)
        let constant = Dataset(featureCount: 1, targetCount: 1, features: [3, 3, 3], targets: [1, 2, 3], origin: "c")
        #expect(DataScaling.fit(.standard, to: constant).featureScale == [1])
        // none changes nothing, bit for bit.
        #expect(DataScaling.fit(.none, to: data).apply(to: data) == data)
    }

    @Test("safetensors and npz archives round-trip every tensor bit for bit, with metadata")
    func formatsRoundTrip() throws {
        let archive = TensorArchive(tensors: [NamedTensor(name: "beta", shape: [], values: [0.1]),
                                              NamedTensor(name: "w", shape: [2, 3], values: [1, -2, .pi, 1e-300, -0.0, 7]),
                                              NamedTensor(name: "b", shape: [3], values: [0.5, 0.25, -1])],
                                    metadata: ["format": "x", "note": "ünïcode \"quoted\""])
        let st = try SafeTensors.decode(SafeTensors.encode(archive), file: "a.safetensors")
        let np = try NumPyArchive.decode(NumPyArchive.encode(archive), file: "a.npz")
        for back in [st, np] {
            #expect(back.metadata == archive.metadata)
            #expect(back.tensors.map(\.name) == archive.tensors.map(\.name))
            #expect(back.tensors.map(\.shape) == archive.tensors.map(\.shape))
            #expect(back.tensors.map { $0.values.map(\.bitPattern) } == archive.tensors.map { $0.values.map(\.bitPattern) })
        }
        // Safetensors: the header length is 8 bytes little-endian and the data starts 8-aligned.
        let bytes = try SafeTensors.encode(archive)
        let n = bytes.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        #expect(n % 8 == 0 && bytes.count == 8 + n + 8 * 10)
    }

    @Test("Damaged tensor files are refused with the file and the problem")
    func damagedFiles() throws {
        let archive = TensorArchive(tensors: [NamedTensor(name: "w", shape: [4], values: [1, 2, 3, 4])], metadata: ["k": "v"])
        var npz = try NumPyArchive.encode(archive)
        npz[60] ^= 0xFF   // inside the first entry's data
        #expect { try NumPyArchive.decode(npz, file: "m.npz") } throws: { "\($0)".contains("m.npz") && "\($0)".contains("CRC-32") }
        let st = try SafeTensors.encode(archive)
        #expect { try SafeTensors.decode(st.prefix(st.count - 8), file: "m.safetensors") } throws: { "\($0)".contains("outside") }
        #expect { try SafeTensors.decode(Data([1, 2, 3]), file: "m.safetensors") } throws: { "\($0)".contains("8-byte") }
    }

    @Test("A checkpoint written before models recorded scaling and provenance loads as an unscaled model")
    func oldCheckpoint() throws {
        let dir = tempDir("old-checkpoint")
        _ = try trained(smallConfig(iterations: 3), dir: dir)
        let path = Checkpoint.path(in: dir)
        var c = try Checkpoint.decode(Data(contentsOf: URL(fileURLWithPath: path)), path: path)
        #expect(c.header.ranks == 1 && c.header.trainingData?.samples == 300 && c.header.tool != nil)
        c.header.scaling = nil; c.header.tool = nil; c.header.ranks = nil; c.header.trainingData = nil; c.header.columnNames = nil
        // Re-encoded without the optional keys, as version-1 checkpoints were.
        let json = String(decoding: try c.encoded(), as: UTF8.self)
        #expect(!json.contains("\"scaling\"") && !json.contains("\"ranks\""))
        let old = try TrainedModel(checkpoint: Checkpoint.decode(c.encoded(), path: "old"), source: "old")
        #expect(old.shape == NetworkShape(inputs: 6, width: 6, outputs: 1, depth: 8, beta: 0.1))
        #expect(old.scaling.isIdentity && old.provenance?.ranks == nil)
        #expect(PredictionReport.info(old).contains("unrecorded number of ranks"))
    }

    @Test("A model exported and read back predicts bit for bit what the checkpoint predicts")
    func exportReadBack() throws {
        let dir = tempDir("export-read-back")
        _ = try trained(smallConfig(iterations: 5), dir: dir)
        let model = try TrainedModel.load(path: dir)
        let x = RegressionTask.f2.generate(count: 50, seed: 3, stream: .validationData).features
        let reference = try model.predict(features: x, count: 50, batchSize: 16)
        for format in ExportFormat.allCases {
            let file = dir + "/model." + format.rawValue
            try model.exported(as: format).write(to: URL(fileURLWithPath: file))
            let back = try TrainedModel.load(path: file)
            #expect(back.parameters == model.parameters && back.shape == model.shape)
            #expect(back.provenance == model.provenance)
            #expect(try back.predict(features: x, count: 50, batchSize: 7) == reference)
        }
        // Batching does not change the answer.
        #expect(try model.predict(features: x, count: 50, batchSize: 50) == reference)
    }

    @Test("Prediction inputs: wrong column counts name both counts; NaN and bad fields name line and column")
    func badInputs() throws {
        let dir = tempDir("bad-inputs")
        _ = try trained(smallConfig(iterations: 2), dir: dir)
        let model = try TrainedModel.load(path: dir)
        func rejected(_ text: String) -> String {
            let path = dir + "/in.csv"
            try? text.write(toFile: path, atomically: true, encoding: .utf8)
            do { _ = try model.readInput(path: path); return "accepted" } catch { return "\(error)" }
        }
        #expect(rejected("a,b,c,d,e\n1,2,3,4,5\n").contains("5 column(s), but the network takes 6 feature(s)"))
        #expect(rejected("a,b,c,d,e,f\n1,2,3,4,5,NaN\n").contains("line 2, column 6"))
        #expect(rejected("a,b,c,d,e,f,y\n1,2,3,4,5,6,x\n").contains("'x' is not a number"))
        #expect(rejected("a,b,c,d,e,f\n").contains("no samples"))
        let withTargets = try { () throws -> PredictionInput in
            try "a,b,c,d,e,f,y\n1,2,3,1,1,1,0.5\n".write(toFile: dir + "/t.csv", atomically: true, encoding: .utf8)
            return try model.readInput(path: dir + "/t.csv")
        }()
        #expect(withTargets.targets == [0.5] && withTargets.targetNames == ["y"])
    }
}
