import Foundation
import MILNCE
import Testing
import TestSupport

/// Decodes a PNG with PIL, checking every chunk's CRC with `zlib.crc32`. Writes the RGB bytes to
/// the output path and prints what it found.
private let decodeScript = """
import json, struct, sys, zlib
from PIL import Image

path, output = sys.argv[1:3]
data = open(path, 'rb').read()
assert data[:8] == b'\\x89PNG\\r\\n\\x1a\\n', 'signature'
position, chunks, idat = 8, [], b''
while position < len(data):
    length, kind = struct.unpack('>I4s', data[position:position + 8])
    body = data[position + 8:position + 8 + length]
    crc, = struct.unpack('>I', data[position + 8 + length:position + 12 + length])
    assert crc == zlib.crc32(kind + body), 'CRC of ' + kind.decode()
    chunks.append(kind.decode())
    if kind == b'IDAT':
        idat += body
    position += 12 + length
zlib.decompress(idat)
image = Image.open(path)
image.load()
pixels = image.convert('RGB').tobytes()
open(output, 'wb').write(pixels)
print(json.dumps({'chunks': chunks, 'mode': image.mode, 'size': list(image.size)}))
"""

/// Decodes `png` in Python and returns what it reported and the decoded RGB bytes.
func decodePNGWithPython(_ png: [UInt8]) throws -> (report: [String: Any], pixels: [UInt8]) {
    let directory = try TestEnvironment.temporaryDirectory("png")
    defer { try? FileManager.default.removeItem(at: directory) }
    let input = directory.appendingPathComponent("image.png")
    let output = directory.appendingPathComponent("pixels.rgb")
    try Data(png).write(to: input)
    let report = try #require(try EvaluationOracle.json(decodeScript, arguments: [input.path, output.path]) as? [String: Any])
    return (report, [UInt8](try Data(contentsOf: output)))
}


/// Whether `color` is within `radius` pixels of (`x`, `y`).
private func image(_ image: Canvas, has color: RGBColor, near x: Int, _ y: Int, radius: Int = 1) -> Bool {
    for dy in -radius...radius {
        for dx in -radius...radius where image.color(x: x + dx, y: y + dy) == color { return true }
    }
    return false
}

/// The number of pixels of `color` inside a rectangle.
private func count(_ color: RGBColor, in image: Canvas, left: Int, top: Int, right: Int, bottom: Int) -> Int {
    var total = 0
    for y in max(top, 0)...min(bottom, image.height - 1) {
        for x in max(left, 0)...min(right, image.width - 1) where image.color(x: x, y: y) == color { total += 1 }
    }
    return total
}

private let red = RGBColor(red: 220, green: 20, blue: 60)
private let green = RGBColor(red: 10, green: 150, blue: 30)

@Suite("Line plots")
struct LinePlotTests {
    @Test("a line passes through the pixels of its points and the segments between them")
    func linePixels() throws {
        let series = PlotSeries(name: "loss", points: [PlotPoint(x: 0, y: 0), PlotPoint(x: 10, y: 10),
                                                       PlotPoint(x: 20, y: 5), PlotPoint(x: 35, y: 5)], color: red)
        let rendering = try LinePlot.render(panels: [PlotPanel(title: "Loss", series: [series], xLabel: "step")],
                                            width: 640, height: 360)
        let frame = try #require(rendering.frames.first)
        #expect(frame.xRange.contains(0) && frame.xRange.contains(35))
        #expect(frame.yRange.contains(0) && frame.yRange.contains(10))
        let points = series.points
        for (start, end) in zip(points, points.dropFirst()) {
            for step in 0...40 {
                let t = Double(step) / 40
                let x = start.x + (end.x - start.x) * t
                let y = start.y + (end.y - start.y) * t
                let pixel = try #require(frame.pixel(x: x, y: y))
                #expect(image(rendering.image, has: red, near: pixel.x, pixel.y), "no line at (\(x), \(y)) → \(pixel)")
            }
        }
        // Interior points are drawn exactly where the frame puts them.
        for point in points.dropFirst().dropLast() {
            let pixel = try #require(frame.pixel(x: point.x, y: point.y))
            #expect(rendering.image.color(x: pixel.x, y: pixel.y) == red)
        }
        // Far from the line there is none of its colour.
        let empty = try #require(frame.pixel(x: 30, y: 9.5))
        #expect(!image(rendering.image, has: red, near: empty.x, empty.y, radius: 5))
        // The colour appears nowhere outside the plot area but in the legend.
        #expect(count(red, in: rendering.image, left: 0, top: 0, right: frame.left - 2, bottom: rendering.image.height - 1) == 0)
    }

