// Nothing lost, nothing trusted blindly: output paths, run directories, checkpoint
// rotation and bounds, numeric options, CSV fields.
import Comm
import Foundation
import Reports
import Testing
import Training

@Suite("Run safety", .serialized)
struct RunSafetyTests {
    @Test("Output paths are refused before any work: empty, unwritable, a file where a directory belongs, a directory where a file belongs")
    func outputPaths() throws {
        let dir = tempDir("paths")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "x".write(toFile: dir + "/file", atomically: true, encoding: .utf8)
        func refused(_ body: () throws -> Void, _ text: String) {
            do { try body(); Issue.record("accepted, expected '\(text)'") } catch {
                #expect("\(error)".contains(text), "\(error)")
            }
        }
        refused({ try OutputPath.prepareDirectory("", option: "--out") }, "--out is empty")
        refused({ try OutputPath.prepareDirectory("/proc/layerpar-x", option: "--out") }, "--out /proc/layerpar-x")
        refused({ try OutputPath.prepareDirectory(dir + "/file", option: "--out") }, "is not a directory")
        refused({ try OutputPath.prepareDirectory(dir + "/file/sub", option: "--out") }, "--out")
        refused({ try OutputPath.checkFile(dir, option: "--json") }, "is a directory")
        refused({ try OutputPath.checkFile("/proc/layerpar-x/a.json", option: "--json") }, "--json")
        refused({ try OutputPath.checkFile("", option: "--csv") }, "--csv is empty")
        // Accepted: a new nested directory, a new file in it, an existing file to replace.
        #expect(try OutputPath.prepareDirectory(dir + "/a/b", option: "--out") == dir + "/a/b")
        try OutputPath.checkFiles([("--json", dir + "/c/d.json"), ("--csv", nil), ("--plot", dir + "/file")])
        #expect(FileManager.default.fileExists(atPath: dir + "/c"))
        let left = try FileManager.default.contentsOfDirectory(atPath: dir + "/a/b")
        #expect(left.isEmpty, "probe files left: \(left)")
    }

    @Test("A directory holding a run is refused without --resume or --force; a fresh run removes the old run's files")
    func runDirectory() throws {
        let dir = tempDir("rundir")
        try makeTrainer(smallConfig(iterations: 8), dir: dir).run()
        do { try RunDirectory.check(dir, resume: false, force: false); Issue.record("overwrite accepted") } catch let e as TrainingError {
            #expect(e.message.contains("--resume") && e.message.contains("--force") && e.message.contains("checkpoint.lpck"), "\(e.message)")
        }
        #expect(throws: TrainingError.self) { try RunDirectory.check(dir, resume: true, force: true) }
        try RunDirectory.check(dir, resume: true, force: false)
        try RunDirectory.check(dir, resume: false, force: true)
        try makeTrainer(smallConfig(iterations: 3), dir: dir).run()   // what train --force does: a fresh run
        #expect(!FileManager.default.fileExists(atPath: Checkpoint.previousPath(in: dir)), "the replaced run's previous checkpoint survived")
        #expect(try Checkpoint.load(directory: dir).header.step == 3)
        let rows = try String(contentsOfFile: dir + "/history.csv", encoding: .utf8).split(separator: "\n")
        #expect(rows.count == 5)
    }

    @Test("Checkpoint rotation keeps the previous by link, leaves no temporaries, and stray ones of dead processes are removed")
    func rotation() throws {
        let dir = tempDir("rotation")
        try makeTrainer(smallConfig(iterations: 15), dir: dir).run()   // checkpoints at 7, 14, 15
        #expect(try Checkpoint.load(directory: dir).header.step == 15)
        let prev = try Checkpoint.decode(Data(contentsOf: URL(fileURLWithPath: Checkpoint.previousPath(in: dir))), path: "prev")
        #expect(prev.header.step == 14)
        var names = try FileManager.default.contentsOfDirectory(atPath: dir)
        #expect(!names.contains { $0.contains(".tmp-") }, "\(names)")
        // A temporary of a process that no longer exists (pid 2³⁰ is above Linux's pid_max) is removed; other files stay.
        try Data("partial".utf8).write(to: URL(fileURLWithPath: dir + "/.checkpoint.lpck.tmp-1073741824"))
        try Data("mine".utf8).write(to: URL(fileURLWithPath: dir + "/.notes.tmp-1073741824"))
        RunDirectory.removeStrayTemporaries(in: dir)
        names = try FileManager.default.contentsOfDirectory(atPath: dir)
        #expect(!names.contains(".checkpoint.lpck.tmp-1073741824") && names.contains(".notes.tmp-1073741824"))
    }

    @Test("--resume with both checkpoints damaged is refused naming both")
    func bothDamaged() throws {
        let dir = tempDir("both")
        try makeTrainer(smallConfig(iterations: 8), dir: dir).run()
        for p in [Checkpoint.path(in: dir), Checkpoint.previousPath(in: dir)] {
            let d = try Data(contentsOf: URL(fileURLWithPath: p))
            try d.prefix(d.count / 2).write(to: URL(fileURLWithPath: p))
        }
        do { _ = try makeTrainer(smallConfig(iterations: 20), dir: dir, resume: true); Issue.record("accepted") } catch let e as TrainingError {
            #expect(e.message.contains("checkpoint.lpck") && e.message.contains("checkpoint.prev.lpck"), "\(e.message)")
        }
    }

