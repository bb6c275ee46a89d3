import Foundation
import Testing
import TestSupport
import TorchFiles
import Video
@testable import MILNCE

// MARK: - The files, read by the system's readers

@Suite("Synthetic dataset files")
struct SyntheticDatasetFileTests {
    @Test("every video opens and has the stated size, frame rate and duration")
    func videosHaveTheStatedShape() throws {
        let summary = try SyntheticFixtures.dataset()
        let options = SyntheticFixtures.options
        let layout = summary.layout
        let trainList = try TrainList(contentsOf: layout.trainList.path)
        var urls = trainList.videoPaths.map { layout.videoRoot.appendingPathComponent($0) }
        let table = try CSVTable.read(contentsOf: layout.evaluationCSV.path)
        let task = try table.column(named: "task"), id = try table.column(named: "video_id")
        for row in 0..<table.rowCount {
            urls.append(layout.evaluationRoot.appendingPathComponent(
                "validation/\(table.string(row: row, column: task))/\(table.string(row: row, column: id)).mp4"))
        }
        #expect(urls.count == options.trainingVideoCount + options.evaluationClipCount)
        for url in urls {
            let reader = try VideoReader(url: url)
            #expect(reader.width == options.frameSize && reader.height == options.frameSize, "\(url.path)")
            #expect(abs(reader.framesPerSecond - options.framesPerSecond) < 1e-6, "\(url.path)")
            #expect(abs(reader.durationSeconds - Double(options.videoSeconds)) <= 1 / options.framesPerSecond,
                    "\(url.path): \(reader.durationSeconds) s")
            #expect(reader.codecName == "h264")
            let frames = try reader.allFrames(size: options.frameSize, cropping: .window)
            #expect(frames.frameCount == options.framesPerVideo, "\(url.path)")
        }
    }

    @Test("the train list, caption files and caption index read without failures")
    func captionsAndTrainListParse() throws {
        let summary = try SyntheticFixtures.dataset()
        let options = SyntheticFixtures.options
        let layout = summary.layout
        let trainList = try TrainList(contentsOf: layout.trainList.path)
        #expect(trainList.count == options.trainingVideoCount)
        var captionCount = 0
        for index in 0..<trainList.count {
            #expect(FileManager.default.fileExists(atPath: layout.videoRoot.appendingPathComponent(trainList.videoPaths[index]).path))
            let captions = try CaptionFile.read(contentsOf: trainList.captionPath(at: index, captionRoot: layout.captionRoot.path))
            captionCount += captions.count
            var events = 0
            var previousEnd = 0.0
            for caption in 0..<captions.count {
                let start = captions.startTimes[caption], end = captions.endTimes[caption]
                #expect(start >= previousEnd && end > start && end <= Double(options.videoSeconds),
                        "\(captions.path) caption \(caption): \(start)...\(end) after \(previousEnd)")
                previousEnd = end
                let text = try captions.text(at: caption)
                if SyntheticLanguage.narration.contains(text) { continue }
                events += 1
                // An event spans whole seconds, 5 or 6 of them: at least the reference's min_time.
                #expect(start == start.rounded() && end == end.rounded() && (5...6).contains(Int(end - start)),
                        "\(captions.path): '\(text)' spans \(start)...\(end)")
            }
            #expect(events == options.eventsPerVideo, "\(captions.path)")
        }
        #expect(captionCount == summary.metadata.counts.trainingCaptions)
        #expect(summary.metadata.counts.narrationCaptions > 0)

        let indexPath = layout.root.appendingPathComponent("captions.index").path
        defer { try? FileManager.default.removeItem(atPath: indexPath) }
        let build = try CaptionIndex.build(trainList: trainList, captionRoot: layout.captionRoot.path, to: indexPath)
        #expect(build.videoCountsByStatus == [.ok: options.trainingVideoCount])
        let index = try CaptionIndex(contentsOf: indexPath, verification: .full, expecting: trainList)
        #expect(index.failures.isEmpty)
        #expect(index.captionCount == captionCount)
    }

    @Test("the held-out CSV has YouCook2's columns, integer times, distinct events and videos where YouCook2 keeps them")
    func heldOutSetHasYouCookLayout() throws {
        let summary = try SyntheticFixtures.dataset()
        let options = SyntheticFixtures.options
        let layout = summary.layout
        let table = try CSVTable.read(contentsOf: layout.evaluationCSV.path)
        #expect(table.columnNames == ["end", "start", "task", "text", "video_id"])
        #expect(table.rowCount == options.evaluationClipCount)
        let columns = try ["end", "start", "task", "text", "video_id"].map { try table.column(named: $0) }
        var texts = Set<String>()
        var events = Set<String>()
        for row in 0..<table.rowCount {
            let values = columns.map { table.string(row: row, column: $0) }
            let end = try #require(Int(values[0])), start = try #require(Int(values[1]))
            #expect(start >= 0 && end - start >= 5 && end <= options.videoSeconds)
            let video = layout.evaluationRoot.appendingPathComponent("validation/\(values[2])/\(values[4]).mp4")
            #expect(FileManager.default.fileExists(atPath: video.path), "\(video.path)")
            texts.insert(values[3])
            let words = Set(values[3].split(separator: " ").map(String.init))
            let colour = ShapeColor.allCases.filter { words.contains($0.rawValue) }
            let shape = ShapeKind.allCases.filter { words.contains($0.rawValue) }
            #expect(colour.count == 1 && shape.count == 1, "'\(values[3])' names one colour and one shape")
            let action = ShapeAction.allCases.filter { action in
                action.phrases.contains { values[3].hasSuffix(" " + $0) }
            }
            #expect(action.count == 1, "'\(values[3])' says one action")
            events.insert("\(colour) \(shape) \(action)")
        }
        #expect(texts.count == table.rowCount)
        #expect(events.count == table.rowCount, "every held-out clip shows a different event")
        #expect(summary.metadata.chance == RetrievalChance(queries: table.rowCount))

        // Python's own CSV reader agrees.
        try TestEnvironment.requireOracle()
        let report = try runPython("""
        import sys, os, csv
        root = sys.argv[1]
        with open(os.path.join(root, 'youcook.csv'), newline='') as file:
            rows = list(csv.reader(file))
        assert rows[0] == ['end', 'start', 'task', 'text', 'video_id'], rows[0]
        for end, start, task, text, video in rows[1:]:
            assert int(end) > int(start) >= 0 and str(int(task)) == task, (end, start, task)
            path = os.path.join(root, 'validation', task, video + '.mp4')
            assert os.path.isfile(path), path
        print(len(rows) - 1)
        """, arguments: [layout.evaluationRoot.path])
        #expect(report.trimmingCharacters(in: .whitespacesAndNewlines) == "\(options.evaluationClipCount)")
    }

    @Test("every caption word is in dict.npy, and word2vec.pth holds one vector per word plus padding")
    func vocabularyCoversTheCaptions() throws {
        let summary = try SyntheticFixtures.dataset()
        let layout = summary.layout
        let words = try WordFiles.loadDictionary(from: layout.dictionary)
        #expect(words == SyntheticLanguage.vocabulary)
        let tokenizer = Tokenizer(words: words)
        var texts: [String] = []
        let table = try CSVTable.read(contentsOf: layout.evaluationCSV.path)
        let text = try table.column(named: "text")
        for row in 0..<table.rowCount { texts.append(table.string(row: row, column: text)) }
        for name in try FileManager.default.contentsOfDirectory(atPath: layout.captionRoot.path) {
            let captions = try CaptionFile.read(contentsOf: layout.captionRoot.appendingPathComponent(name).path)
            for index in 0..<captions.count { texts.append(try captions.text(at: index)) }
        }
        #expect(texts.count > 20)
        for sentence in texts {
            for word in tokenizer.words(in: sentence) {
                #expect(tokenizer.token(for: word) != nil, "'\(word)' of '\(sentence)' is not in dict.npy")
            }
        }

        let matrix = try #require(try TorchFile.load(contentsOf: layout.wordVectors).asTensor)
        #expect(matrix.elementType == .float32)
        #expect(matrix.shape == [words.count + 1, SyntheticLanguage.wordVectorDimension])

        try TestEnvironment.requireOracle("numpy", "torch")
        let report = try runPython("""
        import sys, json, numpy as np, torch
        folder = sys.argv[1]
        words = list(np.load(folder + '/dict.npy'))
        vectors = torch.load(folder + '/word2vec.pth', weights_only=True)
        assert vectors.dtype == torch.float32 and vectors.dim() == 2, (vectors.dtype, vectors.shape)
        norms = vectors.norm(dim=1)
        def cosine(a, b):
            return float(vectors[words.index(a) + 1] @ vectors[words.index(b) + 1])
        print(json.dumps({
            'rows': vectors.shape[0], 'columns': vectors.shape[1], 'words': len(words),
            'padding': float(norms[0]), 'smallest': float(norms[1:].min()), 'largest': float(norms[1:].max()),
            'synonyms': cosine('moves', 'slides'), 'colours': cosine('red', 'blue'),
            'unrelated': cosine('red', 'subscribe'),
        }))
        """, arguments: [layout.root.path])
        struct Report: Decodable {
            var rows: Int, columns: Int, words: Int
            var padding: Double, smallest: Double, largest: Double
            var synonyms: Double, colours: Double, unrelated: Double
        }
        let result = try JSONDecoder().decode(Report.self, from: Data(report.utf8))
        #expect(result.words == words.count)
        #expect(result.rows == words.count + 1 && result.columns == 300)
        #expect(result.padding == 0)
        #expect(abs(result.smallest - 1) < 1e-5 && abs(result.largest - 1) < 1e-5)
        #expect(result.synonyms > 0.6, "synonyms are close")
        #expect(result.colours > 0.05 && result.colours < 0.5, "two colours are related but distinct")
        #expect(abs(result.unrelated) < 0.25, "unrelated words are far apart")
    }

    @Test("dataset.json decodes to the summary's description and names files that exist")
    func descriptionRoundTrips() throws {
        let summary = try SyntheticFixtures.dataset()
        let data = try Data(contentsOf: summary.layout.metadata)
        let decoded = try SyntheticDatasetDescription.decoder.decode(SyntheticDatasetDescription.self, from: data)
        #expect(decoded == summary.metadata)
        #expect(decoded.seed == SyntheticFixtures.options.seed)
        let files = decoded.files
        for path in [files.trainList, files.videoRoot, files.captionRoot, files.evaluationList, files.evaluationVideoRoot,
                     files.dictionary, files.wordVectors] {
            #expect(FileManager.default.fileExists(atPath: summary.layout.root.appendingPathComponent(path).path), "\(path)")
        }
        let readme = try String(contentsOf: summary.layout.readme, encoding: .utf8)
        #expect(readme.contains("seed \(decoded.seed)"))
        #expect(readme.contains("R@1 \(String(format: "%.2f%%", decoded.chance.r1 * 100))"))
        #expect(readme.split(separator: "\n").allSatisfy { $0.count <= 96 }, "README.txt lines fit 96 columns")
    }
}

