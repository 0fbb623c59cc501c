import Comm

/// The ranks this process runs with.
///
/// Every command that solves or trains calls ``withWorld(_:)`` once and passes
/// the communicator down; nothing else in the executable decides whether MPI is
/// in use. Today this is always one rank; the MPI integration replaces the body
/// so that a process started by `mpirun -np P` gets an MPI communicator of P ranks
/// (initialised before and finalised after `body`), and a plain start gets one rank.
func withWorld<R>(_ body: (any Communicator) throws -> R) throws -> R {
    try body(SerialCommunicator())
}
