// MARK: - Colours

/// A 24-bit colour.
public struct RGBColor: Equatable, Hashable, Sendable, Codable {
    /// Red, 0–255.
    public var red: UInt8
    /// Green, 0–255.
    public var green: UInt8
    /// Blue, 0–255.
    public var blue: UInt8

    /// Creates a colour from its components.
    public init(red: UInt8, green: UInt8, blue: UInt8) {
        self.red = red
        self.green = green
        self.blue = blue
    }

    /// White.
    public static let white = RGBColor(red: 255, green: 255, blue: 255)
    /// Black.
    public static let black = RGBColor(red: 0, green: 0, blue: 0)
}

// MARK: - Pixel buffer

/// An RGB24 image: `height` rows of `width` pixels, three bytes each, top row first.
public struct Canvas: Equatable, Sendable {
    /// Pixels per row.
    public let width: Int
    /// Number of rows.
    public let height: Int
    /// `width × height × 3` bytes, row-major, red first.
    public private(set) var pixels: [UInt8]

    /// A `width × height` image filled with `background`. Negative sizes count as zero, and a
    /// size whose byte count overflows `Int` gives an empty image.
    public init(width: Int, height: Int, background: RGBColor = .white) {
        let (pixelCount, overflow) = max(0, width).multipliedReportingOverflow(by: max(0, height))
        let valid = !overflow && !pixelCount.multipliedReportingOverflow(by: 3).overflow
        self.width = valid ? max(0, width) : 0
        self.height = valid ? max(0, height) : 0
        var pixels = [UInt8](repeating: 0, count: self.width * self.height * 3)
        for index in stride(from: 0, to: pixels.count, by: 3) {
            pixels[index] = background.red
            pixels[index + 1] = background.green
            pixels[index + 2] = background.blue
        }
        self.pixels = pixels
    }

    /// The colour at column `x`, row `y`, or `nil` outside the image.
    public func color(x: Int, y: Int) -> RGBColor? {
        guard x >= 0, y >= 0, x < width, y < height else { return nil }
        let index = (y * width + x) * 3
        return RGBColor(red: pixels[index], green: pixels[index + 1], blue: pixels[index + 2])
    }

    /// Paints one pixel; positions outside the image are ignored.
    public mutating func set(x: Int, y: Int, to color: RGBColor) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        let index = (y * width + x) * 3
        pixels[index] = color.red
        pixels[index + 1] = color.green
        pixels[index + 2] = color.blue
    }

    /// Fills the rectangle of columns `left...right` and rows `top...bottom`, clipped to the image.
    public mutating func fill(left: Int, top: Int, right: Int, bottom: Int, with color: RGBColor) {
        let x0 = max(left, 0), x1 = min(right, width - 1)
        let y0 = max(top, 0), y1 = min(bottom, height - 1)
        guard x0 <= x1, y0 <= y1 else { return }
        for y in y0...y1 {
            for x in x0...x1 { set(x: x, y: y, to: color) }
        }
    }

    /// Draws a straight line between two pixel centres (Bresenham), every pixel of it painted
    /// with a `thickness × thickness` square whose top-left corner is on the line. Endpoints
    /// are clamped to a margin around the image, so far-away points cannot stall drawing.
    public mutating func drawLine(from start: (x: Int, y: Int), to end: (x: Int, y: Int), color: RGBColor,
                                  thickness: Int = 1) {
        let limit = 4 * max(width, height) + 16
        func clamp(_ value: Int) -> Int { min(max(value, -limit), limit) }
        var x = clamp(start.x), y = clamp(start.y)
        let x1 = clamp(end.x), y1 = clamp(end.y)
        let dx = abs(x1 - x), dy = -abs(y1 - y)
        let stepX = x < x1 ? 1 : -1, stepY = y < y1 ? 1 : -1
        var error = dx + dy
        let brush = max(thickness, 1)
        while true {
            if brush == 1 {
                set(x: x, y: y, to: color)
            } else {
                fill(left: x, top: y, right: x + brush - 1, bottom: y + brush - 1, with: color)
            }
            if x == x1 && y == y1 { break }
            let doubled = 2 * error
            if doubled >= dy {
                error += dy
                x += stepX
            }
            if doubled <= dx {
                error += dx
                y += stepY
            }
        }
    }

    /// Draws `text` with the built-in bitmap font, its top-left corner at (`x`, `y`), each font
    /// pixel a `scale × scale` square.
    public mutating func drawText(_ text: String, x: Int, y: Int, color: RGBColor, scale: Int = 1) {
        let scale = max(scale, 1)
        var penX = x
        for character in text {
            let rows = BitmapFont.glyph(for: character)
            for (rowIndex, bits) in rows.enumerated() {
                for column in 0..<BitmapFont.glyphWidth where bits & (1 << (BitmapFont.glyphWidth - 1 - column)) != 0 {
                    fill(left: penX + column * scale, top: y + rowIndex * scale,
                         right: penX + column * scale + scale - 1, bottom: y + rowIndex * scale + scale - 1, with: color)
                }
            }
            penX += BitmapFont.advance * scale
        }
    }
}
