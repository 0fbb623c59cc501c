import ArgumentParser
import MGRIT

extension MGRITCycle: ExpressibleByArgument {}
extension MGRITRelaxation: ExpressibleByArgument {}

/// What a solve does when its residual stalls or grows (`--on-stall`).
enum StallAction: String, CaseIterable, ExpressibleByArgument {
    /// Stop and report the stall (the iterate so far is the result).
    case stop
    /// Stop, then solve the fine level exactly by the sequential (layer-serial) pass.
    case serial
}

/// MGRIT's hierarchy and cycle: one set of flags, one default each, for
/// `train`, `convergence`, `scaling` (run, strong, weak, model, check) and
/// `reproduce`. The stopping rule stays with each command (train: per pass and
/// absolute; convergence: relative; scaling: absolute or a fixed count), because
/// it means something different in each.
///
/// The defaults are the paper's: F-cycles, FCF relaxation with one CF sweep,
/// m = 4, as many levels as fit (at most 30, coarsest at least 2 points).
/// ``options(_:)`` maps the flags onto ``MGRITOptions``, whose `validate()` is the
/// one place the values are checked.
struct MGRITOptionGroup: ParsableArguments {
    @Option(help: "Coarsening factor m ≥ 2 between MGRIT levels (the paper: 4).") var coarsening: Int = MGRITOptions().coarsening
    /// The spelling `convergence` and `scaling check` used before the option group.
    @Option(name: .customLong("cfactor"), help: ArgumentHelp("Old spelling of --coarsening.", visibility: .hidden))
    var cfactor: Int?
    @Option(help: "Maximum number of MGRIT levels (1: a sequential solve).") var maxLevels: Int = MGRITOptions().maxLevels
    @Option(help: "Smallest number of points of a coarse level (coarsening stops before a level would have fewer).")
    var minCoarse: Int = MGRITOptions().minCoarseSize
    @Option(help: "MGRIT cycle: F (the paper) or V (each level once per iteration).") var cycle: MGRITCycle = MGRITOptions().cycle
    @Option(help: "Relaxation: F or FCF (the paper).") var relax: MGRITRelaxation = MGRITOptions().relaxation
    @Option(help: "CF sweeps of FCF relaxation.") var sweeps: Int = MGRITOptions().sweeps
    @Option(help: "CF sweeps of the fine level alone (default: --sweeps); --sweeps 2 --fine-sweeps 1 relaxes only the coarse levels more, where a sweep is cheap.")
    var fineSweeps: Int?
    @Option(help: "Coarsening factor of the fine level alone (default: --coarsening); a larger one, as XBraid's heat example finds best, shortens the coarse levels.")
    var fineCoarsening: Int?
    @Option(help: "Relaxation of the fine level alone (default: --relax); F with --relax FCF is LayerParallelLearning's nrelax0 = 0.")
    var fineRelax: MGRITRelaxation?
    @Option(help: "C-relaxation weight ω, 0 < ω < 2, on every level with FCF (XBraid's braid_SetCRelaxWt; 1: unweighted).")
    var cRelaxWeight: Double = MGRITOptions().cRelaxationWeight
    @Option(help: "C-relaxation weight of the fine level alone (default: --c-relax-weight).")
    var fineCRelaxWeight: Double?
    @Flag(help: "Skip relaxation on the first down-cycle (XBraid's skip): iteration 1 only injects, solves the coarsest level and interpolates (its residual is not measured).")
    var skipFirstDown = MGRITOptions().skipFirstDown
    @Flag(help: "Full multigrid (nested iteration, XBraid's FMG with one V-cycle per level): iteration 1 of a solve that is not warm-started starts on the coarsest level, solves each coarse level's own problem by one V-cycle and interpolates up to the fine level (supersedes --skip-first-down there; no fine relaxation, no residual measured). A solve allowed one iteration (train's default single adjoint iteration, --max-iter 1) runs without it: FMG would be all of it and never relax the fine level.")
    var fmg = MGRITOptions().fmg
    @Option(help: "Stop a solve whose fine residual norm failed to fall below --stall-ratio × its previous value in this many consecutive iterations, with a report (iteration, level, residuals), instead of running to the iteration cap; 0: never. Acts only where the residual is measured every iteration.")
    var stallIterations: Int = Self.defaultStallIterations
    /// 5, not fewer: FAS on an exploding network (signed weights, 2560 layers) lets the residual
    /// grow for 4 iterations before it converges.
    static let defaultStallIterations = 5
    @Option(help: "An iteration with ‖r_k‖ > this × ‖r_{k−1}‖ makes no progress (stall detection; 1: only growth counts).")
    var stallRatio: Double = MGRITOptions().stallRatio
    @Option(help: "After a stall: stop (keep the iterate) or serial (solve that pass exactly by the layer-serial pass, N fine steps, and say so).")
    var onStall: StallAction = .stop
    @Flag(help: ArgumentHelp("Delta correction of the forward and adjoint solves (XBraid's braid_SetDeltaCorrection, full rank): every coarse step is corrected by Δ = (product of the fine linearised steps over its interval) − (its own linearisation), held per example (width² × batch doubles per coarse point, ≈ 4N states more at width 16, m = 4). The forward solve recomputes it in every restriction (≈ width× a fine step's flops per fine step); the adjoint, linear in λ, builds it once per solve, which makes its coarse levels exact (one iteration solves it)."))
    var deltaCorrection = false

