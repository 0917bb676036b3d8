/* The hot loops of a build, compiled: sprites combined by pixel-wise max (render_max),
 * optionally with the instance mask and each digit's visible box and pixel count drawn in
 * the same pass, the clamp-and-reverse walk of the default motion (bounce), and shard chunks
 * deflated and inflated by zlib-ng a batch at a time (deflate_many, inflate_many: store/deflate.py).
 *
 * One call renders a chunk of sequences frame by frame: each frame is zeroed, then every
 * present digit's ink window is maxed into it, row by row. A frame (4 KB for 64x64) stays
 * in the L1 cache while its digits land, so the output is written to memory once; the
 * numpy path in render.py (the reference, and the fallback when this module is not
 * built) makes ~5 passes over it. Same bytes as the numpy path: tests/core/test_kernel.py.
 *
 * Plain C on the buffer protocol (no numpy headers, so no build dependency); the GIL is
 * released while it runs.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
/* dst = max(dst, src) over len bytes. A row of 16 to 32 bytes (an MNIST ink row is 20) is
 * two 16-byte steps, the second overlapping the first (max is idempotent); both loads come
 * before both stores, since a load of bytes just stored stalls the pipeline. */
static inline void max_row(uint8_t *restrict dst, const uint8_t *restrict src, Py_ssize_t len)
{
    Py_ssize_t i = 0;
    if (len >= 16 && len <= 32) {
        const Py_ssize_t j = len - 16;
        __m128i a0 = _mm_loadu_si128((const __m128i *)dst), a1 = _mm_loadu_si128((const __m128i *)(dst + j));
        __m128i b0 = _mm_loadu_si128((const __m128i *)src), b1 = _mm_loadu_si128((const __m128i *)(src + j));
        _mm_storeu_si128((__m128i *)dst, _mm_max_epu8(a0, b0));
        _mm_storeu_si128((__m128i *)(dst + j), _mm_max_epu8(a1, b1));
        return;
    }
    for (; i + 16 <= len; i += 16) {
        __m128i a = _mm_loadu_si128((const __m128i *)(dst + i)), b = _mm_loadu_si128((const __m128i *)(src + i));
        _mm_storeu_si128((__m128i *)(dst + i), _mm_max_epu8(a, b));
    }
    for (; i < len; i++) {
        uint8_t a = dst[i], b = src[i];
        dst[i] = a > b ? a : b;
    }
}

/* dst = src over len bytes (dst known zero): as max_row, without reading dst. */
static inline void copy_row(uint8_t *restrict dst, const uint8_t *restrict src, Py_ssize_t len)
{
    if (len >= 16 && len <= 32) {
        const Py_ssize_t j = len - 16;
        __m128i b0 = _mm_loadu_si128((const __m128i *)src), b1 = _mm_loadu_si128((const __m128i *)(src + j));
        _mm_storeu_si128((__m128i *)dst, b0);
        _mm_storeu_si128((__m128i *)(dst + j), b1);
        return;
    }
    memcpy(dst, src, (size_t)len);
}
#else
static inline void max_row(uint8_t *restrict dst, const uint8_t *restrict src, Py_ssize_t len)
{
    for (Py_ssize_t i = 0; i < len; i++) {
        uint8_t a = dst[i], b = src[i];
        dst[i] = a > b ? a : b;
    }
}

static inline void copy_row(uint8_t *restrict dst, const uint8_t *restrict src, Py_ssize_t len)
{
    memcpy(dst, src, (size_t)len);
}
#endif

/* max_row with the mask: a pixel takes `mark` where the sprite's value is non-zero and at
 * least what is there, in any channel (a tie goes to the later sprite, as render.paste). */
