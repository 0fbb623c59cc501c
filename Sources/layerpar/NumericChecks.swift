import ArgumentParser

/// Range checks of numeric options, naming the option as the user typed it:
/// NaN and ±inf parse as Doubles and would otherwise fail much later with a
/// misleading message (or print NaN results).
enum NumericCheck {
    /// `value` (if given) is finite and > 0.
    static func positive(_ value: Double?, _ option: String) throws {
        if let value, !(value > 0 && value.isFinite) { throw ValidationError("\(option) must be a positive finite number, got \(value)") }
    }
    /// Each integer option (if given) is at least `minimum`; the first that is not is named
    /// with its value ("--width must be at least 1, got -16").
    static func atLeast(_ minimum: Int, _ options: KeyValuePairs<String, Int?>) throws {
        for (option, value) in options {
            if let value, value < minimum { throw ValidationError("\(option) must be at least \(minimum), got \(value)") }
        }
    }
    /// `value` (if given) is finite and ≥ 0.
    static func nonNegative(_ value: Double?, _ option: String) throws {
        if let value, !(value >= 0 && value.isFinite) { throw ValidationError("\(option) must be a finite number ≥ 0, got \(value)") }
    }
}
