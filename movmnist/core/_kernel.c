/* The hot loops of a build, compiled: sprites combined by pixel-wise max (render_max),
 * and the clamp-and-reverse walk of the default motion (bounce).
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

/* 0 when done, else the (sequence + 1) whose sprite did not fit (clip off), or -1 for a
 * sprite number out of range. */
static Py_ssize_t render(
    uint8_t *frames, const uint8_t *images, const int64_t *sprite, const int64_t *pixels,
    const int64_t *top, const int64_t *left, Py_ssize_t n, Py_ssize_t t, Py_ssize_t height,
    Py_ssize_t width, Py_ssize_t pixel, Py_ssize_t k, Py_ssize_t m, Py_ssize_t h, Py_ssize_t w,
    Py_ssize_t rows, Py_ssize_t cols, int clip)
{
    const Py_ssize_t frame = height * width * pixel, pitch = width * pixel;
    for (Py_ssize_t s = 0; s < n; s++) {
        for (Py_ssize_t j = 0; j < k; j++) {
            int64_t i = sprite[s * k + j];
            if (i < -1 || i >= m || (i >= 0 && (top[i] < 0 || left[i] < 0 || top[i] + rows > h || left[i] + cols > w)))
                return -1;
        }
        for (Py_ssize_t f = 0; f < t; f++) {
            uint8_t *out = frames + (s * t + f) * frame;
            memset(out, 0, (size_t)frame);
            int first = 1; /* the frame is still zero there: a copy is the max */
            for (Py_ssize_t j = 0; j < k; j++) {
                int64_t i = sprite[s * k + j];
                if (i < 0 || rows == 0 || cols == 0)
                    continue;
                const int64_t *at = pixels + ((s * t + f) * k + j) * 2;
                int64_t r0 = at[0] + top[i], c0 = at[1] + left[i];
                int64_t r1 = r0 + rows, c1 = c0 + cols;
                int64_t a0 = r0 < 0 ? 0 : r0, b0 = c0 < 0 ? 0 : c0;
                int64_t a1 = r1 > height ? height : r1, b1 = c1 > width ? width : c1;
                if (!clip && (a0 != r0 || b0 != c0 || a1 != r1 || b1 != c1))
                    return s + 1;
                if (a0 >= a1 || b0 >= b1)
                    continue;
                const uint8_t *src = images + ((i * h + top[i]) * w + left[i]) * pixel;
                const Py_ssize_t len = (Py_ssize_t)(b1 - b0) * pixel;
                for (int64_t r = a0; r < a1; r++) {
                    uint8_t *d = out + r * pitch + b0 * pixel;
                    const uint8_t *p = src + ((r - r0) * w + (b0 - c0)) * pixel;
                    if (first)
                        copy_row(d, p, len);
                    else
                        max_row(d, p, len);
                }
                first = 0;
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
"render_max(frames, images, sprite, pixels, top, left, n, t, height, width, pixel, k, m, h, w, rows, cols, clip)\n"
"--\n\n"
"Overwrite frames [n, t, height, width, pixel] uint8 with the max of each sequence's sprites.\n\n"
"images [m, h, w, pixel] uint8; sprite [n, k] int64 (image number, -1: slot absent);\n"
"pixels [n, t, k, 2] int64 top-left (row, col) of each sprite; top, left [m] int64 and\n"
"(rows, cols): each image's ink window, which holds all its non-zero pixels. clip: parts\n"
"outside the canvas are dropped (else they raise ValueError). All buffers C-contiguous.");

static PyObject *render_max(PyObject *self, PyObject *args)
{
    (void)self;
    Py_buffer frames, images, sprite, pixels, top, left;
    Py_ssize_t n, t, height, width, pixel, k, m, h, w, rows, cols;
    int clip;
    if (!PyArg_ParseTuple(args, "w*y*y*y*y*y*nnnnnnnnnnnp", &frames, &images, &sprite, &pixels, &top, &left, &n,
                          &t, &height, &width, &pixel, &k, &m, &h, &w, &rows, &cols, &clip))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t failed = 0;
    if (n < 0 || t < 0 || height < 0 || width < 0 || pixel < 1 || k < 0 || m < 0 || h < 0 || w < 0 || rows < 0 ||
        cols < 0 || rows > h || cols > w) {
        PyErr_SetString(PyExc_ValueError, "render_max: negative or inconsistent sizes");
        goto done;
    }
    if (!expect(&frames, n * t * height * width * pixel, "frames") || !expect(&images, m * h * w * pixel, "images") ||
        !expect(&sprite, n * k * 8, "sprite") || !expect(&pixels, n * t * k * 2 * 8, "pixels") ||
        !expect(&top, m * 8, "top") || !expect(&left, m * 8, "left"))
        goto done;
    Py_BEGIN_ALLOW_THREADS
    failed = render((uint8_t *)frames.buf, (const uint8_t *)images.buf, (const int64_t *)sprite.buf,
                    (const int64_t *)pixels.buf, (const int64_t *)top.buf, (const int64_t *)left.buf, n, t, height,
                    width, pixel, k, m, h, w, rows, cols, clip);
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

static PyMethodDef methods[] = {
    {"render_max", render_max, METH_VARARGS, render_max_doc},
    {"bounce", bounce, METH_VARARGS, bounce_doc},
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
