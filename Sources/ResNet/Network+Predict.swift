import Kernels

extension Network {
    /// Outputs for `count` sample-major inputs (`inputs` values per sample),
    /// layer-serial, in chunks of the workspace's capacity; sample-major
    /// (sample s, output k at `s*outputs + k`). The closing layer runs without a loss.
    public func predict(features: [Double], count: Int, workspace ws: NetworkWorkspace) throws -> [Double] {
        guard features.count == count * shape.inputs else {
            throw ResNetError("predict: \(features.count) feature values are not \(count) samples × \(shape.inputs) inputs")
        }
        let m = shape.outputs
        var out = [Double](repeating: 0, count: count * m)
        var start = 0
        while start < count {
            let b = min(ws.capacity, count - start)
            features.withUnsafeBufferPointer {
                load(features: UnsafeBufferPointer(rebasing: $0[(start * shape.inputs)...]), samples: nil, batch: b, into: ws)
            }
            try forward(ws)
            let p = parameters.closing, y = ws.output
            try LayerKernels.denseForward(activation: .identity, W: p.W, b: p.b, X: ws.state(shape.depth), Y: y)
            for j in 0..<b { for k in 0..<m { out[(start + j) * m + k] = y[k, j] } }
            start += b
        }
        return out
    }
}

extension NetworkWorkspace {
    /// Bytes of the buffers a workspace of `capacity` samples with hidden states
    /// allocates for `shape` (before padding): what bounds a prediction batch.
    public static func bytes(shape: NetworkShape, capacity: Int) -> Int {
        let w = shape.width, N = shape.depth
        let rows = shape.inputs + w + (N + 1) * w + N * w + 2 * shape.outputs + 2 * w
        return 8 * rows * capacity
    }
}
