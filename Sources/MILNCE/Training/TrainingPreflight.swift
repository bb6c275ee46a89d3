import FoundationEssentials
import POSIX
import Torch
import Video

/// The input files of a run, read and checked against each other before any long work (the
/// caption index can take an hour on HowTo100M): the train list, the dictionary and its word
/// vectors, and the clip settings against the first videos.
struct TrainingInputs {
    /// The training videos.
    var trainList: TrainList
    /// The dictionary's words (word i has token i + 1).
    var words: [String]
    /// The word-vector matrix, `words + 1` rows (row 0 is padding).
    var wordVectors: Tensor
    /// Where the videos are read from: files under `--video_path`, or the store of `--video_store`
    /// (opened, and its index checked, here).
    var videos: TrainingVideoSource

    /// Reads the inputs named by `configuration` and checks them.
    static func read(_ configuration: TrainingConfiguration) throws -> TrainingInputs {
        let c = configuration
        let trainList = try TrainList(contentsOf: c.trainCSV)
        guard trainList.count > 0 else { throw TrainingError.invalidConfiguration("\(c.trainCSV) lists no videos") }
        let dictionaryURL = URL(fileURLWithPath: c.dictionaryPath)
        let vectorsURL = URL(fileURLWithPath: c.wordVectorsPath)
        let words = try WordFiles.loadDictionary(from: dictionaryURL)
        let vectors = try WordFiles.loadMatrix(from: vectorsURL)
        try checkWordVectors(vectors.shape, wordCount: words.count, dictionary: dictionaryURL, vectors: vectorsURL)
        return TrainingInputs(trainList: trainList, words: words, wordVectors: vectors, videos: try c.trainingVideos())
    }

    /// The word vectors must have one row per word plus the padding row 0, and the 300 columns
    /// the text network takes.
    static func checkWordVectors(_ shape: [Int], wordCount: Int, dictionary: URL, vectors: URL) throws {
        do {
            try WordFiles.check(rows: shape.first ?? 0, columns: shape.count == 2 ? shape[1] : 0,
                                vectors: "the word vectors \(vectors.path) (--word2vec_path)", wordCount: wordCount,
                                dictionary: "\(dictionary.path) (--token_to_word_path)")
        } catch let error as WordFilesError {
            throw TrainingError.invalidConfiguration("\(error)")
        }
    }

    /// Decodes one frame of each of the first videos that open with the run's clip settings, and
    /// fails when the settings fit none of them (an odd `--video_size` with `--crop_only 1` on
    /// 4:2:0 video, a crop larger than the frames). Videos that cannot be opened are left to the
    /// loader, which replaces and counts them.
    func probeClipSettings(_ c: TrainingConfiguration, videosToTry: Int = 3) throws {
        let request = ClipRequest(startSeconds: 0, frameCount: 1, framesPerSecond: c.fps, size: c.videoSize,
                                  cropping: c.cropOnly ? .window : .scaledSquare, cropOffset: .centered)
        var refusals: [String] = []
        for path in trainList.videoPaths.prefix(videosToTry * 4) where refusals.count < videosToTry {
            let reader: VideoReader
            do {
                reader = try videos.reader(ofPath: path)
            } catch {
                continue
            }
            do {
                _ = try reader.clip(request)
                return
            } catch let error as VideoError {
                guard case .invalidRequest = error else { continue }
                refusals.append("\(error)")
            }
        }
        guard let first = refusals.first else { return }
        let cropping = c.cropOnly ? "--crop_only 1" : "--crop_only 0"
        throw TrainingError.invalidConfiguration(
            "cannot start training: the clip settings (--video_size \(c.videoSize), \(cropping)) fit none of the "
                + "first \(refusals.count) videos that open: \(first)"
                + (c.cropOnly ? ". With --crop_only 1, --video_size must be even (4:2:0 video crops to even sizes) and "
                    + "at most the videos' shorter side; --crop_only 0 scales the largest square instead" : ""))
    }
}

// MARK: - The dictionary beside the checkpoints

extension TrainingInputs {
    /// The dictionary's name in the checkpoint folder, where `eval` and `embed` look for it.
    static let dictionaryFileName = "dict.npy"

    /// Copies the dictionary into the checkpoint folder (rank 0), so that the checkpoints are
    /// usable from anywhere. Refuses to replace a different dictionary there while checkpoints
    /// trained with it remain; returns a line for the log.
    static func placeDictionary(from source: URL, in folder: URL) throws -> String? {
        let target = folder.appendingPathComponent(dictionaryFileName)
        let files = FileManager.default
        if source.standardizedFileURL.path == target.standardizedFileURL.path { return nil }
        let wanted = try Data(contentsOf: source)
        if files.fileExists(atPath: target.path) {
            if (try? Data(contentsOf: target)) == wanted { return nil }
            let checkpoints = TrainingCheckpoint.list(in: folder)
            guard checkpoints.isEmpty else {
                throw TrainingError.invalidConfiguration(
                    "cannot start training: the checkpoint folder \(folder.path) holds \(checkpoints.count) checkpoint(s) "
                        + "trained with another dictionary (\(target.path) differs from \(source.path), "
                        + "--token_to_word_path). Use another --checkpoint_dir, or pass the dictionary they were trained with")
            }
        }
        do {
            try wanted.write(to: target, options: .atomic)
        } catch {
            throw TrainingError.invalidConfiguration(
                "cannot copy the dictionary \(source.path) to \(target.path): \(describeSystemError(error))")
        }
        return "=> copied the dictionary \(source.path) to \(target.path), beside the checkpoints"
    }
}

extension TrainingConfiguration {
    /// The training videos: the store of `videoStore` when one is given, else the files under `videoRoot`.
    func trainingVideos() throws -> TrainingVideoSource {
        videoStore.isEmpty ? .folder(URL(fileURLWithPath: videoRoot)) : .store(try VideoStore(at: videoStore))
    }
}
