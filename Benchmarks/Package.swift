// swift-tools-version: 6.1
// LayerParallel benchmark suites (ordo-one/benchmark), kept in their own
// package so the root package's `swift build` / `swift test` never build them.
// Run: cd Benchmarks && swift package benchmark
import PackageDescription

let package = Package(
    name: "LayerParallelBenchmarks",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(name: "LayerParallel", path: ".."),
        // Only the malloc interposer trait: the default "RuntimeInterposer" trait
        // pulls in swift-runtime-interposer, which this machine cannot fetch.
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.0", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "KernelBench",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Kernels", package: "LayerParallel"),
            ],
            path: "Benchmarks/KernelBench",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
