// What the caption index says about the captions it holds, in sentences: the videos without
// usable captions, the captions with odd times, and the videos whose caption file name the
// reference's rule derives in a surprising way.

import FoundationEssentials

// MARK: - Odd caption times

/// One caption of an indexed video.
public struct CaptionReference: Sendable, Equatable {
    /// The video number (position in the train list).
    public var video: Int
    /// The caption's position among the video's captions (its data row in the CSV file, from 0).
    public var caption: Int

    /// A reference to caption `caption` of video `video`.
    public init(video: Int, caption: Int) {
        self.video = video
        self.caption = caption
    }
}

/// Captions whose times are odd: they are kept, and sampled as the reference samples them, but a
/// user should know about them.
public struct CaptionTimeAnomalies: Sendable, Equatable {
    /// Captions that start after they end.
    public var reversedCount: Int
    /// The first of them.
    public var firstReversed: CaptionReference?
    /// Captions with a negative start or end.
    public var negativeCount: Int
    /// The first of them.
    public var firstNegative: CaptionReference?

    /// Counts and first examples.
    public init(reversedCount: Int = 0, firstReversed: CaptionReference? = nil, negativeCount: Int = 0,
                firstNegative: CaptionReference? = nil) {
        self.reversedCount = reversedCount
        self.firstReversed = firstReversed
        self.negativeCount = negativeCount
        self.firstNegative = firstNegative
    }

    /// Whether every caption's times are in order and not negative.
    public var isEmpty: Bool { reversedCount == 0 && negativeCount == 0 }

    /// Counts the odd captions of video `video`'s list.
    mutating func count(starts: [Double], ends: [Double], video: Int) {
        for (caption, (start, end)) in zip(starts, ends).enumerated() {
            if start > end {
                if firstReversed == nil { firstReversed = CaptionReference(video: video, caption: caption) }
                reversedCount += 1
            }
            if start < 0 || end < 0 {
                if firstNegative == nil { firstNegative = CaptionReference(video: video, caption: caption) }
                negativeCount += 1
            }
        }
    }
}

// MARK: - Statuses

extension CaptionIndex.VideoStatus {
    /// What the status means, as the predicate of a sentence about a video.
    public var explanation: String {
        switch self {
        case .ok: return "has captions"
        case .missing: return "has no caption file"
        case .empty: return "has a caption file without captions"
        case .malformed: return "has a caption file that is not a valid caption CSV"
        case .unreadable: return "has a caption file that cannot be read"
        }
    }
}

// MARK: - Summaries

extension CaptionIndex {
    /// One paragraph on the videos without usable captions (how many, of which kinds, the first
    /// few), or nil when every video has captions.
    public func failureSummary(examples: Int = 3) -> String? {
        let failures = self.failures
        guard !failures.isEmpty else { return nil }
        let counts = videoCountsByStatus
        let kinds = VideoStatus.allCases.filter { $0 != .ok }.compactMap { status in
            counts[status].flatMap { $0 > 0 ? "\($0) \(status)" : nil }
        }
        let shown = failures.prefix(examples).map { "\($0)" }.joined(separator: "; ")
        return "\(failures.count) of \(videoCount) videos have no usable captions (\(kinds.joined(separator: ", "))) "
            + "and are replaced by other videos when drawn; "
            + (failures.count > examples ? "the first \(examples): " : "") + shown
    }

    /// One paragraph on the captions with odd times, or nil when there are none.
    public func timeAnomalySummary() -> String? {
        let anomalies = timeAnomalies
        guard !anomalies.isEmpty else { return nil }
        func example(_ reference: CaptionReference?) -> String {
            guard let reference, let captions = try? captions(ofVideo: reference.video),
                  let start = try? captions.startSeconds(at: reference.caption),
                  let end = try? captions.endSeconds(at: reference.caption),
                  let file = try? captionPath(ofVideo: reference.video) else { return "" }
            return " (the first: caption \(reference.caption), counted from 0, of \(file): "
                + "\(start) to \(end) s)"
        }
        var parts: [String] = []
        if anomalies.reversedCount > 0 {
            parts.append("\(anomalies.reversedCount) \(anomalies.reversedCount == 1 ? "caption starts" : "captions start") "
                         + "after \(anomalies.reversedCount == 1 ? "it ends" : "they end")" + example(anomalies.firstReversed))
        }
        if anomalies.negativeCount > 0 {
            parts.append("\(anomalies.negativeCount) \(anomalies.negativeCount == 1 ? "caption has" : "captions have") "
                         + "a negative start or end" + example(anomalies.firstNegative))
        }
        return "caption times: " + parts.joined(separator: "; ")
            + "; they are kept and sampled as the reference samples them (a span shorter than --min_time, a "
            + "reversed one included, is widened to --min_time from max(0, start - the shortfall / 2)); "
            + "correct the caption files if these times are not intended"
    }
}

// MARK: - Caption file names

extension TrainList {
    /// The videos whose caption file is not named after the video's file name without its
    /// extension: the reference takes the video id as the path up to its first '.', so
    /// `my.video.mp4` reads `my.csv`, and `v1.2/a.mp4` reads `v1.csv`.
    public var videosWithDottedNames: [Int] {
        videoPaths.indices.filter { index in
            let path = videoPaths[index]
            let slash = path.utf8.lastIndex(of: UInt8(ascii: "/")).map { path.utf8.index(after: $0) } ?? path.startIndex
            let lastDot = path.utf8[slash...].lastIndex(of: UInt8(ascii: "."))
            let withoutExtension = lastDot.map { String(path[..<$0]) } ?? path
            return TrainList.videoID(ofPath: path) != withoutExtension
        }
    }

    /// A warning about `videosWithDottedNames`, or nil when there are none.
    public func dottedNameWarning(captionRoot: String) -> String? {
        let videos = videosWithDottedNames
        guard let first = videos.first else { return nil }
        return "\(videos.count) of \(count) video paths have a '.' before their extension (the first: "
            + "\(videoPaths[first]), whose captions are read from \(captionPath(at: first, captionRoot: captionRoot))): "
            + "as in the reference, a video's id, and so its caption file's name, is its path up to the first '.'; "
            + "name the caption files that way, or the videos with a single '.'"
    }
}
