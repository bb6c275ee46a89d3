import CFFmpeg

/// Crops, flips, scales and converts decoded frames to RGB exactly as `ffmpeg`'s filters
/// do for `crop=...[,scale=N:N][,hflip]` followed by `-pix_fmt rgb24`:
///
/// - `crop` rounds the window's size and position down to the chroma subsampling (even numbers
///   for 4:2:0) and works by moving the plane pointers;
/// - without scaling, `hflip` runs on the decoded format and one swscale pass converts to RGB;
/// - with scaling, one swscale pass scales the crop and converts to RGB, and `hflip` mirrors the
///   RGB result;
/// - swscale runs with flags 0 (its default, bicubic), MPEG-2 chroma siting for 4:2:0 input, and
///   the frame's own colour matrix and range, as the `scale` filter sets them.
final class FrameConverter {
    /// The cached swscale context and what it was made for.
    private var scaler: OpaquePointer?
    private var scalerKey: ScalerKey?
    private var colorKey: ColorKey?
    /// Reused frames: a view into the decoded frame, a flipped copy, the RGB output.
    private var view: UnsafeMutablePointer<AVFrame>?
    private var oriented: UnsafeMutablePointer<AVFrame>?
    private var flipped: UnsafeMutablePointer<AVFrame>?
    private var output: UnsafeMutablePointer<AVFrame>?

    private struct ScalerKey: Equatable {
        var sourceWidth: Int32, sourceHeight: Int32, sourceFormat: Int32, sourceRange: Int32
        var width: Int32, height: Int32
    }

    private struct ColorKey: Equatable {
        var colorspace: Int32, range: Int32
    }

    /// Where a crop falls in a frame.
    struct CropGeometry: Equatable {
        var x: Int, y: Int, width: Int, height: Int
    }

    deinit {
        if let scaler { sws_freeContext(scaler) }
        for frame in [view, oriented, flipped, output] {
            var pointer = frame
            av_frame_free(&pointer)
        }
    }

    // MARK: Geometry

    /// The `crop` filter's window for a `width`×`height` frame whose chroma is subsampled by
    /// `1 << horizontalShift` and `1 << verticalShift`; `nil` when the window does not fit.
    static func cropGeometry(frameWidth: Int, frameHeight: Int, horizontalShift: Int, verticalShift: Int,
                             size: Int, cropping: ClipCropping, offset: CropOffset) -> CropGeometry? {
        let horizontalMask = ~((1 << horizontalShift) - 1)
        let verticalMask = ~((1 << verticalShift) - 1)
        let side: Int
        switch cropping {
        case .window: side = size
        case .scaledSquare: side = min(frameWidth, frameHeight)
        }
        let width = side & horizontalMask
        let height = side & verticalMask
        guard width > 0, height > 0, width <= frameWidth, height <= frameHeight else { return nil }
        let freeWidth = Double(frameWidth) - Double(side)
        let freeHeight = Double(frameHeight) - Double(side)
        guard let rawX = roundedToInt(freeWidth * offset.horizontal),
              let rawY = roundedToInt(freeHeight * offset.vertical) else { return nil }
        var x = max(rawX, 0)
        var y = max(rawY, 0)
        if x + width > frameWidth { x = frameWidth - width }
        if y + height > frameHeight { y = frameHeight - height }
        return CropGeometry(x: x & horizontalMask, y: y & verticalMask, width: width, height: height)
    }

    /// `lrint` as the `crop` filter applies it (round half to even); `nil` for NaN or overflow.
    private static func roundedToInt(_ value: Double) -> Int? {
        guard value.isFinite, abs(value) < Double(Int32.max) else { return nil }
        return Int(value.rounded(.toNearestOrEven))
    }

    // MARK: Conversion

