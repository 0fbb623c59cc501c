import CHwloc
import CMPI
import CNuma
import COpenBLAS
import Testing

/// Each system library is really linked and callable: one real call into each.
@Suite("System libraries")
struct SystemLibrariesTests {
    @Test("OpenBLAS dgemm computes a 2×2 product")
    func openblasDgemm() {
        let a: [Double] = [1, 2, 3, 4]   // row-major [[1,2],[3,4]]
        let b: [Double] = [5, 6, 7, 8]
        var c = [Double](repeating: 0, count: 4)
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 2, 2, 2, 1, a, 2, b, 2, 0, &c, 2)
        #expect(c == [19, 22, 43, 50])
    }

    @Test("hwloc loads this machine's topology with at least one PU")
    func hwlocTopology() {
        var topology: hwloc_topology_t?
        #expect(hwloc_topology_init(&topology) == 0)
        defer { hwloc_topology_destroy(topology) }
        #expect(hwloc_topology_load(topology) == 0)
        let pus = hwloc_get_nbobjs_by_type(topology, HWLOC_OBJ_PU)
        #expect(pus >= 1)
        #expect(CHwloc_api_version() >= 0x0002_0000)
    }

    @Test("libnuma answers numa_available and sees at least one node")
    func numaAvailable() {
        // -1 means the kernel has no NUMA support; every Linux we target has it.
        #expect(numa_available() == 0)
        #expect(numa_num_configured_nodes() >= 1)
    }

    @Test("MPI initialises and finalises as a single rank")
    func mpiInitFinalize() {
        var argc: Int32 = 0
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = nil
        #expect(MPI_Init(&argc, &argv) == CMPI_SUCCESS())
        var size: Int32 = 0, rank: Int32 = -1
        MPI_Comm_size(CMPI_COMM_WORLD(), &size)
        MPI_Comm_rank(CMPI_COMM_WORLD(), &rank)
        #expect(size == 1)
        #expect(rank == 0)
        #expect(MPI_Finalize() == CMPI_SUCCESS())
    }
}
