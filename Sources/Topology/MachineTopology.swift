import CHwloc

/// A snapshot of a topology in plain Swift values: what reports and placement
/// plans are computed from. Indexes named `index` are hwloc logical indexes
/// (`L#`), `osIndex`/PU lists are OS (physical, `P#`) indexes as the kernel,
/// `taskset` and `numactl` number them.
public struct MachineTopology: Codable, Sendable {
    public struct Package: Codable, Sendable, Equatable {
        public var index: Int
        public var osIndex: Int?
        public var cpuModel: String?
        /// Logical indexes of the cores in this package.
        public var cores: [Int]
        public var pus: [Int]
        /// OS indexes of the NUMA nodes local to this package.
        public var numaNodes: [Int]
    }
    public struct NUMANode: Codable, Sendable, Equatable {
        public var index: Int
        public var osIndex: Int
        public var memoryBytes: UInt64
        public var pus: [Int]
        public var cores: [Int]
    }
    public struct Core: Codable, Sendable, Equatable {
        public var index: Int
        public var osIndex: Int?
        /// Logical index of the package, `nil` if the topology has no package level.
        public var package: Int?
        /// Position of the core inside its package (Open MPI rankfiles count cores this way).
        public var indexInPackage: Int
        /// OS index of the NUMA node whose memory is local to the core.
        public var numaNode: Int?
        /// OS indexes of the hardware threads of the core.
        public var pus: [Int]
    }
    public struct PU: Codable, Sendable, Equatable {
        public var index: Int
        public var osIndex: Int
        public var core: Int?
    }
    public struct Cache: Codable, Sendable, Equatable {
        public var level: Int
        /// "data", "unified" or "instruction".
        public var kind: String
        public var index: Int
        public var sizeBytes: UInt64
        /// Logical indexes of the cores sharing this cache.
        public var cores: [Int]
        public var pus: [Int]
        /// `L1d`, `L2`, `L3`, `L1i` as lstopo names them.
        public var name: String { "L\(level)" + (kind == "data" ? "d" : kind == "instruction" ? "i" : "") }
    }

    public var source: String
    /// True when this is the running system (binding and NUMA placement act only then).
    public var isThisSystem: Bool
    public var packages: [Package]
    public var numaNodes: [NUMANode]
    public var cores: [Core]
    public var pus: [PU]
    public var caches: [Cache]
    /// Attributes hwloc recorded about the machine (HostName, OSName, OSRelease,
    /// Architecture, CPUVendor, CPUModel…), empty for synthetic topologies.
    public var machineInfo: [String: String]

    /// The tree of normal objects (machine, packages, groups, caches, cores,
    /// PUs) with their PU sets: the structure `hwloc_distrib` walks.
    var distribTree = DistribNode(pus: [], children: [])

    private enum CodingKeys: String, CodingKey {
        case source, isThisSystem, packages, numaNodes, cores, pus, caches, machineInfo
    }

    /// Loads and snapshots a topology.
    public static func load(_ source: TopologySource) throws -> MachineTopology {
        try MachineTopology(HwlocTopology(source))
    }