    /// Cuts the frame to a `size`×`size` square, perhaps mirrors and scales it, converts it to RGB
    /// and writes it into `target`'s three planes.
    ///
    /// swscale writes packed RGB24 into a reused frame, which is then split into the planes: its
    /// planar RGB output (`gbrp`) interpolates chroma differently and is not byte-identical to
    /// `ffmpeg -pix_fmt rgb24` for subsampled formats (4:2:0, 4:2:2), so it is not used.
    func convert(_ decoded: UnsafeMutablePointer<AVFrame>, size: Int, cropping: ClipCropping,
                 offset: CropOffset, flip: Bool, orientation: Orientation = .upright, into target: PlanarFrame) throws {
        let frame = orientation == .upright ? decoded : try orient(decoded, orientation)
        guard let descriptor = av_pix_fmt_desc_get(AVPixelFormat(frame.pointee.format)) else {
            throw ConversionFailure.unsupportedFormat("unknown pixel format \(frame.pointee.format)")
        }
        let flags = descriptor.pointee.flags
        if flags & UInt64(AV_PIX_FMT_FLAG_HWACCEL) != 0 || flags & UInt64(AV_PIX_FMT_FLAG_BITSTREAM) != 0 {
            throw ConversionFailure.unsupportedFormat(String(cString: descriptor.pointee.name))
        }
        guard let crop = Self.cropGeometry(frameWidth: Int(frame.pointee.width), frameHeight: Int(frame.pointee.height),
                                           horizontalShift: Int(descriptor.pointee.log2_chroma_w),
                                           verticalShift: Int(descriptor.pointee.log2_chroma_h),
                                           size: size, cropping: cropping, offset: offset) else {
            throw ConversionFailure.cropDoesNotFit(frameWidth: Int(frame.pointee.width),
                                                   frameHeight: Int(frame.pointee.height))
        }
        // The window is rounded down to the chroma subsampling: it must still be the clip's square.
        if cropping == .window && (crop.width != size || crop.height != size) { throw ConversionFailure.cropRoundedDown }

        let planeCount = Int(av_pix_fmt_count_planes(AVPixelFormat(frame.pointee.format)))
        var source = try cropView(of: frame, crop, descriptor: descriptor, planeCount: planeCount)
        if flip && cropping == .window {
            source = try mirroredCopy(of: source, descriptor: descriptor, planeCount: planeCount)
        }
        let rgb = try scale(source, width: size, height: size)
        try Self.splitPlanes(of: rgb, side: size, mirrored: flip && cropping == .scaledSquare, into: target)
    }

    /// The `crop` filter: a view of `frame` whose plane pointers are moved to the window.
    private func cropView(of frame: UnsafeMutablePointer<AVFrame>, _ crop: CropGeometry,
                          descriptor: UnsafePointer<AVPixFmtDescriptor>, planeCount: Int) throws
        -> UnsafeMutablePointer<AVFrame> {
        let view = try reusableFrame(&self.view)
        av_frame_unref(view)
        view.pointee.format = frame.pointee.format
        view.pointee.width = Int32(crop.width)
        view.pointee.height = Int32(crop.height)
        view.pointee.color_range = frame.pointee.color_range
        view.pointee.colorspace = frame.pointee.colorspace
        let horizontalShift = Int(descriptor.pointee.log2_chroma_w)
        let verticalShift = Int(descriptor.pointee.log2_chroma_h)
        let isPaletted = descriptor.pointee.flags & UInt64(AV_PIX_FMT_FLAG_PAL) != 0
        for plane in 0..<4 {
            guard let data = cffmpeg_frame_data(frame, Int32(plane)) else {
                cffmpeg_frame_set_plane(view, Int32(plane), nil, 0)
                continue
            }
            let linesize = cffmpeg_frame_linesize(frame, Int32(plane))
            let step = Int(cffmpeg_max_pixel_step(descriptor, Int32(plane)))
            var offsetBytes: Int
            if plane == 0 || plane == 3 {
                offsetBytes = crop.y * Int(linesize) + crop.x * step
            } else if isPaletted {
                offsetBytes = 0
            } else {
                offsetBytes = (crop.y >> verticalShift) * Int(linesize) + ((crop.x * step) >> horizontalShift)
            }
            if plane >= planeCount && plane != 3 { offsetBytes = 0 }
            cffmpeg_frame_set_plane(view, Int32(plane), data + offsetBytes, linesize)
        }
        return view
    }

