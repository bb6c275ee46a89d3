import FoundationEssentials
import Glibc
import Video

// MARK: - Data

/// One point of a series.
public struct PlotPoint: Equatable, Sendable, Codable {
    /// Horizontal coordinate (a step, an epoch).
    public var x: Double
    /// Vertical coordinate (a loss, a recall).
    public var y: Double

    /// Creates a point.
    public init(x: Double, y: Double) {
        self.x = x
        self.y = y
    }
}

/// A named line of points, drawn in the order given.
public struct PlotSeries: Equatable, Sendable {
    /// The legend's name for the line; empty names are left out of the legend.
    public var name: String
    /// The points. A point with a NaN or infinite coordinate is skipped and breaks the line.
    public var points: [PlotPoint]
    /// The colour, or `nil` for the next colour of `LinePlot.palette`.
    public var color: RGBColor?

    /// Creates a series.
    public init(name: String, points: [PlotPoint], color: RGBColor? = nil) {
        self.name = name
        self.points = points
        self.color = color
    }

    /// Creates a series from paired coordinates (extra values of the longer array are ignored).
    public init(name: String, x: [Double], y: [Double], color: RGBColor? = nil) {
        self.init(name: name, points: zip(x, y).map { PlotPoint(x: $0, y: $1) }, color: color)
    }
}

/// One chart: a title, axes with numeric ticks, lines and a legend.
public struct PlotPanel: Equatable, Sendable {
    /// The title above the chart.
    public var title: String
    /// The lines.
    public var series: [PlotSeries]
    /// The caption under the horizontal axis, if any (`step`).
    public var xLabel: String

    /// Creates a panel.
    public init(title: String, series: [PlotSeries], xLabel: String = "") {
        self.title = title
        self.series = series
        self.xLabel = xLabel
    }
}

// MARK: - Results

/// Where a panel's data went in the image: the plot area and the axis ranges.
public struct PlotFrame: Equatable, Sendable {
    /// The first column of the plot area.
    public var left: Int
    /// The first row of the plot area.
    public var top: Int
    /// The last column of the plot area.
    public var right: Int
    /// The last row of the plot area.
    public var bottom: Int
    /// The horizontal data range, from `left` to `right`.
    public var xRange: ClosedRange<Double>
    /// The vertical data range, from `bottom` to `top`.
    public var yRange: ClosedRange<Double>
    /// The horizontal tick values.
    public var xTicks: [Double]
    /// The vertical tick values.
    public var yTicks: [Double]

    /// The pixel (column, row) a data point is drawn at, or `nil` for a non-finite coordinate.
    /// Points outside the ranges are clamped to the plot area.
    public func pixel(x: Double, y: Double) -> (x: Int, y: Int)? {
        guard x.isFinite, y.isFinite else { return nil }
        func fraction(_ value: Double, _ range: ClosedRange<Double>) -> Double {
            let result = (value - range.lowerBound) / (range.upperBound - range.lowerBound)
            return result.isFinite ? min(max(result, 0), 1) : 0
        }
        let column = Double(left) + fraction(x, xRange) * Double(right - left)
        let row = Double(bottom) - fraction(y, yRange) * Double(bottom - top)
        return (Int(column.rounded()), Int(row.rounded()))
    }
}

/// A rendered chart and where each panel's data lies in it.
public struct PlotRendering: Sendable {
    /// The pixels.
    public var image: Canvas
    /// One frame per panel, top to bottom.
    public var frames: [PlotFrame]
    /// The colour each panel's series were drawn in.
    public var colors: [[RGBColor]]
}

/// Why a chart could not be rendered.
public enum PlotError: Error, CustomStringConvertible, Equatable {
    /// There is nothing to draw.
    case noPanels
    /// The image is too small for the panels, or too large.
    case invalidSize(width: Int, height: Int, panelCount: Int)

    /// What failed, on what, and why.
    public var description: String {
        switch self {
        case .noPanels:
            return "rendering a plot: no panels were given"
        case let .invalidSize(width, height, panelCount):
            return "rendering a plot: \(width) x \(height) pixels cannot hold \(panelCount) panels "
                + "(each needs at least \(LinePlot.minimumPanelWidth) x \(LinePlot.minimumPanelHeight), "
                + "and the image at most \(LinePlot.maximumPixelCount) pixels)"
        }
    }
}

// MARK: - Rendering

