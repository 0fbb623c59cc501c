import Comm
import Foundation
import MGRIT
import Reports
import ResNet

// The schedule of forward + adjoint MGRIT on P ranks, from the real solver's
// control flow: `MGRITSolver` itself runs over a problem whose step records its
// cost instead of computing (``CostProblem``), with all P ranks as threads of this
// process (`ScheduleGroup`), each behind a `TracingCommunicator` that writes the
// rank's SimGrid time-independent trace. Why not real oversubscribed runs: 1280
// MPI ranks of depth 5120 would each build the whole network (≈ 14 GB) on two
// cores, and compute timed that way measures the oversubscription; here a rank
// holds no states and the costs are the one-rank measurement.

/// One pass (forward or adjoint) of a one-rank calibration solve.
public struct PassCalibration: Codable {
    /// Seconds per problem step on each level (the level's compute time over its steps).
    public var stepSeconds: [Double]
    /// Seconds per step of the adjoint's gradient sweep (nil for the forward pass).
    public var sweepStepSeconds: Double?
    /// Seconds of the pass outside every level, the sweep and the reductions (FAS
    /// corrections, injections, the stored pre-activations): spread evenly over the ranks.
    public var remainderSeconds: Double
    /// The one-rank solve's residual norms, one per residual check.
    public var residuals: [Double]
    public var iterations: Int
    public var converged: Bool
    /// One-rank statistics: steps and compute seconds per level.
    public var steps: [Int]
    public var computeSeconds: [Double]
    public var seconds: Double

    /// `wall`: the whole pass as its caller timed it (the adjoint's includes computing the
    /// stored pre-activations before the solve, which its statistics do not see).
    init(_ s: MGRITStatistics, wall: Double) {
        let sweep = s.sweep
        var steps = s.stepsPerLevel
        if let sweep { steps[0] -= sweep.steps }   // the adjoint's stepsPerLevel[0] counts the sweep too
        self.steps = steps
        computeSeconds = s.computeSecondsPerLevel
        stepSeconds = zip(s.computeSecondsPerLevel, steps).map { $1 > 0 ? $0 / Double($1) : 0 }
        sweepStepSeconds = sweep.map { $0.steps > 0 ? $0.computeSeconds / Double($0.steps) : 0 }
        remainderSeconds = max(0, wall - s.secondsPerLevel.reduce(0, +) - s.reduceSeconds - (sweep?.seconds ?? 0))
        residuals = s.residuals
        iterations = s.iterations
        converged = s.converged
        seconds = wall
    }
}

/// A one-rank forward + adjoint solve of a case, measured here: what a schedule costs.
public struct ScheduleCalibration: Codable {
    public var depth: Int
    public var width: Int
    public var batch: Int
    public var setup: ScalingSolverSetup
    public var forward: PassCalibration
    public var adjoint: PassCalibration
    /// Forward + adjoint seconds of the calibrated (fastest) repeat on one rank.
    public var oneRankSeconds: Double

    /// Fastest of `repeats` one-rank solves (after a warm-up), as `scaling run` times them.
    public static func measure(_ c: ScalingCase, setup: ScalingSolverSetup, repeats: Int = 5) throws -> ScheduleCalibration {
        let world = SerialCommunicator()
        let stack = try c.makeStack()
        let (x0, lN) = c.makeBoundaryData()
        let options = setup.mgritOptions()
        let forward = try ResNetForwardSolver(stack: stack, batch: c.batch, options: options, comm: world, coarseStep: setup.coarseStep)
        let adjoint = try ResNetAdjointSolver(forward: forward, options: setup.adjointMGRITOptions(), comm: world,
                                              storePreactivations: setup.storePreactivations)
        let gradient = HiddenGradient(like: stack)
        var best: (total: Double, fwd: Double, adj: Double, f: MGRITStatistics, a: MGRITStatistics)?
        for rep in 0 ... max(repeats, 1) {
            gradient.zero()
            let t0 = monotonicSeconds()
            let f = try forward.solve(input: x0)
            let t1 = monotonicSeconds()
            let a = try adjoint.solve(terminalAdjoint: lN, gradient: gradient)
            let t2 = monotonicSeconds()
            if rep > 0, t2 - t0 < (best?.total ?? .infinity) { best = (t2 - t0, t1 - t0, t2 - t1, f, a) }
        }
        let b = best!
        return ScheduleCalibration(depth: c.depth, width: c.width, batch: c.batch, setup: setup,
                                   forward: PassCalibration(b.f, wall: b.fwd), adjoint: PassCalibration(b.a, wall: b.adj),
                                   oneRankSeconds: b.total)
    }
}

