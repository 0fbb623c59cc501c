import ArgumentParser
import Reports
import Training

extension ExportFormat: ExpressibleByArgument {}

/// `layerpar export`: a trained network in a format the ML ecosystem reads.
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export a trained network as safetensors or NumPy .npz.",
        discussion: """
            Writes every weight and bias (float64, row-major out × in as PyTorch's nn.Linear), β, depth, \
            width, activation, the data scaling and how the model was trained (metadata 'provenance'). \
            tools/predict.py rebuilds the network from either format with NumPy (or PyTorch) and predicts; \
            layerpar predict --model FILE reads the export back.
            Example: layerpar export --model results/run --format safetensors --output results/run/model.safetensors
            """)

    @Option(help: "A run directory (its checkpoint.lpck), a checkpoint file, or an export.") var model: String
    @Option(help: "safetensors or npz.") var format: ExportFormat
    @Option(help: "File to write (atomically).") var output: String

    func run() throws {
        try OutputPath.checkFile(output, option: "--output")
        let m = try TrainedModel.load(path: model)
        try AtomicFile.write(m.exported(as: format), to: output)
        print("exported depth \(m.shape.depth), width \(m.shape.width), \(m.parameters.count) parameters (\(m.scaling.kind.rawValue) scaling) to \(output)")
    }
}