// MARK: - What the captions say is what the videos show

@Suite("Synthetic dataset content")
struct SyntheticDatasetContentTests {
    /// One captioned event and the clip of its video.
    struct Event {
        var video: URL
        var text: String
        var startSeconds: Double
        var endSeconds: Double
    }

    /// Every event of the shared dataset, from its caption files and held-out CSV.
    static func events() throws -> [Event] {
        let summary = try SyntheticFixtures.dataset()
        let layout = summary.layout
        var events: [Event] = []
        let trainList = try TrainList(contentsOf: layout.trainList.path)
        for index in 0..<trainList.count {
            let captions = try CaptionFile.read(contentsOf: trainList.captionPath(at: index, captionRoot: layout.captionRoot.path))
            for caption in 0..<captions.count {
                let text = try captions.text(at: caption)
                guard !SyntheticLanguage.narration.contains(text) else { continue }
                events.append(Event(video: layout.videoRoot.appendingPathComponent(trainList.videoPaths[index]), text: text,
                                    startSeconds: captions.startTimes[caption], endSeconds: captions.endTimes[caption]))
            }
        }
        let table = try CSVTable.read(contentsOf: layout.evaluationCSV.path)
        let columns = try ["start", "end", "task", "text", "video_id"].map { try table.column(named: $0) }
        for row in 0..<table.rowCount {
            let values = columns.map { table.string(row: row, column: $0) }
            let video = layout.evaluationRoot.appendingPathComponent("validation/\(values[2])/\(values[4]).mp4")
            events.append(Event(video: video, text: values[3], startSeconds: Double(values[0]) ?? -1,
                                endSeconds: Double(values[1]) ?? -1))
        }
        return events
    }

