import CKernels

/// The kernel implementation families of CKernels, chosen at run time.
///
/// The CPU is probed once; `LAYERPAR_KERNELS=reference|avx2` forces a family
/// at first use, and ``select(_:)`` changes it later (tests and benchmarks).
public enum KernelFamily: String, CaseIterable, Sendable {
    /// Plain C loops: the oracle for every optimized kernel.
    case reference
    /// AVX2+FMA register-blocked kernels.
    case avx2

    var cValue: lp_impl {
        switch self {
        case .reference: return LP_IMPL_REFERENCE
        case .avx2: return LP_IMPL_AVX2
        }
    }

    /// Whether this CPU can run the family.
    public var isSupported: Bool {
        switch self {
        case .reference: return true
        case .avx2: return lp_cpu_supports_avx2_fma() != 0
        }
    }

    /// The family the dispatching kernels call now.
    public static var active: KernelFamily {
        lp_kernels_active() == LP_IMPL_AVX2 ? .avx2 : .reference
    }

    /// Message if `LAYERPAR_KERNELS` held a value that could not be used.
    public static var environmentError: String? {
        lp_kernels_env_error().map { String(cString: $0) }
    }

    /// Makes the dispatching kernels call `family`.
    public static func select(_ family: KernelFamily) throws(KernelError) {
        guard lp_kernels_select(family.cValue) == 0 else {
            throw KernelError("kernel family '\(family.rawValue)' is not available on this CPU")
        }
    }
}

/// A kernel call that cannot be made: wrong shapes, unsupported CPU, bad sizes.
public struct KernelError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
