// swift-tools-version: 6.1
// LayerParallel: layer-parallel training of deep residual networks with MGRIT.
// Module graph (arrows = may import), as in DESIGN.md; tools/check-imports
// fails the build's tests on an import this file does not declare:
//   layerpar ─► Performance ─► Studies ─► Training ─► ResNet ─► Kernels ─► CKernels, COpenBLAS
//      │            │                       │          │
//      │            └─► CXSMM               ▼          ▼
//      │                                  MGRIT ◄──────┘     MGRIT imports only Comm's protocol
//      └─► Topology (CHwloc, CNuma)         │
//                                           ▼
//                                         Comm ─► CMPI      (Reports: files and plots, used by all)
//   Training ─► TensorIO (safetensors/npz files, no dependencies)
//   layerpar imports no C module.
import PackageDescription

// Kernels are compiled optimised in every configuration: debug test runs would
// otherwise spend their time in -O0 inner loops.
let kernelCFlags: [CSetting] = [
    .unsafeFlags(["-O3", "-std=c11", "-Wall", "-Wextra", "-Wno-unused-parameter"]),
]

// The numerical modules are generic across module boundaries (MGRITSolver<Problem> in
// MGRIT, its problems in ResNet, Matrix<Scalar> in Kernels): without cross-module
// optimisation their callers run unspecialised code through witness tables.
let numericSwiftFlags: [SwiftSetting] = [.unsafeFlags(["-cross-module-optimization"])]

let package = Package(
    name: "LayerParallel",
    products: [
        .executable(name: "layerpar", targets: ["layerpar"]),
        .library(name: "Kernels", targets: ["Kernels"]),
        .library(name: "MGRIT", targets: ["MGRIT"]),
        .library(name: "Comm", targets: ["Comm"]),
        .library(name: "ResNet", targets: ["ResNet"]),
        .library(name: "Training", targets: ["Training"]),
        .library(name: "Topology", targets: ["Topology"]),
        .library(name: "Reports", targets: ["Reports"]),
        .library(name: "Studies", targets: ["Studies"]),
        .library(name: "Performance", targets: ["Performance"]),
        .library(name: "TensorIO", targets: ["TensorIO"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        // MARK: C: kernels and system libraries (one module map + shim each)
        .target(name: "CKernels", path: "CKernels", cSettings: kernelCFlags),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CXSMM", pkgConfig: "libxsmm",
                       providers: [.apt(["libxsmm-dev"])]),
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c",
                       providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
        .systemLibrary(name: "CHwloc", pkgConfig: "hwloc",
                       providers: [.apt(["libhwloc-dev", "hwloc"])]),
        .systemLibrary(name: "CNuma", pkgConfig: "numa",
                       providers: [.apt(["libnuma-dev", "numactl"])]),

        // MARK: Swift library modules
        .target(name: "Kernels", dependencies: ["CKernels", "COpenBLAS"], swiftSettings: numericSwiftFlags),
        .target(name: "Comm", dependencies: ["CMPI"], swiftSettings: numericSwiftFlags),
        .target(name: "MGRIT", dependencies: ["Comm"], swiftSettings: numericSwiftFlags),
        .target(name: "ResNet", dependencies: ["Kernels", "MGRIT", "Comm"], swiftSettings: numericSwiftFlags),
        .target(name: "Training", dependencies: ["ResNet", "Kernels", "MGRIT", "Comm", "Reports", "TensorIO"], swiftSettings: numericSwiftFlags),
        .target(name: "Topology", dependencies: ["CHwloc", "CNuma"]),
        .target(name: "Reports"),
        // safetensors and NumPy .npz (float64 tensors + string metadata), no dependencies:
        // what `layerpar export` writes and `predict` reads back.
        .target(name: "TensorIO"),
        // The studies and the performance tooling the commands run (library code, testable):
        // convergence, scaling measurement, rank-count snapshots; the cost model, the
        // ping-pong fit, the kernel benchmark against OpenBLAS and LIBXSMM.
        .target(name: "Studies", dependencies: ["Comm", "Kernels", "MGRIT", "ResNet", "Training", "Reports"]),
        .target(name: "Performance", dependencies: ["Studies", "Training", "Comm", "Kernels", "MGRIT", "ResNet", "Reports", "Topology", "CXSMM"]),

        // MARK: the command-line tool
        .executableTarget(name: "layerpar", dependencies: [
            "Kernels", "MGRIT", "Comm", "ResNet", "Training", "Topology", "Reports", "Studies", "Performance",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        // MARK: tests
        .testTarget(name: "SmokeTests", dependencies: ["COpenBLAS", "CMPI", "CHwloc", "CNuma"]),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels", "CKernels"]),
        .target(name: "_TestSupport", dependencies: ["Comm", "Reports", "Training"], path: "Tests/_TestSupport"),
        .testTarget(name: "MGRITTests", dependencies: ["MGRIT", "Comm", "_TestSupport"]),
        .testTarget(name: "ResNetTests", dependencies: ["_TestSupport", "ResNet", "MGRIT", "Kernels", "Comm"]),
        .testTarget(name: "CommTests", dependencies: ["Comm", "_TestSupport"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "ResNet", "MGRIT", "Comm", "Reports", "TensorIO", "_TestSupport"]),
        .testTarget(name: "TopologyTests", dependencies: ["Topology", "_TestSupport"]),
        // Runs the built layerpar (plainly and under mpirun -np K) and decodes its
        // result files with the libraries' own types.
        .testTarget(name: "EndToEndTests", dependencies: ["layerpar", "Studies", "Performance", "Training", "ResNet", "Topology", "Comm", "Reports", "_TestSupport"]),
    ]
)
