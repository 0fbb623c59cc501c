/// Shape-checked entry points to the fused layer kernels of CKernels
/// (formulas in `layerpar_kernels.h`; layout: a batch is a width × B
/// ``Matrix``, weights are outputs × inputs).
///
/// Every shape is validated *before* C is called; a mismatch throws
/// ``KernelError`` naming the operand, its shape and the expected shape, e.g.
/// `resnet forward: W is 16×17, expected 16×16 for width 16`. Outputs that
/// overlap an input in memory are rejected the same way. The checks are O(1),
/// so these wrappers are fit for hot loops; views from ``Matrix/columns(_:)``
/// run a sub-batch without copying.
///
/// The operands are the caller's (guaranteed alive for the call, and
/// ``Matrix/baseAddress`` is a stored pointer), so a call retains nothing.
///
/// `family: nil` calls the kernels chosen at run time (``KernelFamily/active``);
/// a given family calls that implementation directly, which is thread-safe and
/// does not change the global choice (what tests and benchmarks want).
public enum LayerKernels {
    /// Hidden residual layer, forward (paper eq. 2–3):
    /// `Z = W X + b·1ᵀ` (only if `Z` is given), `M = ReLU'(Z)` (only if `mask`
    /// is given: 1 where `not (z <= 0)`), `Y = X + β·ReLU(Z)`.
    ///
    /// - Parameters: `W` w×w, `b` of w, `X`, `Y`, `Z`, `mask` w×B. `Y` must not
    ///   overlap `X`, `W`, `b`, `Z` or `mask`.
    @inlinable
    public static func residualForward<T: KernelScalar>(
        beta: T, W: Matrix<T>, b: Vector<T>, X: Matrix<T>, Y: Matrix<T>, Z: Matrix<T>? = nil,
        mask: ReLUMask? = nil, family: KernelFamily? = nil
    ) throws(KernelError) {
        let op: StaticString = "resnet forward"
        let w = X.rows, B = X.cols
        try expect(W, w, w, "W", op, "for width \(w)")
        try expect(b, w, "b", op, "for width \(w)")
        try expect(Y, w, B, "Y", op, "like X")
        if let Z { try expect(Z, w, B, "Z", op, "like X") }
        if let mask { try expect(mask, w, B, op, "like X") }
        let sX = X.span("X"), sW = W.span("W"), sb = b.span("b"), sZ = Z?.span("Z"), sM = mask?.span("mask")
        try disjoint(Y.span("Y"), op, sX, sW, sb, sZ, sM)
        if let sZ { try disjoint(sZ, op, sX, sW, sb, sM) }
        if let sM { try disjoint(sM, op, sX, sW, sb) }
        try check(family)
        T._resnetForward(family, w, B, beta, W.baseAddress, W.ld, b.baseAddress,
                         X.baseAddress, X.ld, Y.baseAddress, Y.ld, Z?.baseAddress, Z?.ld ?? w,
                         mask?.baseAddress, mask?.ld ?? w)
    }

