import MGRIT
import ResNet

/// The one-shot solver of `--mode parallel` beyond the tolerances and caps of
/// ``TrainingConfiguration``: the cycle and relaxation (per level), the
/// hierarchy's size, the C-relaxation weight and how coarse steps are
/// rediscretised. Stored in checkpoints and summaries; a configuration recorded
/// before these settings existed has none and ran the defaults here.
public struct SolverSettings: Sendable, Codable, Equatable {
    public var cycle: MGRITCycle = .F
    public var relaxation: MGRITRelaxation = .FCF
    /// The fine level's relaxation (nil: ``relaxation``); `.F` is LayerParallelLearning's `nrelax0 = 0`.
    public var fineRelaxation: MGRITRelaxation? = nil
    public var sweeps: Int = 1
    public var skipFirstDown: Bool = false
    /// Nested iteration as the first iteration of every cold solve (``MGRITOptions/fmg``; nil: off,
    /// as in configurations recorded before it existed); a pass of one iteration runs without it.
    public var fmg: Bool? = nil
    public var minCoarse: Int = 2
    /// The fine level's coarsening factor (nil: the configuration's `coarsening`).
    public var fineCoarsening: Int? = nil
    /// C-relaxation weight ω on every level, and on the fine level (nil: the same).
    public var cRelaxationWeight: Double = 1
    public var fineCRelaxationWeight: Double? = nil
    public var coarseStep: CoarseStep = .cPointLayer
    /// The fine level's CF sweeps (nil: ``sweeps``).
    public var fineSweeps: Int? = nil
    /// Stall detection (``MGRITOptions/stallIterations``; nil: off, as in configurations
    /// recorded before it existed) and its ratio (nil: the library's default).
    public var stallIterations: Int? = nil
    public var stallRatio: Double? = nil
    /// After a stall, that pass is solved exactly by the layer-serial pass (nil: false).
    public var serialOnStall: Bool? = nil
    /// Delta correction of the forward solve (``MGRITOptions/deltaCorrection``; nil: off).
    public var deltaCorrection: Bool? = nil
    /// Delta correction of the adjoint solve (nil: off, as in configurations recorded when
    /// only the forward solve could be corrected; `--delta-correction` now sets both).
    public var adjointDeltaCorrection: Bool? = nil

    public init() {}

    /// The cycle, relaxation and per-level settings of `o` (its stopping rule, storage,
    /// coarsening and maxLevels are the configuration's business), and `coarseStep`.
    public init(_ o: MGRITOptions, coarseStep: CoarseStep = .cPointLayer) {
        cycle = o.cycle
        relaxation = o.relaxation
        fineRelaxation = o.fineRelaxation
        sweeps = o.sweeps
        skipFirstDown = o.skipFirstDown
        fmg = o.fmg ? true : nil
        minCoarse = o.minCoarseSize
        fineCoarsening = o.fineCoarsening
        cRelaxationWeight = o.cRelaxationWeight
        fineCRelaxationWeight = o.fineCRelaxationWeight
        fineSweeps = o.fineSweeps
        stallIterations = o.stallIterations
        stallRatio = o.stallIterations == nil ? nil : o.stallRatio
        serialOnStall = o.sequentialOnStall ? true : nil
        deltaCorrection = o.deltaCorrection ? true : nil
        adjointDeltaCorrection = deltaCorrection
        self.coarseStep = coarseStep
    }

    /// One line for people, e.g. `F-cycles, FCF (fine level F), 1 CF sweep, ω 1, coarse step cPointLayer`.
    public var summary: String {
        var parts = ["\(cycle.rawValue)-cycles", relaxation.rawValue + (fineRelaxation.map { " (fine level \($0.rawValue))" } ?? ""),
                     "\(sweeps) CF sweep\(sweeps == 1 ? "" : "s")" + (fineSweeps.map { " (fine level \($0))" } ?? "")]
        if let m = fineCoarsening { parts.append("fine coarsening \(m)") }
        parts.append("ω \(cRelaxationWeight)" + (fineCRelaxationWeight.map { " (fine level \($0))" } ?? ""))
        if skipFirstDown { parts.append("skip first down-cycle") }
        if fmg == true { parts.append("FMG (nested iteration in cold solves of passes with ≥ 2 iterations)") }
        if let k = stallIterations {
            parts.append("stall after \(k) iterations above \(stallRatio ?? MGRITOptions().stallRatio)× (then \(serialOnStall == true ? "layer-serial pass" : "stop"))")
        }
        switch (deltaCorrection == true, adjointDeltaCorrection == true) {
        case (true, true): parts.append("Delta correction")
        case (true, false): parts.append("Delta correction (forward)")
        case (false, true): parts.append("Delta correction (adjoint)")
        case (false, false): break
        }
        parts.append("min coarse \(minCoarse), coarse step \(coarseStep.rawValue)")
        return parts.joined(separator: ", ")
    }

