/// The median of per-seed results, the one definition every report uses: of the values
/// present (`nil` is a run that did not reach the target, left out), the middle one, or
/// the mean of the middle two for an even count; `nil` when none is present.
public enum Median {
    public static func of(_ values: [Double?]) -> Double? {
        let s = values.compactMap { $0 }.sorted()
        guard !s.isEmpty else { return nil }
        return s.count % 2 == 1 ? s[s.count / 2] : 0.5 * (s[s.count / 2 - 1] + s[s.count / 2])
    }

    /// Of integer results (iteration counts): the mean of the middle two need not be whole.
    public static func of(_ values: [Int?]) -> Double? { of(values.map { $0.map(Double.init) }) }
}