static inline void max_row_mask(uint8_t *restrict dst, uint8_t *restrict mark_row, const uint8_t *restrict src,
                                Py_ssize_t count, Py_ssize_t pixel, uint8_t mark)
{
#if defined(__SSE2__)
    /* Grayscale rows of 16 to 32 pixels as in max_row: two overlapping steps, loads first
     * (both steps give the same bytes on their overlap, so the order of the stores is free). */
    if (pixel == 1 && count >= 16 && count <= 32) {
        const Py_ssize_t j = count - 16;
        const __m128i zero = _mm_setzero_si128(), marks = _mm_set1_epi8((char)mark);
        __m128i a0 = _mm_loadu_si128((const __m128i *)dst), a1 = _mm_loadu_si128((const __m128i *)(dst + j));
        __m128i b0 = _mm_loadu_si128((const __m128i *)src), b1 = _mm_loadu_si128((const __m128i *)(src + j));
        __m128i m0 = _mm_loadu_si128((const __m128i *)mark_row), m1 = _mm_loadu_si128((const __m128i *)(mark_row + j));
        __m128i x0 = _mm_max_epu8(a0, b0), x1 = _mm_max_epu8(a1, b1);
        /* wins: src non-zero and src >= dst, i.e. max(src, dst) == src */
        __m128i w0 = _mm_andnot_si128(_mm_cmpeq_epi8(b0, zero), _mm_cmpeq_epi8(x0, b0));
        __m128i w1 = _mm_andnot_si128(_mm_cmpeq_epi8(b1, zero), _mm_cmpeq_epi8(x1, b1));
        _mm_storeu_si128((__m128i *)dst, x0);
        _mm_storeu_si128((__m128i *)(dst + j), x1);
        _mm_storeu_si128((__m128i *)mark_row, _mm_or_si128(_mm_and_si128(w0, marks), _mm_andnot_si128(w0, m0)));
        _mm_storeu_si128((__m128i *)(mark_row + j), _mm_or_si128(_mm_and_si128(w1, marks), _mm_andnot_si128(w1, m1)));
        return;
    }
    /* Colour rows (render.colour, RGB sources) of up to 32 pixels: the max and the win test
     * byte by byte as above, 16 bytes a step (the last step overlapping the one before: both
     * give the same bytes there), the wins kept, then a pixel wins where any channel does. */
    if (pixel == 3 && count >= 6 && count <= 32) {
        const Py_ssize_t len = count * 3;
        const __m128i zero = _mm_setzero_si128();
        uint8_t wins[96];
        for (Py_ssize_t i = 0;; i += 16) {
            if (i + 16 > len)
                i = len - 16;
            __m128i a = _mm_loadu_si128((const __m128i *)(dst + i)), b = _mm_loadu_si128((const __m128i *)(src + i));
            __m128i x = _mm_max_epu8(a, b);
            _mm_storeu_si128((__m128i *)(dst + i), x);
            _mm_storeu_si128((__m128i *)(wins + i), _mm_andnot_si128(_mm_cmpeq_epi8(b, zero), _mm_cmpeq_epi8(x, b)));
            if (i + 16 >= len)
                break;
        }
        for (Py_ssize_t x = 0; x < count; x++)
            if (wins[3 * x] | wins[3 * x + 1] | wins[3 * x + 2])
                mark_row[x] = mark;
        return;
    }
#endif
    if (pixel == 1) {
        for (Py_ssize_t x = 0; x < count; x++) {
            uint8_t v = src[x], o = dst[x];
            if (v && v >= o) {
                dst[x] = v;
                mark_row[x] = mark;
            }
        }
        return;
    }
    for (Py_ssize_t x = 0; x < count; x++) {
        int win = 0;
        for (Py_ssize_t c = 0; c < pixel; c++) {
            uint8_t v = src[x * pixel + c], o = dst[x * pixel + c];
            if (v && v >= o)
                win = 1;
            dst[x * pixel + c] = v > o ? v : o;
        }
        if (win)
            mark_row[x] = mark;
    }
}

/* Where each sprite of a frame lands, clipped to the canvas: rows a0..a1 - 1, cols b0..b1 - 1;
 * 0 when it does not fit and clip is off, else 1. */
static inline int place(const int64_t *at, int64_t top, int64_t left, Py_ssize_t rows, Py_ssize_t cols,
                        Py_ssize_t height, Py_ssize_t width, int clip, int64_t *r0, int64_t *c0, int64_t *a0,
                        int64_t *b0, int64_t *a1, int64_t *b1)
{
    *r0 = at[0] + top;
    *c0 = at[1] + left;
    int64_t r1 = *r0 + rows, c1 = *c0 + cols;
    *a0 = *r0 < 0 ? 0 : *r0;
    *b0 = *c0 < 0 ? 0 : *c0;
    *a1 = r1 > height ? height : r1;
    *b1 = c1 > width ? width : c1;
    return clip || (*a0 == *r0 && *b0 == *c0 && *a1 == r1 && *b1 == c1);
}

/* 0 when done, else the (sequence + 1) whose sprite did not fit (clip off), or -1 for a
 * sprite number out of range. mask (NULL: none) [n, t, height, width] uint8 gets slot + 1
 * where that slot's digit shows, 0 elsewhere; then boxes [n, t, k, 4] int16 (x0, y0, x1,
 * y1, exclusive; -1 where nothing shows) and counts [n, t, k] int64 (pixels shown). */