/// Renders line charts (panels stacked vertically) into RGB pixels or a PNG file.
public enum LinePlot {
    /// The colours given to series without one, in order.
    public static let palette: [RGBColor] = [
        RGBColor(red: 31, green: 119, blue: 180), RGBColor(red: 255, green: 127, blue: 14),
        RGBColor(red: 44, green: 160, blue: 44), RGBColor(red: 214, green: 39, blue: 40),
        RGBColor(red: 148, green: 103, blue: 189), RGBColor(red: 140, green: 86, blue: 75),
        RGBColor(red: 227, green: 119, blue: 194), RGBColor(red: 127, green: 127, blue: 127),
        RGBColor(red: 188, green: 189, blue: 34), RGBColor(red: 23, green: 190, blue: 207),
    ]
    /// The smallest panel width, in pixels.
    public static let minimumPanelWidth = 160
    /// The smallest panel height, in pixels.
    public static let minimumPanelHeight = 100
    /// The largest image, in pixels.
    public static let maximumPixelCount = 64 << 20
    /// The width of drawn lines, in pixels.
    public static let lineThickness = 2

    static let gridColor = RGBColor(red: 225, green: 225, blue: 225)
    static let axisColor = RGBColor.black
    static let textColor = RGBColor(red: 30, green: 30, blue: 30)
    static let mutedColor = RGBColor(red: 150, green: 150, blue: 150)

    /// The PNG file of the panels, stacked vertically in a `width × height` image.
    public static func renderPNG(panels: [PlotPanel], width: Int, height: Int) throws -> [UInt8] {
        let canvas = try render(panels: panels, width: width, height: height).image
        guard let image = Video.RGBImage(width: canvas.width, height: canvas.height, pixels: canvas.pixels) else {
            throw PlotError.invalidSize(width: width, height: height, panelCount: panels.count)
        }
        return [UInt8](try image.pngData())
    }

    /// Renders the panels, stacked vertically, into a `width × height` image.
    ///
    /// - Throws: `PlotError` when there are no panels or the size cannot hold them.
    public static func render(panels: [PlotPanel], width: Int, height: Int) throws -> PlotRendering {
        guard !panels.isEmpty else { throw PlotError.noPanels }
        let (pixelCount, overflow) = width.multipliedReportingOverflow(by: height)
        guard width >= minimumPanelWidth, height >= minimumPanelHeight * panels.count,
              !overflow, pixelCount <= maximumPixelCount else {
            throw PlotError.invalidSize(width: width, height: height, panelCount: panels.count)
        }
        var image = Canvas(width: width, height: height, background: .white)
        var frames: [PlotFrame] = []
        var colors: [[RGBColor]] = []
        for (index, panel) in panels.enumerated() {
            let top = index * height / panels.count
            let bottom = (index + 1) * height / panels.count - 1
            let (frame, panelColors) = draw(panel, into: &image, top: top, bottom: bottom)
            frames.append(frame)
            colors.append(panelColors)
        }
        return PlotRendering(image: image, frames: frames, colors: colors)
    }

    // MARK: Panel

    private static let glyphHeight = BitmapFont.glyphHeight
    private static let tickLength = 4