    /// Hidden residual layer, transposed (adjoint) step at the linearisation
    /// point `Z` (the forward pre-activation) or its ``ReLUMask`` `mask` (exactly
    /// one of the two), given the adjoint `lambdaNext` (Λ⁺) at the layer output:
    /// `G = ReLU'(Z) ⊙ Λ⁺` or `mask ⊙ Λ⁺` (never stored; the same bits from a
    /// mask the forward kernel made), `Λ = Λ⁺ + β·Wᵀ G` (into `lambda`,
    /// overwritten), `dW += β·G Xᵀ`, `db += β·G 1` (accumulated).
    ///
    /// - Parameters: `W` w×w; `Z` or `mask`, `lambdaNext`, `lambda`, `X` w×B; `dW`
    ///   w×w; `db` of w. `X` is needed only for `dW`. Omitted outputs are not computed.
    @inlinable
    public static func residualAdjoint<T: KernelScalar>(
        beta: T, W: Matrix<T>, X: Matrix<T>? = nil, Z: Matrix<T>? = nil, mask: ReLUMask? = nil,
        lambdaNext: Matrix<T>, lambda: Matrix<T>? = nil, dW: Matrix<T>? = nil, db: Vector<T>? = nil,
        family: KernelFamily? = nil
    ) throws(KernelError) {
        let op: StaticString = "resnet adjoint"
        let w = lambdaNext.rows, B = lambdaNext.cols
        guard (Z == nil) != (mask == nil) else {
            throw KernelError("\(op): needs exactly one of Z (the pre-activation) and mask (its ReLU mask)")
        }
        try expect(W, w, w, "W", op, "for width \(w)")
        if let Z { try expect(Z, w, B, "Z", op, "like lambdaNext") }
        if let mask { try expect(mask, w, B, op, "like lambdaNext") }
        if let lambda { try expect(lambda, w, B, "lambda", op, "like lambdaNext") }
        if let dW {
            guard let X else { throw KernelError("\(op): dW requested but X (the layer input) not given") }
            try expect(X, w, B, "X", op, "like lambdaNext")
            try expect(dW, w, w, "dW", op, "for width \(w)")
        } else if let X {
            try expect(X, w, B, "X", op, "like lambdaNext")
        }
        if let db { try expect(db, w, "db", op, "for width \(w)") }
        let sW = W.span("W"), sX = X?.span("X"), sL = lambdaNext.span("lambdaNext")
        let sZ = Z?.span("Z") ?? mask?.span("mask")
        let sdW = dW?.span("dW"), sdb = db?.span("db")
        if let lambda { try disjoint(lambda.span("lambda"), op, sW, sX, sZ, sL, sdW, sdb) }
        if let sdW { try disjoint(sdW, op, sW, sX, sZ, sL, sdb) }
        if let sdb { try disjoint(sdb, op, sW, sX, sZ, sL) }
        try check(family)
        let zPtr: UnsafeMutablePointer<T>? = Z?.baseAddress
        let mPtr: UnsafeMutablePointer<UInt8>? = mask?.baseAddress
        T._resnetAdjoint(family, w, B, beta, W.baseAddress, W.ld, X?.baseAddress, X?.ld ?? w,
                         zPtr.map { UnsafePointer($0) }, Z?.ld ?? w, mPtr.map { UnsafePointer($0) }, mask?.ld ?? w,
                         lambdaNext.baseAddress, lambdaNext.ld,
                         lambda?.baseAddress, lambda?.ld ?? w, dW?.baseAddress, dW?.ld ?? w,
                         db?.baseAddress)
    }

    /// Dense layer with m outputs and n inputs (the opening and closing layers):
    /// `Z = W X + b·1ᵀ` (only if `Z` is given), `Y = act(Z)`.
    ///
    /// - Parameters: `W` m×n, `b` of m, `X` n×B, `Y`, `Z` m×B.
    @inlinable
    public static func denseForward<T: KernelScalar>(
        activation: Activation, W: Matrix<T>, b: Vector<T>, X: Matrix<T>, Y: Matrix<T>,
        Z: Matrix<T>? = nil, family: KernelFamily? = nil
    ) throws(KernelError) {
        let op: StaticString = "dense forward"
        let m = W.rows, n = W.cols, B = X.cols
        try expect(X, n, B, "X", op, "for \(n) inputs (W is \(W.shapeDescription))")
        try expect(b, m, "b", op, "for \(m) outputs")
        try expect(Y, m, B, "Y", op, "for \(m) outputs and batch \(B)")
        if let Z { try expect(Z, m, B, "Z", op, "for \(m) outputs and batch \(B)") }
        let sX = X.span("X"), sW = W.span("W"), sb = b.span("b"), sZ = Z?.span("Z")
        try disjoint(Y.span("Y"), op, sX, sW, sb, sZ)
        if let sZ { try disjoint(sZ, op, sX, sW, sb) }
        try check(family)
        T._denseForward(family, m, n, B, activation, W.baseAddress, W.ld, b.baseAddress,
                        X.baseAddress, X.ld, Y.baseAddress, Y.ld, Z?.baseAddress, Z?.ld ?? m)
    }

