// A process of its own for the tests' memory and lifetime checks: it runs one named workload and
// prints the figures the test judges, so that no other test's allocations are counted and a
// crash fails the test with this process's output instead of ending the test run.
//
//     MemoryProbe tensor-operations          handles and resident memory over 100,000 operations
//     MemoryProbe failed-operations          handles left by 3,000 failed operations
//     MemoryProbe autograd-graphs            handles left by 500 backward passes
//     MemoryProbe damaged-files CORPUS       loads every file of a corpus (see `damagedFiles`)
//     MemoryProbe video-clips VIDEO          resident memory over 500 clips decoded from VIDEO
//     MemoryProbe crash                      prints a line, then traps (to test the tests' handling)
//
// Figures are lines `name = integer`; every other line is a description. A workload that cannot
// run or measure exits with status 1 and says why; the test decides what the figures mean.
import Foundation
import Torch
import TorchFiles
import Video

/// Writes one line to standard output at once (no buffer to lose in a crash).
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

/// Prints a figure for the test to read.
func report(_ name: String, _ value: Int) {
    say("\(name) = \(value)")
}

/// Stops the workload: it could not run or measure.
func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data(("MemoryProbe: " + message + "\n").utf8))
    exit(1)
}

/// This process's resident memory in bytes (`/proc/self/statm`).
func residentBytes() -> Int {
    guard let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else {
        fail("/proc/self/statm cannot be read, so resident memory cannot be measured")
    }
    let fields = statm.split(separator: " ")
    guard fields.count > 1, let pages = Int(fields[1]) else { fail("/proc/self/statm is not understood: \(statm)") }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}

/// This process's peak resident memory in kilobytes (`VmHWM` of `/proc/self/status`).
func peakResidentKilobytes() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else {
        fail("/proc/self/status cannot be read, so peak memory cannot be measured")
    }
    guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
          let kilobytes = Int(line.split(separator: " ").dropFirst().first ?? "") else {
        fail("/proc/self/status has no VmHWM line")
    }
    return kilobytes
}

// MARK: - Workloads

/// 25,000 rounds of four operations on 64×64 tensors after 2,000 rounds of warm-up: the tensor
/// handles alive and the resident memory before and after.
func tensorOperations() throws {
    let a = try Tensor.ones([64, 64])
    let b = try Tensor.full([64, 64], value: 0.5)
    func work(_ iterations: Int) throws {
        for _ in 0..<iterations {
            let c = try (a * b + a).relu()
            _ = try c.sum()
        }
    }
    try work(2_000) // allocator caches reach their working size
    let handlesBefore = Tensor.liveCount
    let memoryBefore = residentBytes()
    try work(25_000) // 4 operations each: 100,000 operations
    let memoryAfter = residentBytes()
    report("leaked-handles", Tensor.liveCount - handlesBefore)
    report("resident-bytes-before", memoryBefore)
    report("resident-growth-bytes", memoryAfter - memoryBefore)
}

/// 1,000 rounds of three operations that fail: the tensor handles they leave.
func failedOperations() throws {
    let a = try Tensor.zeros([2, 3])
    let before = Tensor.liveCount
    var failures = 0
    for _ in 0..<1000 {
        if (try? a.matmul(a)) == nil { failures += 1 }
        if (try? a.reshaped([7])) == nil { failures += 1 }
        if (try? Tensor.cat([a, try Tensor.zeros([3])])) == nil { failures += 1 }
    }
    report("failed-operations", failures)
    report("leaked-handles", Tensor.liveCount - before)
}

/// 500 forward and backward passes through a 32×32 weight: the tensor handles they leave.
func autogradGraphs() throws {
    let weight = try Tensor.randn([32, 32], generator: Generator(seed: 1)).setRequiresGrad()
    let before = Tensor.liveCount
    for _ in 0..<500 {
        let loss = try weight.matmul(weight).relu().sum()
        try loss.backward()
        try weight.setGrad(nil)
    }
    report("leaked-handles", Tensor.liveCount - before)
}

