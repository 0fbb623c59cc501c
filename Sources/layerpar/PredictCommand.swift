import ArgumentParser
import Foundation
import Reports
import Training

/// `layerpar predict`: applies a trained network to a CSV file.
struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Predict with a trained network: a run directory, its checkpoint, or an export.",
        discussion: """
            --input is a CSV file under the training CSV rules (header row, numbers, no NaN/Inf) with the \
            network's feature columns, optionally followed by its target columns. The features go through \
            the scaling stored with the model (train --normalize) and the layer-serial forward pass; \
            predictions come back in the data's units. --output gets one predicted_NAME column per target, \
            and with targets in the input also NAME and error_NAME (prediction − target); the loss and RMSE \
            are printed. Models trained layer-parallel on any number of ranks predict the same way (one process).
            Example: layerpar predict --model results/run --input new.csv --output results/run/predictions.csv
            """)

    @Option(help: "A run directory (its checkpoint.lpck), a checkpoint file, or a file written by layerpar export.") var model: String
    @Option(help: "CSV file to predict.") var input: String?
    @Option(help: "CSV file to write (atomically).") var output: String?
    @Option(help: "Samples per forward pass (its buffers must fit in a quarter of this machine's memory).") var batchSize: Int = 1024
    @Flag(help: "Print how the model was trained (mode, ranks, solver settings, data fingerprint, scaling).") var info = false

    func validate() throws {
        if batchSize < 1 { throw ValidationError("--batch-size must be at least 1, got \(batchSize)") }
        if (input == nil) != (output == nil) { throw ValidationError("--input and --output go together") }
        if input == nil && !info { throw ValidationError("give --input FILE --output FILE, or --info") }
    }

    func run() throws {
        try OutputPath.checkFiles([("--output", output)])
        let m = try TrainedModel.load(path: model)
        if info { print(PredictionReport.info(m)) }
        guard let input, let output else { return }
        let limit = Int(ProcessInfo.processInfo.physicalMemory / 4)
        let largest = m.largestBatch(bytes: limit)
        if batchSize > largest {
            throw ValidationError("--batch-size \(batchSize) needs more than a quarter of this machine's memory for depth \(m.shape.depth), width \(m.shape.width); use at most \(largest)")
        }
        let predictions = try m.predict(m.readInput(path: input), batchSize: batchSize)
        try predictions.table().write(to: output)
        print(PredictionReport.summary(predictions))
        print("results: \(output)")
    }
}