    /// Splits a packed RGB24 picture of `side`×`side` into `target`'s planes, perhaps mirrored
    /// left to right (the `hflip` after scaling).
    private static func splitPlanes(of rgb: UnsafeMutablePointer<AVFrame>, side: Int, mirrored: Bool,
                                    into target: PlanarFrame) throws {
        guard let base = cffmpeg_frame_data(rgb, 0) else { throw ConversionFailure.scalingFailed("no output buffer") }
        let stride = Int(cffmpeg_frame_linesize(rgb, 0))
        for row in 0..<side {
            let line = UnsafePointer(base + row * stride)
            let start = row * side
            let red = target.red + start, green = target.green + start, blue = target.blue + start
            if mirrored {
                for column in 0..<side {
                    let pixel = line + (side - 1 - column) * 3
                    red[column] = pixel[0]
                    green[column] = pixel[1]
                    blue[column] = pixel[2]
                }
            } else {
                for column in 0..<side {
                    let pixel = line + column * 3
                    red[column] = pixel[0]
                    green[column] = pixel[1]
                    blue[column] = pixel[2]
                }
            }
        }
    }

    /// The frame turned upright (`transpose`, `hflip`, `vflip`) in a reused buffer; unchanged when
    /// its pixel format has unequal horizontal and vertical chroma subsampling or is not planar.
    private func orient(_ frame: UnsafeMutablePointer<AVFrame>, _ orientation: Orientation) throws
        -> UnsafeMutablePointer<AVFrame> {
        guard let descriptor = av_pix_fmt_desc_get(AVPixelFormat(frame.pointee.format)) else { return frame }
        let flags = descriptor.pointee.flags
        let unsupported = UInt64(AV_PIX_FMT_FLAG_HWACCEL) | UInt64(AV_PIX_FMT_FLAG_BITSTREAM) | UInt64(AV_PIX_FMT_FLAG_PAL)
        let horizontalShift = Int(descriptor.pointee.log2_chroma_w)
        let verticalShift = Int(descriptor.pointee.log2_chroma_h)
        if flags & unsupported != 0 { return frame }
        if case .transpose = orientation, horizontalShift != verticalShift { return frame }
        let inputWidth = Int(frame.pointee.width), inputHeight = Int(frame.pointee.height)
        let (width, height) = orientation.size(width: inputWidth, height: inputHeight)
        let target = try reusableFrame(&oriented)
        if target.pointee.format != frame.pointee.format || Int(target.pointee.width) != width
            || Int(target.pointee.height) != height || cffmpeg_frame_data(target, 0) == nil {
            av_frame_unref(target)
            target.pointee.format = frame.pointee.format
            target.pointee.width = Int32(width)
            target.pointee.height = Int32(height)
            let status = av_frame_get_buffer(target, 0)
            guard status >= 0 else { throw ConversionFailure.scalingFailed(ffmpegErrorMessage(status)) }
        }
        target.pointee.color_range = frame.pointee.color_range
        target.pointee.colorspace = frame.pointee.colorspace
        let planeCount = Int(av_pix_fmt_count_planes(AVPixelFormat(frame.pointee.format)))
        for plane in 0..<min(planeCount, 4) {
            guard let from = cffmpeg_frame_data(frame, Int32(plane)),
                  let to = cffmpeg_frame_data(target, Int32(plane)) else { continue }
            let isChroma = plane == 1 || plane == 2
            func planeSize(_ w: Int, _ h: Int) -> (Int, Int) {
                isChroma ? (-((-w) >> horizontalShift), -((-h) >> verticalShift)) : (w, h)
            }
            let (inWidth, inHeight) = planeSize(inputWidth, inputHeight)
            let (outWidth, outHeight) = planeSize(width, height)
            let step = Int(cffmpeg_max_pixel_step(descriptor, Int32(plane)))
            let fromStride = Int(cffmpeg_frame_linesize(frame, Int32(plane)))
            let toStride = Int(cffmpeg_frame_linesize(target, Int32(plane)))
            guard step > 0 else { continue }
            for row in 0..<outHeight {
                let output = to + row * toStride
                for column in 0..<outWidth {
                    let sourceRow: Int, sourceColumn: Int
                    switch orientation {
                    case .upright:
                        (sourceRow, sourceColumn) = (row, column)
                    case .transpose(let direction):
                        sourceRow = direction & 1 != 0 ? inHeight - 1 - column : column
                        sourceColumn = direction & 2 != 0 ? inWidth - 1 - row : row
                    case .flip(let horizontal, let vertical):
                        sourceRow = vertical ? inHeight - 1 - row : row
                        sourceColumn = horizontal ? inWidth - 1 - column : column
                    }
                    let a = from + sourceRow * fromStride + sourceColumn * step
                    let b = output + column * step
                    for byte in 0..<step { b[byte] = a[byte] }
                }
            }
        }
        return target
    }