    /// Transposed dense layer, given the adjoint `lambdaOut` (m×B) at the output:
    /// `G = act'(Z) ⊙ Λout`, `Λin = Wᵀ G` (into `lambdaIn`, overwritten),
    /// `dW += G Xᵀ`, `db += G 1` (accumulated).
    ///
    /// - Parameters: `W` m×n; `X` n×B (only for `dW`); `Z` m×B (only for ReLU);
    ///   `lambdaIn` n×B; `dW` m×n; `db` of m.
    @inlinable
    public static func denseAdjoint<T: KernelScalar>(
        activation: Activation, W: Matrix<T>, X: Matrix<T>? = nil, Z: Matrix<T>? = nil,
        lambdaOut: Matrix<T>, lambdaIn: Matrix<T>? = nil, dW: Matrix<T>? = nil, db: Vector<T>? = nil,
        family: KernelFamily? = nil
    ) throws(KernelError) {
        let op: StaticString = "dense adjoint"
        let m = W.rows, n = W.cols, B = lambdaOut.cols
        try expect(lambdaOut, m, B, "lambdaOut", op, "for \(m) outputs (W is \(W.shapeDescription))")
        if activation == .relu {
            guard let Z else { throw KernelError("\(op): ReLU layer needs Z (the pre-activation)") }
            try expect(Z, m, B, "Z", op, "like lambdaOut")
        } else if let Z {
            try expect(Z, m, B, "Z", op, "like lambdaOut")
        }
        if let lambdaIn { try expect(lambdaIn, n, B, "lambdaIn", op, "for \(n) inputs and batch \(B)") }
        if let dW {
            guard let X else { throw KernelError("\(op): dW requested but X (the layer input) not given") }
            try expect(X, n, B, "X", op, "for \(n) inputs and batch \(B)")
            try expect(dW, m, n, "dW", op, "like W")
        } else if let X {
            try expect(X, n, B, "X", op, "for \(n) inputs and batch \(B)")
        }
        if let db { try expect(db, m, "db", op, "for \(m) outputs") }
        let sW = W.span("W"), sX = X?.span("X"), sZ = Z?.span("Z"), sL = lambdaOut.span("lambdaOut")
        let sdW = dW?.span("dW"), sdb = db?.span("db")
        if let lambdaIn { try disjoint(lambdaIn.span("lambdaIn"), op, sW, sX, sZ, sL, sdW, sdb) }
        if let sdW { try disjoint(sdW, op, sW, sX, sZ, sL, sdb) }
        if let sdb { try disjoint(sdb, op, sW, sX, sZ, sL) }
        try check(family)
        let zPtr: UnsafeMutablePointer<T>? = activation == .relu ? Z?.baseAddress : nil
        T._denseAdjoint(family, m, n, B, activation, W.baseAddress, W.ld, X?.baseAddress, X?.ld ?? n,
                        zPtr.map { UnsafePointer($0) }, Z?.ld ?? m, lambdaOut.baseAddress, lambdaOut.ld,
                        lambdaIn?.baseAddress, lambdaIn?.ld ?? n, dW?.baseAddress, dW?.ld ?? n,
                        db?.baseAddress)
    }

    // MARK: checks

    @inlinable
    static func check(_ family: KernelFamily?) throws(KernelError) {
        if let family, !family.isSupported {
            throw KernelError("kernel family '\(family.rawValue)' is not available on this CPU")
        }
    }

    @inlinable
    static func expect<T>(
        _ a: Matrix<T>, _ rows: Int, _ cols: Int, _ name: StaticString, _ op: StaticString, _ why: @autoclosure () -> String
    ) throws(KernelError) {
        guard a.rows == rows && a.cols == cols else {
            throw KernelError("\(op): \(name) is \(a.shapeDescription), expected \(rows)×\(cols) \(why())")
        }
    }