static Py_ssize_t render(
    uint8_t *frames, const uint8_t *images, const int64_t *sprite, const int64_t *pixels,
    const int64_t *top, const int64_t *left, Py_ssize_t n, Py_ssize_t t, Py_ssize_t height,
    Py_ssize_t width, Py_ssize_t pixel, Py_ssize_t k, Py_ssize_t m, Py_ssize_t h, Py_ssize_t w,
    Py_ssize_t rows, Py_ssize_t cols, int clip, uint8_t *mask, int16_t *boxes, int64_t *counts)
{
    const Py_ssize_t frame = height * width * pixel, pitch = width * pixel, plane = height * width;
    for (Py_ssize_t s = 0; s < n; s++) {
        for (Py_ssize_t j = 0; j < k; j++) {
            int64_t i = sprite[s * k + j];
            if (i < -1 || i >= m || (i >= 0 && (top[i] < 0 || left[i] < 0 || top[i] + rows > h || left[i] + cols > w)))
                return -1;
        }
        for (Py_ssize_t f = 0; f < t; f++) {
            uint8_t *out = frames + (s * t + f) * frame;
            uint8_t *marks = mask ? mask + (s * t + f) * plane : NULL;
            memset(out, 0, (size_t)frame);
            if (marks)
                memset(marks, 0, (size_t)plane);
            int first = 1; /* the frame is still zero there: a copy is the max */
            for (Py_ssize_t j = 0; j < k; j++) {
                int64_t i = sprite[s * k + j];
                if (i < 0 || rows == 0 || cols == 0)
                    continue;
                int64_t r0, c0, a0, b0, a1, b1;
                if (!place(pixels + ((s * t + f) * k + j) * 2, top[i], left[i], rows, cols, height, width, clip, &r0,
                           &c0, &a0, &b0, &a1, &b1))
                    return s + 1;
                if (a0 >= a1 || b0 >= b1)
                    continue;
                const uint8_t *src = images + ((i * h + top[i]) * w + left[i]) * pixel;
                const Py_ssize_t len = (Py_ssize_t)(b1 - b0) * pixel;
                for (int64_t r = a0; r < a1; r++) {
                    uint8_t *d = out + r * pitch + b0 * pixel;
                    const uint8_t *p = src + ((r - r0) * w + (b0 - c0)) * pixel;
                    if (marks)
                        max_row_mask(d, marks + r * width + b0, p, b1 - b0, pixel, (uint8_t)(j + 1));
                    else if (first)
                        copy_row(d, p, len);
                    else
                        max_row(d, p, len);
                }
                first = 0;
            }
            if (!marks)
                continue;
            /* Each slot's visible box: its marks lie within its own window, so look there only. */
            for (Py_ssize_t j = 0; j < k; j++) {
                int16_t *box = boxes + ((s * t + f) * k + j) * 4;
                int64_t shown = 0, y0 = height, x0 = width, y1 = -1, x1 = -1;
                int64_t i = sprite[s * k + j];
                int64_t r0, c0, a0 = 0, b0 = 0, a1 = 0, b1 = 0;
                if (i >= 0 && rows > 0 && cols > 0)
                    place(pixels + ((s * t + f) * k + j) * 2, top[i], left[i], rows, cols, height, width, 1, &r0, &c0,
                          &a0, &b0, &a1, &b1);
                for (int64_t r = a0; r < a1; r++) {
                    const uint8_t *row = marks + r * width;
#if defined(__SSE2__)
                    if (b1 - b0 >= 16 && b1 - b0 <= 32) { /* the row's matches as a bit set, one bit a column */
                        const int64_t o = b1 - b0 - 16;
                        const __m128i want = _mm_set1_epi8((char)(j + 1));
                        uint32_t lo = (uint32_t)_mm_movemask_epi8(
                            _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(row + b0)), want));
                        uint32_t hi = (uint32_t)_mm_movemask_epi8(
                            _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(row + b0 + o)), want));
                        uint32_t bits = lo | (hi << o);
                        if (!bits)
                            continue;
                        shown += __builtin_popcount(bits);
                        if (r < y0)
                            y0 = r;
                        y1 = r;
                        int64_t first_col = b0 + __builtin_ctz(bits), last_col = b0 + 31 - __builtin_clz(bits);
                        if (first_col < x0)
                            x0 = first_col;
                        if (last_col > x1)
                            x1 = last_col;
                        continue;
                    }
#endif
                    for (int64_t c = b0; c < b1; c++) {
                        if (row[c] != (uint8_t)(j + 1))
                            continue;
                        shown++;
                        if (r < y0)
                            y0 = r;
                        y1 = r;
                        if (c < x0)
                            x0 = c;
                        if (c > x1)
                            x1 = c;
                    }
                }
                counts[(s * t + f) * k + j] = shown;
                if (shown) {
                    box[0] = (int16_t)x0, box[1] = (int16_t)y0, box[2] = (int16_t)(x1 + 1), box[3] = (int16_t)(y1 + 1);
                } else {
                    box[0] = box[1] = box[2] = box[3] = -1;
                }
            }
        }
    }
    return 0;
}

