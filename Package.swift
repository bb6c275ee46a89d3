// swift-tools-version:6.0
//
// The MIL-NCE system: S3D-G and a word2vec text network trained end to end on
// instructional videos, on libtorch (through the C++ shim `CTorch`) and FFmpeg.
//
// It builds on Linux only (glibc; FFmpeg, LIBLINEAR and zlib from the distribution's `-dev`
// packages), which is why it names no Apple platform.
//
// libtorch is found from the `LIBTORCH` environment variable (a folder with
// `include/` and `lib/`: an unpacked libtorch archive or any PyTorch install's
// `torch/` folder), or else from the project's virtual environment `.venv`
// that `make setup` creates.
import Foundation
import PackageDescription

let packageDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().path

/// The libtorch folder: `$LIBTORCH`, else `.venv/lib/python3.*/site-packages/torch`.
func findLibtorch() -> String {
    if let explicit = ProcessInfo.processInfo.environment["LIBTORCH"], !explicit.isEmpty {
        return explicit
    }
    let lib = packageDirectory + "/.venv/lib"
    let pythons = (try? FileManager.default.contentsOfDirectory(atPath: lib)) ?? []
    for python in pythons.sorted() where python.hasPrefix("python3") {
        let torch = "\(lib)/\(python)/site-packages/torch"
        if FileManager.default.fileExists(atPath: torch + "/include") { return torch }
    }
    // Not installed yet: `make setup` creates it. The build then fails with a
    // missing-header error that names this path.
    return packageDirectory + "/.venv/lib/python3/site-packages/torch"
}

let libtorch = findLibtorch()
let libtorchLib = libtorch + "/lib"
let exists = { (path: String) in FileManager.default.fileExists(atPath: path) }
/// CUDA builds of libtorch (the PyPI wheel) carry `libtorch_cuda.so`; CPU-only archives do not.
let libtorchHasCUDA = exists(libtorchLib + "/libtorch_cuda.so")
/// CUDA and NCCL headers, needed to compile the NCCL process group and CUDA memory statistics:
/// from the PyPI packages beside torch (`make setup` adds nvidia-cuda-crt and nvidia-cuda-cccl),
/// or from `CUDA_INCLUDE` / `NCCL_INCLUDE`. Without them the shim builds with Gloo only.
let sitePackages = URL(fileURLWithPath: libtorch).deletingLastPathComponent().path
let cudaInclude = ProcessInfo.processInfo.environment["CUDA_INCLUDE"] ?? sitePackages + "/nvidia/cu13/include"
let ncclInclude = ProcessInfo.processInfo.environment["NCCL_INCLUDE"] ?? sitePackages + "/nvidia/nccl/include"
let withNCCL = libtorchHasCUDA && exists(cudaInclude + "/cuda_runtime_api.h")
    && exists(cudaInclude + "/crt/host_config.h") && exists(cudaInclude + "/nv/target")
    && exists(ncclInclude + "/nccl.h")

var shimFlags = [
    "-I", libtorch + "/include",
    "-I", libtorch + "/include/torch/csrc/api/include",
    "-D_GLIBCXX_USE_CXX11_ABI=1",
    "-DUSE_C10D_GLOO",
    "-Wno-deprecated-declarations", "-Wno-unused-parameter",
]
if withNCCL {
    shimFlags += ["-DCTORCH_WITH_CUDA", "-DUSE_C10D_NCCL", "-I", cudaInclude, "-I", ncclInclude]
}

// libtorch.so and libtorch_cuda.so are referenced by no symbol: without
// --no-as-needed the linker drops them and CUDA is silently unavailable.
var torchLibraries = ["-ltorch", "-ltorch_cpu", "-lc10"]
if libtorchHasCUDA { torchLibraries += ["-ltorch_cuda", "-lc10_cuda"] }
let linkFlags = ["-L", libtorchLib, "-Xlinker", "-rpath", "-Xlinker", libtorchLib,
                 "-Xlinker", "--no-as-needed"] + torchLibraries

let package = Package(
    name: "MILNCE",
    products: [
        .executable(name: "milnce", targets: ["milnce"]),
        .library(name: "MILNCE", targets: ["MILNCE"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // MARK: libtorch
        .target(
            name: "CTorch",
            cxxSettings: [.unsafeFlags(shimFlags)],
            linkerSettings: [.unsafeFlags(linkFlags)]
        ),
        // MARK: The C library (locks, file output, child processes) without Foundation's ICU
        .target(name: "POSIX"),

        .target(name: "TorchFiles", dependencies: ["POSIX"]),
        .target(name: "Torch", dependencies: ["CTorch", "TorchFiles"]),

        // MARK: FFmpeg and LIBLINEAR
        .systemLibrary(name: "CFFmpeg", pkgConfig: "libavformat",
                       providers: [.apt(["libavformat-dev", "libavcodec-dev", "libswscale-dev", "libavutil-dev"])]),
        .target(name: "Video", dependencies: ["CFFmpeg", "POSIX"]),
        .systemLibrary(name: "CLinear", providers: [.apt(["liblinear-dev"])]),
        .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),

        // MARK: The system
        .target(name: "MILNCE", dependencies: [
            "Torch", "TorchFiles", "Video", "POSIX", "CLinear", "CZlib",
        ]),
        // MARK: Benchmarks and the data they generate, apart from the library
        .target(name: "MILNCEBenchmarks", dependencies: ["MILNCE", "Torch", "Video", "POSIX"]),
        .executableTarget(name: "milnce", dependencies: [
            "MILNCE", "MILNCEBenchmarks", "POSIX",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // MARK: Tests, one target per source target
        .target(name: "TestSupport", dependencies: ["Video"], path: "Tests/TestSupport"),
        // Runs the tests' memory and lifetime workloads in a process of its own (see TestSupport's MemoryProbe).
        .executableTarget(name: "MemoryProbe", dependencies: ["Torch", "TorchFiles", "Video"], path: "Tests/MemoryProbe"),
        .testTarget(name: "POSIXTests", dependencies: ["POSIX"]),
        .testTarget(name: "TorchFilesTests", dependencies: ["TorchFiles", "TestSupport"]),
        .testTarget(name: "TorchTests", dependencies: ["Torch", "TorchFiles", "TestSupport"]),
        .testTarget(name: "VideoTests", dependencies: ["Video", "TestSupport"]),
        .testTarget(name: "MILNCETests", dependencies: ["MILNCE", "TestSupport"]),
        .testTarget(name: "MILNCEBenchmarksTests", dependencies: ["MILNCEBenchmarks", "MILNCE", "TestSupport"]),
        .testTarget(name: "milnceTests", dependencies: ["milnce", "MILNCEBenchmarks", "TestSupport"]),
    ],
    swiftLanguageModes: [.v6],
    cxxLanguageStandard: .cxx17
)
