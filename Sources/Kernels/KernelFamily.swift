import CKernels

/// The kernel implementation families of CKernels, chosen at run time.
///
/// The CPU is probed once; the default is the widest family it supports
/// (AVX-512, else AVX2, else reference: a fixed rule, so every rank agrees).
/// `LAYERPAR_KERNELS=reference|avx2|avx512` forces a family at first use, and
/// ``select(_:)`` changes it later (tests and benchmarks).
public enum KernelFamily: String, CaseIterable, Sendable {
    /// Plain C loops: the oracle for every optimized kernel.
    case reference
    /// AVX2+FMA register-blocked kernels.
    case avx2
    /// AVX-512 (F/DQ/BW/VL) register-blocked kernels: the same template with
    /// zmm vectors, k-register masks and an 8-row tile.
    case avx512

    var cValue: lp_impl {
        switch self {
        case .reference: return LP_IMPL_REFERENCE
        case .avx2: return LP_IMPL_AVX2
        case .avx512: return LP_IMPL_AVX512
        }
    }

    /// Whether this CPU can run the family.
    public var isSupported: Bool {
        switch self {
        case .reference: return true
        case .avx2: return lp_cpu_supports_avx2_fma() != 0
        case .avx512: return lp_cpu_supports_avx512() != 0
        }
    }

    /// The family the dispatching kernels call now.
    public static var active: KernelFamily {
        KernelFamily(lp_kernels_active())
    }

    init(_ impl: lp_impl) {
        switch impl {
        case LP_IMPL_AVX512: self = .avx512
        case LP_IMPL_AVX2: self = .avx2
        default: self = .reference
        }
    }

    /// Message if `LAYERPAR_KERNELS` held a value that could not be used.
    public static var environmentError: String? {
        lp_kernels_env_error().map { String(cString: $0) }
    }

    /// The family `LAYERPAR_KERNELS=value` selects on this CPU (`nil` or empty:
    /// the best supported), and the message for an unknown or unsupported
    /// value. This is the rule applied at first use.
    public static func forEnvironment(_ value: String?) -> (family: KernelFamily, error: String?) {
        var err: UnsafePointer<CChar>? = nil
        let impl: lp_impl
        if let value {
            impl = value.withCString { lp_kernels_family_for_env($0, &err) }
        } else {
            impl = lp_kernels_family_for_env(nil, &err)
        }
        return (KernelFamily(impl), err.map { String(cString: $0) })
    }

    /// The best family this CPU supports (what is used unless overridden).
    public static var best: KernelFamily { forEnvironment(nil).family }

    /// The optimized (SIMD) families this CPU supports, narrowest first.
    public static var supportedOptimized: [KernelFamily] { [.avx2, .avx512].filter(\.isSupported) }

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