    @Test("ticks are round numbers inside the ranges, which cover the data")
    func ticks() throws {
        let series = PlotSeries(name: "R@1", x: [0, 1000, 2000, 3700], y: [0.013, 0.05, 0.11, 0.187])
        let rendering = try LinePlot.render(panels: [PlotPanel(title: "YouCook2", series: [series])], width: 800, height: 300)
        let frame = try #require(rendering.frames.first)
        #expect(frame.xTicks.count >= 3 && frame.yTicks.count >= 3)
        for (ticks, range) in [(frame.xTicks, frame.xRange), (frame.yTicks, frame.yRange)] {
            #expect(ticks == ticks.sorted())
            #expect(ticks.allSatisfy { range.contains($0) })
            let step = ticks[1] - ticks[0]
            let mantissa = step / pow(10, log10(step).rounded(.down))
            #expect([1, 2, 5].contains { abs(mantissa - Double($0)) < 1e-9 }, "step \(step)")
        }
        #expect(frame.xRange.lowerBound <= 0 && frame.xRange.upperBound >= 3700)
        #expect(frame.yRange.lowerBound <= 0.013 && frame.yRange.upperBound >= 0.187)
        // Tick labels are drawn left of the plot area.
        let text = RGBColor(red: 30, green: 30, blue: 30)
        #expect(count(text, in: rendering.image, left: 0, top: frame.top, right: frame.left - 5, bottom: frame.bottom) > 20)
    }

    @Test("NaN and infinite points are skipped and break the line")
    func nonFinitePoints() throws {
        let series = PlotSeries(name: "gaps", x: [0, 1, 2, 3, 4, 5, 6], y: [1, .nan, 3, .infinity, 2, 2.5, -.infinity],
                                color: red)
        let rendering = try LinePlot.render(panels: [PlotPanel(title: "", series: [series])], width: 400, height: 240)
        let frame = try #require(rendering.frames.first)
        #expect(frame.yRange.lowerBound <= 1 && frame.yRange.upperBound >= 3 && frame.yRange.upperBound < 10)
        // Isolated points become small squares.
        for (x, y) in [(0.0, 1.0), (2.0, 3.0)] {
            let pixel = try #require(frame.pixel(x: x, y: y))
            #expect(rendering.image.color(x: pixel.x, y: pixel.y) == red)
        }
        // No line across a gap: halfway from (0, 1) to (2, 3).
        let gap = try #require(frame.pixel(x: 1, y: 2))
        #expect(!image(rendering.image, has: red, near: gap.x, gap.y, radius: 2))
        // The run (4, 2)–(5, 2.5) is a line.
        let middle = try #require(frame.pixel(x: 4.5, y: 2.25))
        #expect(image(rendering.image, has: red, near: middle.x, middle.y))
    }