    /// The coarsening factor, under either spelling.
    var factor: Int { cfactor ?? coarsening }

    /// `base` (stopping rule, storage, residual check) with this hierarchy and cycle.
    func options(_ base: MGRITOptions = MGRITOptions()) -> MGRITOptions {
        var o = base
        o.coarsening = factor
        o.maxLevels = maxLevels
        o.minCoarseSize = minCoarse
        o.cycle = cycle
        o.relaxation = relax
        o.sweeps = sweeps
        o.fineSweeps = fineSweeps
        o.stallIterations = stallIterations > 0 ? stallIterations : nil
        o.stallRatio = stallRatio
        o.sequentialOnStall = onStall == .serial
        o.skipFirstDown = skipFirstDown
        o.fmg = fmg
        o.fineCoarsening = fineCoarsening
        o.fineRelaxation = fineRelax
        o.cRelaxationWeight = cRelaxWeight
        o.fineCRelaxationWeight = fineCRelaxWeight
        o.deltaCorrection = deltaCorrection
        return o
    }

    func validate() throws {
        if cfactor != nil && coarsening != MGRITOptions().coarsening {
            throw ValidationError("--cfactor is the old name of --coarsening: give one of them")
        }
        // The library's own check below names its fields; these name the options.
        let counts: [(String, Int?, Int)] = [("--coarsening", factor, 2), ("--fine-coarsening", fineCoarsening, 2),
                                            ("--max-levels", maxLevels, 1), ("--min-coarse", minCoarse, 2), ("--sweeps", sweeps, 1),
                                            ("--fine-sweeps", fineSweeps, 1), ("--stall-iterations", stallIterations, 0)]
        for case let (name, value?, least) in counts where value < least {
            throw ValidationError("\(name) must be at least \(least), got \(value)")
        }
        let weights: [(String, Double?)] = [("--c-relax-weight", cRelaxWeight), ("--fine-c-relax-weight", fineCRelaxWeight)]
        for case let (name, w?) in weights where !(w > 0 && w < 2) {
            throw ValidationError("\(name) (C-relaxation weight ω) must satisfy 0 < ω < 2, got \(w)")
        }
        guard stallRatio > 0 && stallRatio.isFinite else {
            throw ValidationError("--stall-ratio must be a positive finite number, got \(stallRatio)")
        }
        do { try options().validate() } catch let e as MGRITError {
            throw ValidationError("\(e.description) (--coarsening, --fine-coarsening, --max-levels, --min-coarse, --sweeps, --fine-sweeps, --c-relax-weight, --fine-c-relax-weight)")
        }
    }

    /// For commands whose solver runs the paper's cycle with only the hierarchy's
    /// size adjustable (`supported` names what they take): any other flag of the
    /// group set to a non-default value is an error, not silently ignored.
    func requireDefaults(except supported: Set<String>, command: String) throws {
        let d = MGRITOptions()
        let set: [(String, Bool)] = [
            ("--min-coarse", minCoarse != d.minCoarseSize), ("--cycle", cycle != d.cycle), ("--relax", relax != d.relaxation),
            ("--sweeps", sweeps != d.sweeps), ("--fine-sweeps", fineSweeps != nil), ("--on-stall", onStall != .stop),
            ("--stall-iterations", stallIterations != Self.defaultStallIterations), ("--stall-ratio", stallRatio != d.stallRatio),
            ("--skip-first-down", skipFirstDown != d.skipFirstDown), ("--fmg", fmg != d.fmg),
            ("--fine-coarsening", fineCoarsening != nil), ("--fine-relax", fineRelax != nil),
            ("--c-relax-weight", cRelaxWeight != d.cRelaxationWeight), ("--fine-c-relax-weight", fineCRelaxWeight != nil),
            ("--delta-correction", deltaCorrection),
        ]
        if let bad = set.first(where: { $0.1 && !supported.contains($0.0) }) {
            let takes = (["--coarsening", "--max-levels"] + supported.sorted()).joined(separator: ", ")
            throw ValidationError("\(command) takes only \(takes) of the MGRIT options; \(bad.0) is not supported there")
        }
    }
}
