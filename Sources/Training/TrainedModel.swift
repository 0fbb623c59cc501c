import Foundation
import ResNet
import TensorIO

/// How a model was trained: what `predict --info` prints and an export carries.
public struct ModelProvenance: Sendable, Codable, Equatable {
    /// `layerpar VERSION` that trained it (nil: written before models recorded it).
    public var tool: String?
    /// MPI ranks of the training job (nil: not recorded).
    public var ranks: Int?
    /// Optimiser steps taken.
    public var steps: Int
    /// The whole training configuration: mode, MGRIT settings, optimiser, data, normalisation, seed.
    public var configuration: TrainingConfiguration
    /// The training set's values as trained on (before scaling); nil if not recorded.
    public var trainingData: DataFingerprint?
    /// The training CSV's column names (features, then targets); nil for the paper's tasks.
    public var columnNames: [String]?
    /// The last full training / validation losses in network units.
    public var trainLoss: Double?
    public var validationLoss: Double?

    /// A few lines for people.
    public var text: String {
        let c = configuration
        var lines: [String] = []
        lines.append("trained by:    \(tool ?? "layerpar (version not recorded)")")
        lines.append("mode:          \(c.mode.rawValue) on \(ranks.map { "\($0) rank\($0 == 1 ? "" : "s")" } ?? "an unrecorded number of ranks")")
        if c.mode == .parallel {
            func pass(_ tol: Double, _ k: Int) -> String {
                tol == 0 ? "exactly \(k) iteration\(k == 1 ? "" : "s")" : String(format: "to %g, at most %d iterations", tol, k)
            }
            lines.append("MGRIT:         forward \(pass(c.tolForward, c.maxForwardIterations)), adjoint \(pass(c.tolBackward, c.maxBackwardIterations)); "
                         + "coarsening \(c.coarsening), at most \(c.maxLevels) levels; warm start \(c.warmStartPolicy.rawValue)")
            lines.append("solver:        \((c.solver ?? SolverSettings()).summary)")
        }
        lines.append("network:       depth \(c.depth), width \(c.width), β \(c.beta), ReLU")
        lines.append("optimiser:     \(c.optimizer.kind.rawValue), lr \(c.optimizer.learningRate), batch \(c.batchSize), \(steps) steps, seed \(c.seed)")
        switch c.data {
        case .task(let t, let n, let v):
            lines.append("data:          task \(t.rawValue) (\(n) training / \(v) validation samples; targets / \(Int(t.scale)))")
        case .files(let train, let validation, let targets):
            lines.append("data:          \(train) (validation \(validation)), \(targets) target column(s)")
        }
        if let trainingData { lines.append("training data: \(trainingData)") }
        if let columnNames { lines.append("columns:       \(columnNames.joined(separator: ", "))") }
        lines.append("normalize:     \(c.normalizationKind.rawValue)")
        if let trainLoss { lines.append(String(format: "last losses:   train %.4e, validation %@ (network units)", trainLoss, validationLoss.map { String(format: "%.4e", $0) } ?? "-")) }
        return lines.joined(separator: "\n")
    }
}

/// A trained network as `predict` and `export` use it: shape, parameters
/// (``ParameterLayout`` order), the data scaling and how it was trained.
public struct TrainedModel: Sendable {
    public let shape: NetworkShape
    public let parameters: [Double]
    public let scaling: DataScaling
    public let provenance: ModelProvenance?
    /// The file it was read from.
    public let source: String

    public init(shape: NetworkShape, parameters: [Double], scaling: DataScaling, provenance: ModelProvenance?, source: String) throws {
        guard parameters.count == shape.layout.count else {
            throw TrainingError("model \(source): \(parameters.count) parameters, but depth \(shape.depth), width \(shape.width), \(shape.inputs) inputs and \(shape.outputs) outputs need \(shape.layout.count)")
        }
        guard scaling.featureShift.count == shape.inputs, scaling.featureScale.count == shape.inputs,
              scaling.targetShift.count == shape.outputs, scaling.targetScale.count == shape.outputs else {
            throw TrainingError("model \(source): its scaling does not have \(shape.inputs) feature and \(shape.outputs) target entries")
        }
        guard (scaling.featureScale + scaling.targetScale).allSatisfy({ $0 != 0 && $0.isFinite }) else {
            throw TrainingError("model \(source): a scale of its data scaling is zero or not finite")
        }
        self.shape = shape
        self.parameters = parameters
        self.scaling = scaling
        self.provenance = provenance
        self.source = source
    }

