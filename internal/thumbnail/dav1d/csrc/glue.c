/* The entry points the thumbnailer calls in the WebAssembly build of dav1d: decode one
 * AV1 still image (the OBUs of an AVIF item) with one thread and hand back its planes.
 * The Go side writes the OBUs into memory from sa_alloc, calls sa_decode, reads the
 * picture description and planes, then calls sa_release. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <dav1d/dav1d.h>

#define EXPORT(name) __attribute__((export_name(name)))

static Dav1dContext *ctx;
static Dav1dPicture pic;
static int have_pic;

/* info is what sa_decode fills in, as int32 words:
 * 0 width, 1 height, 2 bits per component, 3 layout (Dav1dPixelLayout),
 * 4 Y pointer, 5 U pointer, 6 V pointer, 7 Y stride, 8 UV stride (in bytes),
 * 9 matrix coefficients, 10 full range (0/1), 11 colour primaries,
 * 12 transfer characteristics (the sequence header's, for a file without nclx). */
static int32_t info[13];

EXPORT("sa_alloc") void *sa_alloc(size_t n) { return malloc(n); }
EXPORT("sa_free") void sa_free(void *p) { free(p); }
EXPORT("sa_info") int32_t *sa_info(void) { return info; }

EXPORT("sa_release") void sa_release(void) {
    if (have_pic) {
        dav1d_picture_unref(&pic);
        have_pic = 0;
    }
    if (ctx) dav1d_close(&ctx);
}

/* sa_decode decodes the n bytes of OBUs at obus (which it takes over and frees) and
 * returns 0, or a negative errno value from dav1d (-1 when no picture came out). */
EXPORT("sa_decode") int sa_decode(uint8_t *obus, size_t n, int max_pixels) {
    sa_release();
    Dav1dSettings s;
    dav1d_default_settings(&s);
    s.n_threads = 1;
    s.max_frame_delay = 1;
    s.all_layers = 0;
    s.frame_size_limit = (unsigned)max_pixels;
    int res = dav1d_open(&ctx, &s);
    if (res < 0) { free(obus); return res; }
    Dav1dData data;
    uint8_t *buf = dav1d_data_create(&data, n);
    if (!buf) { free(obus); return DAV1D_ERR(ENOMEM); }
    memcpy(buf, obus, n);
    free(obus);
    memset(&pic, 0, sizeof pic);
    for (;;) {
        if (data.sz > 0) {
            res = dav1d_send_data(ctx, &data);
            if (res < 0 && res != DAV1D_ERR(EAGAIN)) { dav1d_data_unref(&data); return res; }
        }
        res = dav1d_get_picture(ctx, &pic);
        if (res == DAV1D_ERR(EAGAIN)) {
            if (data.sz > 0) continue;
            return -1;
        }
        if (res < 0) { if (data.sz > 0) dav1d_data_unref(&data); return res; }
        break;
    }
    if (data.sz > 0) dav1d_data_unref(&data);
    have_pic = 1;
    info[0] = pic.p.w;
    info[1] = pic.p.h;
    info[2] = pic.p.bpc;
    info[3] = pic.p.layout;
    info[4] = (int32_t)(uintptr_t)pic.data[0];
    info[5] = (int32_t)(uintptr_t)pic.data[1];
    info[6] = (int32_t)(uintptr_t)pic.data[2];
    info[7] = (int32_t)pic.stride[0];
    info[8] = (int32_t)pic.stride[1];
    info[9] = pic.seq_hdr->mtrx;
    info[10] = pic.seq_hdr->color_range;
    info[11] = pic.seq_hdr->pri;
    info[12] = pic.seq_hdr->trc;
    return 0;
}
