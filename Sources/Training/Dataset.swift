import Foundation

/// A regression data set held sample-major: sample `s` has features
/// `features[s*featureCount ..< (s+1)*featureCount]` and targets
/// `targets[s*targetCount ..< (s+1)*targetCount]`.
///
/// Every value is finite (checked on construction from files).
public struct Dataset: Sendable, Equatable {
    public let featureCount: Int
    public let targetCount: Int
    public let features: [Double]
    public let targets: [Double]
    /// Where the data came from, for summaries and messages.
    public let origin: String
    /// The CSV header's column names (features, then targets); nil for generated data.
    public let columnNames: [String]?

    public var count: Int { featureCount == 0 ? 0 : features.count / featureCount }

    public init(featureCount: Int, targetCount: Int, features: [Double], targets: [Double], origin: String,
                columnNames: [String]? = nil) {
        precondition(featureCount >= 1 && targetCount >= 1)
        precondition(features.count % featureCount == 0 && targets.count % targetCount == 0)
        precondition(features.count / featureCount == targets.count / targetCount)
        self.featureCount = featureCount
        self.targetCount = targetCount
        self.features = features
        self.targets = targets
        self.origin = origin
        self.columnNames = columnNames
    }
}

/// The paper's two regression tasks (Datar & Köstler, eqs. 7–8).
///
/// Inputs `x ∈ R⁶` are uniform in `[0, 4]`, `s = Σᵢ xᵢ^i` (i = 1…6);
/// `f1 = min(s, 400)`; `f2 = s` below 400, 400 on `[400, 800)`, 800 above.
///
/// **Scaling convention (used everywhere in this project).** Targets are divided
/// by the task's ceiling — 400 for f1, 800 for f2 — so they lie in `[0, 1]`,
/// and the loss is `L = 1/(2·B·m) · Σ (prediction − target)²` over the `B`
/// samples and `m` outputs (½ of the mean squared error). With this convention
/// the best affine fit has loss ≈ 0.022 (f1) / 0.020 (f2), the plateau the
/// paper's networks start on, and the paper's Table 1 magnitudes are comparable.
public enum RegressionTask: String, CaseIterable, Sendable, Codable {
    case f1, f2

    /// The divisor applied to targets.
    public var scale: Double { self == .f1 ? 400 : 800 }

    /// The unscaled function value.
    public func value(_ x: [Double]) -> Double {
        var s = 0.0
        var i = 1
        for xi in x {
            var p = 1.0
            for _ in 0..<i { p *= xi }
            s += p
            i += 1
        }
        switch self {
        case .f1: return s < 400 ? s : 400
        case .f2: return s < 400 ? s : (s < 800 ? 400 : 800)
        }
    }

    /// `count` samples from stream `stream` of `seed`, targets scaled by ``scale``.
    public func generate(count: Int, seed: UInt64, stream: RandomStream) -> Dataset {
        var rng = Xoshiro256StarStar(seed: seed, stream: stream.rawValue)
        var xs = [Double](); xs.reserveCapacity(count * 6)
        var ys = [Double](); ys.reserveCapacity(count)
        var x = [Double](repeating: 0, count: 6)
        for _ in 0..<count {
            for i in 0..<6 { x[i] = rng.uniform(0, 4) }
            xs += x
            ys.append(value(x) / scale)
        }
        return Dataset(featureCount: 6, targetCount: 1, features: xs, targets: ys,
                       origin: "task \(rawValue), \(count) samples, seed \(seed), stream \(stream)")
    }
}

/// A data file that cannot be used, with the place of the problem.
public struct DataError: Error, CustomStringConvertible, Sendable, Equatable {
    public let file: String
    public let line: Int?
    public let column: Int?
    public let problem: String

    public var description: String {
        var place = file
        if let line { place += ", line \(line)" }
        if let column { place += ", column \(column)" }
        return "invalid data in \(place): \(problem)"
    }
}

/// Reads regression data from CSV.
///
/// Format: a header row naming the columns, then one sample per row: the
/// feature columns first, then `targetCount` target columns (the last ones).
/// Fields are decimal numbers separated by commas; surrounding spaces are
/// ignored; blank lines are skipped; quoting is not supported. Every problem
/// — a missing header, a row with the wrong number of fields, a field that is
/// not a number, NaN or ±Inf, no samples — throws a ``DataError`` naming the
/// file, line (1-based, the header is line 1) and column (1-based).
/// The reader applies no scaling; `train --normalize` does that (``DataScaling``).
public enum CSVDataReader {
    public static func read(path: String, targetCount: Int) throws -> Dataset {
        try parse(text: text(path: path), file: path, targetCount: targetCount)
    }

