import Foundation

/// How CSV features and targets are scaled before training (`train --normalize`).
public enum NormalizationKind: String, Sendable, Codable, CaseIterable {
    /// Values used as given.
    case none
    /// Each column shifted by its training-set mean and divided by its standard deviation.
    case standard
    /// Each column mapped from its training-set [min, max] to [0, 1].
    case minmax
}

/// The affine map between a data set's units and the network's:
/// `network = (raw − shift) / scale`, per feature column and per target column.
///
/// Fitted on the training set alone (``fit(_:to:)``); the validation set and
/// everything `predict` sees go through the same map, and predictions come
/// back through its inverse `raw = network · scale + shift`. A column with no
/// spread (standard deviation or range 0) keeps scale 1, so it is shifted but
/// never divided by zero. The paper's tasks use the identity here: their
/// targets are already generated as f/400 and f/800 (``RegressionTask/scale``).
public struct DataScaling: Sendable, Codable, Equatable {
    public var kind: NormalizationKind
    public var featureShift: [Double]
    public var featureScale: [Double]
    public var targetShift: [Double]
    public var targetScale: [Double]

    public init(kind: NormalizationKind, featureShift: [Double], featureScale: [Double],
                targetShift: [Double], targetScale: [Double]) {
        self.kind = kind
        self.featureShift = featureShift
        self.featureScale = featureScale
        self.targetShift = targetShift
        self.targetScale = targetScale
    }

    /// No scaling for `features` inputs and `targets` outputs.
    public static func identity(features: Int, targets: Int) -> DataScaling {
        DataScaling(kind: .none, featureShift: Array(repeating: 0, count: features), featureScale: Array(repeating: 1, count: features),
                    targetShift: Array(repeating: 0, count: targets), targetScale: Array(repeating: 1, count: targets))
    }

    /// The scaling of `kind` with each column's statistics over `data` (the training set).
    public static func fit(_ kind: NormalizationKind, to data: Dataset) -> DataScaling {
        func columns(_ values: [Double], _ n: Int) -> (shift: [Double], scale: [Double]) {
            let rows = values.count / n
            var shift = [Double](repeating: 0, count: n), scale = [Double](repeating: 1, count: n)
            for c in 0..<n {
                let column = (0..<rows).lazy.map { values[$0 * n + c] }
                switch kind {
                case .none: continue
                case .standard:
                    let mean = column.reduce(0, +) / Double(rows)
                    let variance = column.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(rows)
                    shift[c] = mean
                    scale[c] = variance > 0 ? variance.squareRoot() : 1
                case .minmax:
                    let lo = column.min()!, hi = column.max()!
                    shift[c] = lo
                    scale[c] = hi > lo ? hi - lo : 1
                }
            }
            return (shift, scale)
        }
        let f = columns(data.features, data.featureCount), t = columns(data.targets, data.targetCount)
        return DataScaling(kind: kind, featureShift: f.shift, featureScale: f.scale, targetShift: t.shift, targetScale: t.scale)
    }

    public var isIdentity: Bool {
        featureShift.allSatisfy { $0 == 0 } && featureScale.allSatisfy { $0 == 1 }
            && targetShift.allSatisfy { $0 == 0 } && targetScale.allSatisfy { $0 == 1 }
    }

    /// Sample-major raw features into network units.
    public func normalizeFeatures(_ raw: [Double]) -> [Double] {
        Self.map(raw, shift: featureShift, scale: featureScale) { ($0 - $1) / $2 }
    }

    /// Sample-major raw targets into network units.
    public func normalizeTargets(_ raw: [Double]) -> [Double] {
        Self.map(raw, shift: targetShift, scale: targetScale) { ($0 - $1) / $2 }
    }

    /// Sample-major network outputs into raw target units.
    public func denormalizeTargets(_ network: [Double]) -> [Double] {
        Self.map(network, shift: targetShift, scale: targetScale) { $0 * $2 + $1 }
    }

    /// `data` in network units (unchanged, bit for bit, under the identity).
    public func apply(to data: Dataset) -> Dataset {
        guard !isIdentity else { return data }
        return Dataset(featureCount: data.featureCount, targetCount: data.targetCount,
                       features: normalizeFeatures(data.features), targets: normalizeTargets(data.targets),
                       origin: data.origin + ", \(kind.rawValue)-scaled", columnNames: data.columnNames)
    }

    static func map(_ values: [Double], shift: [Double], scale: [Double], _ f: (Double, Double, Double) -> Double) -> [Double] {
        let n = shift.count
        return values.indices.map { f(values[$0], shift[$0 % n], scale[$0 % n]) }
    }
}

/// A fingerprint of a data set's values (count, columns and FNV-1a-64 of every
/// value's bits, sample-major features then targets): equal fingerprints mean
/// the same numbers in the same order.
public struct DataFingerprint: Sendable, Codable, Equatable, CustomStringConvertible {
    public var samples: Int
    public var features: Int
    public var targets: Int
    public var fnv1a64: String

    public init(_ data: Dataset) {
        samples = data.count
        features = data.featureCount
        targets = data.targetCount
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for a in [data.features, data.targets] {
            for v in a {
                var bits = v.bitPattern.littleEndian
                for _ in 0..<8 { h = (h ^ (bits & 0xFF)) &* 0x0000_0100_0000_01B3; bits >>= 8 }
            }
        }
        fnv1a64 = Checkpoint.hex(h)
    }

    public var description: String { "\(samples) samples × \(features) features + \(targets) target(s), FNV-1a-64 \(fnv1a64)" }
}
