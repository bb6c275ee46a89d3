import Foundation
import MILNCE
import Synchronization
import Testing
import TestSupport

/// Reads an event folder with TensorBoard's own `EventAccumulator` and prints every scalar.
private let eventAccumulatorScript = """
import json, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

accumulator = EventAccumulator(sys.argv[1], size_guidance={'scalars': 0})
accumulator.Reload()
scalars = {}
for tag in accumulator.Tags()['scalars']:
    scalars[tag] = [[event.step, repr(event.value), repr(event.wall_time)] for event in accumulator.Scalars(tag)]
print(json.dumps(scalars))
"""

@Suite("TensorBoard event files")
struct TensorBoardTests {
    @Test("CRC-32C matches its check value")
    func checksums() {
        let check = Array("123456789".utf8)
        #expect(CRC32C.checksum(check) == 0xE306_9283)
        // Continuing a checksum equals checksumming the whole.
        #expect(CRC32C.checksum(check[4...], continuing: CRC32C.checksum(check[..<4])) == 0xE306_9283)
    }

    @Test("the file name and header are what TensorBoard expects")
    func fileNameAndHeader() throws {
        let directory = try TestEnvironment.temporaryDirectory("tensorboard")
        defer { try? FileManager.default.removeItem(at: directory) }
        let before = Int(Date().timeIntervalSince1970)
        let writer = try TensorBoardWriter(directory: directory.appendingPathComponent("run"))
        let name = writer.fileURL.lastPathComponent
        let parts = name.split(separator: ".", maxSplits: 4).map(String.init)
        #expect(parts.count == 5)
        #expect(parts.prefix(3) == ["events", "out", "tfevents"])
        let seconds = try #require(Int(parts[3]))
        #expect(seconds >= before && seconds <= before + 5)
        #expect(!parts[4].isEmpty && !parts[4].contains("/"))

        // The header is on disk as soon as the writer exists.
        let events = try TensorBoardEventReader.events(at: writer.fileURL)
        #expect(events.count == 1)
        #expect(events.first?.fileVersion == "brain.Event:2")

        // A second writer in the same folder never overwrites the first.
        let second = try TensorBoardWriter(directory: directory.appendingPathComponent("run"))
        #expect(second.fileURL != writer.fileURL)
    }

    @Test("TensorBoard's EventAccumulator reads back tags, steps and values")
    func readByTensorBoard() throws {
        let directory = try TestEnvironment.temporaryDirectory("tensorboard")
        defer { try? FileManager.default.removeItem(at: directory) }
        var written: [String: [(step: Int, value: Float)]] = [:]
        let start = Date(timeIntervalSince1970: 1_700_000_000.25)
        do {
            let writer = try TensorBoardWriter(directory: directory)
            for step in 0..<300 {
                let loss = 5 * Foundation.exp(-Double(step) / 80) + 0.01 * Double(step % 7)
                try writer.add(scalar: loss, tag: "train/loss", step: step * 10,
                               wallTime: start.addingTimeInterval(Double(step)))
                written["train/loss", default: []].append((step * 10, Float(loss)))
                if step % 50 == 0 {
                    let recall = [TensorBoardScalar(tag: "YouCook2/R@1", value: Float(step) / 1000),
                                  TensorBoardScalar(tag: "YouCook2/R@10 (test)", value: 0.5 + Float(step) / 3000)]
                    try writer.add(scalars: recall, step: step * 10, wallTime: start.addingTimeInterval(Double(step)))
                    for scalar in recall { written[scalar.tag, default: []].append((step * 10, scalar.value)) }
                }
            }
            try writer.add(scalar: -1.5e-7, tag: "tiny", step: 1 << 40, wallTime: start)
            written["tiny"] = [(1 << 40, Float(-1.5e-7))]
            // Released without an explicit close: the writer flushes and closes itself.
        }
        let output = try #require(try EvaluationOracle.json(eventAccumulatorScript, arguments: [directory.path])
            as? [String: [[Any]]])
        #expect(Set(output.keys) == Set(written.keys))
        for (tag, points) in written {
            let read = output[tag] ?? []
            #expect(read.count == points.count, "tag \(tag)")
            for (expected, actual) in zip(points, read) {
                #expect(actual[0] as? Int == expected.step, "tag \(tag)")
                let value = (actual[1] as? String).flatMap(Double.init)
                #expect(value == Double(expected.value), "tag \(tag) step \(expected.step)")
            }
        }
        // The host name in the file name is Python's, as TensorBoard's own writers use it.
        let host = try EvaluationOracle.run("import socket; print(socket.gethostname())")
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        #expect(files.count == 1)
        #expect(files.first?.hasSuffix("." + host.trimmingCharacters(in: .whitespacesAndNewlines)) == true)
        let firstWallTime = (output["train/loss"]?.first?[2] as? String).flatMap(Double.init)
        #expect(firstWallTime == 1_700_000_000.25)