static int expect(Py_buffer *buf, Py_ssize_t len, const char *name)
{
    if (buf->len != len) {
        PyErr_Format(PyExc_ValueError, "render_max: %s has %zd bytes, expected %zd", name, buf->len, len);
        return 0;
    }
    return 1;
}

PyDoc_STRVAR(render_max_doc,
"render_max(frames, images, sprite, pixels, top, left, n, t, height, width, pixel, k, m, h, w, rows, cols, clip,\n"
"           mask=None, boxes=None, counts=None)\n"
"--\n\n"
"Overwrite frames [n, t, height, width, pixel] uint8 with the max of each sequence's sprites.\n\n"
"images [m, h, w, pixel] uint8; sprite [n, k] int64 (image number, -1: slot absent);\n"
"pixels [n, t, k, 2] int64 top-left (row, col) of each sprite; top, left [m] int64 and\n"
"(rows, cols): each image's ink window, which holds all its non-zero pixels. clip: parts\n"
"outside the canvas are dropped (else they raise ValueError). All buffers C-contiguous.\n\n"
"mask [n, t, height, width] uint8, boxes [n, t, k, 4] int16, counts [n, t, k] int64 (all or\n"
"none): also the instance mask (slot + 1 where that slot's digit shows: its value is non-zero\n"
"and at least what was there, so a tie goes to the later slot; 0 elsewhere) and each slot's\n"
"visible box (x0, y0, x1, y1), exclusive, -1 where nothing shows, and its count of pixels shown.");

static PyObject *render_max(PyObject *self, PyObject *args)
{
    (void)self;
    Py_buffer frames, images, sprite, pixels, top, left, mask = {0}, boxes = {0}, counts = {0};
    Py_ssize_t n, t, height, width, pixel, k, m, h, w, rows, cols;
    int clip;
    PyObject *mask_obj = Py_None, *boxes_obj = Py_None, *counts_obj = Py_None;
    if (!PyArg_ParseTuple(args, "w*y*y*y*y*y*nnnnnnnnnnnp|OOO", &frames, &images, &sprite, &pixels, &top, &left, &n,
                          &t, &height, &width, &pixel, &k, &m, &h, &w, &rows, &cols, &clip, &mask_obj, &boxes_obj,
                          &counts_obj))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t failed = 0;
    const int marked = mask_obj != Py_None;
    if (marked != (boxes_obj != Py_None) || marked != (counts_obj != Py_None)) {
        PyErr_SetString(PyExc_ValueError, "render_max: give mask, boxes and counts together, or none of them");
        goto done;
    }
    if (marked && (PyObject_GetBuffer(mask_obj, &mask, PyBUF_CONTIG) < 0 ||
                   PyObject_GetBuffer(boxes_obj, &boxes, PyBUF_CONTIG) < 0 ||
                   PyObject_GetBuffer(counts_obj, &counts, PyBUF_CONTIG) < 0))
        goto done;
    if (n < 0 || t < 0 || height < 0 || width < 0 || pixel < 1 || k < 0 || m < 0 || h < 0 || w < 0 || rows < 0 ||
        cols < 0 || rows > h || cols > w) {
        PyErr_SetString(PyExc_ValueError, "render_max: negative or inconsistent sizes");
        goto done;
    }
    if (!expect(&frames, n * t * height * width * pixel, "frames") || !expect(&images, m * h * w * pixel, "images") ||
        !expect(&sprite, n * k * 8, "sprite") || !expect(&pixels, n * t * k * 2 * 8, "pixels") ||
        !expect(&top, m * 8, "top") || !expect(&left, m * 8, "left"))
        goto done;
    if (marked && (!expect(&mask, n * t * height * width, "mask") || !expect(&boxes, n * t * k * 4 * 2, "boxes") ||
                   !expect(&counts, n * t * k * 8, "counts")))
        goto done;
    if (marked && k > 255) {
        PyErr_SetString(PyExc_ValueError, "render_max: a mask marks at most 255 slots");
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    failed = render((uint8_t *)frames.buf, (const uint8_t *)images.buf, (const int64_t *)sprite.buf,
                    (const int64_t *)pixels.buf, (const int64_t *)top.buf, (const int64_t *)left.buf, n, t, height,
                    width, pixel, k, m, h, w, rows, cols, clip, marked ? (uint8_t *)mask.buf : NULL,
                    marked ? (int16_t *)boxes.buf : NULL, marked ? (int64_t *)counts.buf : NULL);
    Py_END_ALLOW_THREADS
    if (failed < 0)
        PyErr_SetString(PyExc_ValueError, "render_max: a sprite number or ink window is out of range");
    else if (failed > 0)
        PyErr_Format(PyExc_ValueError, "render_max: a sprite of sequence %zd leaves the canvas", failed - 1);
    else
        result = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&frames);
    PyBuffer_Release(&images);
    PyBuffer_Release(&sprite);
    PyBuffer_Release(&pixels);
    PyBuffer_Release(&top);
    PyBuffer_Release(&left);
    if (mask.obj != NULL)
        PyBuffer_Release(&mask);
    if (boxes.obj != NULL)
        PyBuffer_Release(&boxes);
    if (counts.obj != NULL)
        PyBuffer_Release(&counts);
    return result;
}

