// The training video list: a CSV with a column `video_path` (other columns ignored), one video
// per row. A video's id is its path up to the first '.', and its captions are
// `<caption root>/<id>.csv`, exactly as the reference derives them.

import FoundationEssentials

// MARK: - Train list

/// The videos of the training set, in the train CSV's order (the dataset's sample numbers).
public struct TrainList: Sendable, Equatable {
    /// The video paths, relative to the video root, as the CSV lists them.
    public let videoPaths: [String]

    /// A list of the given paths.
    public init(videoPaths: [String]) {
        self.videoPaths = videoPaths
    }

    /// Reads the train CSV at `path`. Throws a `CSVError` when the file is not CSV, has no
    /// `video_path` column, or a row's path is missing.
    public init(contentsOf path: String) throws {
        let table = try CSVTable.read(contentsOf: path)
        let column = try table.column(named: "video_path")
        var paths: [String] = []
        paths.reserveCapacity(table.rowCount)
        for row in 0..<table.rowCount {
            guard let value = table.value(row: row, column: column) else {
                throw CSVError(path: path, line: table.lineNumber(ofRow: row), reason: .missingValue(column: "video_path"))
            }
            paths.append(value)
        }
        videoPaths = paths
    }

    /// The number of videos.
    public var count: Int { videoPaths.count }

    /// The id of video `index`: its path up to the first '.' (`video_file.split('.')[0]`).
    public func videoID(at index: Int) -> String {
        TrainList.videoID(ofPath: videoPaths[index])
    }

    /// The id of a video path: the path up to its first '.'.
    public static func videoID(ofPath path: String) -> String {
        guard let dot = path.utf8.firstIndex(of: UInt8(ascii: ".")) else { return path }
        return String(path[..<dot])
    }

    /// The caption file of video `index` under `captionRoot`.
    public func captionPath(at index: Int, captionRoot: String) -> String {
        TrainList.captionPath(forVideoID: videoID(at: index), captionRoot: captionRoot)
    }

    /// `os.path.join(captionRoot, id + '.csv')`: an absolute id replaces the root.
    public static func captionPath(forVideoID id: String, captionRoot: String) -> String {
        let name = id + ".csv"
        if name.hasPrefix("/") || captionRoot.isEmpty { return name }
        return captionRoot.hasSuffix("/") ? captionRoot + name : captionRoot + "/" + name
    }

    /// A 64-bit fingerprint of the list (every path, in order), to tell whether an index was
    /// built from this list.
    public var fingerprint: UInt64 {
        var checksum = StreamingChecksum()
        withUnsafeBytes(of: UInt64(videoPaths.count).littleEndian) { checksum.update($0) }
        for path in videoPaths {
            withUnsafeBytes(of: UInt64(path.utf8.count).littleEndian) { checksum.update($0) }
            var path = path
            path.withUTF8 { checksum.update(UnsafeRawBufferPointer($0)) }
        }
        return checksum.finalize()
    }
}
