#if canImport(Glibc)
import Glibc
#endif

/// An error of module Topology. The message names the failing call or the
/// rejected input, e.g. `hwloc_topology_set_xml(/x.xml) failed: No such file or directory`.
public struct TopologyError: Error, CustomStringConvertible, Sendable, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }

    /// `CALL failed: DETAIL`, with DETAIL taken from `errno` unless given.
    static func call(_ call: String, _ detail: String? = nil) -> TopologyError {
        let reason = detail ?? String(cString: strerror(errno))
        return TopologyError("\(call) failed: \(reason)")
    }
}
