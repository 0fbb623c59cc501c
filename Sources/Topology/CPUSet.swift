/// Conversion between lists of OS (physical) PU indexes and hwloc's bitmap
/// strings, the format `hwloc-distrib`, `hwloc-calc` and `lstopo` print:
/// comma-separated 32-bit hexadecimal words, most significant first, e.g.
/// `0x00000001,0x00000003` = PUs {0, 1, 32}.
public enum CPUSetString {
    /// Formats `pus` the way `hwloc_bitmap_asprintf` does (`0x0` for the empty set).
    public static func format(_ pus: [Int]) -> String {
        guard let maxIndex = pus.max() else { return "0x0" }
        var words = [UInt32](repeating: 0, count: maxIndex / 32 + 1)
        for p in pus { words[p / 32] |= 1 << UInt32(p % 32) }
        return words.reversed().map { "0x" + hex8($0) }.joined(separator: ",")
    }

    /// Parses a bitmap string as printed by hwloc's tools; `nil` if malformed.
    public static func parse(_ text: String) -> [Int]? {
        let words = text.trimmingCharacters().split(separator: ",", omittingEmptySubsequences: false)
        guard !words.isEmpty else { return nil }
        var pus: [Int] = []
        for (k, word) in words.reversed().enumerated() {
            var digits = Substring(word)
            if digits.hasPrefix("0x") || digits.hasPrefix("0X") { digits = digits.dropFirst(2) }
            guard let value = UInt64(digits, radix: 16), value <= UInt64(UInt32.max) else { return nil }
            for bit in 0..<32 where value & (1 << UInt64(bit)) != 0 { pus.append(32 * k + bit) }
        }
        return pus.sorted()
    }

    private static func hex8(_ v: UInt32) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: 8 - s.count) + s
    }
}

extension String {
    fileprivate func trimmingCharacters() -> Substring {
        var s = Substring(self)
        while let c = s.first, c.isWhitespace { s.removeFirst() }
        while let c = s.last, c.isWhitespace { s.removeLast() }
        return s
    }
}

/// Compact list form of indexes: `[0,1,2,5,20,21]` → `"0-2,5,20-21"`.
func rangeList(_ values: [Int]) -> String {
    let sorted = Array(Set(values)).sorted()
    var parts: [String] = []
    var i = 0
    while i < sorted.count {
        var j = i
        while j + 1 < sorted.count && sorted[j + 1] == sorted[j] + 1 { j += 1 }
        parts.append(j == i ? "\(sorted[i])" : "\(sorted[i])-\(sorted[j])")
        i = j + 1
    }
    return parts.joined(separator: ",")
}