PyDoc_STRVAR(bounce_doc,
"bounce(positions, velocities, hits, start, velocity, accel, m, t)\n"
"--\n\n"
"The clamp-and-reverse walk of motion.dynamics.srivastava, for m values (sprite axes) over t frames.\n\n"
"start, velocity [m] float64; accel [t, m] float64 or None. Fills positions, velocities\n"
"[t, m] float64 and hits [t, m] int8 exactly as the numpy loop does: per frame, velocity\n"
"+= accel, position += velocity, then a position <= 0 becomes 0 and one >= 1 becomes 1,\n"
"and the velocity is negated; hits is +1 / -1 for the high / low wall, else 0.");

static PyObject *bounce(PyObject *self, PyObject *args)
{
    (void)self;
    Py_buffer positions, velocities, hits, start, velocity, accel = {0};
    PyObject *accel_obj;
    Py_ssize_t m, t;
    if (!PyArg_ParseTuple(args, "w*w*w*y*y*Onn", &positions, &velocities, &hits, &start, &velocity, &accel_obj, &m,
                          &t))
        return NULL;
    PyObject *result = NULL;
    int has_accel = accel_obj != Py_None;
    if (has_accel && PyObject_GetBuffer(accel_obj, &accel, PyBUF_CONTIG_RO) < 0)
        goto done;
    if (m < 0 || t < 0) {
        PyErr_SetString(PyExc_ValueError, "bounce: negative sizes");
        goto done;
    }
    if (!expect(&positions, m * t * 8, "positions") || !expect(&velocities, m * t * 8, "velocities") ||
        !expect(&hits, m * t, "hits") || !expect(&start, m * 8, "start") || !expect(&velocity, m * 8, "velocity") ||
        (has_accel && !expect(&accel, m * t * 8, "accel")))
        goto done;
    Py_BEGIN_ALLOW_THREADS
    double *pos_out = (double *)positions.buf, *vel_out = (double *)velocities.buf;
    int8_t *hit_out = (int8_t *)hits.buf;
    const double *p0 = (const double *)start.buf, *v0 = (const double *)velocity.buf;
    const double *acc = has_accel ? (const double *)accel.buf : NULL;
    /* Frame by frame, so every array is walked in order (frame f reads frame f - 1). */
    for (Py_ssize_t f = 0; f < t; f++) {
        const double *p_in = f ? pos_out + (f - 1) * m : p0, *v_in = f ? vel_out + (f - 1) * m : v0;
        double *p_out = pos_out + f * m, *v_out = vel_out + f * m;
        int8_t *h_out = hit_out + f * m;
        for (Py_ssize_t i = 0; i < m; i++) {
            double v = v_in[i];
            if (acc)
                v += acc[f * m + i];
            double p = p_in[i] + v;
            int low = p <= 0.0, high = p >= 1.0;
            if (low)
                p = 0.0;
            if (high)
                p = 1.0;
            if (low || high)
                v = -v;
            p_out[i] = p;
            v_out[i] = v;
            h_out[i] = (int8_t)(high - low);
        }
    }
    Py_END_ALLOW_THREADS
    result = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&positions);
    PyBuffer_Release(&velocities);
    PyBuffer_Release(&hits);
    PyBuffer_Release(&start);
    PyBuffer_Release(&velocity);
    if (has_accel && accel.obj != NULL)
        PyBuffer_Release(&accel);
    return result;
}

PyDoc_STRVAR(fletcher32_doc,
"fletcher32(data)\n"
"--\n\n"
"HDF5's Fletcher-32 checksum of a bytes-like object (H5_checksum_fletcher32: 16-bit\n"
"big-endian words, sums folded every 360 words, an odd last byte as a high byte).");