    public static func parse(text: String, file: String, targetCount: Int) throws -> Dataset {
        guard targetCount >= 1 else {
            throw DataError(file: file, line: nil, column: nil, problem: "the number of target columns must be at least 1, got \(targetCount)")
        }
        let table = try parseTable(text: text, file: file) { columns, line in
            guard columns > targetCount else {
                throw DataError(file: file, line: line, column: nil,
                                problem: "header has \(columns) column(s) but \(targetCount) target column(s) were asked for: need at least one feature column before the targets")
            }
        }
        let split = table.split(targetCount: targetCount)
        return Dataset(featureCount: table.columns - targetCount, targetCount: targetCount,
                       features: split.features, targets: split.targets, origin: "file \(file)", columnNames: table.header)
    }

    /// Every column of a CSV file as numbers, under the same rules and errors as ``read(path:targetCount:)``.
    public static func readTable(path: String) throws -> CSVNumbers {
        try parseTable(text: text(path: path), file: path) { _, _ in }
    }

    static func text(path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DataError(file: path, line: nil, column: nil, problem: "cannot read the file (missing or unreadable)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw DataError(file: path, line: nil, column: nil, problem: "not UTF-8 text")
        }
        return text
    }

    /// `checkHeader(columns, line)` may refuse the header before any row is read.
    public static func parseTable(text: String, file: String, checkHeader: (Int, Int) throws -> Void) throws -> CSVNumbers {
        var header: [String]?
        var columns = 0
        var values = [Double]()
        var lineNumber = 0
        // "\r\n" is one Character in Swift, so split on either form.
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            lineNumber += 1
            var line = Substring(rawLine)
            if line.hasSuffix("\r") { line = line.dropLast() }
            if line.allSatisfy({ $0 == " " || $0 == "\t" }) { continue }
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
                .map { $0.trimmingCharacters(in: .whitespaces) }
            try CSVFieldRules.check(fields, file: file, line: lineNumber)
            guard header != nil else {
                header = fields
                columns = fields.count
                try checkHeader(columns, lineNumber)
                if let numeric = fields.firstIndex(where: { Double($0) != nil }) {
                    throw DataError(file: file, line: lineNumber, column: numeric + 1,
                                    problem: "the first row must be a header of column names, found the number '\(fields[numeric])'")
                }
                continue
            }
            guard fields.count == columns else {
                throw DataError(file: file, line: lineNumber, column: nil,
                                problem: "expected \(columns) fields as in the header, found \(fields.count)")
            }
            for (c, field) in fields.enumerated() {
                guard let v = Double(field) else {
                    throw DataError(file: file, line: lineNumber, column: c + 1,
                                    problem: field.isEmpty ? "empty field" : "'\(field)' is not a number")
                }
                guard v.isFinite else {
                    throw DataError(file: file, line: lineNumber, column: c + 1,
                                    problem: "'\(field)' is not finite (NaN and ±Inf are not allowed)")
                }
                guard abs(v) <= CSVFieldRules.largestMagnitude else {
                    throw DataError(file: file, line: lineNumber, column: c + 1,
                                    problem: "'\(field)' is too large: |value| must be at most 1e100, so that squares and their sums stay finite")
                }
                values.append(v)
            }
        }
        guard let header else {
            throw DataError(file: file, line: nil, column: nil, problem: "the file is empty (expected a header row and at least one sample)")
        }
        guard !values.isEmpty else {
            throw DataError(file: file, line: nil, column: nil, problem: "the file has a header but no samples")
        }
        return CSVNumbers(file: file, header: header, values: values)
    }

    /// Writes `data` as CSV in the format ``read(path:targetCount:)`` accepts.
    public static func text(of data: Dataset) -> String {
        var out = (0..<data.featureCount).map { "x\($0 + 1)" }.joined(separator: ",")
        out += "," + (0..<data.targetCount).map { "y\($0 + 1)" }.joined(separator: ",") + "\n"
        for s in 0..<data.count {
            let f = data.features[s * data.featureCount ..< (s + 1) * data.featureCount].map(\.description)
            let t = data.targets[s * data.targetCount ..< (s + 1) * data.targetCount].map(\.description)
            out += (f + t).joined(separator: ",") + "\n"
        }
        return out
    }
}

/// A numeric CSV table: the header's column names and every row's values, row-major.
public struct CSVNumbers: Sendable {
    public let file: String
    public let header: [String]
    public let values: [Double]
    public var columns: Int { header.count }
    public var rows: Int { values.count / header.count }

    /// The first `columns − targetCount` columns and the last `targetCount`, sample-major.
    public func split(targetCount: Int) -> (features: [Double], targets: [Double]) {
        let n = columns, f = n - targetCount
        var xs = [Double](), ys = [Double]()
        xs.reserveCapacity(rows * f); ys.reserveCapacity(rows * targetCount)
        for r in 0..<rows {
            xs.append(contentsOf: values[r * n ..< r * n + f])
            ys.append(contentsOf: values[r * n + f ..< (r + 1) * n])
        }
        return (xs, ys)
    }
}
