/* FFmpeg's headers for Swift, and the macros Swift cannot import, as inline functions. */
#ifndef CFFMPEG_SHIM_H
#define CFFMPEG_SHIM_H

#include <errno.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/avutil.h>
#include <libavutil/display.h>
#include <libavutil/error.h>
#include <libavutil/imgutils.h>
#include <libavutil/mathematics.h>
#include <libavutil/opt.h>
#include <libavutil/parseutils.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>

// MARK: Errors

/// AVERROR(EAGAIN): the decoder wants more input / has no output yet.
static inline int cffmpeg_error_again(void) { return AVERROR(EAGAIN); }
/// AVERROR_EOF: end of stream.
static inline int cffmpeg_error_eof(void) { return AVERROR_EOF; }
/// AVERROR_INVALIDDATA: the data is not what the reader expected.
static inline int cffmpeg_error_invalid_data(void) { return AVERROR_INVALIDDATA; }
/// AVERROR(code) for a POSIX error code.
static inline int cffmpeg_error_from_errno(int code) { return AVERROR(code); }
/// Whether an FFmpeg error code wraps a POSIX error code (AVERROR(e) for some e), and which.
static inline int cffmpeg_errno_of_error(int error) { return (error < 0 && error > -4096) ? -error : 0; }

// MARK: Time

/// AV_NOPTS_VALUE: no timestamp.
static inline int64_t cffmpeg_no_pts(void) { return AV_NOPTS_VALUE; }
/// AV_TIME_BASE_Q as a rational.
static inline AVRational cffmpeg_time_base_q(void) { AVRational q = {1, AV_TIME_BASE}; return q; }
/// av_rescale_q_rnd with AV_ROUND_NEAR_INF | AV_ROUND_PASS_MINMAX (Swift cannot or an enum).
static inline int64_t cffmpeg_rescale_near_pass_minmax(int64_t a, AVRational from, AVRational to) {
    return av_rescale_q_rnd(a, from, to, (enum AVRounding)(AV_ROUND_NEAR_INF | AV_ROUND_PASS_MINMAX));
}

// MARK: Frames (fixed-size C arrays are awkward tuples in Swift)

static inline uint8_t *cffmpeg_frame_data(const AVFrame *frame, int plane) { return frame->data[plane]; }
static inline int cffmpeg_frame_linesize(const AVFrame *frame, int plane) { return frame->linesize[plane]; }
/// The reference-counted buffer behind plane `plane` (padding included), or NULL.
static inline AVBufferRef *cffmpeg_frame_buffer(const AVFrame *frame, int plane) {
    return (plane >= 0 && plane < AV_NUM_DATA_POINTERS) ? frame->buf[plane] : NULL;
}
static inline void cffmpeg_frame_set_plane(AVFrame *frame, int plane, uint8_t *data, int linesize) {
    frame->data[plane] = data;
    frame->linesize[plane] = linesize;
}
/// The byte step between horizontally adjacent pixels of `plane` (av_image_fill_max_pixsteps).
static inline int cffmpeg_max_pixel_step(const AVPixFmtDescriptor *descriptor, int plane) {
    int steps[4] = {0, 0, 0, 0};
    if (plane < 0 || plane > 3) return 0;
    av_image_fill_max_pixsteps(steps, NULL, descriptor);
    return steps[plane];
}
/// The stream's display matrix side data (rotation), or NULL.
static inline const int32_t *cffmpeg_stream_display_matrix(const AVStream *stream) {
    return (const int32_t *)av_stream_get_side_data(stream, AV_PKT_DATA_DISPLAYMATRIX, NULL);
}

#endif
