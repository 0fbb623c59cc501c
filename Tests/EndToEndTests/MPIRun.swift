import Foundation
import Reports

/// Runs the built `layerpar` (plainly or under `mpirun -np K`) from a test, with
/// a time limit, capturing stdout and stderr.
///
/// The executable is looked up next to the test bundle (SwiftPM puts both in
/// `.build/<triple>/<config>/`); `LAYERPAR_BIN` overrides. Output goes to
/// temporary files rather than pipes, so a chatty child can never block on a
/// full pipe while we wait for it. A run that exceeds its limit is terminated
/// (SIGTERM: mpirun forwards it to its ranks; SIGKILL after 5 s) and reported as
/// timed out, so a deadlock fails the test instead of hanging the suite.
struct MPIRun {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
        var seconds: Double
        var timedOut: Bool
        var succeeded: Bool { status == 0 && !timedOut }
        /// For test messages: everything the run said.
        var transcript: String { "exit \(status)\(timedOut ? " (timed out)" : "") after \(String(format: "%.1f", seconds)) s\n--- stdout\n\(stdout)\n--- stderr\n\(stderr)" }
    }

    struct HarnessError: Error, CustomStringConvertible {
        let description: String
    }

    /// The `layerpar` executable of this build.
    static func layerparPath() throws -> String {
        if let path = ProcessInfo.processInfo.environment["LAYERPAR_BIN"] { return path }
        var candidates: [URL] = []
        if let exe = Bundle.main.executableURL { candidates.append(exe.deletingLastPathComponent()) }
        candidates.append(Bundle.main.bundleURL.deletingLastPathComponent())
        candidates.append(URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent())
        for dir in candidates {
            var d = dir
            for _ in 0..<4 {   // the test binary may sit inside an .xctest bundle
                let path = d.appendingPathComponent("layerpar").path
                if FileManager.default.isExecutableFile(atPath: path) { return path }
                d = d.deletingLastPathComponent()
            }
        }
        throw HarnessError(description: "built layerpar not found near \(candidates.map(\.path)); set LAYERPAR_BIN")
    }

    static var mpirunPath: String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let path = "\(dir)/mpirun"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }

    /// Runs `layerpar ARGS` on `ranks` MPI ranks (`nil`: plainly, no mpirun).
    static func layerpar(_ arguments: [String], ranks: Int?, environment extra: [String: String] = [:],
                         timeout: Double = 60) throws -> Result {
        let exe = try layerparPath()
        guard let ranks else { return try run(exe, arguments, environment: extra, timeout: timeout) }
        guard let mpirun = mpirunPath else { throw HarnessError(description: "mpirun not found on PATH") }
        // --oversubscribe: more ranks than this machine's cores are for correctness only.
        // --allow-run-as-root: test containers run as root. -x passes our variables to every rank.
        var args = ["--oversubscribe", "--allow-run-as-root", "-np", String(ranks)]
        for key in extra.keys.sorted() { args += ["-x", key] }
        return try run(mpirun, args + [exe] + arguments, environment: extra, timeout: timeout)
    }

    static func run(_ executable: String, _ arguments: [String], environment extra: [String: String],
                    timeout: Double) throws -> Result {
        // A test process that initialised MPI in-process (SmokeTests does) carries
        // Open MPI/PMIx job variables: ChildProcess's environment leaves them out.
        var env = ChildProcess.environmentOutsideMPIJob
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        for (k, v) in extra { env[k] = v }
        let r = try ChildProcess.run(executable, arguments, environment: env, timeout: timeout)
        return Result(status: r.status, stdout: r.stdout, stderr: r.stderr, seconds: r.seconds, timedOut: r.timedOut)
    }

    /// A fresh scratch directory for one test's output files.
    static func scratchDirectory(_ name: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("layerpar-\(name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }
}
