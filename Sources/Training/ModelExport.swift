import Foundation
import ResNet
import TensorIO

/// The file formats of `layerpar export`.
public enum ExportFormat: String, Sendable, CaseIterable {
    /// Hugging Face safetensors: a JSON header and raw little-endian F64 tensors.
    case safetensors
    /// NumPy's `.npz`: a zip of `.npy` files (`numpy.load`).
    case npz
}

/// A ``TrainedModel`` as named float64 tensors and string metadata, the same in
/// both formats, readable without our code (`tools/predict.py` is the reference):
///
/// - `opening.weight` (width × inputs) and `opening.bias` (width): `x⁰ = ReLU(W x + b)`;
/// - `hidden.N.weight` (width × width), `hidden.N.bias` for N = 0 … depth−1:
///   `xⁿ⁺¹ = xⁿ + β·ReLU(Wⁿ xⁿ + bⁿ)`;
/// - `closing.weight` (outputs × width), `closing.bias`: `y = W x^depth + b`;
/// - `beta` (a scalar); `scaling.feature_shift`, `scaling.feature_scale` (inputs),
///   `scaling.target_shift`, `scaling.target_scale` (outputs): the network sees
///   `(x − shift)/scale` and predicts `y·scale + shift` in the data's units
///   (identity when trained without `--normalize`).
///
/// Weights are row-major (out × in) as PyTorch's `nn.Linear.weight`. Metadata:
/// `format` = `layerpar-resnet`, `format_version`, `depth`, `width`, `inputs`,
/// `outputs`, `beta` (shortest round-trip decimal), `activation` (`relu`),
/// `opening_activation` (`relu`), `closing_activation` (`identity`),
/// `normalization`, and `provenance` (``ModelProvenance`` as JSON).
extension TrainedModel {
    public static let exportFormatName = "layerpar-resnet"
    public static let exportFormatVersion = 1

    public func archive() throws -> TensorArchive {
        let p = try NetworkParameters(shape: shape, values: parameters)
        func t(_ name: String, _ shape: [Int], _ values: [Double]) -> NamedTensor { NamedTensor(name: name, shape: shape, values: values) }
        var tensors = [t("beta", [], [shape.beta]),
                       t("opening.weight", [shape.width, shape.inputs], p.opening.W.toArray()),
                       t("opening.bias", [shape.width], p.opening.b.toArray())]
        for (n, layer) in p.hidden.enumerated() {
            tensors += [t("hidden.\(n).weight", [shape.width, shape.width], layer.W.toArray()),
                        t("hidden.\(n).bias", [shape.width], layer.b.toArray())]
        }
        tensors += [t("closing.weight", [shape.outputs, shape.width], p.closing.W.toArray()),
                    t("closing.bias", [shape.outputs], p.closing.b.toArray()),
                    t("scaling.feature_shift", [shape.inputs], scaling.featureShift),
                    t("scaling.feature_scale", [shape.inputs], scaling.featureScale),
                    t("scaling.target_shift", [shape.outputs], scaling.targetShift),
                    t("scaling.target_scale", [shape.outputs], scaling.targetScale)]
        var metadata = ["format": Self.exportFormatName, "format_version": String(Self.exportFormatVersion),
                        "depth": String(shape.depth), "width": String(shape.width), "inputs": String(shape.inputs),
                        "outputs": String(shape.outputs), "beta": shape.beta.description, "activation": "relu",
                        "opening_activation": "relu", "closing_activation": "identity",
                        "normalization": scaling.kind.rawValue]
        if let provenance {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            metadata["provenance"] = String(decoding: try encoder.encode(provenance), as: UTF8.self)
        }
        return TensorArchive(tensors: tensors, metadata: metadata)
    }

    /// The file contents of this model in `format`.
    public func exported(as format: ExportFormat) throws -> Data {
        switch format {
        case .safetensors: return try SafeTensors.encode(archive())
        case .npz: return try NumPyArchive.encode(archive())
        }
    }

    /// A model read back from ``archive()``'s tensors and metadata.
    public init(archive a: TensorArchive, source: String) throws {
        func bad(_ why: String) -> TrainingError { TrainingError("--model \(source): \(why)") }
        guard a.metadata["format"] == Self.exportFormatName else {
            throw bad("not a layerpar export (metadata 'format' is \(a.metadata["format"].map { "'\($0)'" } ?? "missing"), expected '\(Self.exportFormatName)')")
        }
        guard let v = a.metadata["format_version"].flatMap(Int.init), v <= Self.exportFormatVersion else {
            throw bad("export format version \(a.metadata["format_version"] ?? "missing") is not supported (this layerpar reads \(Self.exportFormatVersion))")
        }
        func int(_ key: String) throws -> Int {
            guard let s = a.metadata[key], let v = Int(s), v >= 1 else { throw bad("metadata '\(key)' is missing or not a positive integer") }
            return v
        }
        let depth = try int("depth"), width = try int("width"), inputs = try int("inputs"), outputs = try int("outputs")
        do {
            let beta = try a.tensor("beta", shape: [], in: source).values[0]
            let shape = NetworkShape(inputs: inputs, width: width, outputs: outputs, depth: depth, beta: beta)
            func values(_ name: String, _ dims: [Int]) throws -> [Double] { try a.tensor(name, shape: dims, in: source).values }
            var flat = try values("opening.weight", [width, inputs]) + values("opening.bias", [width])
            for n in 0..<depth { flat += try values("hidden.\(n).weight", [width, width]) + values("hidden.\(n).bias", [width]) }
            flat += try values("closing.weight", [outputs, width]) + values("closing.bias", [outputs])
            let kind = a.metadata["normalization"].flatMap(NormalizationKind.init(rawValue:)) ?? .none
            let scaling = DataScaling(kind: kind, featureShift: try values("scaling.feature_shift", [inputs]),
                                      featureScale: try values("scaling.feature_scale", [inputs]),
                                      targetShift: try values("scaling.target_shift", [outputs]),
                                      targetScale: try values("scaling.target_scale", [outputs]))
            let provenance = a.metadata["provenance"].flatMap { try? JSONDecoder().decode(ModelProvenance.self, from: Data($0.utf8)) }
            try self.init(shape: shape, parameters: flat, scaling: scaling, provenance: provenance, source: source)
        } catch let e as TensorFileError {
            throw TrainingError("--model \(e.description)")
        }
    }
}
