import CHwloc
import Foundation

/// An owned, loaded hwloc topology. Internal: no hwloc type leaves the module.
///
/// After `hwloc_topology_load` hwloc's topology is read-only and safe to query
/// and bind with from several threads (hwloc documentation, "Thread safety"),
/// hence `@unchecked Sendable`.
final class HwlocTopology: @unchecked Sendable {
    let handle: hwloc_topology_t
    let source: TopologySource

    /// hwloc's component registry (`hwloc_components_init`/`_fini`, run by every
    /// topology init/destroy) keeps an unprotected user count in this build, so
    /// concurrent inits and destroys from different threads corrupt it (seen as an
    /// assertion in `hwloc_components_fini`). All lifecycle calls take this lock.
    private static let lifecycle = NSLock()

    init(_ source: TopologySource) throws {
        Self.lifecycle.lock()
        defer { Self.lifecycle.unlock() }
        // Every stored property is set only once loading succeeded: a class whose
        // throwing init fails after full initialisation runs deinit, which would
        // destroy the topology a second time.
        handle = try Self.open(source)
        self.source = source
    }

    /// Creates and loads a topology; destroys it again if any step fails.
    private static func open(_ source: TopologySource) throws -> hwloc_topology_t {
        var topology: hwloc_topology_t?
        guard hwloc_topology_init(&topology) == 0, let topology else {
            throw TopologyError.call("hwloc_topology_init")
        }
        do {
            switch source {
            case .thisMachine:
                break
            case .xml(let path):
                // hwloc's own message for an unreadable file is printed to
                // stderr only; check first so the thrown error says why.
                guard FileManager.default.isReadableFile(atPath: path) else {
                    let why = FileManager.default.fileExists(atPath: path)
                        ? "file is not readable" : "no such file"
                    throw TopologyError("hwloc_topology_set_xml(\(path)) failed: \(why)")
                }
                if hwloc_topology_set_xml(topology, path) != 0 {
                    // hwloc parses the file here and reports any parse error as EINVAL.
                    let reason = errno == EINVAL ? "not a valid hwloc XML topology (as written by `lstopo FILE.xml`)"
                        : String(cString: strerror(errno))
                    throw TopologyError.call("hwloc_topology_set_xml(\(path))", reason)
                }
            case .synthetic(let spec):
                try setSynthetic(topology, spec)
            case .preset(let preset):
                try setSynthetic(topology, preset.synthetic)
            }
            if hwloc_topology_load(topology) != 0 {
                let what: String
                switch source {
                case .xml(let path): what = "hwloc_topology_load(xml \(path))"
                default: what = "hwloc_topology_load(\(source))"
                }
                let reason = errno == EINVAL ? "invalid topology (not a valid hwloc XML?)"
                    : String(cString: strerror(errno))
                throw TopologyError.call(what, reason)
            }
        } catch {
            hwloc_topology_destroy(topology)
            throw error
        }
        return topology
    }

    private static func setSynthetic(_ topology: hwloc_topology_t, _ spec: String) throws {
        if hwloc_topology_set_synthetic(topology, spec) != 0 {
            throw TopologyError.call("hwloc_topology_set_synthetic(\"\(spec)\")",
                                     "malformed synthetic description (see hwloc's \"Synthetic topologies\")")
        }
    }

    deinit {
        Self.lifecycle.lock()
        hwloc_topology_destroy(handle)
        Self.lifecycle.unlock()
    }

    /// True when the topology describes the running system (so binding acts on real CPUs).
    var isThisSystem: Bool { hwloc_topology_is_thissystem(handle) == 1 }

    var root: hwloc_obj_t { hwloc_get_root_obj(handle) }

    /// The hwloc release built against and the runtime API level, e.g. "2.9.0 (API 2.8.0 at run time)".
    static var libraryVersion: String {
        let v = hwloc_get_api_version()
        return String(cString: CHwloc_release_version()) + " (API \(v >> 16).\((v >> 8) & 0xff).\(v & 0xff) at run time)"
    }

    func objects(of type: hwloc_obj_type_t) -> [hwloc_obj_t] {
        let n = Int(hwloc_get_nbobjs_by_type(handle, type))
        return (0..<n).compactMap { hwloc_get_obj_by_type(handle, type, UInt32($0)) }
    }

    func info(_ obj: hwloc_obj_t, _ name: String) -> String? {
        guard let value = hwloc_obj_get_info_by_name(obj, name) else { return nil }
        return String(cString: value)
    }

    /// OS indexes of the PUs in a bitmap, ascending.
    static func indexes(_ set: hwloc_const_bitmap_t?) -> [Int] {
        guard let set, hwloc_bitmap_weight(set) > 0 else { return [] }
        var out: [Int] = []
        var i = hwloc_bitmap_first(set)
        while i >= 0 {
            out.append(Int(i))
            i = hwloc_bitmap_next(set, i)
        }
        return out
    }

    /// Runs `body` with a fresh bitmap holding `indexes`, freed afterwards.
    static func withBitmap<R>(_ indexes: [Int], _ body: (hwloc_bitmap_t) throws -> R) throws -> R {
        guard let set = hwloc_bitmap_alloc() else { throw TopologyError.call("hwloc_bitmap_alloc") }
        defer { hwloc_bitmap_free(set) }
        for i in indexes { hwloc_bitmap_set(set, UInt32(i)) }
        return try body(set)
    }
}
