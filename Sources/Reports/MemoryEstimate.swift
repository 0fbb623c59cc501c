import Foundation

/// Sizes computed with checked arithmetic and compared with the machine's memory
/// before anything is allocated: a huge `--depth`, `--ranks` or `--threads-per-rank`
/// must end with one clear line, not with an integer-overflow trap or an allocation
/// that runs the machine out of memory.
public enum MemoryEstimate {
    /// The product of `factors`, or nil if it overflows `Int` (or a factor is negative).
    public static func product(_ factors: [Int]) -> Int? {
        var p = 1
        for f in factors {
            guard f >= 0 else { return nil }
            let (r, o) = p.multipliedReportingOverflow(by: f)
            if o { return nil }
            p = r
        }
        return p
    }

    /// The sum of `terms`, or nil if one is nil or the sum overflows.
    public static func sum(_ terms: [Int?]) -> Int? {
        var s = 0
        for t in terms {
            guard let t else { return nil }
            let (r, o) = s.addingReportingOverflow(t)
            if o { return nil }
            s = r
        }
        return s
    }

    /// Throws unless `bytes` (nil: overflowed) fits in `fraction` of the physical memory;
    /// `what` names the options that set the size, for the message.
    public static func require(_ bytes: Int?, fraction: Double = 0.5, what: String) throws {
        let physical = Double(ProcessInfo.processInfo.physicalMemory)
        let limit = physical * fraction
        guard let bytes else {
            throw ReportError("\(what) is too large: its memory does not even fit a 64-bit count")
        }
        if Double(bytes) > limit {
            throw ReportError(String(format: "%@ needs about %.1f GiB, more than %.0f %% of this machine's %.1f GiB of memory",
                                     what, Double(bytes) / 1073741824, 100 * fraction, physical / 1073741824))
        }
    }
}
