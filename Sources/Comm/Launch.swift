/// How this process was started: by an MPI launcher (`mpirun`, `mpiexec`,
/// `srun` with PMIx) or plainly.
public enum Launch {
    /// Environment variables that MPI launchers set in every rank they start:
    /// Open MPI's `mpirun` sets `OMPI_COMM_WORLD_SIZE`; PMI/PMIx launchers (Slurm,
    /// MPICH's Hydra) set `PMI_SIZE` or `PMIX_RANK`.
    public static let markers = ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE"]

    /// Whether `environment` (normally the process environment) shows an MPI launcher.
    public static func underMPILauncher(_ environment: [String: String]) -> Bool {
        markers.contains { environment[$0] != nil }
    }

    /// The number of ranks the launcher started (`OMPI_COMM_WORLD_SIZE`, `PMI_SIZE`,
    /// or `PMIX_SIZE`), known before MPI starts; 1 when started plainly; nil under a
    /// launcher that does not say.
    public static func worldSize(_ environment: [String: String]) -> Int? {
        guard underMPILauncher(environment) else { return 1 }
        for name in ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"] {
            if let v = environment[name].flatMap({ Int($0) }), v >= 1 { return v }
        }
        return nil
    }

    /// Open MPI's MCA parameter choosing the non-blocking allreduce's algorithm, and the
    /// choice `withWorld` makes unless the user set it: 1, the ring. Every blocking
    /// reduction here is an `MPI_Iallreduce` polled with backoff, and for an in-place
    /// sum (or fewer than 4 ranks) libnbc's own choice is the binomial tree: on 2 ranks
    /// here gradients of 87k / 348k / 1.39M doubles took 0.27 / 1.24 / 7.85 ms with it,
    /// 0.12–0.14 / 0.48–0.51 / 2.4–2.7 ms with the ring (`mpirun -np 2 layerpar
    /// comm-selftest`, with `OMPI_MCA_coll_libnbc_iallreduce_algorithm=0` for libnbc's).
    public static let iallreduceAlgorithmVariable = "OMPI_MCA_coll_libnbc_iallreduce_algorithm"
    public static let iallreduceAlgorithm = "1"

    /// Open MPI's MCA parameter for the shared-memory eager limit (bytes, headers included).
    public static let eagerLimitVariable = "OMPI_MCA_btl_vader_eager_limit"

    /// The shared-memory eager limit that lets a `messageBytes` message go without a
    /// rendezvous (the message plus 1 KiB for headers), or nil where Open MPI's own
    /// 4 KiB default already does, or where no limit can: its vader component sends
    /// at most 32 KiB per fragment (`btl_vader_max_send_size`).
    public static func eagerLimit(forMessageBytes messageBytes: Int) -> Int? {
        let limit = messageBytes + 1024
        return limit > 4096 && limit <= 32768 ? limit : nil
    }
}
