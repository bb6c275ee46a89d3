import Foundation
import Synchronization
import Testing
import TestSupport
import Video
@testable import MILNCE

// MARK: - Generated datasets

/// Small datasets generated once per test process and shared by the tests that only read them.
enum SyntheticFixtures {
    /// The options of the shared dataset: several events per video, a bystander shape, 64-pixel
    /// frames (enough pixels to tell shapes apart after compression).
    static let options = SyntheticDatasetOptions(trainingVideoCount: 8, evaluationVideoCount: 3, videoSeconds: 20,
                                                 eventsPerVideo: 3, frameSize: 64, framesPerSecond: 10, seed: 11,
                                                 codec: .h264, bystandersPerVideo: 1)

    /// The shared dataset, or the error that prevented making it.
    static let shared: Result<SyntheticDatasetSummary, Error> = Result {
        let folder = try TestEnvironment.sharedTemporaryDirectory("synth")
        return try SyntheticDataset.generate(options: options, in: folder)
    }


    /// The shared dataset's summary; throws when it could not be made.
    static func dataset() throws -> SyntheticDatasetSummary {
        try shared.get()
    }
}

/// Every file under `folder`, as paths relative to it, sorted.
func relativeFiles(under folder: URL) throws -> [String] {
    let root = folder.standardizedFileURL.path
    guard let enumerator = FileManager.default.enumerator(atPath: root) else {
        throw TestSupportError("cannot list \(root)")
    }
    var files: [String] = []
    while let path = enumerator.nextObject() as? String {
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: root + "/" + path, isDirectory: &isFolder), !isFolder.boolValue {
            files.append(path)
        }
    }
    return files.sorted()
}

// MARK: - Seeing colours and shapes

/// Finds the pixels of a colour in decoded frames by hue alone, independently of the generator's
/// palette: saturated, not dark, and of the colour's hue range. The backgrounds are muted, so they
/// never qualify.
enum ColourVision {
    /// The hue ranges, in degrees, of the colours captions name.
    static let hueRanges: [String: [Range<Double>]] = [
        "red": [0..<15, 330..<360], "orange": [15..<42], "yellow": [42..<75], "green": [75..<170],
        "blue": [190..<250], "purple": [250..<320],
    ]

    /// Whether the pixel `(red, green, blue)` shows `colour`.
    static func matches(_ colour: String, red: UInt8, green: UInt8, blue: UInt8) -> Bool {
        let r = Double(red), g = Double(green), b = Double(blue)
        let high = max(r, g, b), low = min(r, g, b)
        guard high >= 90, high > 0, (high - low) / high >= 0.45 else { return false }
        let span = high - low
        var hue: Double
        if high == r {
            hue = 60 * ((g - b) / span)
        } else if high == g {
            hue = 60 * ((b - r) / span) + 120
        } else {
            hue = 60 * ((r - g) / span) + 240
        }
        if hue < 0 { hue += 360 }
        return (hueRanges[colour] ?? []).contains { $0.contains(hue) }
    }

    /// What the pixels of `colour` in a frame look like.
    struct Blob {
        /// The number of pixels.
        var count: Int
        /// The centroid, in pixels.
        var x: Double
        var y: Double
        /// The bounding box.
        var left: Int, right: Int, top: Int, bottom: Int
        /// Which pixels of the bounding box show the colour, row by row.
        var mask: [[Bool]]

        /// How well each shape's outline, fitted to the bounding box, matches the pixels
        /// (intersection over union): a disc, a filled box, a triangle with its apex at the top
        /// centre and its base at the bottom, a plus sign with arms a third of the box wide.
        var fits: [String: Double] {
            let height = mask.count, width = mask.first?.count ?? 0
            let templates: [String: (Double, Double) -> Bool] = [
                "circle": { u, v in (u - 0.5) * (u - 0.5) + (v - 0.5) * (v - 0.5) <= 0.25 },
                "square": { _, _ in true },
                "triangle": { u, v in abs(u - 0.5) <= 0.5 * v },
                "cross": { u, v in abs(u - 0.5) <= 1.0 / 6 || abs(v - 0.5) <= 1.0 / 6 },
            ]
            var result: [String: Double] = [:]
            for (name, inside) in templates {
                var both = 0, either = 0
                for row in 0..<height {
                    for column in 0..<width {
                        let u = (Double(column) + 0.5) / Double(width), v = (Double(row) + 0.5) / Double(height)
                        let template = inside(u, v), seen = mask[row][column]
                        if template && seen { both += 1 }
                        if template || seen { either += 1 }
                    }
                }
                result[name] = either > 0 ? Double(both) / Double(either) : 0
            }
            return result
        }

        /// The shape whose outline fits the pixels best.
        var shape: String {
            fits.max { $0.value < $1.value || ($0.value == $1.value && $0.key > $1.key) }?.key ?? "none"
        }

        /// The measurements behind `shape`, for messages.
        var measurements: String {
            let values = fits.sorted { $0.key < $1.key }.map { "\($0.key) \(String(format: "%.2f", $0.value))" }
            return "fits: " + values.joined(separator: ", ") + ", \(count) pixels"
        }
    }

    /// The pixels of `colour` in `image`, or nil when there are none.
    static func blob(of colour: String, in image: RGBImage) -> Blob? {
        var count = 0
        var sumX = 0.0, sumY = 0.0
        var left = Int.max, right = Int.min, top = Int.max, bottom = Int.min
        var selected = Set<Int>()
        let pixels = image.pixels
        for row in 0..<image.height {
            for column in 0..<image.width {
                let offset = (row * image.width + column) * 3
                guard matches(colour, red: pixels[offset], green: pixels[offset + 1], blue: pixels[offset + 2]) else {
                    continue
                }
                count += 1
                sumX += Double(column) + 0.5
                sumY += Double(row) + 0.5
                left = min(left, column)
                right = max(right, column)
                top = min(top, row)
                bottom = max(bottom, row)
                selected.insert(row * image.width + column)
            }
        }
        guard count > 0 else { return nil }
        let mask = (top...bottom).map { row in (left...right).map { selected.contains(row * image.width + $0) } }
        return Blob(count: count, x: sumX / Double(count), y: sumY / Double(count), left: left, right: right,
                    top: top, bottom: bottom, mask: mask)
    }
}