    @Test("each caption's colour, shape and action are what the decoded frames of its time span show")
    func captionedEventsAreVisible() throws {
        let events = try Self.events()
        let options = SyntheticFixtures.options
        let size = Double(options.frameSize)
        var actionsSeen = Set<ShapeAction>()
        var shapesSeen = Set<ShapeKind>()
        var framesByVideo: [URL: Clip] = [:]
        for event in events {
            let words = Set(event.text.split(separator: " ").map(String.init))
            let colour = try #require(ShapeColor.allCases.first { words.contains($0.rawValue) })
            let shape = try #require(ShapeKind.allCases.first { words.contains($0.rawValue) })
            let action = try #require(ShapeAction.allCases.first { action in
                action.phrases.contains { event.text.hasSuffix(" " + $0) }
            })
            actionsSeen.insert(action)
            shapesSeen.insert(shape)
            if framesByVideo[event.video] == nil {
                framesByVideo[event.video] = try VideoReader(url: event.video)
                    .allFrames(size: options.frameSize, cropping: .window)
            }
            let clip = try #require(framesByVideo[event.video])
            func image(atSeconds seconds: Double) throws -> RGBImage {
                try #require(clip.frame(Int((seconds * options.framesPerSecond).rounded())))
            }
            // Half a second inside each end of the span: the change is 80-90 % done between them.
            let early = ColourVision.blob(of: colour.rawValue, in: try image(atSeconds: event.startSeconds + 0.5))
            let late = ColourVision.blob(of: colour.rawValue, in: try image(atSeconds: event.endSeconds - 0.5))
            let middle = ColourVision.blob(of: colour.rawValue,
                                           in: try image(atSeconds: (event.startSeconds + event.endSeconds) / 2))
            let context = "'\(event.text)' in \(event.video.lastPathComponent) at \(event.startSeconds)...\(event.endSeconds)"
            switch action {
            case .movesLeft, .movesRight, .movesUp, .movesDown:
                let first = try #require(early, "\(context): no \(colour) pixels at the start")
                let last = try #require(late, "\(context): no \(colour) pixels at the end")
                let dx = (last.x - first.x) / size, dy = (last.y - first.y) / size
                let (along, across): (Double, Double) = switch action {
                case .movesLeft: (-dx, dy)
                case .movesRight: (dx, dy)
                case .movesUp: (-dy, dx)
                default: (dy, dx)
                }
                #expect(along > 0.25 && abs(across) < 0.05, "\(context): moved by (\(dx), \(dy)) of the frame")
            case .grows, .shrinks:
                let first = try #require(early, "\(context): no \(colour) pixels at the start")
                let last = try #require(late, "\(context): no \(colour) pixels at the end")
                let ratio = Double(last.count) / Double(first.count)
                #expect(action == .grows ? ratio > 2.5 : ratio < 0.4, "\(context): area ratio \(ratio)")
                #expect(abs(last.x - first.x) < 0.05 * size && abs(last.y - first.y) < 0.05 * size, "\(context): moved")
            case .appears, .disappears:
                let before = (action == .appears ? early : late)?.count ?? 0
                let after = try #require(action == .appears ? late : early, "\(context): never visible").count
                #expect(after > 40 && Double(before) < 0.3 * Double(after), "\(context): \(before) then \(after) pixels")
            }
            if action != .appears && action != .disappears {
                let blob = try #require(middle, "\(context): no \(colour) pixels in the middle")
                #expect(blob.shape == shape.rawValue, "\(context): looks like a \(blob.shape) (\(blob.measurements))")
            }
        }
        #expect(actionsSeen.count >= 6, "the events cover most actions: \(actionsSeen)")
        #expect(shapesSeen.count == ShapeKind.allCases.count, "every shape was checked: \(shapesSeen)")
    }

    @Test("a rendered frame shows exactly the planned shapes in their colours (no compression)")
    func renderedFramesFollowThePlan() throws {
        let plan = try SyntheticDatasetPlan(options: SyntheticFixtures.options)
        for video in plan.trainingVideos.prefix(3) {
            let renderer = SyntheticRenderer(plan: video)
            for event in video.eventCaptions {
                let kind = try #require(event.event)
                // A half-faded shape may be too pale to count as its colour.
                guard kind.action != .appears && kind.action != .disappears else { continue }
                let seconds = (event.startSeconds + event.endSeconds) / 2
                let frame = Int(seconds * video.framesPerSecond)
                let image = try #require(RGBImage(width: video.frameSize, height: video.frameSize,
                                                  pixels: renderer.frame(frame)))
                let blob = try #require(ColourVision.blob(of: kind.color.rawValue, in: image))
                let track = try #require(video.tracks.first { $0.color == kind.color && $0.shape == kind.shape
                    && $0.visibleSeconds.contains(seconds) })
                let state = try #require(track.state(atSeconds: renderer.seconds(ofFrame: frame)))
                let size = Double(video.frameSize)
                #expect(abs(blob.x - state.x * size) < 1 && abs(blob.y - state.y * size) < 1.5,
                        "\(video.id) '\(event.text)': centroid (\(blob.x), \(blob.y)) vs planned (\(state.x * size), \(state.y * size))")
            }
        }
    }
}

