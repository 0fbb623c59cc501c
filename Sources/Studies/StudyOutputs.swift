import Reports

/// The JSON of `layerpar convergence --json`.
public struct ConvergenceOutput: Codable {
    public init(ranks: Int, configuration: [String: String], runs: [ConvergenceRun]) {
        self.ranks = ranks
        self.configuration = configuration
        self.runs = runs
    }

    public var command = "convergence"
    public var version = LayerParallel.version
    public var ranks: Int
    public var configuration: [String: String]
    public var runs: [ConvergenceRun]
}

/// The JSON of `layerpar scaling check --output` (rank 0): one forward + adjoint
/// MGRIT solve and its differences from the layer-serial passes.
public struct ScalingCheckOutput: Codable {
    public init(ranks: Int, depth: Int, width: Int, batch: Int, cfactor: Int, tolerance: Double, seed: UInt64, snapshot: SolveSnapshot, serialStateError: Double, serialAdjointError: Double, serialGradientError: Double) {
        self.ranks = ranks
        self.depth = depth
        self.width = width
        self.batch = batch
        self.cfactor = cfactor
        self.tolerance = tolerance
        self.seed = seed
        self.snapshot = snapshot
        self.serialStateError = serialStateError
        self.serialAdjointError = serialAdjointError
        self.serialGradientError = serialGradientError
    }

    public var command = "layerpar scaling check"
    public var version = LayerParallel.version
    public var ranks: Int
    public var depth: Int, width: Int, batch: Int, cfactor: Int, tolerance: Double, seed: UInt64
    public var snapshot: SolveSnapshot
    /// max |MGRIT − serial| / max |serial| for states, adjoints and gradients.
    public var serialStateError: Double
    public var serialAdjointError: Double
    public var serialGradientError: Double
}