/* H5_checksum_fletcher32 of len bytes. */
static uint32_t fletcher32_of(const uint8_t *data, size_t bytes)
{
    size_t len = bytes / 2;
    uint32_t sum1 = 0, sum2 = 0;
    while (len) {
        size_t tlen = len > 360 ? 360 : len;
        len -= tlen;
        do {
            sum1 += (uint32_t)(((uint16_t)data[0]) << 8) | ((uint16_t)data[1]);
            data += 2;
            sum2 += sum1;
        } while (--tlen);
        sum1 = (sum1 & 0xffff) + (sum1 >> 16);
        sum2 = (sum2 & 0xffff) + (sum2 >> 16);
    }
    if (bytes % 2) {
        sum1 += (uint32_t)(((uint16_t)*data) << 8);
        sum2 += sum1;
        sum1 = (sum1 & 0xffff) + (sum1 >> 16);
        sum2 = (sum2 & 0xffff) + (sum2 >> 16);
    }
    sum1 = (sum1 & 0xffff) + (sum1 >> 16);
    sum2 = (sum2 & 0xffff) + (sum2 >> 16);
    return (sum2 << 16) | sum1;
}

static PyObject *fletcher32(PyObject *self, PyObject *arg)
{
    (void)self;
    Py_buffer buf;
    if (PyObject_GetBuffer(arg, &buf, PyBUF_SIMPLE) < 0)
        return NULL;
    uint32_t sum = fletcher32_of((const uint8_t *)buf.buf, (size_t)buf.len);
    PyBuffer_Release(&buf);
    return PyLong_FromUnsignedLong((unsigned long)sum);
}

/* ---- Chunks deflated and inflated many at a time, the GIL released once per batch ----
 *
 * zlib-ng's native API (zlib-ng.h, 2.x), called through the addresses of the functions that
 * the zlib_ng extension module already carries (store/codec.py binds them with zng_bind,
 * after checking the version and that one chunk comes out as zlib_ng.compress makes it).
 * Calling zlib_ng.compress once a sequence takes and gives back the GIL each time, and the
 * thread that writes chunks to HDF5 holds it for ~8 us a chunk: a batch here needs it once. */

typedef struct {
    const uint8_t *next_in;
    uint32_t avail_in;
    size_t total_in;
    uint8_t *next_out;
    uint32_t avail_out;
    size_t total_out;
    const char *msg;
    void *state;
    void *zalloc;
    void *zfree;
    void *opaque;
    int data_type;
    uint32_t adler;
    unsigned long reserved;
} zng_stream;

typedef int32_t (*zng_deflate_init2_fn)(zng_stream *, int32_t, int32_t, int32_t, int32_t, int32_t);
typedef int32_t (*zng_stream_fn)(zng_stream *);
typedef int32_t (*zng_step_fn)(zng_stream *, int32_t);
typedef unsigned long (*zng_bound_fn)(zng_stream *, unsigned long);
typedef int32_t (*zng_inflate_init2_fn)(zng_stream *, int32_t);

static struct {
    zng_deflate_init2_fn deflate_init2;
    zng_step_fn deflate;
    zng_stream_fn deflate_reset, deflate_end;
    zng_bound_fn deflate_bound;
    zng_inflate_init2_fn inflate_init2;
    zng_step_fn inflate;
    zng_stream_fn inflate_reset, inflate_end;
} zng;

#define ZNG_FINISH 4
#define ZNG_STREAM_END 1
#define ZNG_DEFLATED 8
#define ZNG_WINDOW_BITS 15
#define ZNG_MEM_LEVEL 8 /* zlib's and zlib-ng's default, as compress() and zlib_ng.compress use */

PyDoc_STRVAR(zng_bind_doc,
"zng_bind(addresses)\n"
"--\n\n"
"Bind zlib-ng's zng_deflateInit2, zng_deflate, zng_deflateReset, zng_deflateEnd,\n"
"zng_deflateBound, zng_inflateInit2, zng_inflate, zng_inflateReset and zng_inflateEnd, given\n"
"as 9 integer addresses in that order (0 unbinds all).");

