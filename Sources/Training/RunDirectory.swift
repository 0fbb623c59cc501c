import Foundation
import Reports

/// The files of one training run in its output directory, and the rules that keep
/// a run from being lost: a directory that holds a run is continued (`--resume`)
/// or replaced on request (`--force`), never overwritten by accident.
public enum RunDirectory {
    /// Files a run writes; any of them marks the directory as holding a run.
    public static let runFiles = ["checkpoint.lpck", "checkpoint.prev.lpck", "history.csv", "summary.json", "loss.png"]

    /// Checks `--out DIR` before any work: creates it if missing, proves it writable,
    /// and refuses one that already holds a run unless `resume` or `force`.
    /// Every rank may call it (it only reads, and probes with a per-process file name).
    /// Returns the absolute directory.
    @discardableResult
    public static func check(_ directory: String, resume: Bool, force: Bool) throws -> String {
        if resume && force { throw TrainingError("--resume continues the run in --out and --force replaces it: give one of them") }
        let absolute: String
        do { absolute = try OutputPath.prepareDirectory(directory, option: "--out") } catch let e as ReportError {
            throw TrainingError(e.message)
        }
        let present = existingRunFiles(in: absolute)
        if !resume && !force && !present.isEmpty {
            throw TrainingError("--out \(directory) already holds a run (\(present.joined(separator: ", "))): give --resume to continue it or --force to replace it")
        }
        return absolute
    }

    /// The run files present in `directory`.
    public static func existingRunFiles(in directory: String) -> [String] {
        runFiles.filter { FileManager.default.fileExists(atPath: directory + "/" + $0) }
    }

    /// Starts a fresh run in `directory` (rank 0, before its first write): removes the
    /// files of a run it replaces, so no old checkpoint or summary survives beside the new history.
    public static func clearForNewRun(_ directory: String) {
        for f in runFiles { unlink(directory + "/" + f) }
        removeStrayTemporaries(in: directory)
    }

    /// Removes the temporary files an interrupted atomic write (a killed process) left
    /// behind: `.NAME.tmp-PID` for the run's files. Called by the run's one writer before it
    /// writes anything, so every such file is a leftover — also one whose process has not
    /// yet been reaped when this runs (a SIGKILL during an fsync on a busy disk), which a
    /// check of the PID would keep.
    public static func removeStrayTemporaries(in directory: String) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        for name in names {
            guard let range = name.range(of: ".tmp-"), name.hasPrefix("."),
                  runFiles.contains(String(name[name.index(after: name.startIndex)..<range.lowerBound])),
                  Int32(name[range.upperBound...]) != nil else { continue }
            unlink(directory + "/" + name)
        }
    }
}
