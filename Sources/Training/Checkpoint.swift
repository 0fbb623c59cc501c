import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Reports

/// One row of `history.csv`.
public struct HistoryRow: Sendable, Codable, Equatable {
    public var iteration: Int
    /// Cumulative training time (forward + backward + update), excluding evaluation.
    public var seconds: Double
    public var batchLoss: Double
    /// Full training-set and validation losses, at evaluation steps only.
    public var trainLoss: Double?
    public var validationLoss: Double?
    public var forwardIterations: Int
    public var forwardResidual: Double?
    public var backwardIterations: Int
    public var backwardResidual: Double?
    /// Cumulative CPU seconds of the training thread over the same steps as `seconds`
    /// (nil in runs recorded before it was measured).
    public var cpuSeconds: Double? = nil
    /// Passes of this step solved by the layer-serial pass after their MGRIT solve
    /// stalled (``StepResult/serialFallback``); nil: none.
    public var serialFallback: String? = nil
    /// L-BFGS: the line search's loss evaluations at trial points (forward passes beside
    /// the step's own), negative when none was accepted and the step was not taken; nil for other optimisers.
    public var lineSearchTrials: Int? = nil
    /// `--measure-error-every`: the RMS error of this step's forward states and adjoints
    /// against exact layer-serial passes (``SolveError``); nil at other steps.
    public var forwardError: Double? = nil
    public var adjointError: Double? = nil
}

/// Everything needed to continue a run exactly where it stopped.
///
/// File format (version 1): the text line `LAYERPAR-CHECKPOINT 1`, a line with
/// the JSON header's length in bytes, a line with the binary section's length,
/// a line with the 16-hex-digit FNV-1a-64 checksum of header + binary, then
/// the JSON header (configuration, counters, history, and the model's scaling
/// and provenance: optional keys a version-1 reader without them ignores) and the binary section
/// (little-endian IEEE doubles: parameters, optimiser moments — for L-BFGS its pairs
/// and counters, ``LBFGSLayout`` — engine state).
/// Doubles travel as bits, so a resumed run continues bit for bit.
public struct Checkpoint: Sendable {
    public static let formatVersion = 1
    static let magic = "LAYERPAR-CHECKPOINT"

    public struct Header: Codable, Sendable {
        public var formatVersion: Int
        public var configuration: TrainingConfiguration
        public var step: Int
        public var samplerEpoch: Int
        public var samplerPosition: Int
        public var optimizerSteps: Int
        public var trainSeconds: Double
        public var timing: TimingTotals
        public var history: [HistoryRow]
        public var parameterCount: Int
        public var firstMomentCount: Int
        public var secondMomentCount: Int
        public var engineStateCount: Int
        // What a trained model records about itself (`predict --info`, exports). Optional,
        // so checkpoints written before them still load (as unscaled, unrecorded models).
        /// The scaling fitted on the training set; nil means the identity.
        public var scaling: DataScaling?
        /// `layerpar VERSION`, the job's MPI ranks, the training set's fingerprint and CSV column names.
        public var tool: String?
        public var ranks: Int?
        public var trainingData: DataFingerprint?
        public var columnNames: [String]?
    }

    public var header: Header
    public var parameters: [Double]
    public var optimizer: OptimizerState
    public var engineState: [Double]

    public func encoded() throws -> Data {
        var h = header
        h.parameterCount = parameters.count
        h.firstMomentCount = optimizer.first.count
        h.secondMomentCount = optimizer.second.count
        h.engineStateCount = engineState.count
        h.optimizerSteps = optimizer.steps
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = try encoder.encode(h)
        var bin = Data(capacity: 8 * (parameters.count + optimizer.first.count + optimizer.second.count + engineState.count))
        for a in [parameters, optimizer.first, optimizer.second, engineState] {
            // The file is little-endian: on such a host the arrays' bytes are the file's
            // (one copy; per element, a 100 MB warm-start store took seconds).
            #if _endian(little)
            a.withUnsafeBytes { bin.append(contentsOf: $0) }
            #else
            for v in a { withUnsafeBytes(of: v.bitPattern.littleEndian) { bin.append(contentsOf: $0) } }
            #endif
        }
        var body = json
        body.append(bin)
        var out = Data("\(Self.magic) \(Self.formatVersion)\n\(json.count)\n\(bin.count)\n\(Self.hex(Self.fnv1a(body)))\n".utf8)
        out.append(body)
        return out
    }

