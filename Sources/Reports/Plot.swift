import Foundation

/// Runs a matplotlib script from `tools/plots/` on result files.
///
/// Plots are a convenience on top of the CSV/JSON results, which are always
/// written first: when python3 or matplotlib is missing, the caller gets an
/// error saying so, and the data files are already complete.
public enum Plot {
    /// Runs `python3 SCRIPT ARGS…` and throws with its stderr if it fails.
    /// `script` is a path; relative paths are resolved against the package root
    /// found from the executable's location or the current directory.
    public static func run(script: String, arguments: [String]) throws {
        guard let scriptPath = locate(script) else {
            throw ReportError("plot script \(script) not found (looked next to the executable and in the current directory)")
        }
        let r: ChildProcess.Result
        // In a process group of its own: a plot drawn while mpirun ends the job (it
        // kills each rank's group a second after SIGTERM) is still finished.
        do { r = try ChildProcess.run("python3", [scriptPath] + arguments, timeout: 300, ownProcessGroup: true) } catch {
            throw ReportError("cannot start python3 for \(script): \(error)")
        }
        guard r.status == 0 else {
            let text = r.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
            throw ReportError("plot \(script) failed (exit \(r.status)\(r.timedOut ? ", stopped after 300 s" : "")): \(text)")
        }
    }

    static func locate(_ script: String) -> String? {
        if script.hasPrefix("/") { return FileManager.default.fileExists(atPath: script) ? script : nil }
        var candidates = [FileManager.default.currentDirectoryPath]
        // The executable lives in <root>/.build*/<config>/layerpar: walk up to the root.
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<5 {
            candidates.append(dir.path)
            dir = dir.deletingLastPathComponent()
        }
        for base in candidates {
            let path = base + "/" + script
            if FileManager.default.fileExists(atPath: path) { return path }
        }
        return nil
    }
}
