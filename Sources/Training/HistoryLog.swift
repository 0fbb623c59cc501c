import Foundation
import Reports

/// `history.csv` written as the run goes: the rows known at the start (a resumed
/// run's, from its checkpoint) are written atomically, then each step's row is
/// appended and handed to the kernel at once (one `write`), so a run that is killed
/// keeps every step it measured. At the end the trainer writes the whole table
/// atomically again, so a finished run's file is the same as before.
final class HistoryLog {
    let path: String
    private var handle: FileHandle?
    private let log: (String) -> Void

    /// Starts `path` with the header and `rows`.
    init(path: String, rows: [HistoryRow], log: @escaping (String) -> Void) throws {
        self.path = path
        self.log = log
        try Trainer.historyTable(rows).write(to: path)
        do {
            let h = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            try h.seekToEnd()
            handle = h
        } catch {
            log("note: history.csv is written only at the end: cannot append to \(path): \(error)")
        }
    }

    /// Appends one row. A failing write (disk full) is reported once and appending stops;
    /// the atomic write at the end tries again.
    func append(_ row: HistoryRow) {
        guard let handle else { return }
        do {
            let text = try Trainer.historyTable([row]).text
            let line = text[text.index(after: text.firstIndex(of: "\n")!)...]
            try handle.write(contentsOf: Data(line.utf8))
        } catch {
            log("note: history.csv stopped growing at iteration \(row.iteration): \(error)")
            close()
        }
    }

    func close() {
        try? handle?.close()
        handle = nil
    }
}