// MARK: - Determinism, options and folders

@Suite("Synthetic dataset generation")
struct SyntheticDatasetGenerationTests {
    static let small = SyntheticDatasetOptions(trainingVideoCount: 3, evaluationVideoCount: 2, videoSeconds: 12,
                                               eventsPerVideo: 2, frameSize: 32, framesPerSecond: 5, seed: 3)

    /// The bytes of every file under `folder` except `word2vec.pth`, by relative path.
    static func contents(of folder: URL) throws -> [String: Data] {
        var result: [String: Data] = [:]
        for path in try relativeFiles(under: folder) where path != "word2vec.pth" {
            result[path] = try Data(contentsOf: folder.appendingPathComponent(path))
        }
        return result
    }

    @Test("one seed gives identical files whatever the number of workers; another seed differs")
    func generationIsDeterministic() throws {
        let folders = try (0..<3).map { _ in try TestEnvironment.temporaryDirectory("synth-seed") }
        defer { for folder in folders { try? FileManager.default.removeItem(at: folder) } }
        var other = Self.small
        other.seed = 4
        try SyntheticDataset.generate(options: Self.small, in: folders[0], workers: 1)
        try SyntheticDataset.generate(options: Self.small, in: folders[1], workers: 3)
        try SyntheticDataset.generate(options: other, in: folders[2], workers: 2)
        let first = try Self.contents(of: folders[0])
        let second = try Self.contents(of: folders[1])
        let third = try Self.contents(of: folders[2])
        #expect(first.count >= 3 + 3 + 2 + 5) // videos, captions, held-out videos, other files
        #expect(Set(first.keys) == Set(second.keys))
        for (path, data) in first {
            #expect(second[path] == data, "\(path) differs between two runs with one seed")
        }
        // word2vec.pth: `TorchFile.save` writes a random `.data/serialization_id` record, so the
        // file is compared by its tensor.
        func vectors(_ folder: URL) throws -> [UInt8] {
            try #require(try TorchFile.load(contentsOf: folder.appendingPathComponent("word2vec.pth")).asTensor)
                .contiguousBytes()
        }
        #expect(try vectors(folders[0]) == vectors(folders[1]))
        #expect(try vectors(folders[0]) != vectors(folders[2]))
        #expect(first["videos/train_00000.mp4"] != third["videos/train_00000.mp4"])
        #expect(first["captions/train_00000.csv"] != third["captions/train_00000.csv"])
        #expect(first["eval/youcook.csv"] != third["eval/youcook.csv"])
    }