static PyObject *zng_bind(PyObject *self, PyObject *arg)
{
    (void)self;
    void *a[9];
    PyObject *seq = PySequence_Fast(arg, "zng_bind takes a sequence of 9 addresses");
    if (seq == NULL)
        return NULL;
    if (PySequence_Fast_GET_SIZE(seq) != 9) {
        Py_DECREF(seq);
        PyErr_SetString(PyExc_ValueError, "zng_bind takes 9 addresses");
        return NULL;
    }
    for (int i = 0; i < 9; i++) {
        a[i] = PyLong_AsVoidPtr(PySequence_Fast_GET_ITEM(seq, i));
        if (a[i] == NULL && PyErr_Occurred()) {
            Py_DECREF(seq);
            return NULL;
        }
    }
    Py_DECREF(seq);
    zng.deflate_init2 = (zng_deflate_init2_fn)a[0];
    zng.deflate = (zng_step_fn)a[1];
    zng.deflate_reset = (zng_stream_fn)a[2];
    zng.deflate_end = (zng_stream_fn)a[3];
    zng.deflate_bound = (zng_bound_fn)a[4];
    zng.inflate_init2 = (zng_inflate_init2_fn)a[5];
    zng.inflate = (zng_step_fn)a[6];
    zng.inflate_reset = (zng_stream_fn)a[7];
    zng.inflate_end = (zng_stream_fn)a[8];
    Py_RETURN_NONE;
}