    /// `hflip` of every plane of `frame` into a reused buffer.
    private func mirroredCopy(of frame: UnsafeMutablePointer<AVFrame>, descriptor: UnsafePointer<AVPixFmtDescriptor>,
                              planeCount: Int) throws -> UnsafeMutablePointer<AVFrame> {
        let target = try reusableFrame(&flipped)
        if target.pointee.format != frame.pointee.format || target.pointee.width != frame.pointee.width
            || target.pointee.height != frame.pointee.height || cffmpeg_frame_data(target, 0) == nil {
            av_frame_unref(target)
            target.pointee.format = frame.pointee.format
            target.pointee.width = frame.pointee.width
            target.pointee.height = frame.pointee.height
            let status = av_frame_get_buffer(target, 0)
            guard status >= 0 else { throw ConversionFailure.scalingFailed(ffmpegErrorMessage(status)) }
        }
        target.pointee.color_range = frame.pointee.color_range
        target.pointee.colorspace = frame.pointee.colorspace
        let horizontalShift = Int32(descriptor.pointee.log2_chroma_w)
        let verticalShift = Int32(descriptor.pointee.log2_chroma_h)
        let width = frame.pointee.width, height = frame.pointee.height
        for plane in 0..<min(planeCount, 4) {
            guard let from = cffmpeg_frame_data(frame, Int32(plane)),
                  let to = cffmpeg_frame_data(target, Int32(plane)) else { continue }
            let isChroma = plane == 1 || plane == 2
            let planeWidth = Int(isChroma ? -((-width) >> horizontalShift) : width)
            let planeHeight = Int(isChroma ? -((-height) >> verticalShift) : height)
            let step = Int(cffmpeg_max_pixel_step(descriptor, Int32(plane)))
            let fromStride = Int(cffmpeg_frame_linesize(frame, Int32(plane)))
            let toStride = Int(cffmpeg_frame_linesize(target, Int32(plane)))
            guard step > 0 else { continue }
            for row in 0..<planeHeight {
                let input = from + row * fromStride
                let output = to + row * toStride
                for column in 0..<planeWidth {
                    let a = input + (planeWidth - 1 - column) * step
                    let b = output + column * step
                    for byte in 0..<step { b[byte] = a[byte] }
                }
            }
        }
        // A paletted picture's colours travel with it: the new buffer's palette is not set.
        if descriptor.pointee.flags & UInt64(AV_PIX_FMT_FLAG_PAL) != 0,
           let from = cffmpeg_frame_data(frame, 1), let to = cffmpeg_frame_data(target, 1) {
            to.update(from: from, count: Int(AVPALETTE_SIZE))
        }
        return target
    }

