import Foundation

/// The safetensors format (Hugging Face), float64 tensors only:
///
/// `[u64 little-endian: header length n][n bytes: UTF-8 JSON header][tensor bytes]`.
/// The header maps each tensor name to `{"dtype": "F64", "shape": [...],
/// "data_offsets": [begin, end]}` (byte offsets into the tensor bytes, end
/// exclusive) and may hold `"__metadata__"`: a string-to-string map. Tensors are
/// raw little-endian, row-major, stored back to back in archive order. The
/// header is padded with spaces to a multiple of 8 bytes so every tensor starts
/// 8-byte aligned, as the format recommends.
public enum SafeTensors {
    static let metadataKey = "__metadata__"

    public static func encode(_ archive: TensorArchive) throws -> Data {
        var header: [String: Any] = [:]
        var offset = 0
        for t in archive.tensors {
            guard t.name != metadataKey, header[t.name] == nil else {
                throw TensorFileError(file: "safetensors", problem: "tensor name '\(t.name)' is reserved or repeated")
            }
            header[t.name] = ["dtype": "F64", "shape": t.shape, "data_offsets": [offset, offset + 8 * t.values.count]]
            offset += 8 * t.values.count
        }
        if !archive.metadata.isEmpty { header[metadataKey] = archive.metadata }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys, .withoutEscapingSlashes])
        json.append(contentsOf: [UInt8](repeating: 0x20, count: (8 - json.count % 8) % 8))
        var out = Data()
        out.appendLE(UInt64(json.count))
        out.append(json)
        for t in archive.tensors { out.appendLE(t.values) }
        return out
    }

    /// Reads a safetensors file. Every tensor must be `F64`; its byte range must
    /// match its shape and lie inside the file. Tensors come back in file order.
    public static func decode(_ data: Data, file: String) throws -> TensorArchive {
        let data = Data(data)   // zero-based indices
        func bad(_ why: String) -> TensorFileError { TensorFileError(file: file, problem: "not a usable safetensors file: \(why)") }
        guard let n64 = data.readLE(UInt64.self, at: 0) else { throw bad("shorter than the 8-byte header length (\(data.count) bytes)") }
        guard n64 <= UInt64(data.count - 8) else { throw bad("header length \(n64) exceeds the file's \(data.count - 8) remaining bytes") }
        let n = Int(n64)
        let headerBytes = data.subdata(in: 8 ..< 8 + n)
        guard let object = try? JSONSerialization.jsonObject(with: headerBytes), let header = object as? [String: Any] else {
            throw bad("the header is not a JSON object")
        }
        let body = data.subdata(in: 8 + n ..< data.count)
        var metadata: [String: String] = [:]
        var entries: [(begin: Int, tensor: NamedTensor)] = []
        for (name, value) in header {
            if name == metadataKey {
                guard let m = value as? [String: String] else { throw bad("__metadata__ is not a map of strings") }
                metadata = m
                continue
            }
            guard let d = value as? [String: Any], let dtype = d["dtype"] as? String,
                  let shape = d["shape"] as? [Int], let offsets = d["data_offsets"] as? [Int], offsets.count == 2 else {
                throw bad("tensor '\(name)' lacks dtype, shape or data_offsets")
            }
            guard dtype == "F64" else { throw bad("tensor '\(name)' has dtype \(dtype); layerpar reads F64 only") }
            let elements = shape.reduce(1, *)
            guard shape.allSatisfy({ $0 >= 0 }), offsets[1] - offsets[0] == 8 * elements else {
                throw bad("tensor '\(name)': data_offsets \(offsets) do not hold shape \(shape) of F64")
            }
            guard offsets[0] >= 0, offsets[1] <= body.count, let values = body.readDoublesLE(at: offsets[0], count: elements) else {
                throw bad("tensor '\(name)': data_offsets \(offsets) lie outside the \(body.count) data bytes")
            }
            entries.append((offsets[0], NamedTensor(name: name, shape: shape, values: values)))
        }
        return TensorArchive(tensors: entries.sorted { $0.begin < $1.begin }.map(\.tensor), metadata: metadata)
    }
}