    /// The model of a checkpoint. Checkpoints written before models recorded their
    /// scaling were trained on unscaled data: they load with the identity.
    public init(checkpoint c: Checkpoint, source: String) throws {
        let config = c.header.configuration
        let outputs: Int
        switch config.data {
        case .task: outputs = 1
        case .files(_, _, let targets): outputs = targets
        }
        // count = w·in + w + N·(w² + w) + out·(w + 1): solve for the inputs.
        let w = config.width, rest = c.parameters.count - w - config.depth * (w * w + w) - outputs * (w + 1)
        guard w >= 1, rest > 0, rest % w == 0 else {
            throw TrainingError("model \(source): \(c.parameters.count) parameters do not fit depth \(config.depth), width \(w) and \(outputs) output(s)")
        }
        let shape = NetworkShape(inputs: rest / w, width: w, outputs: outputs, depth: config.depth, beta: config.beta)
        let last = c.header.history.last { $0.trainLoss != nil }
        let provenance = ModelProvenance(tool: c.header.tool, ranks: c.header.ranks, steps: c.header.step, configuration: config,
                                         trainingData: c.header.trainingData, columnNames: c.header.columnNames,
                                         trainLoss: last?.trainLoss, validationLoss: last?.validationLoss)
        try self.init(shape: shape, parameters: c.parameters,
                      scaling: c.header.scaling ?? .identity(features: shape.inputs, targets: outputs),
                      provenance: provenance, source: source)
    }

    /// Reads a model: a run directory (its `checkpoint.lpck`), a checkpoint file, or a
    /// file written by `layerpar export` (safetensors or `.npz`, told apart by content).
    /// - Throws: ``TrainingError`` naming `option`, the path and what is wrong with it.
    public static func load(path: String, option: String = "--model") throws -> TrainedModel {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw TrainingError("\(option) \(path): no such file or directory")
        }
        let file = isDirectory.boolValue ? Checkpoint.path(in: path) : path
        guard let data = FileManager.default.contents(atPath: file) else {
            throw TrainingError(isDirectory.boolValue
                ? "\(option) \(path): no checkpoint.lpck in this directory (layerpar train --out DIR writes one)"
                : "\(option) \(path): cannot read the file")
        }
        if data.starts(with: Data(Checkpoint.magic.utf8)) {
            return try TrainedModel(checkpoint: Checkpoint.decode(data, path: file), source: file)
        }
        do {
            if data.starts(with: [0x50, 0x4b, 0x03, 0x04]) || data.starts(with: [0x50, 0x4b, 0x05, 0x06]) {
                return try TrainedModel(archive: NumPyArchive.decode(data, file: file), source: file)
            }
            if data.count >= 9, data[data.startIndex + 8] == UInt8(ascii: "{") {
                return try TrainedModel(archive: SafeTensors.decode(data, file: file), source: file)
            }
        } catch let e as TensorFileError {
            throw TrainingError("\(option) \(e.description)")
        }
        throw TrainingError("\(option) \(file): neither a layerpar checkpoint nor a safetensors or .npz export (\(data.count) bytes)")
    }

    /// Predictions in the data's raw units for `count` sample-major raw feature rows,
    /// through the layer-serial forward pass in batches of at most `batchSize`.
    public func predict(features raw: [Double], count: Int, batchSize: Int) throws -> [Double] {
        let network = try Network(shape: shape, parameters: parameters)
        let ws = NetworkWorkspace(shape: shape, capacity: max(1, min(batchSize, count)))
        return scaling.denormalizeTargets(try network.predict(features: scaling.normalizeFeatures(raw), count: count, workspace: ws))
    }

    /// The largest prediction batch whose workspace fits in `bytes`.
    public func largestBatch(bytes: Int) -> Int { bytes / NetworkWorkspace.bytes(shape: shape, capacity: 1) }
}
