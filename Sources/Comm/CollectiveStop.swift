/// An end of the command that every rank of the job decided together — e.g. training
/// stopped on a NaN loss or a signal — after rank 0 wrote its files and all ranks
/// passed a barrier. ``withWorld(messageBytes:_:)`` finalises MPI and rethrows it
/// instead of ending the job with `MPI_Abort` (which is for faults on one rank), and
/// the command exits with ``status``. The message is printed by the command (rank 0).
public struct CollectiveStop: Error, CustomStringConvertible, Sendable {
    /// The process exit status (3: training stopped on NaN or a dead network; 128 + N: signal N).
    public let status: Int32
    public let message: String
    public init(status: Int32, message: String) {
        self.status = status
        self.message = message
    }
    public var description: String { message }
}
