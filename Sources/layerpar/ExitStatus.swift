import ArgumentParser
import Comm
import Foundation

/// The exit statuses of `layerpar` (also in `layerpar --help` and the README).
enum ExitStatus {
    /// The command did what it was asked.
    static let done: Int32 = 0
    /// A run-time error (a file that cannot be read or written, a bad checkpoint, an MPI fault): one line on stderr.
    static let error: Int32 = 1
    /// A usage error (unknown or invalid option): the message and the command's usage line.
    static let usage: Int32 = 2
    /// Training stopped on a NaN loss or gradient, or a dead network; history and summary are written.
    static let trainingStopped: Int32 = 3

    static let help = """
        Exit status: 0 done; 1 error (one line on stderr); 2 usage error (bad option); \
        3 training stopped on a NaN loss/gradient or a dead network (history and summary written); \
        124 train --timeout exceeded (watchdog); 128+N training stopped cleanly by signal N (143 SIGTERM, 130 SIGINT) after writing checkpoint, \
        history and summary.
        """
}

/// Runs `body` and turns a ``CollectiveStop`` (thrown by every rank together, its
/// message already logged by rank 0) into its exit status.
func runStoppable(_ body: () throws -> Void) throws {
    do { try body() } catch let stop as CollectiveStop { throw ExitCode(stop.status) }
}

extension LayerPar {
    /// ArgumentParser's `main`, with usage errors (its 64, `EX_USAGE`) exiting with 2
    /// as documented; run-time errors print one line `Error: …` and exit with 1.
    /// Negative option values given as separate arguments are attached first (``NegativeValues``).
    static func main() {
        do {
            var command = try parseAsRoot(NegativeValues.attached(Array(CommandLine.arguments.dropFirst())))
            try command.run()
        } catch {
            if exitCode(for: error) == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(ExitStatus.usage)
            }
            exit(withError: error)
        }
    }
}