/// A state of ``CostProblem``: nothing.
public final class CostState {}

/// An ``MGRITProblem`` whose step does no arithmetic but reports its calibrated
/// cost to the rank's ``TracingCommunicator`` (per level; the sweep's own cost
/// while ``inSweep``). Its residual norms replay the calibration's: at the k-th
/// residual check every one of the `slots` fine C-points reports `r_k/√slots`, so
/// the solver's own global norm is `r_k` and it stops at the iteration where the
/// real solve stopped. Messages have the real state's size (`w·B` doubles).
public final class CostProblem: MGRITProblem {
    public let stepCount: Int
    public let bufferCount: Int
    let tracer: TracingCommunicator
    let stepSeconds: [Double]
    let sweepStepSeconds: Double
    let residuals: [Double]
    let slots: Int
    /// Residual norms this rank computes per check (its fine C-points ≥ 1); set after the solver exists.
    var callsPerCheck = 1
    var normCalls = 0
    /// Steps now belong to the gradient sweep.
    var inSweep = false

    init(stepCount: Int, stateDoubles: Int, pass: PassCalibration, tolerance: Double?, slots: Int, tracer: TracingCommunicator) {
        self.stepCount = stepCount
        bufferCount = stateDoubles
        self.tracer = tracer
        stepSeconds = pass.stepSeconds
        sweepStepSeconds = pass.sweepStepSeconds ?? pass.stepSeconds[0]
        self.slots = max(slots, 1)
        // Clamped away from the tolerance so rounding in the global sum cannot move the stop.
        residuals = pass.residuals.enumerated().map { k, r in
            guard let t = tolerance else { return r }
            let last = k == pass.residuals.count - 1 && pass.converged
            return last ? min(r, t / 2) : max(r, 2 * t)
        }
    }

    public func makeState() -> CostState { CostState() }
    public func initialGuess(at index: Int, into u: CostState) throws {}
    public func step(from u: CostState, into v: CostState, start: Int, stop: Int, level: Int) throws {
        tracer.work(inSweep ? sweepStepSeconds : stepSeconds[level], level: level)
    }
    public func sum(_ alpha: Double, _ x: CostState, _ beta: Double, _ y: CostState) {}
    public func norm(_ u: CostState) -> Double {
        defer { normCalls += 1 }
        guard !residuals.isEmpty else { return 1 }
        let k = min(normCalls / max(callsPerCheck, 1), residuals.count - 1)
        return residuals[k] / Double(slots).squareRoot()
    }
    public func pack(_ u: CostState, into buffer: UnsafeMutableBufferPointer<Double>) {}
    public func unpack(from buffer: UnsafeBufferPointer<Double>, into u: CostState) {}
    public func copy(_ x: CostState, into y: CostState) {}
}

/// What one rank of a schedule did: its trace and the solvers' statistics.
public struct RankSchedule {
    public var rank: Int
    /// The SimGrid time-independent trace (``TracingCommunicator``).
    public var lines: [String]
    /// Compute seconds reported per level (−1: in no level).
    public var workByLevel: [Int: Double]
    public var sends: [(to: Int, tag: Int, bytes: Int)]
    public var receives: [(from: Int, tag: Int, bytes: Int)]
    public var forward: MGRITStatistics
    public var adjoint: MGRITStatistics
}

/// The schedule of one calibrated case on `ranks` ranks.
public struct Schedule {
    public var calibration: ScheduleCalibration
    public var ranks: [RankSchedule]
    /// Units of a trace's `compute` line per second of this machine's time.
    public var cyclesPerSecond: Double