    /// One swscale pass from `frame` to RGB24 of the given size, set up like the `scale` filter.
    private func scale(_ frame: UnsafeMutablePointer<AVFrame>, width: Int, height: Int) throws
        -> UnsafeMutablePointer<AVFrame> {
        let range = frame.pointee.color_range
        let key = ScalerKey(sourceWidth: frame.pointee.width, sourceHeight: frame.pointee.height,
                            sourceFormat: frame.pointee.format, sourceRange: Int32(range.rawValue),
                            width: Int32(width), height: Int32(height))
        let scaler = try self.scaler(for: key, range: range)
        setColorDetails(of: scaler, for: frame)
        let output = try reusableFrame(&self.output)
        if output.pointee.width != Int32(width) || output.pointee.height != Int32(height)
            || cffmpeg_frame_data(output, 0) == nil {
            av_frame_unref(output)
            output.pointee.format = AV_PIX_FMT_RGB24.rawValue
            output.pointee.width = Int32(width)
            output.pointee.height = Int32(height)
            let status = av_frame_get_buffer(output, 0)
            guard status >= 0 else { throw ConversionFailure.scalingFailed(ffmpegErrorMessage(status)) }
        }
        let status = withUnsafePointer(to: &frame.pointee.data) { sourceData in
            withUnsafePointer(to: &frame.pointee.linesize) { sourceStrides in
                withUnsafePointer(to: &output.pointee.data) { targetData in
                    withUnsafePointer(to: &output.pointee.linesize) { targetStrides in
                        sws_scale(scaler,
                                  UnsafeRawPointer(sourceData).assumingMemoryBound(to: UnsafePointer<UInt8>?.self),
                                  UnsafeRawPointer(sourceStrides).assumingMemoryBound(to: Int32.self),
                                  0, frame.pointee.height,
                                  UnsafeRawPointer(targetData).assumingMemoryBound(to: UnsafeMutablePointer<UInt8>?.self),
                                  UnsafeRawPointer(targetStrides).assumingMemoryBound(to: Int32.self))
                    }
                }
            }
        }
        guard status > 0 else { throw ConversionFailure.scalingFailed(ffmpegErrorMessage(status)) }
        return output
    }

    /// The cached swscale context for `key`, made anew when the key changes.
    private func scaler(for key: ScalerKey, range: AVColorRange) throws -> OpaquePointer {
        if let scaler, scalerKey == key { return scaler }
        if let scaler { sws_freeContext(scaler) }
        scaler = nil
        scalerKey = nil
        colorKey = nil
        guard let context = sws_alloc_context() else { throw ConversionFailure.scalingFailed("out of memory") }
        scaler = context
        let object = UnsafeMutableRawPointer(context)
        av_opt_set_int(object, "srcw", Int64(key.sourceWidth), 0)
        av_opt_set_int(object, "srch", Int64(key.sourceHeight), 0)
        av_opt_set_int(object, "src_format", Int64(key.sourceFormat), 0)
        av_opt_set_int(object, "dstw", Int64(key.width), 0)
        av_opt_set_int(object, "dsth", Int64(key.height), 0)
        av_opt_set_int(object, "dst_format", Int64(AV_PIX_FMT_RGB24.rawValue), 0)
        av_opt_set_int(object, "sws_flags", 0, 0)
        av_opt_set_int(object, "threads", 1, 0)
        if range != AVCOL_RANGE_UNSPECIFIED {
            av_opt_set_int(object, "src_range", range == AVCOL_RANGE_JPEG ? 1 : 0, 0)
        }
        let verticalChromaPosition: Int64 = key.sourceFormat == AV_PIX_FMT_YUV420P.rawValue ? 128 : -513
        av_opt_set_int(object, "src_h_chr_pos", -513, 0)
        av_opt_set_int(object, "src_v_chr_pos", verticalChromaPosition, 0)
        av_opt_set_int(object, "dst_h_chr_pos", -513, 0)
        av_opt_set_int(object, "dst_v_chr_pos", -513, 0)
        let status = sws_init_context(context, nil, nil)
        guard status >= 0 else { throw ConversionFailure.scalingFailed(ffmpegErrorMessage(status)) }
        scalerKey = key
        return context
    }

