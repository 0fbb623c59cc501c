import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Runs another program to completion: `posix_spawnp`, output into temporary
/// files, `waitpid` on the child's own pid, and a timeout.
///
/// The child starts with no signal blocked and SIGTERM, SIGINT and SIGPIPE at their
/// default actions, whatever the calling thread has: a thread that blocks SIGTERM (a
/// test runner's worker, a signal-handling thread) or a process that ignores SIGPIPE
/// would otherwise pass that on through `posix_spawn`, and the child — an `mpirun`, a
/// daemon, a `layerpar` run — would not stop when told to.
///
/// Why not Foundation's `Process`: on Linux its `waitUntilExit()` can miss the
/// termination of one of several children started concurrently from different
/// threads and then waits forever on a child that is already a zombie (seen in
/// this project's test suite, which launches many). Output goes through files,
/// not pipes, so a chatty child never blocks on a full pipe while the parent
/// waits for it.
public enum ChildProcess {
    public struct Result: Sendable {
        /// Exit status; 128 + the signal for a child ended by a signal.
        public var status: Int32
        public var stdout: String
        public var stderr: String
        public var seconds: Double
        /// The child outlived the timeout and was stopped (SIGTERM, then SIGKILL 5 s later).
        public var timedOut: Bool
    }

    /// This process's environment without Open MPI/PMIx job variables: a test or
    /// command that initialised MPI carries them, and a child `mpirun` inheriting
    /// them believes it runs inside that job and fails (a plain child would think
    /// mpirun started it). `OMPI_ALLOW_RUN_AS_ROOT*` are kept.
    public static var environmentOutsideMPIJob: [String: String] {
        ProcessInfo.processInfo.environment.filter { key, _ in
            !["OMPI_", "PMIX_", "PMI_", "ORTE_", "OPAL_"].contains { key.hasPrefix($0) } || key.hasPrefix("OMPI_ALLOW_RUN_AS_ROOT")
        }
    }

    /// Runs `executable` (a path, or a name looked up in `PATH`) with `arguments` and
    /// `environment` (the child's whole environment), standard input from /dev/null.
    ///
    /// `ownProcessGroup`: the child leads a process group of its own, so a signal sent
    /// to this process's group does not reach it. Under `mpirun`, Open MPI ends a job it
    /// was told to stop by signalling each rank's whole process group (SIGTERM, then
    /// SIGKILL a second later); a child that must finish a result file (a plot) even
    /// then starts in its own group.
    /// - Throws: ``ReportError`` if the program cannot be started or waited for.
    public static func run(_ executable: String, _ arguments: [String],
                           environment: [String: String] = environmentOutsideMPIJob,
                           timeout: Double? = nil, ownProcessGroup: Bool = false) throws -> Result {
        let base = NSTemporaryDirectory() + "layerpar-child-\(getpid())-\(UInt64.random(in: 0 ..< .max))"
        let outPath = base + ".out", errPath = base + ".err"
        defer { unlink(outPath); unlink(errPath) }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)

        func cStrings(_ strings: [String]) -> [UnsafeMutablePointer<CChar>?] { strings.map { strdup($0) } + [nil] }
        let argv = cStrings([executable] + arguments)
        let envp = cStrings(environment.map { "\($0.key)=\($0.value)" })
        defer { for p in argv + envp { free(p) } }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t(), defaults = sigset_t()
        sigemptyset(&none)
        sigemptyset(&defaults)
        for s in [SIGTERM, SIGINT, SIGPIPE] { sigaddset(&defaults, s) }
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var flags = Int32(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)
        if ownProcessGroup {
            posix_spawnattr_setpgroup(&attributes, 0)
            flags |= Int32(POSIX_SPAWN_SETPGROUP)
        }
        posix_spawnattr_setflags(&attributes, Int16(flags))

        let start = Date()
        var pid: pid_t = 0
        let rc = posix_spawnp(&pid, executable, &actions, &attributes, argv, envp)
        guard rc == 0 else { throw ReportError("cannot start \(executable): \(String(cString: strerror(rc)))") }
        var status: Int32 = 0, timedOut = false, killAt: Date? = nil
        while true {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid { break }
            if r == -1 && errno != EINTR {
                throw ReportError("waitpid for \(executable) (pid \(pid)) failed: \(String(cString: strerror(errno)))")
            }
            if let timeout, !timedOut, Date().timeIntervalSince(start) > timeout {
                kill(pid, SIGTERM)   // mpirun forwards it to its ranks
                timedOut = true
                killAt = Date().addingTimeInterval(5)
            }
            if let k = killAt, Date() > k { kill(pid, SIGKILL); killAt = nil }
            usleep(2_000)
        }
        // WIFEXITED/WEXITSTATUS are macros Swift does not import: the low 7 bits are the signal.
        let signal = status & 0x7f
        return Result(status: signal == 0 ? (status >> 8) & 0xff : 128 + signal,
                      stdout: (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "",
                      stderr: (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "",
                      seconds: Date().timeIntervalSince(start), timedOut: timedOut)
    }
}