    @Test("the other codecs make videos the reader opens", arguments: [VideoCodec.mpeg4, .vp9])
    func otherCodecs(codec: VideoCodec) throws {
        let folder = try TestEnvironment.temporaryDirectory("synth-codec")
        defer { try? FileManager.default.removeItem(at: folder) }
        var options = Self.small
        options.trainingVideoCount = 1
        options.evaluationVideoCount = 1
        options.codec = codec
        let summary = try SyntheticDataset.generate(options: options, in: folder)
        let reader = try VideoReader(url: summary.layout.trainingVideo(id: "train_00000"))
        #expect(reader.codecName == (codec == .vp9 ? "vp9" : "mpeg4"))
        #expect(abs(reader.durationSeconds - Double(options.videoSeconds)) <= 1 / options.framesPerSecond)
        #expect(try reader.allFrames(size: options.frameSize, cropping: .window).frameCount == options.framesPerVideo)
        #expect(summary.metadata.encoder == (codec == .vp9 ? "libvpx-vp9" : "mpeg4"))
    }

    @Test("a folder that is not empty is refused unless replacing is asked for; then only the generator's files go")
    func nonEmptyFolders() throws {
        let folder = try TestEnvironment.temporaryDirectory("synth-force")
        defer { try? FileManager.default.removeItem(at: folder) }
        let unrelated = folder.appendingPathComponent("notes.txt")
        try Data("keep me".utf8).write(to: unrelated)
        #expect(throws: SyntheticDatasetError.outputNotEmpty(path: folder.path)) {
            try SyntheticDataset.generate(options: Self.small, in: folder)
        }
        #expect(try relativeFiles(under: folder) == ["notes.txt"])