    public static func decode(_ data: Data, path: String) throws -> Checkpoint {
        func bad(_ why: String) -> TrainingError { TrainingError("checkpoint \(path) is unusable: \(why)") }
        var lines: [String] = []
        var idx = data.startIndex
        while lines.count < 4 {
            guard let nl = data[idx...].firstIndex(of: 10) else { throw bad("truncated header (file has \(data.count) bytes)") }
            lines.append(String(decoding: data[idx..<nl], as: UTF8.self))
            idx = data.index(after: nl)
        }
        let first = lines[0].split(separator: " ")
        guard first.count == 2, first[0] == Self.magic else { throw bad("not a layerpar checkpoint (bad first line)") }
        guard let version = Int(first[1]), version == formatVersion else {
            throw bad("format version \(first[1]) is not supported (this layerpar reads version \(formatVersion))")
        }
        guard let jsonLen = Int(lines[1]), let binLen = Int(lines[2]), jsonLen >= 0, binLen >= 0, binLen % 8 == 0 else {
            throw bad("corrupt length fields")
        }
        let body = data[idx...]
        let (expected, overflow) = jsonLen.addingReportingOverflow(binLen)
        guard !overflow else { throw bad("corrupt length fields (\(jsonLen) + \(binLen) bytes overflow)") }
        guard body.count == expected else {
            throw bad("truncated or padded: expected \(expected) bytes after the header, found \(body.count)")
        }
        guard hex(fnv1a(Data(body))) == lines[3] else { throw bad("checksum mismatch (the file is corrupt)") }
        let json = body.prefix(jsonLen)
        let header: Header
        do { header = try JSONDecoder().decode(Header.self, from: Data(json)) } catch {
            throw bad("header does not decode: \(error)")
        }
        var doubles = [Double](); doubles.reserveCapacity(binLen / 8)
        let bin = Data(body.suffix(binLen))
        bin.withUnsafeBytes { raw in
            for k in 0..<(binLen / 8) {
                doubles.append(Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * k, as: UInt64.self))))
            }
        }
        let counts = [header.parameterCount, header.firstMomentCount, header.secondMomentCount, header.engineStateCount]
        var total = 0
        for c in counts {
            let (t, o) = total.addingReportingOverflow(c)
            guard c >= 0, !o else { throw bad("array sizes in the header are out of range") }
            total = t
        }
        guard total == doubles.count else { throw bad("array sizes disagree with the header") }
        var o = 0
        func take(_ n: Int) -> [Double] { defer { o += n }; return Array(doubles[o..<o + n]) }
        let p = take(counts[0])
        var opt = OptimizerState(count: 0, settings: header.configuration.optimizer)
        opt.first = take(counts[1]); opt.second = take(counts[2]); opt.steps = header.optimizerSteps
        let eng = take(counts[3])
        return Checkpoint(header: header, parameters: p, optimizer: opt, engineState: eng)
    }

    /// Writes `DIR/checkpoint.lpck` so that a loadable checkpoint exists at every
    /// instant, whatever kills the process: the new checkpoint goes to a flushed
    /// temporary file; the current one, if sound, becomes `checkpoint.prev.lpck` by a
    /// hard link (a copy where links are not supported) renamed over the old previous
    /// one; then the temporary is renamed over the current one. A kill leaves at most
    /// a temporary `.checkpoint.lpck.tmp-PID`, which the next run in the directory removes.
    public func write(directory: String) throws {
        let data = try encoded()
        let cur = Self.path(in: directory), prev = Self.previousPath(in: directory)
        let fresh = try AtomicFile.writeTemporary(data, beside: cur)
        do {
            // Keep the previous checkpoint only if it is itself sound.
            if let old = FileManager.default.contents(atPath: cur), (try? Self.decode(old, path: cur)) != nil {
                let link = directory + "/.checkpoint.prev.lpck.tmp-\(getpid())"
                unlink(link)
                if Glibc.link(cur, link) == 0 {
                    try AtomicFile.replace(prev, with: link)
                } else {
                    try AtomicFile.write(old, to: prev)
                }
            }
            try AtomicFile.replace(cur, with: fresh)
        } catch {
            unlink(fresh)
            throw TrainingError("cannot write the checkpoint in \(directory): \(error)")
        }
    }

    public static func path(in directory: String) -> String { directory + "/checkpoint.lpck" }
    public static func previousPath(in directory: String) -> String { directory + "/checkpoint.prev.lpck" }

    /// Reads `DIR/checkpoint.lpck`; a damaged file is refused with a message that points to the previous one.
    public static func load(directory: String) throws -> Checkpoint {
        let cur = path(in: directory), prev = previousPath(in: directory)
        guard let data = FileManager.default.contents(atPath: cur) else {
            var msg = "--resume: no checkpoint at \(cur)"
            if FileManager.default.fileExists(atPath: prev) { msg += " (a previous checkpoint exists at \(prev))" }
            throw TrainingError(msg)
        }
        return try decode(data, path: cur)
    }

    /// What `--resume` loads: `DIR/checkpoint.lpck`, or, if it is missing or damaged
    /// and `DIR/checkpoint.prev.lpck` is sound, the previous checkpoint; `note` then says
    /// why (for the log). Throws if neither loads, naming both.
    public static func loadForResume(directory: String) throws -> (checkpoint: Checkpoint, note: String?) {
        let prev = previousPath(in: directory)
        let current: Result<Checkpoint, TrainingError>
        do { current = .success(try load(directory: directory)) } catch let e as TrainingError { current = .failure(e) }
        switch current {
        case .success(let c): return (c, nil)
        case .failure(let e):
            guard let p = FileManager.default.contents(atPath: prev) else { throw e }
            do {
                let c = try decode(p, path: prev)
                return (c, "\(e.message); resuming from the previous checkpoint \(prev) (step \(c.header.step)) instead")
            } catch let f as TrainingError {
                throw TrainingError("\(e.message); and the previous one: \(f.message)")
            }
        }
    }

    static func fnv1a(_ data: Data) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        data.withUnsafeBytes { raw in
            for b in raw { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        }
        return h
    }

    static func hex(_ v: UInt64) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
}

/// Accumulated time by phase.
public struct TimingTotals: Codable, Sendable, Equatable {
    public var forward = 0.0
    public var backward = 0.0
    public var update = 0.0
    public var evaluation = 0.0
    public var steps = 0
    public init() {}
}
