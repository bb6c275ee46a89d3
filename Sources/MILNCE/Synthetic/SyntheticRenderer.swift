// Drawing a planned video's frames: the background, then each visible shape, antialiased from its
// signed distance (one pixel of soft edge) and blended by its opacity.

import FoundationEssentials

// MARK: - Renderer

/// Renders the frames of one `SyntheticVideoPlan` as packed RGB (`frameSize` rows of
/// `frameSize` pixels, `R G B` bytes each). The same plan always gives the same bytes.
public struct SyntheticRenderer: Sendable {
    /// The plan being drawn.
    public let plan: SyntheticVideoPlan
    private let background: [UInt8]

    /// A renderer of `plan`.
    public init(plan: SyntheticVideoPlan) {
        self.plan = plan
        background = plan.background.pixels(size: plan.frameSize)
    }

    /// The time of frame `index`, in seconds (its presentation time).
    public func seconds(ofFrame index: Int) -> Double {
        Double(index) / plan.framesPerSecond
    }

    /// The pixels of frame `index` (the background alone for a frame outside the video).
    public func frame(_ index: Int) -> [UInt8] {
        var pixels = background
        draw(frame: index, into: &pixels)
        return pixels
    }

    /// Draws frame `index` into `pixels`, which must hold the background (a copy of `frame(_:)`'s
    /// starting point); a buffer of the wrong size is left unchanged.
    func draw(frame index: Int, into pixels: inout [UInt8]) {
        let size = plan.frameSize
        guard pixels.count == size * size * 3 else { return }
        let time = seconds(ofFrame: index)
        for track in plan.tracks {
            guard let state = track.state(atSeconds: time), state.opacity > 0, state.radius > 0 else { continue }
            draw(track.shape, color: track.color, state: state, into: &pixels)
        }
    }

    // MARK: Drawing

    private func draw(_ shape: ShapeKind, color: ShapeColor, state: ShapeState, into pixels: inout [UInt8]) {
        let size = plan.frameSize
        let side = Double(size)
        let centerX = state.x * side, centerY = state.y * side, radius = state.radius * side
        // Nothing of a shape outside this range can be on screen (and the pixel bounds below stay integers).
        let limit = 4 * side + 16
        guard abs(centerX) < limit, abs(centerY) < limit, radius.isFinite, radius < limit else { return }
        let reach = radius * SyntheticGeometry.extentInRadii + 1.5
        let firstColumn = max(0, Int((centerX - reach).rounded(.down)))
        let lastColumn = min(size - 1, Int((centerX + reach).rounded(.up)))
        let firstRow = max(0, Int((centerY - reach).rounded(.down)))
        let lastRow = min(size - 1, Int((centerY + reach).rounded(.up)))
        guard firstColumn <= lastColumn, firstRow <= lastRow else { return }
        let rgb = color.rgb
        let paint = [Double(rgb.red), Double(rgb.green), Double(rgb.blue)]
        let opacity = min(1, max(0, state.opacity))
        pixels.withUnsafeMutableBufferPointer { buffer in
            for row in firstRow...lastRow {
                let y = Double(row) + 0.5 - centerY
                for column in firstColumn...lastColumn {
                    let x = Double(column) + 0.5 - centerX
                    let distance = SyntheticRenderer.signedDistance(shape, x: x, y: y, radius: radius)
                    let coverage = min(1, max(0, 0.5 - distance))
                    guard coverage > 0 else { continue }
                    let alpha = coverage * opacity
                    let offset = (row * size + column) * 3
                    for channel in 0..<3 {
                        let old = Double(buffer[offset + channel])
                        buffer[offset + channel] = UInt8(clamping: Int((old + (paint[channel] - old) * alpha).rounded()))
                    }
                }
            }
        }
    }

    /// The signed distance in pixels from a point (relative to the shape's centre, y down) to the
    /// outline of `shape` of `radius` pixels: negative inside.
    static func signedDistance(_ shape: ShapeKind, x: Double, y: Double, radius: Double) -> Double {
        switch shape {
        case .circle:
            return (x * x + y * y).squareRoot() - radius
        case .square:
            return box(x: x, y: y, halfWidth: 0.8 * radius, halfHeight: 0.8 * radius)
        case .cross:
            let arm = radius, thickness = 0.33 * radius
            return min(box(x: x, y: y, halfWidth: arm, halfHeight: thickness),
                       box(x: x, y: y, halfWidth: thickness, halfHeight: arm))
        case .triangle:
            return triangle(x: x, y: -y, halfSide: radius)
        }
    }

    /// The signed distance to an axis-aligned box centred on the origin.
    private static func box(x: Double, y: Double, halfWidth: Double, halfHeight: Double) -> Double {
        let dx = abs(x) - halfWidth, dy = abs(y) - halfHeight
        let outside = (max(dx, 0) * max(dx, 0) + max(dy, 0) * max(dy, 0)).squareRoot()
        return outside + min(max(dx, dy), 0)
    }

    /// The signed distance to an equilateral triangle with its centroid at the origin, one corner
    /// pointing up (y up here), sides of `2 × halfSide`.
    private static func triangle(x: Double, y: Double, halfSide: Double) -> Double {
        let k = 3.0.squareRoot()
        var px = abs(x) - halfSide
        var py = y + halfSide / k
        if px + k * py > 0 {
            (px, py) = ((px - k * py) / 2, (-k * px - py) / 2)
        }
        px -= min(max(px, -2 * halfSide), 0)
        let length = (px * px + py * py).squareRoot()
        return py < 0 ? length : -length
    }
}