    /// Draws one panel between rows `top` and `bottom`.
    private static func draw(_ panel: PlotPanel, into image: inout Canvas, top: Int, bottom: Int)
        -> (PlotFrame, [RGBColor]) {
        let width = image.width
        let finite = panel.series.flatMap(\.points).filter { $0.x.isFinite && $0.y.isFinite }

        // Vertical layout: title, plot area, tick labels, axis caption.
        let plotTop = top + (panel.title.isEmpty ? 10 : 8 + glyphHeight + 8)
        var plotBottom = bottom - (6 + glyphHeight + 4 + tickLength)
        if !panel.xLabel.isEmpty { plotBottom -= glyphHeight + 5 }

        // The vertical axis first: its labels' width decides the left margin.
        let yAxis = Axis(values: finite.map(\.y), pixelLength: plotBottom - plotTop, pixelsPerTick: 40)
        let yLabels = yAxis.ticks.map { yAxis.label(for: $0) }
        let left = min(width / 2, 8 + (yLabels.map { BitmapFont.width(of: $0) }.max() ?? 0) + 4 + tickLength)
        // The horizontal axis: fewer ticks while their labels would crowd.
        var pixelsPerTick = 70
        var xAxis = Axis(values: finite.map(\.x), pixelLength: width - left - 16, pixelsPerTick: pixelsPerTick)
        while pixelsPerTick < 1000 {
            let widest = xAxis.ticks.map { BitmapFont.width(of: xAxis.label(for: $0)) }.max() ?? 0
            if (widest + 12) * xAxis.ticks.count <= width - left - 16 { break }
            pixelsPerTick *= 2
            xAxis = Axis(values: finite.map(\.x), pixelLength: width - left - 16, pixelsPerTick: pixelsPerTick)
        }
        let lastLabelWidth = BitmapFont.width(of: xAxis.ticks.last.map { xAxis.label(for: $0) } ?? "")
        let right = width - 1 - max(12, lastLabelWidth / 2 + 4)
        let frame = PlotFrame(left: left, top: plotTop, right: right, bottom: plotBottom,
                              xRange: xAxis.range, yRange: yAxis.range, xTicks: xAxis.ticks, yTicks: yAxis.ticks)

        // Title.
        if !panel.title.isEmpty {
            let titleX = max(left, (left + right) / 2 - BitmapFont.width(of: panel.title) / 2)
            image.drawText(panel.title, x: titleX, y: top + 8, color: textColor)
        }

        // Grid, ticks and tick labels.
        for (tick, label) in zip(yAxis.ticks, yLabels) {
            guard let row = frame.pixel(x: xAxis.range.lowerBound, y: tick)?.y else { continue }
            image.fill(left: left + 1, top: row, right: right - 1, bottom: row, with: gridColor)
            image.fill(left: left - tickLength, top: row, right: left - 1, bottom: row, with: axisColor)
            image.drawText(label, x: left - tickLength - 4 - BitmapFont.width(of: label), y: row - glyphHeight / 2,
                           color: textColor)
        }
        for tick in xAxis.ticks {
            guard let column = frame.pixel(x: tick, y: yAxis.range.lowerBound)?.x else { continue }
            let label = xAxis.label(for: tick)
            image.fill(left: column, top: plotTop + 1, right: column, bottom: plotBottom - 1, with: gridColor)
            image.fill(left: column, top: plotBottom + 1, right: column, bottom: plotBottom + tickLength, with: axisColor)
            image.drawText(label, x: column - BitmapFont.width(of: label) / 2, y: plotBottom + tickLength + 4,
                           color: textColor)
        }
        if !panel.xLabel.isEmpty {
            image.drawText(panel.xLabel, x: (left + right) / 2 - BitmapFont.width(of: panel.xLabel) / 2,
                           y: plotBottom + tickLength + 4 + glyphHeight + 5, color: textColor)
        }

        // The lines.
        var colors: [RGBColor] = []
        for (index, series) in panel.series.enumerated() {
            let color = series.color ?? palette[index % palette.count]
            colors.append(color)
            drawSeries(series, color: color, frame: frame, into: &image)
        }
        if finite.isEmpty {
            let message = "no data"
            image.drawText(message, x: (left + right) / 2 - BitmapFont.width(of: message) / 2,
                           y: (plotTop + plotBottom) / 2 - glyphHeight / 2, color: mutedColor)
        }

        // The frame, over the lines' ends.
        image.fill(left: left, top: plotTop, right: right, bottom: plotTop, with: axisColor)
        image.fill(left: left, top: plotBottom, right: right, bottom: plotBottom, with: axisColor)
        image.fill(left: left, top: plotTop, right: left, bottom: plotBottom, with: axisColor)
        image.fill(left: right, top: plotTop, right: right, bottom: plotBottom, with: axisColor)

        drawLegend(panel.series, colors: colors, frame: frame, into: &image)
        return (frame, colors)
    }

    /// Draws a series as lines between consecutive finite points; a finite point with no finite
    /// neighbour becomes a small square.
    private static func drawSeries(_ series: PlotSeries, color: RGBColor, frame: PlotFrame, into image: inout Canvas) {
        var previous: (x: Int, y: Int)?
        var runLength = 0
        func closeRun() {
            if runLength == 1, let point = previous {
                image.fill(left: point.x - 1, top: point.y - 1, right: point.x + 1, bottom: point.y + 1, with: color)
            }
            previous = nil
            runLength = 0
        }
        for point in series.points {
            guard let pixel = frame.pixel(x: point.x, y: point.y) else {
                closeRun()
                continue
            }
            if let start = previous {
                image.drawLine(from: start, to: pixel, color: color, thickness: lineThickness)
            }
            previous = pixel
            runLength += 1
        }
        closeRun()
    }