    /// The scale filter's per-frame colour set-up (its `in_color_matrix` is "auto").
    private func setColorDetails(of scaler: OpaquePointer, for frame: UnsafeMutablePointer<AVFrame>) {
        let range = frame.pointee.color_range
        let colors = ColorKey(colorspace: Int32(frame.pointee.colorspace.rawValue), range: Int32(range.rawValue))
        guard colorKey != colors else { return }
        var inverseTable: UnsafeMutablePointer<Int32>?
        var table: UnsafeMutablePointer<Int32>?
        var sourceFull: Int32 = 0, destinationFull: Int32 = 0
        var brightness: Int32 = 0, contrast: Int32 = 0, saturation: Int32 = 0
        sws_getColorspaceDetails(scaler, &inverseTable, &sourceFull, &table, &destinationFull,
                                 &brightness, &contrast, &saturation)
        var colorspace = colors.colorspace
        if colorspace < 1 || colorspace > 10 || colorspace == 8 { colorspace = Int32(AVCOL_SPC_BT470BG.rawValue) }
        let coefficients = sws_getCoefficients(colorspace)
        if range != AVCOL_RANGE_UNSPECIFIED { sourceFull = range == AVCOL_RANGE_JPEG ? 1 : 0 }
        sws_setColorspaceDetails(scaler, coefficients, sourceFull, coefficients, destinationFull,
                                 brightness, contrast, saturation)
        colorKey = colors
    }

    private func reusableFrame(_ slot: inout UnsafeMutablePointer<AVFrame>?) throws -> UnsafeMutablePointer<AVFrame> {
        if let frame = slot { return frame }
        guard let frame = av_frame_alloc() else { throw ConversionFailure.scalingFailed("out of memory") }
        slot = frame
        return frame
    }
}

/// How decoded pictures are turned upright from the stream's display matrix, as `ffmpeg` does
/// by default (its `autorotate`: a `transpose`, `hflip` or `vflip` filter before all others).
enum Orientation: Equatable {
    /// Shown as decoded.
    case upright
    /// FFmpeg's `transpose` filter: direction 0 = counter-clockwise and flipped, 1 = clockwise,
    /// 2 = counter-clockwise, 3 = clockwise and flipped.
    case transpose(direction: Int)
    /// Mirrored left to right and/or top to bottom.
    case flip(horizontal: Bool, vertical: Bool)

    /// The orientation `ffmpeg` derives from a display matrix (`nil`: none). Rotations by angles
    /// other than multiples of 90° (which `ffmpeg` interpolates) are left upright.
    init(displayMatrix matrix: UnsafePointer<Int32>?) {
        guard let matrix else {
            self = .upright
            return
        }
        var theta = -av_display_rotation_get(matrix).rounded()
        theta -= 360 * (theta / 360 + 0.9 / 360).rounded(.down)
        if abs(theta - 90) < 1 {
            self = .transpose(direction: matrix[3] > 0 ? 0 : 1)
        } else if abs(theta - 180) < 1 {
            self = .flip(horizontal: matrix[0] < 0, vertical: matrix[4] < 0)
        } else if abs(theta - 270) < 1 {
            self = .transpose(direction: matrix[3] < 0 ? 3 : 2)
        } else if abs(theta) < 1 && matrix[4] < 0 {
            self = .flip(horizontal: false, vertical: true)
        } else {
            self = .upright
        }
        if case .flip(false, false) = self { self = .upright }
    }

    /// The frame size after turning a `width`×`height` picture.
    func size(width: Int, height: Int) -> (width: Int, height: Int) {
        if case .transpose = self { return (height, width) }
        return (width, height)
    }
}

/// Why a frame could not be converted; the reader turns it into a `VideoError` naming the file.
enum ConversionFailure: Error {
    case unsupportedFormat(String)
    case cropDoesNotFit(frameWidth: Int, frameHeight: Int)
    /// The window, rounded down to the chroma subsampling, is smaller than the clip's square.
    case cropRoundedDown
    case scalingFailed(String)
}
