import Foundation
import Reports

/// Output of an external program run to completion.
public struct ToolOutput: Sendable {
    /// Exit status; 128 + the signal for a program ended by a signal; -2 when it was stopped at the timeout.
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

/// Runs `tool` (a path, or a name looked up in PATH) with `arguments` and waits for it
/// (``ChildProcess``: no Foundation `Process`, whose wait can hang when tests start
/// children concurrently), stopping it after `timeout` seconds. The child's environment
/// is this process's without MPI job variables, plus `environment`.
public func runTool(_ tool: String, _ arguments: [String], environment: [String: String] = [:],
                    timeout: Double = 600) throws -> ToolOutput {
    var env = ChildProcess.environmentOutsideMPIJob
    for (k, v) in environment { env[k] = v }
    let r = try ChildProcess.run(tool, arguments, environment: env, timeout: timeout)
    return ToolOutput(status: r.timedOut ? -2 : r.status, stdout: r.stdout, stderr: r.stderr)
}
