import Foundation

/// NumPy's `.npz`: a zip archive of `.npy` files, one per tensor (`NAME.npy`),
/// written uncompressed (zip method 0, "stored"), as `numpy.savez` does; the
/// metadata map travels as `__metadata__.npy`, a 0-d unicode array holding the
/// map as JSON (`json.loads(str(npz["__metadata__"]))`), so `numpy.load` needs
/// no pickles.
///
/// `.npy` version 1.0: the magic `\x93NUMPY`, version bytes 1 0, a u16
/// little-endian header length, then an ASCII Python dict literal
/// `{'descr': '<f8', 'fortran_order': False, 'shape': (w, n), }` padded with
/// spaces and a newline so the data starts 64-byte aligned, then the raw data.
public enum NumPyArchive {
    static let metadataName = "__metadata__"

    public static func encode(_ archive: TensorArchive) throws -> Data {
        var files: [(String, Data)] = []
        for t in archive.tensors {
            guard t.name != metadataName else { throw TensorFileError(file: "npz", problem: "tensor name '\(t.name)' is reserved") }
            var body = Data(); body.appendLE(t.values)
            files.append((t.name + ".npy", npy(descr: "<f8", shape: t.shape, body: body)))
        }
        if !archive.metadata.isEmpty {
            let json = String(decoding: try JSONSerialization.data(withJSONObject: archive.metadata, options: [.sortedKeys]),
                              as: UTF8.self)
            // '<U n': n UTF-32 code points, little-endian.
            var body = Data()
            let scalars = Array(json.unicodeScalars)
            for s in scalars { body.appendLE(s.value) }
            files.append((metadataName + ".npy", npy(descr: "<U\(max(1, scalars.count))", shape: [],
                                                     body: scalars.isEmpty ? Data(count: 4) : body)))
        }
        return try StoredZip.encode(files)
    }

    public static func decode(_ data: Data, file: String) throws -> TensorArchive {
        var tensors: [NamedTensor] = []
        var metadata: [String: String] = [:]
        for (name, bytes) in try StoredZip.decode(data, file: file) {
            guard name.hasSuffix(".npy") else { continue }
            let tensorName = String(name.dropLast(4))
            let (descr, shape, offset) = try parseHeader(bytes, file: file, entry: name)
            let elements = shape.reduce(1, *)
            if tensorName == metadataName {
                guard descr.hasPrefix("<U"), let n = Int(descr.dropFirst(2)), shape.isEmpty, offset + 4 * n <= bytes.count else {
                    throw TensorFileError(file: file, problem: "\(name) is not a 0-d unicode array")
                }
                let scalars = (0..<n).compactMap { bytes.readLE(UInt32.self, at: offset + 4 * $0) }
                    .filter { $0 != 0 }.compactMap(Unicode.Scalar.init)
                let text = String(String.UnicodeScalarView(scalars))
                guard let m = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: String] else {
                    throw TensorFileError(file: file, problem: "\(name) does not hold a JSON map of strings")
                }
                metadata = m
                continue
            }
            guard descr == "<f8" else {
                throw TensorFileError(file: file, problem: "\(name) has dtype '\(descr)'; layerpar reads little-endian float64 ('<f8') only")
            }
            guard let values = bytes.readDoublesLE(at: offset, count: elements), offset + 8 * elements == bytes.count else {
                throw TensorFileError(file: file, problem: "\(name): \(bytes.count - offset) data bytes do not hold shape \(shape) of float64")
            }
            tensors.append(NamedTensor(name: tensorName, shape: shape, values: values))
        }
        return TensorArchive(tensors: tensors, metadata: metadata)
    }

    static func npy(descr: String, shape: [Int], body: Data) -> Data {
        let dims = shape.count == 1 ? "\(shape[0])," : shape.map(String.init).joined(separator: ", ")
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': (\(dims)), }"
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var out = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        out.appendLE(UInt16(header.utf8.count))
        out.append(Data(header.utf8))
        out.append(body)
        return out
    }

    /// dtype, shape and data offset of a version 1.0 or 2.0 `.npy`, C order only.
    static func parseHeader(_ bytes: Data, file: String, entry: String) throws -> (String, [Int], Int) {
        func bad(_ why: String) -> TensorFileError { TensorFileError(file: file, problem: "\(entry) is not a usable .npy: \(why)") }
        guard bytes.count >= 10, bytes.prefix(6) == Data([0x93] + Array("NUMPY".utf8)) else { throw bad("bad magic") }
        let major = bytes[bytes.startIndex + 6]
        let (length, start): (Int, Int)
        switch major {
        case 1: (length, start) = (Int(bytes.readLE(UInt16.self, at: 8)!), 10)
        case 2, 3:
            guard let l = bytes.readLE(UInt32.self, at: 8) else { throw bad("truncated header") }
            (length, start) = (Int(l), 12)
        default: throw bad("version \(major) is not supported")
        }
        guard start + length <= bytes.count else { throw bad("truncated header") }
        let header = String(decoding: bytes.subdata(in: start ..< start + length), as: UTF8.self)
        func value(_ key: String) -> Substring? {
            guard let r = header.range(of: "'\(key)':") else { return nil }
            return header[r.upperBound...].drop { $0 == " " }
        }
        guard let d = value("descr"), d.first == "'", let end = d.dropFirst().firstIndex(of: "'") else { throw bad("no descr") }
        let descr = String(d[d.index(after: d.startIndex) ..< end])
        guard let f = value("fortran_order"), f.hasPrefix("False") else { throw bad("Fortran order is not supported") }
        guard let s = value("shape"), s.first == "(", let close = s.firstIndex(of: ")") else { throw bad("no shape") }
        let dims = s[s.index(after: s.startIndex) ..< close].split(separator: ",")
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let shape = dims.compactMap { Int($0) }
        guard shape.count == dims.count else { throw bad("shape (\(s[..<close].dropFirst())) is not a tuple of integers") }
        return (descr, shape, start + length)
    }
}

