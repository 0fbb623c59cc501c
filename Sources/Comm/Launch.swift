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
}