    /// Re-encodes the run's checkpoint after `change` (a valid checksum over crafted contents).
    func crafted(_ dir: String, _ change: (inout Checkpoint) -> Void) throws {
        var c = try Checkpoint.load(directory: dir)
        change(&c)
        try c.encoded().write(to: URL(fileURLWithPath: Checkpoint.path(in: dir)))
        try? FileManager.default.removeItem(atPath: Checkpoint.previousPath(in: dir))
    }

    @Test("Counts, steps and sampler positions of a checksummed checkpoint are bounded before use")
    func craftedCheckpoints() throws {
        let dir = tempDir("crafted")
        let good = try Data(contentsOf: URL(fileURLWithPath: {
            try! makeTrainer(smallConfig(iterations: 8), dir: dir).run(); return Checkpoint.path(in: dir)
        }()))
        func refused(_ text: String, _ change: (inout Checkpoint) -> Void) throws {
            try good.write(to: URL(fileURLWithPath: Checkpoint.path(in: dir)))
            try crafted(dir, change)
            do { _ = try makeTrainer(smallConfig(iterations: 20), dir: dir, resume: true); Issue.record("accepted: \(text)") } catch let e as TrainingError {
                #expect(e.message.contains(text), "\(e.message)")
            }
        }
        try refused("sampler position") { $0.header.samplerPosition = 1 << 40 }
        try refused("sampler position") { $0.header.samplerPosition = -3 }
        try refused("sampler epoch") { $0.header.samplerEpoch = 1 << 50 }
        try refused("step") { $0.header.step = -1 }
        try refused("history") { $0.header.history += $0.header.history }
        try refused("parameters") { $0.parameters.removeLast() }
        try refused("second moments") { $0.optimizer.second = [] }
        // Length fields that overflow or go negative are refused by the decoder, not trapped on.
        let text = String(decoding: good, as: UTF8.self)
        var lines = text.split(separator: "\n", maxSplits: 4, omittingEmptySubsequences: false).map(String.init)
        lines[2] = String(Int.max - 7)
        #expect(throws: TrainingError.self) { _ = try Checkpoint.decode(Data(lines.joined(separator: "\n").utf8), path: "x") }
    }

    @Test("Resuming after the training CSV changed is refused with the reason (fewer rows, or other values)")
    func dataChanged() throws {
        let dir = tempDir("data")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let rows = (0..<40).map { i in "\(Double(i) / 40),\(Double(i % 7) / 7),\(Double(i % 5) / 5)" }
        func write(_ r: [String]) throws { try ("a,b,y\n" + r.joined(separator: "\n") + "\n").write(toFile: dir + "/t.csv", atomically: true, encoding: .utf8) }
        try write(rows)
        try ("a,b,y\n" + rows.prefix(10).joined(separator: "\n") + "\n").write(toFile: dir + "/v.csv", atomically: true, encoding: .utf8)
        var c = smallConfig(iterations: 6)
        c.data = .files(train: dir + "/t.csv", validation: dir + "/v.csv", targets: 1)
        try makeTrainer(c, dir: dir + "/run").run()
        c.iterations = 12
        for changed in [Array(rows.prefix(20)), rows.map { $0.replacingOccurrences(of: "0.5,", with: "0.25,") }] {
            try write(changed)
            do { _ = try makeTrainer(c, dir: dir + "/run", resume: true); Issue.record("changed data accepted") } catch let e as TrainingError {
                #expect(e.message.contains("training data changed"), "\(e.message)")
            }
        }
    }

    @Test("Non-finite or out-of-range numbers are refused naming the option")
    func numbers() {
        func refused(_ text: String, _ change: (inout TrainingConfiguration) -> Void) {
            var c = smallConfig(iterations: 5)
            change(&c)
            do { try c.validate(); Issue.record("accepted: \(text)") } catch {
                #expect(error.message.contains(text), "\(error.message)")
            }
        }
        refused("--beta") { $0.beta = .nan }
        refused("--beta") { $0.beta = 0 }
        refused("--init-high") { $0.initHigh = .infinity }
        refused("--init-low") { $0.initLow = -.infinity }
        refused("--momentum") { $0.optimizer.momentum = .nan }
        refused("--momentum") { $0.optimizer.momentum = 2 }
        refused("--lr-schedule") { $0.optimizer.schedule = .step(every: 5, factor: .infinity) }
        refused("--lr-schedule") { $0.optimizer.schedule = .inverseTime(decay: .nan) }
        refused("--tol-forward") { $0.tolForward = .nan }
        refused("--noise-backward") { $0.noiseBackward = .infinity }
    }

    @Test("CSV fields with control characters or magnitudes whose squares overflow are refused naming file, line and column")
    func csvFields() {
        func refused(_ text: String, _ place: String, _ why: String) {
            do { _ = try CSVDataReader.parse(text: text, file: "d.csv", targetCount: 1); Issue.record("accepted: \(text.debugDescription)") } catch let e as DataError {
                #expect(e.description.contains(place) && e.description.contains(why), "\(e.description)")
            } catch { Issue.record("\(error)") }
        }
        refused("a,y\n1\u{0}5,2\n", "d.csv, line 2, column 1", "U+0000")
        refused("a,y\u{1B}[31m\n1,2\n", "d.csv, line 1, column 2", "U+001B")
        refused("a,y\n1,2\n3\u{7},4\n", "line 3, column 1", "U+0007")
        refused("a,y\n1,1e200\n", "line 2, column 2", "too large")
        refused("a,y\n-2e101,1\n", "line 2, column 1", "too large")
        #expect(throws: Never.self) { _ = try CSVDataReader.parse(text: "a,y\r\n 1e99 ,\t2\r\n", file: "d.csv", targetCount: 1) }
    }
}
