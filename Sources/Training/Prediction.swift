import Foundation
import Reports

/// Rows to predict: raw features, and the targets when the input has them.
public struct PredictionInput: Sendable {
    public let file: String
    public let count: Int
    public let features: [Double]
    public let targets: [Double]?
    /// Names of the target columns (the input's, else the training CSV's, else y1, y2, …).
    public let targetNames: [String]
}

/// Predictions of a ``TrainedModel`` for a ``PredictionInput``, in the data's units.
public struct Predictions: Sendable {
    public let input: PredictionInput
    public let outputs: Int
    /// Sample-major: sample s, output k at `s*outputs + k`.
    public let values: [Double]

    /// `prediction − target`, sample-major (nil without targets).
    public var errors: [Double]? { input.targets.map { t in zip(values, t).map { $0 - $1 } } }

    /// ½·mean (prediction − target)² over samples and outputs, the training loss's form, in the data's units.
    public var loss: Double? { errors.map { e in 0.5 * e.reduce(0) { $0 + $1 * $1 } / Double(max(e.count, 1)) } }

    /// Root-mean-square error per output.
    public var rmse: [Double]? {
        errors.map { e in (0..<outputs).map { k in
            (stride(from: k, to: e.count, by: outputs).reduce(0) { $0 + e[$1] * e[$1] } / Double(input.count)).squareRoot()
        } }
    }

    /// One `predicted_NAME` column per output, then, with targets, `NAME` and `error_NAME` per output.
    public func table() throws -> CSVTable {
        let names = input.targetNames
        var columns = names.map { "predicted_\($0)" }
        if input.targets != nil { columns += names.flatMap { [$0, "error_\($0)"] } }
        var t = CSVTable(columns: columns)
        let errors = self.errors
        for s in 0..<input.count {
            var row: [CSVValue] = (0..<outputs).map { .double(values[s * outputs + $0]) }
            if let targets = input.targets, let errors {
                for k in 0..<outputs { row += [.double(targets[s * outputs + k]), .double(errors[s * outputs + k])] }
            }
            try t.append(row)
        }
        return t
    }
}

extension TrainedModel {
    /// Reads a CSV to predict with the training CSV rules (header row, numbers, no NaN/Inf):
    /// either `inputs` feature columns, or those followed by the `outputs` target columns.
    /// - Throws: ``DataError`` with file, line and column; a column count that is neither
    ///   names the file's and the network's counts.
    public func readInput(path: String) throws -> PredictionInput {
        let n = shape.inputs, m = shape.outputs
        let table = try CSVDataReader.parseTable(text: CSVDataReader.text(path: path), file: path) { columns, line in
            guard columns == n || columns == n + m else {
                throw DataError(file: path, line: line, column: nil,
                                problem: "the header has \(columns) column(s), but the network takes \(n) feature(s) (\(n) columns, or \(n + m) with its \(m) target column(s) after them)")
            }
        }
        let hasTargets = table.columns == n + m
        let split = table.split(targetCount: hasTargets ? m : 0)
        let recorded = provenance?.columnNames.flatMap { $0.count == n + m ? Array($0.suffix(m)) : nil }
        let names = hasTargets ? Array(table.header.suffix(m)) : recorded ?? (1...m).map { "y\($0)" }
        return PredictionInput(file: path, count: table.rows, features: split.features,
                               targets: hasTargets ? split.targets : nil, targetNames: names)
    }

    /// Predictions for every row of `input`, in batches of at most `batchSize`.
    public func predict(_ input: PredictionInput, batchSize: Int) throws -> Predictions {
        Predictions(input: input, outputs: shape.outputs,
                    values: try predict(features: input.features, count: input.count, batchSize: batchSize))
    }
}

/// What `layerpar predict` prints.
public enum PredictionReport {
    /// The model's shape, scaling and provenance (`--info`).
    public static func info(_ m: TrainedModel) -> String {
        let s = m.shape, c = m.scaling
        var lines = ["model:         \(m.source)",
                     "shape:         \(s.inputs) input(s) → width \(s.width) → \(s.depth) residual layers (β \(s.beta)) → \(s.outputs) output(s); \(m.parameters.count) parameters"]
        func list(_ v: [Double]) -> String { v.map { String(format: "%.6g", $0) }.joined(separator: ", ") }
        if c.isIdentity {
            lines.append("scaling:       none (the network sees the data as given)")
        } else {
            lines.append("scaling:       \(c.kind.rawValue), fitted on the training set: network = (raw − shift) / scale")
            lines.append("  features:    shift [\(list(c.featureShift))], scale [\(list(c.featureScale))]")
            lines.append("  targets:     shift [\(list(c.targetShift))], scale [\(list(c.targetScale))]")
        }
        lines.append(m.provenance?.text ?? "provenance:    not recorded in this file")
        return lines.joined(separator: "\n")
    }

    /// Rows predicted and, with targets, the loss and RMSE in the data's units.
    public static func summary(_ p: Predictions) -> String {
        var line = "predicted \(p.input.count) row(s) of \(p.input.file)"
        if let loss = p.loss, let rmse = p.rmse {
            line += String(format: "; loss ½·mean(pred − target)² %.6e; RMSE ", loss)
            line += zip(p.input.targetNames, rmse).map { "\($0) \(String(format: "%.6e", $1))" }.joined(separator: ", ")
        }
        return line
    }
}

/// The paper's Figure 6: a task model's predictions against the targets of its validation set.
public enum ValidationPredictions {
    /// Predicts the validation set of the paper-task run in `directory` (regenerated from its
    /// configuration's seed) and writes `target,prediction,residual` rows to `csv` atomically.
    /// Returns the validation loss of the final model (½·mean residual², the task's scaled units).
    @discardableResult
    public static func write(runDirectory directory: String, to csv: String) throws -> Double {
        let model = try TrainedModel.load(path: directory)
        guard let config = model.provenance?.configuration, case .task(let task, _, let n) = config.data else {
            throw TrainingError("\(directory): validation predictions need a run of a paper task (f1 or f2)")
        }
        let data = task.generate(count: n, seed: config.seed, stream: .validationData)
        let predicted = try model.predict(features: data.features, count: data.count, batchSize: 1024)
        var t = CSVTable(columns: ["target", "prediction", "residual"])
        var sum = 0.0
        for (y, p) in zip(data.targets, predicted) {
            try t.append([.double(y), .double(p), .double(p - y)])
            sum += (p - y) * (p - y)
        }
        try t.write(to: csv)
        return 0.5 * sum / Double(max(data.targets.count, 1))
    }
}