    /// Runs the real solver's schedule on `p` in-process ranks (see the file's comment).
    public static func record(_ cal: ScheduleCalibration, ranks p: Int, cyclesPerSecond: Double) throws -> Schedule {
        guard p >= 1 && p <= cal.depth + 1 else {
            throw StudyError("a schedule of depth \(cal.depth) needs 1 … \(cal.depth + 1) ranks, got \(p)")
        }
        let options = cal.setup.mgritOptions()
        let hierarchy = try MGRITHierarchy(stepCount: cal.depth, options: options)
        let slots = hierarchy.levelCount > 1 ? hierarchy.pointsPerLevel[1] - 1 : 1
        let m0 = hierarchy.factor(level: 0)
        let fixed = cal.setup.fixedIterations != nil
        let tolerance = fixed ? nil : cal.setup.tolerance
        let doubles = cal.width * cal.batch
        let ranks = try ScheduleGroup.run(size: p) { comm -> RankSchedule in
            let tracer = TracingCommunicator(comm, cyclesPerSecond: cyclesPerSecond)
            func checks<Q>(_ s: MGRITSolver<Q>) -> Int {
                s.ownedRange(level: 0).filter { $0 >= 1 && $0 % m0 == 0 }.count
            }
            let fp = CostProblem(stepCount: cal.depth, stateDoubles: doubles, pass: cal.forward, tolerance: tolerance,
                                 slots: slots, tracer: tracer)
            let fs = try MGRITSolver(problem: fp, options: options, comm: tracer)
            fp.callsPerCheck = checks(fs)
            let f = try fs.solve()
            tracer.work(cal.forward.remainderSeconds / Double(p), level: -1)
            var adjointOptions = cal.setup.adjointMGRITOptions()
            adjointOptions.storage = .cPointsOnly   // as ResNetAdjointSolver
            let ap = CostProblem(stepCount: cal.depth, stateDoubles: doubles, pass: cal.adjoint, tolerance: tolerance,
                                 slots: slots, tracer: tracer)
            let asol = try MGRITSolver(problem: ap, options: adjointOptions, comm: tracer, partition: fs.partition.reversed())
            ap.callsPerCheck = checks(asol)
            var a = try asol.solve()
            ap.inSweep = true
            a.sweep = try asol.sweep()
            tracer.work(cal.adjoint.remainderSeconds / Double(p), level: -1)
            return RankSchedule(rank: comm.rank, lines: tracer.finish(), workByLevel: tracer.workByLevel,
                                sends: tracer.sends, receives: tracer.receives, forward: f, adjoint: a)
        }
        return Schedule(calibration: cal, ranks: ranks, cyclesPerSecond: cyclesPerSecond)
    }

    /// Compute seconds of every rank on `level` (−1: in no level).
    public func work(level: Int) -> [Double] { ranks.map { $0.workByLevel[level] ?? 0 } }
    /// Levels of the hierarchy.
    public var levelCount: Int { ranks[0].forward.levels }

    /// What `schedule.json` in a trace folder holds.
    public struct Summary: Codable {
        public var ranks: Int
        public var depth: Int
        public var width: Int
        public var batch: Int
        public var setup: ScalingSolverSetup
        public var cyclesPerSecond: Double
        public var calibration: ScheduleCalibration
        public var forwardIterations: Int
        public var adjointIterations: Int
        /// Per level (index = level; last entry: work in no level): compute seconds, max over ranks and summed.
        public var maxComputeSeconds: [Double]
        public var totalComputeSeconds: [Double]
        public var messages: Int
        /// File names of the per-rank traces, in rank order (what `traces.txt` lists with full paths).
        public var traces: [String]
    }

    /// Writes `rank-R.ti` per rank, `traces.txt` (their absolute paths, the list
    /// `smpirun -replay` takes) and `schedule.json` into `directory` (created).
    @discardableResult
    public func write(to directory: String) throws -> Summary {
        do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
            throw StudyError("--trace: cannot create directory '\(directory)': \(error.localizedDescription)")
        }
        let dir = URL(fileURLWithPath: directory).standardizedFileURL
        var names: [String] = []
        for r in ranks {
            let name = "rank-\(r.rank).ti"
            try AtomicFile.write(r.lines.joined(separator: "\n") + "\n", to: dir.appendingPathComponent(name).path)
            names.append(name)
        }
        try AtomicFile.write(names.map { dir.appendingPathComponent($0).path }.joined(separator: "\n") + "\n",
                             to: dir.appendingPathComponent("traces.txt").path)
        let levels = Array(0 ..< levelCount) + [-1]
        let s = Summary(ranks: ranks.count, depth: calibration.depth, width: calibration.width, batch: calibration.batch,
                        setup: calibration.setup, cyclesPerSecond: cyclesPerSecond, calibration: calibration,
                        forwardIterations: ranks[0].forward.iterations, adjointIterations: ranks[0].adjoint.iterations,
                        maxComputeSeconds: levels.map { work(level: $0).max() ?? 0 },
                        totalComputeSeconds: levels.map { work(level: $0).reduce(0, +) },
                        messages: ranks.reduce(0) { $0 + $1.sends.count }, traces: names)
        try AtomicFile.writeJSON(s, to: dir.appendingPathComponent("schedule.json").path)
        return s
    }
}
