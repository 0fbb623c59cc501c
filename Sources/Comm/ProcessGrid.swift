/// The P ranks of a job arranged as D batch groups × L layer groups (P = D·L).
///
/// World rank `r` is layer rank `l = r mod L` of batch group `g = r / L`: a batch
/// group is L consecutive world ranks, so neighbouring layer blocks are neighbouring
/// ranks (a placement that keeps consecutive ranks on one socket keeps a group's
/// boundary exchanges there). Two sub-communicators come from `MPI_Comm_split`:
///
/// - ``layers``: the L ranks of this rank's batch group; the MGRIT solver runs on it
///   unchanged (its rank is `l`). The world itself when D = 1.
/// - ``batches``: the D ranks that own the same layer block in every batch group
///   (its rank is `g`), for exchanging per-layer state across groups.
///
/// Gradients and the loss are summed over ``world`` (one reduction per step).
/// ``free()`` releases the sub-communicators; a world that is finalised first frees
/// them too.
public final class ProcessGrid {
    public let world: any Communicator
    /// D: groups over the batch.
    public let dataGroups: Int
    /// L = P / D: ranks per batch group, over the layers.
    public let layerGroups: Int
    /// This rank's batch group `g` and its rank `l` in it.
    public let batchGroup: Int
    public let layerRank: Int
    public let layers: any Communicator
    public let batches: any Communicator

    /// Splits `world` into `dataGroups` batch groups. Collective over `world`.
    /// - Throws: ``CommError`` when `dataGroups` does not divide the rank count
    ///   (``check(ranks:dataGroups:)``) or a split fails.
    public init(world: any Communicator, dataGroups: Int) throws {
        try Self.check(ranks: world.size, dataGroups: dataGroups)
        self.world = world
        self.dataGroups = dataGroups
        layerGroups = world.size / dataGroups
        batchGroup = world.rank / layerGroups
        layerRank = world.rank % layerGroups
        layers = dataGroups == 1 ? world : try world.split(color: batchGroup, key: layerRank)
        batches = dataGroups == world.size ? world : try world.split(color: layerRank, key: batchGroup)
        guard layers.size == layerGroups, layers.rank == layerRank, batches.size == dataGroups, batches.rank == batchGroup else {
            throw CommError(call: "split", message: "rank \(world.rank): grid \(dataGroups)×\(layerGroups) got layer group rank \(layers.rank) of \(layers.size), batch group rank \(batches.rank) of \(batches.size)")
        }
    }

    /// That D batch groups fit P ranks: 1 ≤ D ≤ P and D divides P. Call it before
    /// MPI starts (P from ``Launch/worldSize(_:)``) so a bad D is one clear error.
    public static func check(ranks: Int, dataGroups: Int) throws {
        guard dataGroups >= 1 else {
            throw CommError(call: "--data-groups", message: "must be at least 1, got \(dataGroups)")
        }
        guard ranks % dataGroups == 0 else {
            throw CommError(call: "--data-groups", message: "\(dataGroups) batch groups do not divide the job's \(ranks) rank\(ranks == 1 ? "" : "s") (P = D × L: give a D that divides P)")
        }
    }

    /// Releases the sub-communicators (not the world). Collective; idempotent.
    public func free() throws {
        if layers !== world { try layers.free() }
        if batches !== world { try batches.free() }
    }

    /// `"D×L"`, e.g. `2×1`.
    public var shape: String { "\(dataGroups)×\(layerGroups)" }
}