        // Our own reader agrees.
        let scalars = try TensorBoardEventReader.scalars(inDirectory: directory)
        #expect(scalars["train/loss"]?.map(\.value) == written["train/loss"]?.map(\.value))
        #expect(scalars["tiny"]?.first?.step == 1 << 40)
    }

    @Test("concurrent writers lose no scalar")
    func concurrentWrites() throws {
        let directory = try TestEnvironment.temporaryDirectory("tensorboard")
        defer { try? FileManager.default.removeItem(at: directory) }
        let writer = try TensorBoardWriter(directory: directory, flushIntervalSeconds: 0)
        let failures = ManagedCounter()
        DispatchQueue.concurrentPerform(iterations: 8) { thread in
            for step in 0..<250 {
                do {
                    try writer.add(scalar: Double(thread * 1000 + step), tag: "thread\(thread)", step: step)
                } catch {
                    failures.increment()
                }
            }
        }
        try writer.close()
        #expect(failures.value == 0)
        let scalars = try TensorBoardEventReader.scalars(inDirectory: directory)
        #expect(scalars.count == 8)
        for thread in 0..<8 {
            let points = scalars["thread\(thread)"] ?? []
            #expect(points.map(\.step) == (0..<250).map(Int64.init))
            #expect(points.map(\.value) == (0..<250).map { Float(thread * 1000 + $0) })
        }
        #expect(throws: TensorBoardError.closed(path: writer.fileURL.path)) {
            try writer.add(scalar: 1, tag: "late", step: 0)
        }
    }

    @Test("corrupted and truncated files are rejected")
    func corruption() throws {
        let directory = try TestEnvironment.temporaryDirectory("tensorboard")
        defer { try? FileManager.default.removeItem(at: directory) }
        let writer = try TensorBoardWriter(directory: directory)
        try writer.add(scalar: 1, tag: "a", step: 1)
        try writer.add(scalar: 2, tag: "a", step: 2)
        try writer.close()
        let bytes = [UInt8](try Data(contentsOf: writer.fileURL))
        let path = writer.fileURL.path
        let events = try TensorBoardEventReader.events(in: bytes, path: path)
        #expect(events.count == 3)
        #expect(events.map(\.step) == [0, 1, 2])

        let headerLength = events.isEmpty ? 0 : Int(bytes[0]) + 16
        // A flipped bit in the second record's data.
        var corruptData = bytes
        corruptData[headerLength + 14] ^= 0x10
        #expect(throws: TensorBoardReadError.corruptData(path: path, offset: headerLength)) {
            try TensorBoardEventReader.events(in: corruptData, path: path)
        }
        // A flipped bit in its length.
        var corruptLength = bytes
        corruptLength[headerLength] ^= 0x01
        #expect(throws: TensorBoardReadError.corruptLength(path: path, offset: headerLength)) {
            try TensorBoardEventReader.events(in: corruptLength, path: path)
        }
        // A flipped bit in its stored data checksum.
        var corruptChecksum = bytes
        let secondEnd = headerLength + Int(bytes[headerLength]) + 16
        corruptChecksum[secondEnd - 1] ^= 0x80
        #expect(throws: TensorBoardReadError.corruptData(path: path, offset: headerLength)) {
            try TensorBoardEventReader.events(in: corruptChecksum, path: path)
        }
        // Cut short.
        #expect(throws: TensorBoardReadError.truncatedRecord(path: path, offset: headerLength)) {
            try TensorBoardEventReader.events(in: Array(bytes[..<(secondEnd - 2)]), path: path)
        }
        #expect(throws: TensorBoardReadError.truncatedRecord(path: path, offset: headerLength)) {
            try TensorBoardEventReader.events(in: Array(bytes[..<(headerLength + 5)]), path: path)
        }
        // A record whose checksums hold but whose data is not a protocol buffer message.
        var garbage = Array(bytes[..<headerLength])
        let junk: [UInt8] = [0x0F, 0xFF]
        withUnsafeBytes(of: UInt64(junk.count).littleEndian) { garbage.append(contentsOf: $0) }
        withUnsafeBytes(of: CRC32C.masked(CRC32C.checksum(garbage[headerLength...])).littleEndian) { garbage.append(contentsOf: $0) }
        garbage += junk
        withUnsafeBytes(of: CRC32C.masked(CRC32C.checksum(junk)).littleEndian) { garbage.append(contentsOf: $0) }
        #expect(throws: TensorBoardReadError.self) {
            try TensorBoardEventReader.events(in: garbage, path: path)
        }
        #expect(throws: TensorBoardReadError.self) {
            try TensorBoardEventReader.events(at: directory.appendingPathComponent("missing"))
        }
    }

    @Test("TensorBoard's own reader rejects what ours rejects")
    func tensorBoardAgreesOnCorruption() throws {
        let directory = try TestEnvironment.temporaryDirectory("tensorboard")
        defer { try? FileManager.default.removeItem(at: directory) }
        let writer = try TensorBoardWriter(directory: directory)
        try writer.add(scalar: 1, tag: "a", step: 1)
        try writer.close()
        var bytes = [UInt8](try Data(contentsOf: writer.fileURL))
        bytes[bytes.count - 6] ^= 0x04
        try Data(bytes).write(to: writer.fileURL)
        let script = """
        import sys
        from tensorboard.compat.proto import event_pb2
        from tensorboard.backend.event_processing import event_file_loader
        try:
            events = list(event_file_loader.RawEventFileLoader(sys.argv[1], detect_file_replacement=False).Load())
            print(len(events))
        except Exception as error:
            print(type(error).__name__)
        """
        let output = try EvaluationOracle.run(script, arguments: [writer.fileURL.path])
        // TensorBoard stops before the corrupt record, keeping only the header (or raises).
        #expect(["1", "DataLossError"].contains(output.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(throws: TensorBoardReadError.self) { try TensorBoardEventReader.events(at: writer.fileURL) }
    }
}

/// A counter safe to increment from several threads.
private final class ManagedCounter: Sendable {
    private let count = Mutex(0)
    func increment() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}
