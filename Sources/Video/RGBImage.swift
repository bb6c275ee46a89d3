import CFFmpeg
import FoundationEssentials
import POSIX

/// An 8-bit RGB picture: `height` rows of `width` pixels, 3 bytes each (FFmpeg's `rgb24`).
public struct RGBImage: Sendable, Equatable {
    /// The width in pixels.
    public let width: Int
    /// The height in pixels.
    public let height: Int
    /// The pixels, row by row, `R G B` per pixel: `width * height * 3` bytes.
    public private(set) var pixels: [UInt8]

    /// An image from its pixels; `nil` when their number is not `width * height * 3`.
    public init?(width: Int, height: Int, pixels: [UInt8]) {
        guard width > 0, height > 0, pixels.count == width * height * 3 else { return nil }
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// An image of one colour.
    public init?(width: Int, height: Int, red: UInt8, green: UInt8, blue: UInt8) {
        guard width > 0, height > 0 else { return nil }
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for index in stride(from: 0, to: pixels.count, by: 3) {
            pixels[index] = red
            pixels[index + 1] = green
            pixels[index + 2] = blue
        }
        self.init(width: width, height: height, pixels: pixels)
    }

    // MARK: Contact sheets

    /// The frames of `clip` tiled left to right, top to bottom, `columns` to a row (all in one
    /// row by default, at most 8), with `separator` pixels of `separatorGray` between them: what
    /// the network sees, in one picture. `nil` for a clip without frames.
    public static func contactSheet(of clip: Clip, columns: Int? = nil, separator: Int = 2,
                                    separatorGray: UInt8 = 255) -> RGBImage? {
        let count = clip.frameCount
        guard count > 0, clip.size > 0 else { return nil }
        let perRow = max(1, min(columns ?? min(count, 8), count))
        let rows = (count + perRow - 1) / perRow
        let gap = max(0, separator)
        let side = clip.size
        let width = perRow * side + (perRow - 1) * gap
        let height = rows * side + (rows - 1) * gap
        guard var sheet = RGBImage(width: width, height: height, red: separatorGray, green: separatorGray,
                                   blue: separatorGray) else { return nil }
        let plane = side * side
        clip.pixels.withUnsafeBufferPointer { source in
            sheet.pixels.withUnsafeMutableBufferPointer { target in
                for index in 0..<count {
                    let left = (index % perRow) * (side + gap)
                    let top = (index / perRow) * (side + gap)
                    for channel in 0..<3 {
                        let base = (channel * count + index) * plane
                        for row in 0..<side {
                            var out = ((top + row) * width + left) * 3 + channel
                            let rowStart = base + row * side
                            for column in 0..<side {
                                target[out] = source[rowStart + column]
                                out += 3
                            }
                        }
                    }
                }
            }
        }
        return sheet
    }

    // MARK: Files

    /// Writes the image as a PNG file (FFmpeg's PNG encoder).
    public func writePNG(to url: URL) throws {
        let data = try pngData(path: url.path)
        do {
            try data.write(to: url)
        } catch {
            throw VideoError.ioError(path: url.path, operation: "write PNG", reason: describeSystemError(error))
        }
    }

    /// The image encoded as PNG.
    public func pngData() throws -> Data {
        try pngData(path: "PNG image")
    }

    private func pngData(path: String) throws -> Data {
        guard let codec = avcodec_find_encoder(AV_CODEC_ID_PNG) else {
            throw VideoError.unsupportedCodec(path: path, codec: "png")
        }
        var context = avcodec_alloc_context3(codec)
        var frame = av_frame_alloc()
        var packet = av_packet_alloc()
        defer {
            avcodec_free_context(&context)
            av_frame_free(&frame)
            av_packet_free(&packet)
        }
        guard let context, let frame, let packet else {
            throw VideoError.encodingFailed(path: path, reason: "out of memory")
        }
        context.pointee.width = Int32(width)
        context.pointee.height = Int32(height)
        context.pointee.pix_fmt = AV_PIX_FMT_RGB24
        context.pointee.time_base = AVRational(num: 1, den: 1)
        context.pointee.flags |= AV_CODEC_FLAG_BITEXACT
        var status = avcodec_open2(context, codec, nil)
        guard status >= 0 else { throw VideoError.encodingFailed(path: path, reason: ffmpegErrorMessage(status)) }
        frame.pointee.format = AV_PIX_FMT_RGB24.rawValue
        frame.pointee.width = Int32(width)
        frame.pointee.height = Int32(height)
        status = av_frame_get_buffer(frame, 0)
        guard status >= 0, let base = cffmpeg_frame_data(frame, 0) else {
            throw VideoError.encodingFailed(path: path, reason: ffmpegErrorMessage(status))
        }
        let stride = Int(cffmpeg_frame_linesize(frame, 0))
        pixels.withUnsafeBufferPointer { source in
            guard let start = source.baseAddress else { return }
            for row in 0..<height {
                (base + row * stride).update(from: start + row * width * 3, count: width * 3)
            }
        }
        frame.pointee.pts = 0
        status = avcodec_send_frame(context, frame)
        guard status >= 0 else { throw VideoError.encodingFailed(path: path, reason: ffmpegErrorMessage(status)) }
        _ = avcodec_send_frame(context, nil)
        var data = Data()
        while avcodec_receive_packet(context, packet) >= 0 {
            if let bytes = packet.pointee.data, packet.pointee.size > 0 {
                data.append(bytes, count: Int(packet.pointee.size))
            }
            av_packet_unref(packet)
        }
        guard !data.isEmpty else { throw VideoError.encodingFailed(path: path, reason: "the PNG encoder gave no data") }
        return data
    }
}

extension Clip {
    /// Writes the frames as raw video, `frameCount x size x size x 3` bytes, frames back to back
    /// (what `ffmpeg -f rawvideo -pix_fmt rgb24` writes; `ffplay -f rawvideo -pixel_format rgb24
    /// -video_size NxN` plays it).
    public func writeRawRGB(to url: URL) throws {
        do {
            try Data(packedPixels).write(to: url)
        } catch {
            throw VideoError.ioError(path: url.path, operation: "write raw video", reason: describeSystemError(error))
        }
    }
}
