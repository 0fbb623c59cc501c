import Foundation

/// Output of an external tool run to completion.
public struct ToolOutput {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

/// Runs `tool` (looked up in PATH) with `arguments` and waits for it. Output
/// goes through temporary files (not pipes), so no read can be interrupted or
/// block the tool.
public func runTool(_ tool: String, _ arguments: [String], environment: [String: String] = [:]) throws -> ToolOutput {
    let tmp = FileManager.default.temporaryDirectory
    let tag = "layerpar-tool-\(getpid())-\(UInt64.random(in: 0..<UInt64.max))"
    let outURL = tmp.appendingPathComponent(tag + ".out"), errURL = tmp.appendingPathComponent(tag + ".err")
    _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
    _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
    defer {
        try? FileManager.default.removeItem(at: outURL)
        try? FileManager.default.removeItem(at: errURL)
    }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [tool] + arguments
    // A test process that initialised MPI (as a singleton) carries Open MPI/PMIx
    // job variables; a child mpirun inheriting them believes it runs inside that
    // job and fails. Tools start from the environment without them.
    var env = ProcessInfo.processInfo.environment.filter { key, _ in
        !["OMPI_", "PMIX_", "ORTE_", "OPAL_"].contains { key.hasPrefix($0) } || key.hasPrefix("OMPI_ALLOW_RUN_AS_ROOT")
    }
    for (k, v) in environment { env[k] = v }
    process.environment = env
    let outHandle = try FileHandle(forWritingTo: outURL), errHandle = try FileHandle(forWritingTo: errURL)
    process.standardOutput = outHandle
    process.standardError = errHandle
    try process.run()
    process.waitUntilExit()
    try outHandle.close()
    try errHandle.close()
    return ToolOutput(status: process.terminationStatus,
                      stdout: try String(contentsOf: outURL, encoding: .utf8),
                      stderr: try String(contentsOf: errURL, encoding: .utf8))
}
