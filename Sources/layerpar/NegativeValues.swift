/// Negative numbers given as separate arguments (`--depth -1`, `--beta -0.5`,
/// `--init-range -0.1,0.1`).
///
/// swift-argument-parser reads every token that starts with `-` as an option, so
/// `--depth -1` failed with "Missing value for '--depth <depth>'" and the value never
/// reached the option's range check. Its `.unconditional` parsing strategy would fix
/// one option at a time, but would also let a forgotten value swallow the next flag
/// (`--out --force`). Instead, before parsing, a token that reads as a negative number
/// right after a long option written without `=` is attached to it (`--depth=-1`),
/// which the parser takes as that option's value: every option of every subcommand,
/// integer, floating-point or comma list, then gets its own check and message
/// ("--depth must be at least 1, got -1"). No layerpar option has a digit as its short
/// name, so no flag is lost. Nothing after `--` is touched (`cluster` passes that on).
enum NegativeValues {
    static func attached(_ arguments: [String]) -> [String] {
        var result: [String] = []
        result.reserveCapacity(arguments.count)
        for (i, argument) in arguments.enumerated() {
            if argument == "--" { return result + arguments[i...] }
            if let last = result.last, isLongOptionWithoutValue(last), readsAsNegativeNumber(argument) {
                result[result.count - 1] = last + "=" + argument
            } else {
                result.append(argument)
            }
        }
        return result
    }

    static func isLongOptionWithoutValue(_ token: String) -> Bool {
        token.hasPrefix("--") && token.count > 2 && !token.contains("=")
    }

    /// `-1`, `-0.5`, `-.5`, `-1e-3`, `-inf`, `-nan`, or a comma list whose first item is one of them.
    static func readsAsNegativeNumber(_ token: String) -> Bool {
        guard token.hasPrefix("-"), !token.hasPrefix("--") else { return false }
        let first = token.dropFirst().prefix { $0 != "," }
        return !first.isEmpty && Double(String(first)) != nil
    }
}