    @inlinable
    static func expect(
        _ a: ReLUMask, _ rows: Int, _ cols: Int, _ op: StaticString, _ why: @autoclosure () -> String
    ) throws(KernelError) {
        guard a.rows == rows && a.cols == cols else {
            throw KernelError("\(op): mask is \(a.shapeDescription), expected \(rows)×\(cols) \(why())")
        }
    }

    @inlinable
    static func expect<T>(
        _ v: Vector<T>, _ count: Int, _ name: StaticString, _ op: StaticString, _ why: @autoclosure () -> String
    ) throws(KernelError) {
        guard v.count == count else {
            throw KernelError("\(op): \(name) has \(v.count) elements, expected \(count) \(why())")
        }
    }

    /// Throws if `out` overlaps any of the inputs (fixed arity: no array on the hot path).
    @inlinable
    static func disjoint(_ out: MemorySpan, _ op: StaticString, _ a: MemorySpan?, _ b: MemorySpan?, _ c: MemorySpan?,
                         _ d: MemorySpan? = nil, _ e: MemorySpan? = nil, _ f: MemorySpan? = nil) throws(KernelError) {
        func check(_ s: MemorySpan?) throws(KernelError) {
            if let s, out.overlaps(s) { throw KernelError("\(op): output \(out.name) overlaps input \(s.name) in memory") }
        }
        try check(a); try check(b); try check(c); try check(d); try check(e); try check(f)
    }
}

/// The memory an operand touches, for overlap checks: an address range and,
/// for a matrix, its rectangle on the grid of rows of length `ld` laid over
/// all of memory (element index a = R·ld + C, 0 ≤ C < ld). Two matrices with
/// the same `ld` whose rectangles do not wrap overlap exactly when their row
/// and column ranges both intersect, so disjoint column blocks of one matrix
/// are accepted.
@usableFromInline
struct MemorySpan {
    /// A literal (a trivial type: building and copying spans on the hot path retains nothing).
    @usableFromInline let name: StaticString
    @usableFromInline let start: UInt
    @usableFromInline let end: UInt
    /// For a matrix: its leading dimension, shape and element size (the grid rectangle,
    /// formed only when two address ranges intersect); `ld == 0` for a vector or mask.
    @usableFromInline let ld: Int, rows: Int, cols: Int, stride: Int

    @inlinable
    init(name: StaticString, start: UInt, end: UInt, ld: Int = 0, rows: Int = 0, cols: Int = 0, stride: Int = 1) {
        self.name = name
        self.start = start
        self.end = end
        self.ld = ld
        self.rows = rows
        self.cols = cols
        self.stride = stride
    }

    /// The rectangle on the grid of rows of length `ld`, if the matrix does not wrap.
    @inlinable
    var grid: (ld: Int, rows: Range<Int>, cols: Range<Int>)? {
        guard ld > 0 else { return nil }
        let a = Int(start) / stride, r0 = a / ld, c0 = a % ld
        return c0 + cols <= ld ? (ld, r0..<(r0 + rows), c0..<(c0 + cols)) : nil
    }

    @inlinable
    func overlaps(_ o: MemorySpan) -> Bool {
        guard start < end && o.start < o.end && start < o.end && o.start < end else { return false }
        // Only views of one allocation get here; the divisions of the grid are paid then alone.
        if ld > 0 && ld == o.ld && stride == o.stride, let g = grid, let h = o.grid {
            return g.rows.overlaps(h.rows) && g.cols.overlaps(h.cols)
        }
        return true
    }
}

extension Matrix {
    @inlinable
    func span(_ name: StaticString) -> MemorySpan {
        let stride = MemoryLayout<Scalar>.stride
        let s = UInt(bitPattern: baseAddress)
        let n = rows == 0 || cols == 0 ? 0 : (rows - 1) * ld + cols
        return MemorySpan(name: name, start: s, end: s + UInt(n * stride), ld: ld, rows: rows, cols: cols, stride: stride)
    }
}

extension Vector {
    @inlinable
    func span(_ name: StaticString) -> MemorySpan {
        let s = UInt(bitPattern: baseAddress)
        return MemorySpan(name: name, start: s, end: s + UInt(count * MemoryLayout<Scalar>.stride))
    }
}