/// A zip archive with uncompressed entries (method 0), no zip64: what `.npz`
/// needs. The CRC-32 of every entry is written and checked.
enum StoredZip {
    static func encode(_ files: [(String, Data)]) throws -> Data {
        var out = Data(), central = Data()
        for (name, body) in files {
            guard body.count < Int(UInt32.max), out.count < Int(UInt32.max) else {
                throw TensorFileError(file: "npz", problem: "\(name) is larger than 4 GiB (zip64 is not written)")
            }
            let crc = crc32(body), nameBytes = Data(name.utf8), offset = UInt32(out.count)
            // Local file header: version 2.0, no flags, stored, DOS date 1980-01-01 00:00.
            out.appendLE(UInt32(0x0403_4b50)); out.appendLE(UInt16(20)); out.appendLE(UInt16(0)); out.appendLE(UInt16(0))
            out.appendLE(UInt16(0)); out.appendLE(UInt16(0x21))
            out.appendLE(crc); out.appendLE(UInt32(body.count)); out.appendLE(UInt32(body.count))
            out.appendLE(UInt16(nameBytes.count)); out.appendLE(UInt16(0))
            out.append(nameBytes); out.append(body)
            central.appendLE(UInt32(0x0201_4b50)); central.appendLE(UInt16(20)); central.appendLE(UInt16(20))
            central.appendLE(UInt16(0)); central.appendLE(UInt16(0)); central.appendLE(UInt16(0)); central.appendLE(UInt16(0x21))
            central.appendLE(crc); central.appendLE(UInt32(body.count)); central.appendLE(UInt32(body.count))
            central.appendLE(UInt16(nameBytes.count)); central.appendLE(UInt16(0)); central.appendLE(UInt16(0))
            central.appendLE(UInt16(0)); central.appendLE(UInt16(0)); central.appendLE(UInt32(0)); central.appendLE(offset)
            central.append(nameBytes)
        }
        let centralOffset = UInt32(out.count)
        out.append(central)
        out.appendLE(UInt32(0x0605_4b50)); out.appendLE(UInt16(0)); out.appendLE(UInt16(0))
        out.appendLE(UInt16(files.count)); out.appendLE(UInt16(files.count))
        out.appendLE(UInt32(central.count)); out.appendLE(centralOffset); out.appendLE(UInt16(0))
        return out
    }

    /// The entries (name, bytes) in central-directory order.
    static func decode(_ input: Data, file: String) throws -> [(String, Data)] {
        let data = Data(input)
        func bad(_ why: String) -> TensorFileError { TensorFileError(file: file, problem: "not a usable .npz (zip) archive: \(why)") }
        // The end-of-central-directory record is the last 22 bytes plus a comment of up to 64 KiB.
        var eocd: Int?
        var p = data.count - 22
        while p >= max(0, data.count - 22 - 65_535) {
            if data.readLE(UInt32.self, at: p) == 0x0605_4b50 { eocd = p; break }
            p -= 1
        }
        guard let e = eocd, let entries = data.readLE(UInt16.self, at: e + 10),
              let cdOffset = data.readLE(UInt32.self, at: e + 16) else { throw bad("no end-of-central-directory record") }
        var out: [(String, Data)] = []
        var q = Int(cdOffset)
        for _ in 0..<Int(entries) {
            guard data.readLE(UInt32.self, at: q) == 0x0201_4b50, let method = data.readLE(UInt16.self, at: q + 10),
                  let crc = data.readLE(UInt32.self, at: q + 16), let size = data.readLE(UInt32.self, at: q + 20),
                  let usize = data.readLE(UInt32.self, at: q + 24), let nlen = data.readLE(UInt16.self, at: q + 28),
                  let xlen = data.readLE(UInt16.self, at: q + 30), let clen = data.readLE(UInt16.self, at: q + 32),
                  let local = data.readLE(UInt32.self, at: q + 42), q + 46 + Int(nlen) <= data.count else {
                throw bad("corrupt central directory")
            }
            let name = String(decoding: data.subdata(in: q + 46 ..< q + 46 + Int(nlen)), as: UTF8.self)
            q += 46 + Int(nlen) + Int(xlen) + Int(clen)
            guard method == 0, size == usize else {
                throw bad("entry \(name) is compressed (method \(method)); layerpar reads stored archives (numpy.savez, not savez_compressed)")
            }
            let l = Int(local)
            guard data.readLE(UInt32.self, at: l) == 0x0403_4b50, let ln = data.readLE(UInt16.self, at: l + 26),
                  let lx = data.readLE(UInt16.self, at: l + 28) else { throw bad("corrupt local header of \(name)") }
            let start = l + 30 + Int(ln) + Int(lx)
            guard start + Int(size) <= data.count else { throw bad("entry \(name) is truncated") }
            let body = data.subdata(in: start ..< start + Int(size))
            guard crc32(body) == crc else { throw bad("CRC-32 mismatch in \(name) (the file is corrupt)") }
            out.append((name, body))
        }
        return out
    }

    /// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), as zip uses.
    static let table: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func crc32(_ data: Data) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        data.withUnsafeBytes { for b in $0 { c = table[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) } }
        return c ^ 0xFFFF_FFFF
    }
}
