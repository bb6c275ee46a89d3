// Embeddings of arbitrary videos and sentences (`milnce embed`), their files, and the inputs
// they are made from: the same windows, averaging and tokenization as the retrieval evaluations.

import FoundationEssentials
import POSIX
import Torch
import TorchFiles

// MARK: - Videos

/// The embeddings of the videos that could be decoded.
public struct VideoEmbeddings {
    /// The positions, in the videos given, of the embedded videos (row `i` of `values` belongs to
    /// video `items[i]`), in order.
    public var items: [Int]
    /// The embeddings, `items.count x D` on the device: the mean over a video's windows.
    public var values: Tensor
    /// The videos left out, with why (`item` is the position in the videos given).
    public var failures: [EvaluationFailure]
    /// Windows that held no frame of their video (black padding only).
    public var emptyWindowCount: Int
}

/// Embeds whole videos: `windowCount` windows over `[0, duration]` as MSR-VTT's, each through
/// the video network, averaged.
public struct VideoEmbedder {
    /// The video network.
    public var network: S3DG
    /// Where the network runs.
    public var device: Device
    /// Windows and batching.
    public var options: EvaluationRunOptions
    /// The joint-space embedding (512-d) or the mixed_5c feature (1024-d).
    public var output: VideoOutput

    /// An embedder for `network` (already on `device`).
    public init(network: S3DG, device: Device, options: EvaluationRunOptions, output: VideoOutput = .embedding) {
        self.network = network
        self.device = device
        self.options = options
        self.output = output
    }

    /// The embeddings of the videos at `urls`.
    ///
    /// - Throws: `EvaluationError.invalidSettings` or a `TorchError`; a video that cannot be
    ///   decoded is in `failures`.
    public func embed(_ urls: [URL], progress: ProgressDisplay? = nil) throws -> VideoEmbeddings {
        let items = urls.enumerated().map { index, url in
            RetrievalItem(row: index, videoID: url.path, text: "", candidatePaths: [url], timeRange: .wholeVideo)
        }
        let clips = options.clips
        let run = WindowedVideoRun(network: network, device: device, options: options, output: output,
                                   averagesWindows: true)
        let result = try run.run(count: items.count, progress: progress, decode: { index in
            try EvaluationDecoding.windows(of: items[index], settings: clips)
        }, describe: { index in
            EvaluationFailure(item: index, name: urls[index].path, path: urls[index].path, reason: "")
        })
        return VideoEmbeddings(items: result.items, values: result.outputs, failures: result.failures,
                               emptyWindowCount: result.emptyWindowCount)
    }
}

// MARK: - Inputs

/// The inputs of `milnce embed`: video lists, video folders and sentence files.
public enum EmbeddingInputs {
    /// The file extensions taken as videos when a folder is listed.
    public static let videoExtensions: Set<String> = [
        "mp4", "m4v", "mkv", "webm", "avi", "mov", "mpg", "mpeg", "flv", "wmv", "3gp", "ogv", "ts",
    ]

    /// The videos of `path`: for a folder, every file with a video extension below it (sorted by
    /// path); for a file, one path per line (blank lines and lines starting with `#` skipped),
    /// relative paths taken from `root` (the working folder when nil).
    ///
    /// - Throws: `EvaluationError.badInputList` when the path cannot be read or lists nothing.
    public static func videos(at path: URL, root: URL? = nil) throws -> [URL] {
        var isDirectory = false
        guard FileManager.default.fileExists(atPath: path.path, isDirectory: &isDirectory) else {
            throw EvaluationError.badInputList(path: path.path, reason: "no such file or folder")
        }
        let videos = isDirectory ? try videosInFolder(path) : try videosInList(path, root: root)
        guard !videos.isEmpty else {
            throw EvaluationError.badInputList(
                path: path.path, reason: isDirectory
                    ? "the folder holds no file with a video extension (\(videoExtensions.sorted().joined(separator: ", ")))"
                    : "the list names no video")
        }
        return videos
    }

    private static func videosInFolder(_ folder: URL) throws -> [URL] {
        guard let files = regularFiles(under: folder.path) else {
            throw EvaluationError.badInputList(path: folder.path, reason: "the folder cannot be listed")
        }
        let found = files.map { URL(fileURLWithPath: $0) }.filter { videoExtensions.contains($0.pathExtension.lowercased()) }
        return found.sorted { $0.path.unicodeScalars.lexicographicallyPrecedes($1.path.unicodeScalars) }
    }

    private static func videosInList(_ list: URL, root: URL?) throws -> [URL] {
        let base = root ?? URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        return try lines(of: list).compactMap { line in
            let entry = line.trimmingWhitespace()
            guard !entry.isEmpty, !entry.hasPrefix("#") else { return nil }
            return entry.hasPrefix("/") ? URL(fileURLWithPath: entry) : base.appendingPathComponent(entry)
        }
    }

    /// The sentences of a text file, one per line (a line ending `\r\n` loses its `\r`; a final
    /// line break does not start another sentence; an empty line is an empty sentence).
    ///
    /// - Throws: `EvaluationError.badInputList` when the file cannot be read, is not UTF-8, or is empty.
    public static func sentences(in file: URL) throws -> [String] {
        let sentences = try lines(of: file)
        guard !sentences.isEmpty else { throw EvaluationError.badInputList(path: file.path, reason: "the file is empty") }
        return sentences
    }