    /// `base` (stopping rule) with these settings and the configuration's `coarsening`/`maxLevels`,
    /// for the forward solve, or for the adjoint solve with `adjoint` (its Delta correction).
    public func apply(to base: MGRITOptions, coarsening: Int, maxLevels: Int, adjoint: Bool = false) -> MGRITOptions {
        var o = base
        o.coarsening = coarsening
        o.maxLevels = maxLevels
        o.cycle = cycle
        o.relaxation = relaxation
        o.fineRelaxation = fineRelaxation
        o.sweeps = sweeps
        o.skipFirstDown = skipFirstDown
        o.fmg = fmg ?? false
        o.minCoarseSize = minCoarse
        o.fineCoarsening = fineCoarsening
        o.cRelaxationWeight = cRelaxationWeight
        o.fineCRelaxationWeight = fineCRelaxationWeight
        o.fineSweeps = fineSweeps
        o.stallIterations = stallIterations
        o.stallRatio = stallRatio ?? MGRITOptions().stallRatio
        o.sequentialOnStall = serialOnStall ?? false
        o.deltaCorrection = (adjoint ? adjointDeltaCorrection : deltaCorrection) ?? false
        return o
    }
}

/// One-shot configurations (`train --preset`): ours and the published ones.
public enum SolverPreset: String, Sendable, Codable, CaseIterable {
    /// Exactly 2 forward and 1 adjoint iteration, F-relaxation on the fine level, fine
    /// coarsening factor 16, no warm start — the least work to f2's reference loss in
    /// `layerpar reproduce oneshot`; f1 at depth 322 stalls short of its reference with it:
    /// two forward iterations leave a forward residual that grows over training until the
    /// network fits the inexact solve rather than the exact pass.
    case oneshot
    /// `train --mode parallel`'s default: `oneshot`'s solver with the forward solve to an
    /// absolute ℓ² residual of 1 (at most 5 iterations; about 3 in practice) and 1 adjoint
    /// iteration — the one set-up measured that reaches the reference loss of both f1 (depth
    /// 322, median W 2.46 over seeds 1–3) and f2 (depth 50, 2.31) at W ≤ 4. Fixed 2 or 3
    /// forward iterations let f1's forward residual grow over training until the network fits
    /// the inexact solve rather than the exact pass. With `--coarse-step secondOrder` f1 gets
    /// there with less work (1.88) and f2 with more (4.43).
    case adaptive
    /// The paper's: solve to (t_f, t_b) = (1e-8, 1e-8) for f1 and (1e-4, 1e-6) otherwise, at most
    /// 10 iterations, F-cycles with FCF, per-example warm starts (12–14× serial's work to the reference loss).
    case paper
    /// LayerParallelLearning's configuration files: exactly 2 forward and 2 adjoint iterations, F-relaxation on the fine level.
    case layerparallel
    /// torchbraid's training drivers: exactly 2 forward and 1 adjoint iteration.
    case torchbraid
}

extension SolverPreset {
    /// Exact forward and adjoint MGRIT iterations per step (nil: solve that pass to its tolerance).
    public var fixedIterations: (forward: Int?, backward: Int?) {
        switch self {
        case .paper: (nil, nil)
        case .oneshot, .torchbraid: (2, 1)
        case .adaptive: (nil, 1)
        case .layerparallel: (2, 2)
        }
    }

    /// The forward tolerance and iteration cap the preset sets (nil: the task's).
    public var forwardTolerance: Double? { self == .adaptive ? 1 : nil }
    public var maxForwardIterations: Int? { self == .adaptive ? 5 : nil }

    /// Whether the fine level is F-relaxed only (LayerParallelLearning's `nrelax0 = 0`).
    public var fineRelaxationF: Bool { self == .layerparallel || self == .oneshot || self == .adaptive }

    /// The fine level's coarsening factor the preset sets (nil: the hierarchy's).
    public var fineCoarsening: Int? { self == .oneshot || self == .adaptive ? 16 : nil }

    /// `s` with this preset's fine level (F-relaxation, coarsening factor) where `s` leaves it open.
    public func fillingFineLevel(of s: SolverSettings) -> SolverSettings {
        var s = s
        if fineRelaxationF { s.fineRelaxation = s.fineRelaxation ?? .F }
        s.fineCoarsening = s.fineCoarsening ?? fineCoarsening
        return s
    }

    /// Where solves start unless `--warm-start` says otherwise: with a few iterations the
    /// per-example store costs more than it saves (its gathers miss the caches).
    public var warmStart: WarmStartPolicy { self == .oneshot || self == .adaptive ? .none : .example }
}