        var more = Self.small
        more.trainingVideoCount = 4
        try SyntheticDataset.generate(options: more, in: folder, replacingContents: true)
        try SyntheticDataset.generate(options: Self.small, in: folder, replacingContents: true)
        let files = try relativeFiles(under: folder)
        #expect(files.contains("notes.txt"))
        #expect(files.contains("videos/train_00002.mp4"))
        #expect(!files.contains("videos/train_00003.mp4"), "a stale video of the earlier run is left")
        #expect(!files.contains("captions/train_00003.csv"))

        let file = folder.appendingPathComponent("notes.txt")
        #expect(throws: SyntheticDatasetError.outputNotAFolder(path: file.path)) {
            try SyntheticDataset.generate(options: Self.small, in: file, replacingContents: true)
        }
    }

    @Test("unusable options are refused with a reason", arguments: [
        SyntheticDatasetOptions(frameSize: 63),
        SyntheticDatasetOptions(frameSize: 8),
        SyntheticDatasetOptions(videoSeconds: 22, eventsPerVideo: 4),
        SyntheticDatasetOptions(evaluationVideoCount: 49, eventsPerVideo: 4),
        SyntheticDatasetOptions(framesPerSecond: 0),
        SyntheticDatasetOptions(framesPerSecond: .nan),
        SyntheticDatasetOptions(videoSeconds: 33, framesPerSecond: 7.5),
        SyntheticDatasetOptions(trainingVideoCount: 0),
        SyntheticDatasetOptions(evaluationVideoCount: -1),
        SyntheticDatasetOptions(eventsPerVideo: 0),
        SyntheticDatasetOptions(bystandersPerVideo: 6),
        SyntheticDatasetOptions(narrationProbability: 1.5),
        SyntheticDatasetOptions(narrationProbability: -0.1),
    ])
    func invalidOptions(options: SyntheticDatasetOptions) throws {
        #expect(throws: SyntheticDatasetError.self) { try options.validate() }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("milnce-synth-never-\(UUID().uuidString)")
        #expect(throws: SyntheticDatasetError.self) { try SyntheticDataset.generate(options: options, in: folder) }
        #expect(!FileManager.default.fileExists(atPath: folder.path), "nothing is written for refused options")
    }

    @Test("the shortest video for the events and the most held-out clips are accepted")
    func limitsAreAccepted() throws {
        // Four events of 5 s or more, a second apart: 4 × 5 + 3 × 1 = 23 s at the least.
        let shortest = SyntheticDatasetOptions(trainingVideoCount: 20, evaluationVideoCount: 2, videoSeconds: 23,
                                               eventsPerVideo: 4, seed: 3)
        #expect(throws: Never.self) { try shortest.validate() }
        var shorter = shortest
        shorter.videoSeconds = 22
        #expect(throws: SyntheticDatasetError.self) { try shorter.validate() }
        // The shortest videos hold all their events, 5 s long and a second apart.
        let plan = try SyntheticDatasetPlan(options: shortest)
        for video in plan.trainingVideos + plan.evaluationVideos {
            let events = video.eventCaptions
            #expect(events.count == 4, "\(video.id)")
            #expect(events.allSatisfy { $0.endTenths - $0.startTenths == 50 }, "\(video.id)")
            #expect(events.first?.startTenths == 0 && events.last?.endTenths == 230, "\(video.id)")
            for (first, second) in zip(events, events.dropFirst()) {
                #expect(second.startTenths - first.endTenths == 10, "\(video.id)")
            }
        }

        // As many held-out clips as distinct events (colour, shape, action): 48 videos of 4 events.
        let kinds = ShapeColor.allCases.count * ShapeKind.allCases.count * ShapeAction.allCases.count
        let most = SyntheticDatasetOptions(trainingVideoCount: 1, evaluationVideoCount: kinds / 4, videoSeconds: 24,
                                           eventsPerVideo: 4, seed: 9)
        #expect(kinds == 192)
        #expect(throws: Never.self) { try most.validate() }
        #expect(try SyntheticDatasetPlan(options: most).evaluationClips.count == kinds)
        var more = most
        more.evaluationVideoCount += 1
        #expect(throws: SyntheticDatasetError.self) { try more.validate() }

        // A whole number of frames: 32 s at 7.5 frames per second is 240 frames.
        let fractionalRate = SyntheticDatasetOptions(videoSeconds: 32, framesPerSecond: 7.5)
        #expect(throws: Never.self) { try fractionalRate.validate() }
        #expect(fractionalRate.framesPerVideo == 240)
    }

    @Test("the held-out set uses every event kind once when it is as large as it can be")
    func heldOutEventsAreDistinct() throws {
        let options = SyntheticDatasetOptions(trainingVideoCount: 1, evaluationVideoCount: 48, videoSeconds: 24,
                                              eventsPerVideo: 4, seed: 9)
        let plan = try SyntheticDatasetPlan(options: options)
        let kinds = plan.evaluationVideos.flatMap { $0.eventCaptions.compactMap(\.event) }
        #expect(kinds.count == SyntheticEventKind.all.count)
        #expect(Set(kinds) == Set(SyntheticEventKind.all))
        #expect(plan.evaluationClips.count == kinds.count)
        #expect(Set(plan.evaluationClips.map(\.text)).count == kinds.count)
    }

    @Test("planned timelines keep events 5 or 6 s long, a second apart, inside the video", arguments: [0, 1, 2, 3, 4, 5])
    func timelines(seed: Int) throws {
        let options = SyntheticDatasetOptions(trainingVideoCount: 40, evaluationVideoCount: 0, videoSeconds: 17 + 3 * seed,
                                              eventsPerVideo: 3, seed: UInt64(seed))
        let plan = try SyntheticDatasetPlan(options: options)
        for video in plan.trainingVideos {
            let events = video.eventCaptions
            #expect(events.count == 3)
            for (index, event) in events.enumerated() {
                #expect(event.startTenths % 10 == 0 && event.endTenths % 10 == 0)
                #expect((50...60).contains(event.endTenths - event.startTenths))
                #expect(event.startTenths >= 0 && event.endTenths <= options.videoSeconds * 10)
                if index > 0 { #expect(event.startTenths - events[index - 1].endTenths >= 10) }
            }
            for (first, second) in zip(video.captions, video.captions.dropFirst()) {
                #expect(first.endTenths <= second.startTenths, "\(video.id): captions overlap")
            }
            // The event shapes of one training video are distinct (colour, shape) pairs.
            let pairs = events.compactMap { $0.event.map { "\($0.color) \($0.shape)" } }
            #expect(Set(pairs).count == pairs.count)
        }
    }

    @Test("narration fills every gap of 2 s or more with probability 1, none with probability 0")
    func narrationProbability() throws {
        var options = SyntheticDatasetOptions(trainingVideoCount: 30, evaluationVideoCount: 0, videoSeconds: 30,
                                              eventsPerVideo: 3, seed: 5, narrationProbability: 1)
        for video in try SyntheticDatasetPlan(options: options).trainingVideos {
            var ends = [0]
            var starts: [Int] = []
            for event in video.eventCaptions {
                starts.append(event.startTenths)
                ends.append(event.endTenths)
            }
            starts.append(options.videoSeconds * 10)
            let longGaps = zip(ends, starts).filter { $1 - $0 >= 20 }
            let narration = video.captions.filter { $0.event == nil }
            #expect(narration.count == longGaps.count, "\(video.id)")
            for (start, end) in longGaps {
                #expect(narration.contains { $0.startTenths >= start && $0.endTenths <= end && $0.endTenths - $0.startTenths >= 14 })
            }
        }
        options.narrationProbability = 0
        for video in try SyntheticDatasetPlan(options: options).trainingVideos {
            #expect(video.captions.allSatisfy { $0.event != nil })
        }
    }

    @Test("chance levels are those of a random ranking")
    func chanceLevels() {
        func levels(_ chance: RetrievalChance) -> [Double] { [chance.r1, chance.r5, chance.r10, chance.medianRank] }
        #expect(levels(RetrievalChance(queries: 1)) == [1, 1, 1, 1])
        #expect(levels(RetrievalChance(queries: 4)) == [0.25, 1, 1, 2.5])
        let expected: [Double] = [1.0 / 128, 5.0 / 128, 10.0 / 128, 64.5]
        #expect(levels(RetrievalChance(queries: 128)) == expected)
        #expect(levels(RetrievalChance(queries: 0)) == [0, 0, 0, 0])
    }

    @Test("caption CSV fields are quoted only when they must be")
    func csvFields() {
        #expect(csvField("the red square moves left") == "the red square moves left")
        #expect(csvField("a, b") == "\"a, b\"")
        #expect(csvField("say \"hi\"") == "\"say \"\"hi\"\"\"")
        #expect(csvField(" padded") == "\" padded\"")
        #expect(SyntheticDataset.decimal(tenths: 123) == "12.3")
        #expect(SyntheticDataset.decimal(tenths: 7) == "0.7")
    }
}
