import Foundation
import Testing
import Topology

/// Output of an external tool run to completion.
struct ToolOutput {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs `tool` (looked up in PATH) with `arguments` and waits for it. Output
/// goes through temporary files (not pipes), so no read can be interrupted or
/// block the tool.
func runTool(_ tool: String, _ arguments: [String], environment: [String: String] = [:]) throws -> ToolOutput {
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

/// hwloc-calc's comma-separated index list output ("0,1,5") as integers.
func indexList(_ text: String) -> [Int] {
    text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ",").compactMap { Int($0) }
}

/// The synthetic topologies the placement is checked on: 1, 2 and 4 packages,
/// with and without SMT, one or two L3 per package, plus the target preset.
let plannedTopologies: [TopologySource] = [
    .preset(.xeonE5_2630v4_2s),
    .synthetic("pack:1 [numa] l3:1 core:10 pu:1"),
    .synthetic("pack:1 [numa] l3:1 core:8 pu:2"),
    .synthetic("pack:2 [numa] l3:1 core:10 pu:1"),
    .synthetic("pack:2 [numa] l3:1 core:5 pu:2"),
    .synthetic("pack:4 [numa] l3:1 core:10 pu:1"),
    .synthetic("pack:4 [numa] l3:2 core:3 pu:2"),
]

let plannedRankCounts = [1, 2, 4, 10, 20, 40]
