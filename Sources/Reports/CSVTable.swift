/// A CSV table with a header row, built in memory and written atomically.
/// Numbers are written with full round-trip precision (`Double.description`).
public struct CSVTable: Sendable {
    public let columns: [String]
    public private(set) var rows: [[String]] = []

    public init(columns: [String]) { self.columns = columns }

    /// Appends a row; throws if its length differs from the header's.
    public mutating func append(_ row: [CSVValue]) throws {
        guard row.count == columns.count else {
            throw ReportError("CSV row has \(row.count) fields, header has \(columns.count) (\(columns.joined(separator: ",")))")
        }
        rows.append(row.map(\.text))
    }

    /// The table as RFC 4180 text.
    public var text: String {
        ([columns.map(Self.quote)] + rows.map { $0.map(Self.quote) })
            .map { $0.joined(separator: ",") }.joined(separator: "\n") + "\n"
    }

    public func write(to path: String) throws { try AtomicFile.write(text, to: path) }

    static func quote(_ field: String) -> String {
        guard field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) else { return field }
        return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

/// One CSV field.
public enum CSVValue: Sendable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral {
    case text(String)
    case int(Int)
    case double(Double)

    public init(stringLiteral value: String) { self = .text(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }

    var text: String {
        switch self {
        case .text(let s): return s
        case .int(let i): return String(i)
        case .double(let d): return d.description
        }
    }
}
