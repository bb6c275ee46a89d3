import Foundation
import MILNCE
import Testing
import TestSupport

/// The HMDB-51 protocol in Python: per split, `LinearSVC(C=100)` on the train videos' windows,
/// test decision values summed over each video's windows, argmax, top-1 accuracy.
private let referenceProtocolScript = """
import json, sys
import numpy as np
from sklearn.svm import LinearSVC

features_path, meta_path = sys.argv[1:3]
meta = json.load(open(meta_path))
window_videos = np.array(meta['window_videos'])
labels = np.array(meta['labels'])
splits = np.array(meta['splits'])  # videos x splits
x = np.fromfile(features_path, dtype='<f4').reshape(len(window_videos), -1)
results = []
for split in range(splits.shape[1]):
    train_windows = np.where(splits[window_videos, split] == 1)[0]
    model = LinearSVC(C=100).fit(x[train_windows], labels[window_videos[train_windows]])
    correct, total = 0, 0
    for video in np.where(splits[:, split] == 2)[0]:
        scores = model.decision_function(x[window_videos == video])
        summed = scores.sum(axis=0)
        predicted = model.classes_[int(summed > 0)] if summed.ndim == 0 else model.classes_[np.argmax(summed)]
        correct += int(predicted == labels[video])
        total += 1
    results.append({'correct': correct, 'total': total, 'accuracy': correct / total,
                    'train_windows': len(train_windows)})
print(json.dumps(results))
"""

@Suite("HMDB linear evaluation")
struct HMDBLinearEvaluationTests {
    /// Videos of `classCount` overlapping classes with 1 to 5 windows each, and random roles in
    /// three splits.
    private func makeData(classCount: Int, videoCount: Int, dimension: Int, seed: UInt64)
        -> (features: [Float], windowVideos: [Int], videos: [LinearEvaluationVideo]) {
        var random = SeededGenerator(seed: seed)
        let centres = (0..<classCount).map { _ in (0..<dimension).map { _ in random.normal() * 0.5 } }
        var features: [Float] = []
        var windowVideos: [Int] = []
        var videos: [LinearEvaluationVideo] = []
        for video in 0..<videoCount {
            let label = video < classCount ? video : Int.random(in: 0..<classCount, using: &random)
            let roles = (0..<3).map { _ -> SplitRole in
                // Every class has a training video in every split.
                if video < classCount { return .train }
                let draw = Double.random(in: 0..<1, using: &random)
                return draw < 0.1 ? .unused : (draw < 0.65 ? .train : .test)
            }
            videos.append(LinearEvaluationVideo(label: label * 2 + 1, splits: roles))
            let offset = (0..<dimension).map { _ in random.normal() * 0.5 }
            for _ in 0..<Int.random(in: 1...5, using: &random) {
                windowVideos.append(video)
                for feature in 0..<dimension {
                    features.append(Float(centres[label][feature] + offset[feature] + random.normal()))
                }
            }
        }
        return (features, windowVideos, videos)
    }

    @Test("matches the protocol computed with scikit-learn")
    func matchesScikitLearn() throws {
        let dimension = 24
        let (features, windowVideos, videos) = makeData(classCount: 6, videoCount: 120, dimension: dimension, seed: 51)
        let directory = try TestEnvironment.temporaryDirectory("hmdb")
        defer { try? FileManager.default.removeItem(at: directory) }
        let featureFile = try EvaluationOracle.writeFloats(features, named: "features.f32", in: directory)
        let meta: [String: Any] = [
            "window_videos": windowVideos,
            "labels": videos.map(\.label),
            "splits": videos.map { $0.splits.map(\.rawValue) },
        ]
        let metaFile = try EvaluationOracle.writeJSON(meta, named: "meta.json", in: directory)
        let reference = try #require(try EvaluationOracle.json(
            referenceProtocolScript, arguments: [featureFile.path, metaFile.path]) as? [[String: Any]])

        let result = try HMDBLinearEvaluation.evaluate(windowFeatures: features, featureCount: dimension,
                                                       windowVideos: windowVideos, videos: videos)
        try #require(result.splits.count == 3 && reference.count == 3)
        for (ours, theirs) in zip(result.splits, reference) {
            #expect(ours.correctCount == theirs["correct"] as? Int, "split \(ours.split)")
            #expect(ours.testVideoCount == theirs["total"] as? Int, "split \(ours.split)")
            #expect(ours.trainWindowCount == theirs["train_windows"] as? Int, "split \(ours.split)")
            #expect(ours.accuracy == Double(ours.correctCount) / Double(ours.testVideoCount))
        }
        let mean = result.splits.map(\.accuracy).reduce(0, +) / 3
        #expect(abs(result.meanAccuracy - mean) < 1e-15)
        print("HMDB protocol on generated data: accuracies \(result.splits.map(\.accuracy)), mean \(result.meanAccuracy)")
        // The classes overlap: neither chance nor perfection.
        #expect(result.meanAccuracy > 1.0 / 6 && result.meanAccuracy < 1)
    }

    @Test("rejects malformed input with typed errors")
    func errors() throws {
        let videos = [LinearEvaluationVideo(label: 0, splits: [.train]), LinearEvaluationVideo(label: 1, splits: [.test])]
        #expect(throws: LinearEvaluationError.featureShapeMismatch(valueCount: 3, windowCount: 2, featureCount: 2)) {
            try HMDBLinearEvaluation.evaluate(windowFeatures: [1, 2, 3], featureCount: 2, windowVideos: [0, 1], videos: videos)
        }
        #expect(throws: LinearEvaluationError.windowVideoOutOfRange(window: 1, video: 7, videoCount: 2)) {
            try HMDBLinearEvaluation.evaluate(windowFeatures: [1, 2, 3, 4], featureCount: 2, windowVideos: [0, 7], videos: videos)
        }
        #expect(throws: LinearEvaluationError.noSplits) {
            try HMDBLinearEvaluation.evaluate(windowFeatures: [], featureCount: 2, windowVideos: [], videos: [])
        }
        let uneven = [LinearEvaluationVideo(label: 0, splits: [.train, .test]), LinearEvaluationVideo(label: 1, splits: [.test])]
        #expect(throws: LinearEvaluationError.inconsistentSplitCount(video: 1, splitCount: 1, expected: 2)) {
            try HMDBLinearEvaluation.evaluate(windowFeatures: [1, 2, 3, 4], featureCount: 2, windowVideos: [0, 1], videos: uneven)
        }
        // One training class only.
        #expect(throws: LinearEvaluationError.classifier(split: 1, .singleClass(label: 0))) {
            try HMDBLinearEvaluation.evaluate(windowFeatures: [1, 2, 3, 4], featureCount: 2, windowVideos: [0, 1], videos: videos)
        }
        let noTest = [LinearEvaluationVideo(label: 0, splits: [.train]), LinearEvaluationVideo(label: 1, splits: [.train])]
        #expect(throws: LinearEvaluationError.emptySplit(split: 1, part: "test videos")) {
            try HMDBLinearEvaluation.evaluate(windowFeatures: [1, 2, 3, 4], featureCount: 2, windowVideos: [0, 1], videos: noTest)
        }
        let windowless = videos + [LinearEvaluationVideo(label: 1, splits: [.test])]
        #expect(throws: LinearEvaluationError.testVideoWithoutWindows(split: 1, video: 2)) {
            try HMDBLinearEvaluation.evaluate(windowFeatures: [1, 2, 3, 4], featureCount: 2, windowVideos: [0, 1], videos: windowless)
        }
    }
}