    /// Draws the legend in the plot area's top-right corner.
    private static func drawLegend(_ series: [PlotSeries], colors: [RGBColor], frame: PlotFrame,
                                   into image: inout Canvas) {
        let entries = zip(series, colors).filter { !$0.0.name.isEmpty }
        guard !entries.isEmpty else { return }
        let swatchWidth = 14
        let rowHeight = glyphHeight + 4
        let textWidth = entries.map { BitmapFont.width(of: $0.0.name) }.max() ?? 0
        let boxWidth = 5 + swatchWidth + 4 + textWidth + 5
        let boxHeight = 4 + rowHeight * entries.count
        let boxRight = frame.right - 6
        let boxLeft = max(frame.left + 2, boxRight - boxWidth)
        let boxTop = frame.top + 6
        let boxBottom = boxTop + boxHeight
        image.fill(left: boxLeft, top: boxTop, right: boxRight, bottom: boxBottom, with: .white)
        image.fill(left: boxLeft, top: boxTop, right: boxRight, bottom: boxTop, with: mutedColor)
        image.fill(left: boxLeft, top: boxBottom, right: boxRight, bottom: boxBottom, with: mutedColor)
        image.fill(left: boxLeft, top: boxTop, right: boxLeft, bottom: boxBottom, with: mutedColor)
        image.fill(left: boxRight, top: boxTop, right: boxRight, bottom: boxBottom, with: mutedColor)
        for (row, entry) in entries.enumerated() {
            let y = boxTop + 4 + row * rowHeight
            let middle = y + glyphHeight / 2
            image.fill(left: boxLeft + 5, top: middle - 1, right: boxLeft + 5 + swatchWidth - 1, bottom: middle + 1,
                       with: entry.1)
            image.drawText(entry.0.name, x: boxLeft + 5 + swatchWidth + 4, y: y, color: textColor)
        }
    }
}

// MARK: - Axes

/// An axis: the data range widened by a small margin, with ticks at "nice" values
/// (multiples of 1, 2 or 5 times a power of ten) inside it.
struct Axis {
    /// The data range the axis spans.
    var range: ClosedRange<Double>
    /// The tick values, ascending.
    var ticks: [Double]
    /// The spacing of the ticks.
    var step: Double

    /// The fraction of the data's span added on each side, so no point lies on the frame.
    static let margin = 0.04

    /// The axis of `values` (all finite) for `pixelLength` pixels, about one tick per `pixelsPerTick`.
    init(values: [Double], pixelLength: Int, pixelsPerTick: Int) {
        var low = values.min() ?? 0
        var high = values.max() ?? 1
        if low == high {
            let padding = low == 0 ? 1 : abs(low) * 0.1
            low -= padding
            high += padding
        } else {
            let padding = (high - low) * Axis.margin
            if padding.isFinite, (low - padding).isFinite, (high + padding).isFinite {
                low -= padding
                high += padding
            }
        }
        let targetCount = max(2.0, Double(pixelLength) / Double(max(pixelsPerTick, 1)))
        let span = high - low
        let step = Axis.niceStep(span / targetCount)
        let first = (low / step).rounded(.up) * step
        let last = (high / step).rounded(.down) * step
        let count = ((last - first) / step).rounded()
        guard low < high, high.isFinite, low.isFinite else {
            // Beyond Double's range (padding a value near the largest finite one).
            range = low.isFinite ? low...low.nextUp : -Double.greatestFiniteMagnitude...Double.greatestFiniteMagnitude
            ticks = []
            self.step = .nan
            return
        }
        range = low...high
        guard span.isFinite, step.isFinite, step > 0, first.isFinite, last.isFinite, count >= 0, count <= 200 else {
            // Spans beyond Double's range: the bounds as the only ticks.
            ticks = [low, high]
            self.step = .nan
            return
        }
        let bounds = low...high
        ticks = (0...Int(count)).map { index in
            let value = first + Double(index) * step
            return abs(value) < step * 1e-9 ? 0 : value
        }.filter { bounds.contains($0) }
        self.step = step
    }

    /// The "nice" number (1, 2 or 5 × 10ⁿ) at or above `raw`.
    static func niceStep(_ raw: Double) -> Double {
        guard raw.isFinite, raw > 0 else { return .nan }
        let magnitude = Glibc.pow(10, (Glibc.log10(raw)).rounded(.down))
        let residual = raw / magnitude
        let nice: Double = residual <= 1 ? 1 : residual <= 2 ? 2 : residual <= 5 ? 5 : 10
        return nice * magnitude
    }

    /// The text of a tick: fixed-point with as many decimals as the step needs, or scientific
    /// notation for very large or small values.
    func label(for value: Double) -> String {
        if value == 0 { return "0" }
        let magnitude = max(abs(range.lowerBound), abs(range.upperBound))
        guard step.isFinite, step > 0, magnitude.isFinite else { return String(cFormat: "%.3g", value) }
        let stepExponent = Int(Glibc.log10(step).rounded(.down))
        if magnitude >= 1e6 || step < 1e-4 {
            let valueExponent = Int(Glibc.log10(magnitude).rounded(.down))
            let digits = min(max(valueExponent - stepExponent + 1, 1), 15)
            return String(cFormat: "%.\(digits)g", value)
        }
        return String(cFormat: "%.\(max(0, -stepExponent))f", value)
    }
}
