import Foundation
import Reports
import Studies
import Topology

/// SimGrid platforms for replaying schedules: this machine's (written from a
/// ping-pong) and the files under `platforms/`, read back for their hosts and the
/// values the analytic model needs.
public enum SimGridPlatform {
    /// This machine's clock in Hz (`/proc/cpuinfo`'s "cpu MHz"; 2.2 GHz where it says
    /// nothing): a trace's compute lines are cycles at this clock, and a platform's
    /// host speed in "flops" is its clock.
    public static func thisMachineClockHz() -> Double {
        (CPUInfo.thisMachine().reportedMHz ?? 2200) * 1e6
    }

    /// A platform of `cores` single-core hosts (`core-0`, `core-1`, …) joined pairwise
    /// by one link each, of the ping-pong's latency and bandwidth (shared memory seen
    /// through MPI: the ping-pong already includes the library's overheads), host speed
    /// this clock.
    public static func thisMachine(latencySeconds: Double, bandwidthBytesPerSecond: Double, cores: Int,
                                   clockHz: Double, source: String) -> String {
        var xml = """
            <?xml version='1.0'?>
            <!DOCTYPE platform SYSTEM "https://simgrid.org/simgrid.dtd">
            <!-- This machine as layerpar measured it: \(source). -->
            <platform version="4.1">
              <zone id="this-machine" routing="Full">
                <prop id="layerpar-latency" value="\(latencySeconds)"/>
                <prop id="layerpar-bandwidth" value="\(bandwidthBytesPerSecond)"/>

            """
        for c in 0 ..< cores { xml += "    <host id=\"core-\(c)\" speed=\"\(clockHz)f\"/>\n" }
        for a in 0 ..< cores { for b in a + 1 ..< cores {
            xml += "    <link id=\"shm-\(a)-\(b)\" bandwidth=\"\(bandwidthBytesPerSecond)Bps\" latency=\"\(latencySeconds)s\"/>\n"
            xml += "    <route src=\"core-\(a)\" dst=\"core-\(b)\"><link_ctn id=\"shm-\(a)-\(b)\"/></route>\n"
        } }
        return xml + "  </zone>\n</platform>\n"
    }

    /// What layerpar reads of a platform file: the hosts in order (each listed once
    /// per core: consecutive ranks fill a node), the host clock, and the latency and
    /// bandwidth between nodes that the analytic model prices a message with
    /// (`<prop id="layerpar-latency|layerpar-bandwidth">`, in s and B/s).
    public struct Description: Sendable {
        public var slots: [String]
        public var clockHz: Double
        public var latencySeconds: Double
        public var bandwidthBytesPerSecond: Double
        public var name: String
    }

    /// Reads `path` (a platform of `<host>`s or one `<cluster>`; the files under `platforms/`
    /// and those ``thisMachine(latencySeconds:bandwidthBytesPerSecond:cores:clockHz:source:)`` writes).
    public static func describe(_ path: String) throws -> Description {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw StudyError("--platform: cannot read '\(path)'")
        }
        func attributes(_ tag: String) -> [[String: String]] {
            let pattern = try! NSRegularExpression(pattern: "<\(tag)\\s([^>]*)>")
            let attr = try! NSRegularExpression(pattern: "([A-Za-z_]+)=\"([^\"]*)\"")
            return pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)).map { m in
                let body = String(text[Range(m.range(at: 1), in: text)!])
                var d: [String: String] = [:]
                for a in attr.matches(in: body, range: NSRange(body.startIndex..., in: body)) {
                    d[String(body[Range(a.range(at: 1), in: body)!])] = String(body[Range(a.range(at: 2), in: body)!])
                }
                return d
            }
        }
        func speed(_ s: String?) throws -> Double {
            guard let s, let v = Double(s.prefix { "0123456789.eE+-".contains($0) }) else {
                throw StudyError("--platform '\(path)': a host has no speed")
            }
            let unit = s.drop { "0123456789.eE+-".contains($0) }
            let scale: [String: Double] = ["f": 1, "kf": 1e3, "Mf": 1e6, "Gf": 1e9, "Tf": 1e12]
            guard let k = scale[String(unit)] else { throw StudyError("--platform '\(path)': unknown speed unit in '\(s)'") }
            return v * k
        }
        var slots: [String] = [], clock: Double?
        for h in attributes("host") {
            guard let id = h["id"] else { continue }
            slots += Array(repeating: id, count: Int(h["core"] ?? "1") ?? 1)
            clock = try clock ?? speed(h["speed"])
        }
        for c in attributes("cluster") {
            guard let radical = c["radical"], let dash = radical.firstIndex(of: "-"),
                  let lo = Int(radical[..<dash]), let hi = Int(radical[radical.index(after: dash)...]) else {
                throw StudyError("--platform '\(path)': a cluster needs radical=\"LO-HI\"")
            }
            for i in lo ... hi {
                slots += Array(repeating: "\(c["prefix"] ?? "")\(i)\(c["suffix"] ?? "")", count: Int(c["core"] ?? "1") ?? 1)
            }
            clock = try clock ?? speed(c["speed"])
        }
        var props: [String: Double] = [:]
        for p in attributes("prop") { if let id = p["id"], let v = p["value"].flatMap(Double.init) { props[id] = v } }
        guard !slots.isEmpty, let clock else { throw StudyError("--platform '\(path)': no <host> or <cluster> found") }
        guard let lat = props["layerpar-latency"], let bw = props["layerpar-bandwidth"] else {
            throw StudyError("--platform '\(path)': needs <prop id=\"layerpar-latency\" value=\"SECONDS\"/> and <prop id=\"layerpar-bandwidth\" value=\"BYTES_PER_SECOND\"/> (the analytic model's message parameters)")
        }
        let name = (attributes("zone") + attributes("cluster")).first?["id"] ?? URL(fileURLWithPath: path).lastPathComponent
        return Description(slots: slots, clockHz: clock, latencySeconds: lat, bandwidthBytesPerSecond: bw, name: name)
    }
}

