import FoundationEssentials
import Video

/// Where the training loader reads its videos: files under a folder (the train CSV's paths are
/// relative to it), or a store made by `milnce prepare` (its index finds them by the same paths).
public enum TrainingVideoSource: Sendable {
    /// Video files under a folder.
    case folder(URL)
    /// A prepared store: each video's MP4 member read from its memory-mapped shard.
    case store(VideoStore)

    /// A reader of the video the train CSV lists as `path`, with one decoder thread.
    func reader(ofPath path: String) throws -> VideoReader {
        switch self {
        case .folder(let root): return try VideoReader(url: root.appendingPathComponent(path), threadCount: 1)
        case .store(let store): return try store.reader(forKey: path)
        }
    }

    /// Where the video listed as `path` is read from, for messages: its file, or
    /// `<shard>:<path>` in the store (the store's folder and the path when it does not hold it).
    func location(ofPath path: String) -> String {
        switch self {
        case .folder(let root): return root.appendingPathComponent(path).path
        case .store(let store):
            guard let entry = try? store.entry(forKey: path) else { return store.path + ":" + path }
            return store.memberName(entry)
        }
    }

    /// Checks that the source can give the clips `options` ask for: a store must hold a frame
    /// rate that is a multiple of the clips' and, for window crops, frames whose short side is
    /// at least the crop.
    func check(for options: LoaderOptions) throws {
        guard case .store(let store) = self else { return }
        let ratio = Double(store.framesPerSecond) / options.sampling.framesPerSecond
        guard ratio >= 1, abs(ratio - ratio.rounded()) < 1e-9 else {
            throw LoaderError.invalidOptions("the store \(store.path) holds \(store.framesPerSecond) frames per second, which "
                                             + "cannot give clips at --fps \(options.sampling.framesPerSecond): prepare a "
                                             + "store at that rate (milnce prepare --fps)")
        }
        let shortSide = store.manifest.transcoding.shortSide
        if options.cropOnly && shortSide < options.size {
            throw LoaderError.invalidOptions("the store \(store.path) holds frames with a \(shortSide)-pixel short side, "
                                             + "smaller than the \(options.size) crop (--video_size): prepare a store "
                                             + "with --short_side \(options.size) or more")
        }
    }
}