static int zng_bound(void)
{
    return zng.deflate_init2 && zng.deflate && zng.deflate_reset && zng.deflate_end && zng.deflate_bound &&
           zng.inflate_init2 && zng.inflate && zng.inflate_reset && zng.inflate_end;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

PyDoc_STRVAR(deflate_many_doc,
"deflate_many(rows, level)\n"
"--\n\n"
"Each C-contiguous buffer of the list `rows` deflated by zlib-ng as one zlib stream at\n"
"`level` (as zlib_ng.compress), followed by its fletcher32 checksum (little-endian, as\n"
"HDF5's filter stores it): a list of bytes. The GIL is released for the whole list.");

static PyObject *deflate_many(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *rows;
    int level;
    if (!PyArg_ParseTuple(args, "O!i", &PyList_Type, &rows, &level))
        return NULL;
    if (!zng_bound()) {
        PyErr_SetString(PyExc_RuntimeError, "zlib-ng is not bound (zng_bind)");
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(rows), got = 0;
    Py_buffer *in = PyMem_Calloc((size_t)(n ? n : 1), sizeof(Py_buffer));
    uint8_t **out = PyMem_Calloc((size_t)(n ? n : 1), sizeof(uint8_t *));
    size_t *sizes = PyMem_Calloc((size_t)(n ? n : 1), sizeof(size_t));
    PyObject *result = NULL;
    int failed = 0;
    if (in == NULL || out == NULL || sizes == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (; got < n; got++) {
        if (PyObject_GetBuffer(PyList_GET_ITEM(rows, got), &in[got], PyBUF_SIMPLE) < 0)
            goto done;
        if ((uint64_t)in[got].len > UINT32_MAX / 2) {
            PyBuffer_Release(&in[got]);
            PyErr_SetString(PyExc_ValueError, "deflate_many: a row of 2 GB or more");
            goto done;
        }
    }
    Py_BEGIN_ALLOW_THREADS
    zng_stream s;
    memset(&s, 0, sizeof s);
    if (zng.deflate_init2(&s, level, ZNG_DEFLATED, ZNG_WINDOW_BITS, ZNG_MEM_LEVEL, 0) != 0)
        failed = 1;
    for (Py_ssize_t i = 0; i < n && !failed; i++) {
        size_t bound = zng.deflate_bound(&s, (unsigned long)in[i].len);
        out[i] = malloc(bound + 4);
        if (out[i] == NULL || (i > 0 && zng.deflate_reset(&s) != 0)) {
            failed = 2;
            break;
        }
        s.next_in = (const uint8_t *)in[i].buf;
        s.avail_in = (uint32_t)in[i].len;
        s.next_out = out[i];
        s.avail_out = (uint32_t)bound;
        if (zng.deflate(&s, ZNG_FINISH) != ZNG_STREAM_END) {
            failed = 1;
            break;
        }
        sizes[i] = s.total_out;
        put_le32(out[i] + sizes[i], fletcher32_of(out[i], sizes[i]));
    }
    if (s.state != NULL)
        zng.deflate_end(&s);
    Py_END_ALLOW_THREADS
    if (failed) {
        if (failed == 2)
            PyErr_NoMemory();
        else
            PyErr_SetString(PyExc_RuntimeError, "zlib-ng's deflate failed");
        goto done;
    }
    result = PyList_New(n);
    for (Py_ssize_t i = 0; result != NULL && i < n; i++) {
        PyObject *b = PyBytes_FromStringAndSize((const char *)out[i], (Py_ssize_t)sizes[i] + 4);
        if (b == NULL)
            Py_CLEAR(result);
        else
            PyList_SET_ITEM(result, i, b);
    }
done:
    for (Py_ssize_t i = 0; i < got; i++)
        PyBuffer_Release(&in[i]);
    for (Py_ssize_t i = 0; out != NULL && i < n; i++)
        free(out[i]);
    PyMem_Free(in);
    PyMem_Free(out);
    PyMem_Free(sizes);
    return result;
}

PyDoc_STRVAR(inflate_many_doc,
"inflate_many(stored, places, out, checked)\n"
"--\n\n"
"Chunks of equal size inflated into the writable C-contiguous buffer `out`, one after the\n"
"other: chunk i is the bytes places[2i] (offset) and places[2i+1] (size) of the buffer\n"
"`stored` (places: int64), a zlib stream followed, if `checked`, by its fletcher32 checksum.\n"
"Returns -1 when every chunk checked and inflated to exactly len(out) / chunks bytes, else\n"
"4 * i + why for the first chunk i that did not: why 1 its checksum, 2 its stream, 3 its\n"
"size (nothing of it or after it is trusted). The GIL is released for the whole batch.");

static PyObject *inflate_many(PyObject *self, PyObject *args)
{
    (void)self;
    Py_buffer stored, places, out;
    int checked;
    if (!PyArg_ParseTuple(args, "y*y*w*p", &stored, &places, &out, &checked))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t n = places.len / (Py_ssize_t)(2 * sizeof(int64_t)), bad = -1;
    if (!zng_bound()) {
        PyErr_SetString(PyExc_RuntimeError, "zlib-ng is not bound (zng_bind)");
        goto done;
    }
    if (n == 0 || out.len % n != 0 || out.len / n > UINT32_MAX / 2) {
        PyErr_SetString(PyExc_ValueError, "inflate_many: out does not split into the chunks");
        goto done;
    }
    const int64_t *p = (const int64_t *)places.buf;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (p[2 * i] < 0 || p[2 * i + 1] < 0 || p[2 * i] + p[2 * i + 1] > stored.len) {
            PyErr_SetString(PyExc_ValueError, "inflate_many: a chunk outside the stored bytes");
            goto done;
        }
    }
    size_t each = (size_t)(out.len / n);
    int failed = 0;
    Py_BEGIN_ALLOW_THREADS
    zng_stream s;
    memset(&s, 0, sizeof s);
    if (zng.inflate_init2(&s, ZNG_WINDOW_BITS) != 0)
        failed = 1;
    for (Py_ssize_t i = 0; i < n && !failed; i++) {
        const uint8_t *chunk = (const uint8_t *)stored.buf + p[2 * i];
        size_t size = (size_t)p[2 * i + 1];
        if (checked) {
            if (size < 4 || fletcher32_of(chunk, size - 4) != ((uint32_t)chunk[size - 4] | (uint32_t)chunk[size - 3] << 8 |
                                                             (uint32_t)chunk[size - 2] << 16 | (uint32_t)chunk[size - 1] << 24)) {
                bad = 4 * i + 1;
                break;
            }
            size -= 4;
        }
        if (i > 0 && zng.inflate_reset(&s) != 0) {
            failed = 1;
            break;
        }
        s.next_in = chunk;
        s.avail_in = (uint32_t)size;
        s.next_out = (uint8_t *)out.buf + i * each;
        s.avail_out = (uint32_t)each;
        int32_t rc = zng.inflate(&s, ZNG_FINISH);
        if (rc != ZNG_STREAM_END) {
            /* out full before the stream's end: more bytes than a chunk holds */
            bad = 4 * i + (rc == -5 && s.avail_out == 0 ? 3 : 2);
            break;
        }
        if (s.total_out != each) {
            bad = 4 * i + 3;
            break;
        }
    }
    if (s.state != NULL)
        zng.inflate_end(&s);
    Py_END_ALLOW_THREADS
    if (failed)
        PyErr_SetString(PyExc_RuntimeError, "zlib-ng's inflate failed");
    else
        result = PyLong_FromSsize_t(bad);
done:
    PyBuffer_Release(&stored);
    PyBuffer_Release(&places);
    PyBuffer_Release(&out);
    return result;
}

static PyMethodDef methods[] = {
    {"fletcher32", fletcher32, METH_O, fletcher32_doc},
    {"render_max", render_max, METH_VARARGS, render_max_doc},
    {"bounce", bounce, METH_VARARGS, bounce_doc},
    {"zng_bind", zng_bind, METH_O, zng_bind_doc},
    {"deflate_many", deflate_many, METH_VARARGS, deflate_many_doc},
    {"inflate_many", inflate_many, METH_VARARGS, inflate_many_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "movmnist.core._kernel", "Compiled rendering kernel (see render.py).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__kernel(void)
{
    return PyModule_Create(&module);
}