/// One replay: the simulated time and, per level, each rank's replayed compute and
/// communication seconds (read from SMPI's per-action log).
public struct ReplayResult: Codable, Sendable {
    /// SMPI's "Simulation time": when the last rank finished.
    public var seconds: Double
    /// Per level (index = level): mean over ranks of replayed compute seconds, and of
    /// seconds in isend/irecv/test/wait of that level's messages.
    public var computeSeconds: [Double]
    public var communicationSeconds: [Double]
    /// Mean over ranks: compute in no level (the spread remainder) and residual allreduces.
    public var otherComputeSeconds: Double
    public var reduceSeconds: Double
    /// Wall seconds the simulator took.
    public var wallSeconds: Double
}

/// Replays a trace folder (``Schedule/write(to:)``) with `smpirun -replay` (SimGrid's
/// SMPI, Debian `libsimgrid-dev`).
public enum SimGridReplay {
    public static func smpirun() throws -> String {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let path = "\(dir)/smpirun"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        throw StudyError("smpirun not found on PATH (install SimGrid: tools/setup installs Debian's libsimgrid-dev)")
    }

    /// Replays the `ranks` traces of `directory` on `platform`, ranks filling its
    /// hosts' cores in order. Message-size factors are 1 (the platform's latency and
    /// bandwidth are MPI-level figures) and MPI_Test costs nothing extra (polls are in
    /// the traced work).
    public static func run(directory: String, ranks: Int, levels: Int, platform: String,
                           timeout: Double = 600) throws -> ReplayResult {
        let d = try SimGridPlatform.describe(platform)
        guard ranks <= d.slots.count else {
            throw StudyError("--platform '\(platform)' has \(d.slots.count) cores, fewer than \(ranks) ranks")
        }
        let dir = URL(fileURLWithPath: directory).standardizedFileURL
        let hostfile = dir.appendingPathComponent("hostfile.txt").path
        try AtomicFile.write(d.slots.prefix(ranks).joined(separator: "\n") + "\n", to: hostfile)
        let log = dir.appendingPathComponent("replay.log").path
        try? FileManager.default.removeItem(atPath: log)
        let args = ["-np", String(ranks), "-platform", URL(fileURLWithPath: platform).standardizedFileURL.path,
                    "-hostfile", hostfile, "-replay", dir.appendingPathComponent("traces.txt").path,
                    "--log=root.thres:warning", "--log=smpi_replay.thres:verbose", "--log=smpi_replay.fmt:%m%n",
                    "--log=smpi_replay.app:file:\(log)",
                    "--cfg=smpi/bw-factor:0:1", "--cfg=smpi/lat-factor:0:1", "--cfg=smpi/test:0",
                    "--cfg=smpi/tmpdir:\(dir.path)"]
        let r = try ChildProcess.run(try smpirun(), args, timeout: timeout)
        if r.timedOut { throw StudyError("smpirun -replay of \(ranks) ranks took over \(Int(timeout)) s and was stopped") }
        guard r.status == 0 else {
            throw StudyError("smpirun -replay of \(ranks) ranks failed (exit \(r.status)):\n\(r.stderr.suffix(2000))")
        }
        return try parse(log: log, ranks: ranks, levels: levels, wallSeconds: r.seconds)
    }

    /// Sums SMPI's verbose per-action lines (`R ACTION ARGS… DURATION`; a compute line
    /// carries its level before the duration, a point-to-point line its tag = level·4 + kind).
    static func parse(log: String, ranks: Int, levels: Int, wallSeconds: Double) throws -> ReplayResult {
        guard let data = FileManager.default.contents(atPath: log) else { throw StudyError("smpirun wrote no log at \(log)") }
        var compute = [Double](repeating: 0, count: levels), comm = [Double](repeating: 0, count: levels)
        var other = 0.0, reduce = 0.0
        var seconds: Double?
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            var start = 0
            let bytes = raw.bindMemory(to: UInt8.self)
            while start < bytes.count {
                var end = start
                while end < bytes.count && bytes[end] != 10 { end += 1 }
                let line = String(decoding: UnsafeBufferPointer(rebasing: bytes[start ..< end]), as: UTF8.self)
                start = end + 1
                let f = line.split(separator: " ")
                if line.hasPrefix("Simulation time") { seconds = f.last.flatMap { Double($0) }; continue }
                guard f.count >= 3, let t = Double(f[f.count - 1]) else { continue }
                switch f[1] {
                case "compute":
                    guard f.count >= 5, let l = Int(f[3]) else { continue }
                    if l >= 0 && l < levels { compute[l] += t } else { other += t }
                case "isend", "irecv":
                    guard f.count >= 6, let tag = Int(f[3]) else { continue }
                    if tag / 4 < levels { comm[tag / 4] += t }
                case "wait", "test":
                    guard f.count >= 6, let tag = Int(f[4]) else { continue }
                    if tag / 4 < levels { comm[tag / 4] += t }
                case "allreduce", "barrier":
                    reduce += t
                default: continue
                }
            }
        }
        guard let seconds else { throw StudyError("smpirun's log \(log) has no \"Simulation time\" line") }
        let p = Double(ranks)
        return ReplayResult(seconds: seconds, computeSeconds: compute.map { $0 / p }, communicationSeconds: comm.map { $0 / p },
                            otherComputeSeconds: other / p, reduceSeconds: reduce / p, wallSeconds: wallSeconds)
    }
}
