/// The version every result file records (`layerpar --version` prints it too).
public enum LayerParallel {
    public static let version = "0.1.0"
}
