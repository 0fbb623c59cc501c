/// What a CSV field may hold beyond being a number: no control characters (a NUL or
/// an escape inside a field is garbage that a number parser may partly accept, and
/// in a column name it would reach `predict --info` and the exported metadata), and
/// no magnitude whose square overflows (the loss and the scaling statistics square
/// every value and sum over the samples).
enum CSVFieldRules {
    static let largestMagnitude = 1e100

    /// Throws naming file, line and column of the first field with a control character.
    static func check(_ fields: [String], file: String, line: Int) throws {
        for (c, field) in fields.enumerated() {
            if let bad = field.unicodeScalars.first(where: { $0.properties.generalCategory == .control }) {
                throw DataError(file: file, line: line, column: c + 1,
                                problem: "contains the control character U+\(String(bad.value, radix: 16, uppercase: true).leftPadded(4))")
            }
        }
    }
}

extension String {
    fileprivate func leftPadded(_ n: Int) -> String { String(repeating: "0", count: max(0, n - count)) + self }
}
