import Foundation

/// The ranks this process runs with.
///
/// Every command that solves or trains calls ``withWorld(_:)`` once and passes
/// the communicator down; nothing else in the executable decides whether MPI is
/// in use.
///
/// - Started by an MPI launcher (`mpirun -np P layerpar …`; detected by
///   `OMPI_COMM_WORLD_SIZE`, `PMIX_RANK` or `PMI_SIZE` in the environment, see
///   ``Launch``): MPI is initialised before `body`, `body` gets an
///   ``MPICommunicator`` of P ranks, and MPI is finalised after it. This holds for
///   `mpirun -np 1` too (an MPI communicator of one rank).
/// - Started plainly: `body` gets a ``SerialCommunicator`` and MPI is never
///   initialised, so `layerpar` runs without an MPI runtime being reachable
///   (no singleton `orted`, no network probing) and one-rank results do not
///   depend on MPI at all.
///
/// Errors: with one rank, an error thrown by `body` is rethrown after MPI is
/// finalised and the command exits with its message as usual. With several
/// ranks, the other ranks may be blocked waiting for this one, so the error is
/// printed as `layerpar: rank R of P: error: …` on stderr and the whole job is
/// ended with `MPI_Abort` (exit code 1) — an error on any one rank ends the job
/// within seconds instead of hanging it. A ``CollectiveStop`` is the exception:
/// all ranks throw it together, so MPI is finalised and it is rethrown.
///
/// `LAYERPAR_COMM_FAULT=rank=R,call=C[,after=N]` makes rank R's communicator
/// throw on its (N+1)-th call of C; tests use it to check the abort path (see
/// ``FaultInjection``). Call `withWorld` at most once per process: MPI cannot be
/// initialised again after it was finalised.
///
/// `messageBytes`: the size of the boundary states the command exchanges. Under
/// mpirun, unless the user set Open MPI's shared-memory eager limit
/// (`--mca btl_vader_eager_limit`, i.e. `OMPI_MCA_btl_vader_eager_limit`), it is
/// raised before MPI starts so such a message is sent eagerly (see
/// ``Launch/eagerLimit(forMessageBytes:)``): above the 4 KiB default a message
/// goes by rendezvous and moves only while its receiver is inside MPI, which at
/// width 16 and batch 64 (8 KiB) doubled the P = 2 communication time. Likewise the
/// non-blocking allreduce's algorithm is set to the ring unless the user chose one
/// (``Launch/iallreduceAlgorithmVariable``).
public func withWorld<R>(messageBytes: Int? = nil, _ body: (any Communicator) throws -> R) throws -> R {
    let environment = ProcessInfo.processInfo.environment
    let fault = try environment["LAYERPAR_COMM_FAULT"].map { try FaultInjection(parsing: $0) }
    guard Launch.underMPILauncher(environment) else {
        if let fault, fault.rank != 0 {
            throw ValidationErrorText("LAYERPAR_COMM_FAULT names rank \(fault.rank), but this run has one rank")
        }
        let serial = SerialCommunicator()
        let injector = fault.map { FaultInjectingCommunicator(serial, fault: $0) }
        let result = try body(injector ?? serial)
        if let why = injector?.neverFired { throw ValidationErrorText(why) }
        return result
    }
    if let messageBytes, environment[Launch.eagerLimitVariable] == nil,
       let limit = Launch.eagerLimit(forMessageBytes: messageBytes) {
        setenv(Launch.eagerLimitVariable, String(limit), 0)   // read by Open MPI in MPI_Init
    }
    setenv(Launch.iallreduceAlgorithmVariable, Launch.iallreduceAlgorithm, 0)   // the user's choice stays
    let world: MPICommunicator
    do {
        world = try MPICommunicator.world()
    } catch {
        MPICommunicator.abortWorld(message: "layerpar: cannot start MPI: \(error)")
    }
    if let fault, fault.rank >= world.size {
        world.abort(message: "layerpar: LAYERPAR_COMM_FAULT names rank \(fault.rank), but this job has \(world.size) rank(s)")
    }
    let injector = fault.map { FaultInjectingCommunicator(world, fault: $0) }
    let result: R
    do {
        result = try body(injector ?? world)
        if let why = injector?.neverFired { throw ValidationErrorText(why) }
    } catch let stop as CollectiveStop {
        // Every rank stops here together: a normal end of MPI, then the command's exit status.
        try? world.finalize()
        throw stop
    } catch {
        if world.size == 1 {
            try? world.finalize()
            throw error
        }
        world.abort(message: "layerpar: rank \(world.rank) of \(world.size): error: \(error)")
    }
    do {
        try world.finalize()
    } catch {
        world.abort(message: "layerpar: rank \(world.rank) of \(world.size): error: \(error)")
    }
    return result
}

/// Rank 0 alone prints results and writes result files; other ranks stay quiet.
extension Communicator {
    public var isRoot: Bool { rank == 0 }
}

/// A user error found while setting up the world, printed as its text.
public struct ValidationErrorText: Error, CustomStringConvertible {
    public let description: String
    public init(_ text: String) { description = text }
}