    /// The lines of a UTF-8 text file (split at `\n`, a `\r` before it dropped).
    static func lines(of file: URL) throws -> [String] {
        let data: Data
        do {
            data = try Data(contentsOf: file)
        } catch {
            throw EvaluationError.badInputList(path: file.path, reason: describeSystemError(error))
        }
        guard String(data: data, encoding: .utf8) != nil else {
            throw EvaluationError.badInputList(path: file.path, reason: "the file is not UTF-8 text")
        }
        var lines = data.split(separator: 0x0A, omittingEmptySubsequences: false).map { line -> String in
            let bytes = line.last == 0x0D ? line.dropLast() : line
            return String(decoding: bytes, as: UTF8.self)
        }
        if lines.last == "" { lines.removeLast() }
        return lines
    }
}

// MARK: - Files

/// Embedding matrices in `.npy` files, with the list of their rows beside them.
public enum EmbeddingFiles {
    /// The list file written beside a matrix: `V.npy` → `V.txt`.
    public static func listURL(besides matrix: URL) -> URL {
        matrix.deletingPathExtension().appendingPathExtension("txt")
    }

    /// Writes a `rows x columns` float32 matrix (row-major values) as `.npy`.
    ///
    /// - Throws: `EvaluationError.writeFailed`.
    public static func writeMatrix(_ values: [Float], rows: Int, columns: Int, to url: URL) throws {
        try write(values, shape: [rows, columns], to: url)
    }

    /// Writes float32 values of any shape as `.npy`.
    ///
    /// - Throws: `EvaluationError.writeFailed`.
    public static func write(_ values: [Float], shape: [Int], to url: URL) throws {
        do {
            let bytes = values.withUnsafeBytes { [UInt8]($0) }
            let record = try TensorRecord(contiguousBytes: bytes, elementType: .float32, shape: shape)
            try NumPyFile.save(.numeric(record), to: url)
        } catch {
            throw EvaluationError.writeFailed(path: url.path, reason: "\(error)")
        }
    }

    /// Writes a tensor (any device) as a float32 `.npy` file.
    ///
    /// - Throws: `EvaluationError.writeFailed`, or a `TorchError` reading the tensor.
    public static func write(_ tensor: Tensor, to url: URL) throws {
        let values = try tensor.to(.cpu).to(.float32).contiguous().toArray(of: Float.self)
        try write(values, shape: tensor.shape, to: url)
    }

    /// Writes lines of text (one item per line).
    ///
    /// - Throws: `EvaluationError.writeFailed`.
    public static func writeLines(_ lines: [String], to url: URL) throws {
        let text = lines.map { $0.replacing("\n", with: " ") + "\n" }.joined()
        do {
            try Data(text.utf8).write(to: url, options: .atomic)
        } catch {
            throw EvaluationError.writeFailed(path: url.path, reason: describeSystemError(error))
        }
    }

    /// The rows of a 2-d matrix that hold a NaN or infinite value, in order.
    ///
    /// - Throws: a `TorchError` reading the tensor.
    public static func nonFiniteRows(of matrix: Tensor) throws -> [Int] {
        guard matrix.rank == 2, matrix.shape[1] > 0 else { return [] }
        let columns = matrix.shape[1]
        let values = try matrix.to(.cpu).to(.float32).contiguous().toArray(of: Float.self)
        return stride(from: 0, to: values.count, by: columns).enumerated().compactMap { row, start in
            values[start..<(start + columns)].allSatisfy(\.isFinite) ? nil : row
        }
    }

    /// Checks that every value of a 2-d matrix is finite.
    ///
    /// - Throws: `EvaluationError.nonFiniteEmbeddings` naming `what` and the bad rows.
    public static func requireFinite(_ matrix: Tensor, what: String) throws {
        let rows = try nonFiniteRows(of: matrix)
        guard rows.isEmpty else {
            throw EvaluationError.nonFiniteEmbeddings(what: what, rows: rows, rowCount: matrix.shape.first ?? 0)
        }
    }

    /// Reads a 2-d matrix (`.npy`, any numeric type) as float32.
    ///
    /// - Throws: `EvaluationError.badEmbeddingFile` when the file cannot be read or is not a
    ///   non-empty 2-d numeric array.
    public static func readMatrix(from url: URL) throws -> Tensor {
        let array: NumPyArray
        do {
            array = try NumPyFile.load(contentsOf: url)
        } catch {
            throw EvaluationError.badEmbeddingFile(path: url.path, reason: "\(error)")
        }
        guard case .numeric(let record) = array else {
            throw EvaluationError.badEmbeddingFile(path: url.path, reason: "it holds strings, not numbers")
        }
        guard record.shape.count == 2, record.shape[0] > 0, record.shape[1] > 0 else {
            throw EvaluationError.badEmbeddingFile(path: url.path,
                                                   reason: "expected a non-empty 2-d matrix, found shape \(record.shape)")
        }
        do {
            return try Tensor(record).to(.float32).contiguous()
        } catch {
            throw EvaluationError.badEmbeddingFile(path: url.path, reason: "\(error)")
        }
    }
}