    @Test("empty, single-point and constant series render")
    func degenerateSeries() throws {
        let panels = [
            PlotPanel(title: "Empty", series: []),
            PlotPanel(title: "Nothing finite", series: [PlotSeries(name: "nan", x: [1, 2], y: [.nan, .nan])]),
            PlotPanel(title: "One point", series: [PlotSeries(name: "one", x: [5], y: [0.25], color: green)]),
            PlotPanel(title: "Constant", series: [PlotSeries(name: "flat", x: [0, 1, 2], y: [0.3, 0.3, 0.3], color: red)]),
        ]
        let rendering = try LinePlot.render(panels: panels, width: 420, height: 4 * 150)
        #expect(rendering.frames.count == 4)
        for frame in rendering.frames {
            #expect(frame.xRange.lowerBound < frame.xRange.upperBound)
            #expect(frame.yRange.lowerBound < frame.yRange.upperBound)
            #expect(frame.top > 0 && frame.bottom < rendering.image.height && frame.left < frame.right)
        }
        // Panels are stacked top to bottom.
        #expect(zip(rendering.frames, rendering.frames.dropFirst()).allSatisfy { $0.bottom < $1.top })
        let single = try #require(rendering.frames[2].pixel(x: 5, y: 0.25))
        #expect(rendering.image.color(x: single.x, y: single.y) == green)
        let constant = rendering.frames[3]
        #expect(constant.yRange.contains(0.3))
        let middle = try #require(constant.pixel(x: 1, y: 0.3))
        #expect(image(rendering.image, has: red, near: middle.x, middle.y))
        // The empty panels say so.
        let muted = RGBColor(red: 150, green: 150, blue: 150)
        let empty = rendering.frames[0]
        #expect(count(muted, in: rendering.image, left: empty.left + 1, top: empty.top + 1,
                      right: empty.right - 1, bottom: empty.bottom - 1) > 10)
    }

    @Test("extreme values do not break the layout")
    func extremes() throws {
        let panels = [
            PlotPanel(title: "huge", series: [PlotSeries(name: "h", x: [0, 1], y: [-1e308, 1e308])]),
            PlotPanel(title: "tiny", series: [PlotSeries(name: "t", x: [1e-300, 2e-300], y: [1e-12, 1.5e-12])]),
            PlotPanel(title: "max", series: [PlotSeries(name: "m", x: [0, 1], y: [.greatestFiniteMagnitude, .greatestFiniteMagnitude])]),
            PlotPanel(title: "steps", series: [PlotSeries(name: "s", x: [0, 4e9], y: [1, 2])]),
        ]
        let rendering = try LinePlot.render(panels: panels, width: 300, height: 500)
        #expect(rendering.frames.count == 4)
        #expect(rendering.image.pixels.count == 300 * 500 * 3)
    }

    @Test("the legend shows each named series' colour in the plot area's top-right corner")
    func legend() throws {
        // Lines fall from the top-left to the bottom-right, so the top-right holds just the legend.
        let series = [PlotSeries(name: "R@1", x: [0, 1], y: [0.01, 0], color: red),
                      PlotSeries(name: "R@10", x: [0, 1], y: [0.02, 0], color: green),
                      PlotSeries(name: "", x: [0, 1], y: [0.03, 0])]
        let rendering = try LinePlot.render(panels: [PlotPanel(title: "Recall", series: series)], width: 500, height: 300)
        let frame = try #require(rendering.frames.first)
        let corner = (left: (frame.left + frame.right) / 2, top: frame.top, right: frame.right, bottom: frame.top + 40)
        let dataTop = try #require(frame.pixel(x: 0.5, y: 0.015)).y
        try #require(dataTop > corner.bottom)
        #expect(count(red, in: rendering.image, left: corner.left, top: corner.top, right: corner.right, bottom: corner.bottom) >= 20)
        #expect(count(green, in: rendering.image, left: corner.left, top: corner.top, right: corner.right, bottom: corner.bottom) >= 20)
        #expect(rendering.colors == [[red, green, LinePlot.palette[2]]])
    }

    @Test("text is drawn with the bitmap font's glyphs")
    func text() {
        var canvas = Canvas(width: 40, height: 10, background: .white)
        canvas.drawText("R@1", x: 2, y: 1, color: .black)
        for (index, character) in "R@1".enumerated() {
            let rows = BitmapFont.glyph(for: character)
            for row in 0..<BitmapFont.glyphHeight {
                for column in 0..<BitmapFont.glyphWidth {
                    let ink = rows[row] & (1 << (BitmapFont.glyphWidth - 1 - column)) != 0
                    let pixel = canvas.color(x: 2 + index * BitmapFont.advance + column, y: 1 + row)
                    #expect(pixel == (ink ? .black : .white))
                }
            }
        }
        // Every printable character has its own glyph; others fall back to "?".
        let printable = (32..<127).map { Character(Unicode.Scalar(UInt8($0))) }
        #expect(printable.allSatisfy { BitmapFont.glyph(for: $0).count == BitmapFont.glyphHeight })
        #expect(Set(printable.map { BitmapFont.glyph(for: $0) }).count == printable.count)
        #expect(BitmapFont.glyph(for: "é") == BitmapFont.glyph(for: "?"))
        #expect(BitmapFont.width(of: "abc") == 17)
    }

    @Test("rejects sizes that cannot hold the panels")
    func errors() {
        let panel = PlotPanel(title: "x", series: [])
        #expect(throws: PlotError.noPanels) { try LinePlot.render(panels: [], width: 400, height: 300) }
        #expect(throws: PlotError.invalidSize(width: 100, height: 300, panelCount: 1)) {
            try LinePlot.render(panels: [panel], width: 100, height: 300)
        }
        #expect(throws: PlotError.invalidSize(width: 400, height: 150, panelCount: 2)) {
            try LinePlot.render(panels: [panel, panel], width: 400, height: 150)
        }
        #expect(throws: PlotError.self) { try LinePlot.render(panels: [panel], width: Int.max, height: Int.max) }
    }

    @Test("a training report PNG decodes to the rendered pixels")
    func pngOfPlot() throws {
        var random = SeededGenerator(seed: 77)
        let steps = (0..<500).map { Double($0 * 20) }
        let loss = steps.map { 6 * Foundation.exp(-$0 / 3000) + 0.2 * Double.random(in: 0..<1, using: &random) }
        let epochs = (0..<12).map(Double.init)
        let panels = [
            PlotPanel(title: "Training loss", series: [PlotSeries(name: "loss", x: steps, y: loss)], xLabel: "step"),
            PlotPanel(title: "YouCook2 retrieval", series: [
                PlotSeries(name: "R@1", x: epochs, y: epochs.map { 0.02 + 0.01 * $0 }),
                PlotSeries(name: "R@5", x: epochs, y: epochs.map { 0.08 + 0.02 * $0 }),
                PlotSeries(name: "R@10", x: epochs, y: epochs.map { 0.15 + 0.025 * $0 }),
            ], xLabel: "epoch"),
        ]
        let rendering = try LinePlot.render(panels: panels, width: 900, height: 700)
        let png = try LinePlot.renderPNG(panels: panels, width: 900, height: 700)
        let (report, pixels) = try decodePNGWithPython(png)
        #expect(report["size"] as? [Int] == [900, 700])
        #expect(pixels == rendering.image.pixels)
    }
}
