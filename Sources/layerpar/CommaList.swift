import ArgumentParser

/// The one comma-list parser of the command line: `"16, 32,64"` → `[16, 32, 64]`
/// (spaces around items allowed). Throws `--OPTION 'TEXT' <rule>` when the list is
/// empty or an item does not parse or fails `accept`.
func commaList<T: LosslessStringConvertible>(_ text: String, option: String, rule: String,
                                             accept: (T) -> Bool = { _ in true }) throws -> [T] {
    let items = text.split(separator: ",").map { T(String($0).trimmingCharacters(in: .whitespaces)) }
    guard !items.isEmpty, items.allSatisfy({ $0.map(accept) ?? false }) else {
        throw ValidationError("--\(option) '\(text)' \(rule)")
    }
    return items.map { $0! }
}

/// A comma list of positive integers (depths, widths, rank counts).
func positiveIntegers(_ text: String, option: String,
                      rule: String = "must be a comma-separated list of positive integers") throws -> [Int] {
    try commaList(text, option: option, rule: rule) { $0 >= 1 }
}