    init(_ topo: HwlocTopology) {
        source = topo.source.description
        isThisSystem = topo.isThisSystem
        typealias H = HwlocTopology

        let pkgObjs = topo.objects(of: HWLOC_OBJ_PACKAGE)
        let coreObjs = topo.objects(of: HWLOC_OBJ_CORE)
        let numaObjs = topo.objects(of: HWLOC_OBJ_NUMANODE)
        let puObjs = topo.objects(of: HWLOC_OBJ_PU)

        func ancestor(_ obj: hwloc_obj_t, _ type: hwloc_obj_type_t) -> hwloc_obj_t? {
            var p = obj.pointee.parent
            while let q = p { if q.pointee.type == type { return q }; p = q.pointee.parent }
            return nil
        }
        func osIndex(_ obj: hwloc_obj_t) -> Int? {
            obj.pointee.os_index == UInt32.max ? nil : Int(obj.pointee.os_index)
        }

        var numaNodes = numaObjs.map { obj in
            NUMANode(index: Int(obj.pointee.logical_index), osIndex: osIndex(obj) ?? Int(obj.pointee.logical_index),
                     memoryBytes: CHwloc_obj_numanode_memory(obj), pus: H.indexes(obj.pointee.cpuset), cores: [])
        }
        var perPackage: [Int: Int] = [:]
        var cores = coreObjs.map { obj in
            let pkg = ancestor(obj, HWLOC_OBJ_PACKAGE).map { Int($0.pointee.logical_index) }
            let k = perPackage[pkg ?? -1, default: 0]
            perPackage[pkg ?? -1] = k + 1
            return Core(index: Int(obj.pointee.logical_index), osIndex: osIndex(obj), package: pkg,
                        indexInPackage: k, numaNode: nil, pus: H.indexes(obj.pointee.cpuset))
        }
        for c in cores.indices {
            if let first = cores[c].pus.first, let node = numaNodes.first(where: { $0.pus.contains(first) }) {
                cores[c].numaNode = node.osIndex
            }
        }
        for n in numaNodes.indices {
            numaNodes[n].cores = cores.filter { $0.numaNode == numaNodes[n].osIndex }.map(\.index)
        }
        let nodeList = numaNodes
        let coreList0 = cores
        let packages = pkgObjs.map { obj in
            let i = Int(obj.pointee.logical_index)
            let pus = H.indexes(obj.pointee.cpuset)
            return Package(index: i, osIndex: osIndex(obj), cpuModel: topo.info(obj, "CPUModel"),
                           cores: coreList0.filter { $0.package == i }.map(\.index), pus: pus,
                           numaNodes: nodeList.filter { !Set($0.pus).isDisjoint(with: pus) }.map(\.osIndex))
        }
        let pus = puObjs.map { obj in
            PU(index: Int(obj.pointee.logical_index), osIndex: Int(obj.pointee.os_index),
               core: ancestor(obj, HWLOC_OBJ_CORE).map { Int($0.pointee.logical_index) })
        }
        self.numaNodes = numaNodes
        self.cores = cores
        self.packages = packages
        self.pus = pus
        var caches: [Cache] = []
        let coreList = cores
        let cacheTypes: [hwloc_obj_type_t] = [HWLOC_OBJ_L1CACHE, HWLOC_OBJ_L2CACHE, HWLOC_OBJ_L3CACHE,
                                              HWLOC_OBJ_L4CACHE, HWLOC_OBJ_L5CACHE, HWLOC_OBJ_L1ICACHE,
                                              HWLOC_OBJ_L2ICACHE, HWLOC_OBJ_L3ICACHE]
        for type in cacheTypes {
            for obj in topo.objects(of: type) {
                let kind = switch CHwloc_obj_cache_type(obj) {
                case Int32(HWLOC_OBJ_CACHE_DATA.rawValue): "data"
                case Int32(HWLOC_OBJ_CACHE_INSTRUCTION.rawValue): "instruction"
                default: "unified"
                }
                let pus = H.indexes(obj.pointee.cpuset)
                let puSet = Set(pus)
                caches.append(Cache(level: Int(CHwloc_obj_cache_depth(obj)), kind: kind,
                                    index: Int(obj.pointee.logical_index), sizeBytes: CHwloc_obj_cache_size(obj),
                                    cores: coreList.filter { !puSet.isDisjoint(with: $0.pus) }.map(\.index), pus: pus))
            }
        }
        self.caches = caches
        var info: [String: String] = [:]
        let root = topo.root
        for k in 0..<Int(root.pointee.infos_count) {
            let item = root.pointee.infos[k]
            if let name = item.name, let value = item.value { info[String(cString: name)] = String(cString: value) }
        }
        if let pkg = pkgObjs.first {
            for key in ["CPUVendor", "CPUModel", "CPUFamilyNumber", "CPUModelNumber"] {
                if let v = topo.info(pkg, key) { info[key] = v }
            }
        }
        machineInfo = info
        distribTree = DistribNode(root)
    }
}

/// A node of the normal-object tree with its PU set (OS indexes).
struct DistribNode: Sendable {
    var pus: [Int]
    var children: [DistribNode]

    init(pus: [Int], children: [DistribNode]) {
        self.pus = pus
        self.children = children
    }

    init(_ obj: hwloc_obj_t) {
        pus = HwlocTopology.indexes(obj.pointee.cpuset)
        children = (0..<Int(obj.pointee.arity)).compactMap { i in obj.pointee.children[i].map(DistribNode.init) }
    }
}