/// Loads every file of a corpus with its format's loader. Each file that loads counts for its
/// target; each error other than `TorchFileError` is printed as `wrong TARGET LABEL: ERROR`.
///
/// The corpus is a sequence of records, little-endian: target number (UInt32), format (UInt8:
/// 0 checkpoint, 1 safetensors, 2 NumPy), label length (UInt32), label (UTF-8), file length
/// (UInt32), file.
func damagedFiles(corpus path: String) throws {
    let corpus = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    var position = 0
    func take(_ count: Int) -> ArraySlice<UInt8> {
        guard count >= 0, position + count <= corpus.count else { fail("the corpus ends inside a record at byte \(position)") }
        defer { position += count }
        return corpus[position..<position + count]
    }
    func number() -> Int {
        take(4).reversed().reduce(0) { $0 << 8 | Int($1) }
    }
    var loaded: [Int: Int] = [:]
    var records = 0
    var wrong = 0
    while position < corpus.count {
        let target = number()
        let format = take(1).first!
        let label = String(decoding: take(number()), as: UTF8.self)
        let file = Data(take(number()))
        records += 1
        loaded[target, default: 0] += 0
        do {
            switch format {
            case 0: _ = try TorchFile.load(data: file)
            case 1: _ = try Safetensors.load(data: file)
            case 2: _ = try NumPyFile.load(data: file)
            default: fail("record \(records) has unknown format \(format)")
            }
            loaded[target, default: 0] += 1
        } catch is TorchFileError {
        } catch {
            wrong += 1
            say("wrong \(target) \(label): \(type(of: error)) \(error)")
        }
    }
    report("records", records)
    report("wrong-errors", wrong)
    for (target, count) in loaded.sorted(by: { $0.key < $1.key }) { report("loaded-\(target)", count) }
}

/// Decodes 60 clips of `video` to warm up, then 500 more, half on a fresh reader each (open,
/// decode, free) and half on one reused reader, opening a missing file every 50: the resident
/// memory before and after the 500, and the frames decoded.
func videoClips(video path: String) throws {
    let url = URL(fileURLWithPath: path)
    let missing = url.deletingLastPathComponent().appendingPathComponent("nothing-\(getpid()).mp4")
    var decoded = 0
    func decodeClips(_ count: Int) throws {
        let shared = try VideoReader(url: url)
        for index in 0..<count {
            let request = ClipRequest(startSeconds: Double(index % 5) * 0.5, frameCount: 6, framesPerSecond: 10,
                                      size: 48, cropping: index % 2 == 0 ? .scaledSquare : .window,
                                      cropOffset: CropOffset(horizontal: Double(index % 7) / 6, vertical: 0.3),
                                      flipped: index % 3 == 0)
            let clip = index % 2 == 0 ? try VideoReader(url: url).clip(request) : try shared.clip(request)
            decoded += clip.decodedFrameCount
            if index % 50 == 0 { _ = try? VideoReader(url: missing) } // failures free what they opened
        }
    }
    try decodeClips(60) // allocator pools and caches reach their working size
    let before = residentBytes()
    try decodeClips(500)
    report("resident-before", before)
    report("resident-after", residentBytes())
    report("decoded-frames", decoded)
}

// MARK: - Main

let arguments = CommandLine.arguments.dropFirst()
do {
    switch arguments.first {
    case "tensor-operations": try tensorOperations()
    case "failed-operations": try failedOperations()
    case "autograd-graphs": try autogradGraphs()
    case "crash":
        say("about to crash")
        fatalError("a crash, as asked")
    case "damaged-files":
        guard arguments.count == 2, let corpus = arguments.last else { fail("damaged-files needs the corpus path") }
        try damagedFiles(corpus: corpus)
    case "video-clips":
        guard arguments.count == 2, let video = arguments.last else { fail("video-clips needs the video's path") }
        try videoClips(video: video)
    default:
        fail("unknown workload \(arguments.first ?? "(none)"): tensor-operations, failed-operations, "
             + "autograd-graphs, damaged-files CORPUS, video-clips VIDEO or crash")
    }
} catch {
    fail("the workload failed: \(error)")
}
report("peak-resident-kilobytes", peakResidentKilobytes())
