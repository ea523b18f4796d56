/* The entry points the thumbnailer calls in the WebAssembly build of libde265: decode
 * one HEVC still image (the parameter sets of an HEIC item's hvcC and the item's NAL
 * units) with one thread and hand back its planes. The Go side writes the NAL units,
 * each behind a 4-byte big-endian length, into memory from sa_alloc, calls sa_decode,
 * reads the picture description and planes, then calls sa_release. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <libde265/de265.h>
#include <libde265/decctx.h>

#define EXPORT(name) extern "C" __attribute__((export_name(name)))

static de265_decoder_context *ctx;
static const de265_image *pic;
static int64_t pixel_limit;
/* skip_filters is what sa_skip_filters last set: decode without the in-loop filters. */
static int skip_filters;

/* info is what sa_decode fills in, as int32 words:
 * 0 width, 1 height, 2 bits per luma sample, 3 chroma format (de265_chroma: 0 mono,
 * 1 4:2:0, 2 4:2:2, 3 4:4:4), 4 Y pointer, 5 Cb pointer, 6 Cr pointer, 7 Y stride,
 * 8 chroma stride (in bytes), 9 matrix coefficients, 10 full range (0/1),
 * 11 colour primaries, 12 transfer characteristics (the SPS's VUI, for a file without
 * nclx): the layout of dav1d's glue, so one Go reader serves both. */
static int32_t info[13];

EXPORT("sa_alloc") void *sa_alloc(size_t n) { return malloc(n); }
EXPORT("sa_free") void sa_free(void *p) { free(p); }
EXPORT("sa_info") int32_t *sa_info(void) { return info; }

/* sa_skip_filters sets whether the following pictures are decoded without deblocking
 * and SAO. Only for intra pictures (an HEIC item): HEVC's intra prediction uses the
 * samples before the in-loop filters, so skipping them changes only the filtering
 * itself, never what later blocks are predicted from; the caller box-shrinks the
 * picture enough that the filtering averages away. */
EXPORT("sa_skip_filters") void sa_skip_filters(int on) { skip_filters = on != 0; }

EXPORT("sa_release") void sa_release(void) {
    pic = NULL;
    if (ctx) {
        de265_free_decoder(ctx);
        ctx = NULL;
    }
}

/* too_large reports whether a sequence parameter set decoded so far describes pictures
 * of more than pixel_limit pixels. libde265 decodes one NAL unit a call, and the
 * parameter sets come before the slices that allocate a picture, so checking after
 * every call refuses a picture before its planes are allocated. (libde265's image
 * allocation hook is not used for every picture: with SAO the reconstruction buffer
 * bypasses it.) */
static int too_large(void) {
    decoder_context *dc = (decoder_context *)ctx;
    for (int i = 0; i < DE265_MAX_SPS_SETS; i++) {
        if (!dc->has_sps(i)) continue;
        const seq_parameter_set *sps = dc->get_sps(i);
        if (sps->pic_width_in_luma_samples <= 0 || sps->pic_height_in_luma_samples <= 0 ||
            (int64_t)sps->pic_width_in_luma_samples * sps->pic_height_in_luma_samples > pixel_limit)
            return 1;
    }
    return 0;
}

/* sa_decode decodes the n bytes of length-prefixed NAL units at nals (which it takes
 * over and frees) and returns 0, -1 when no picture came out, -2 when the NAL lengths
 * run past the data, -3 when luma and chroma differ in bit depth, -4 when the
 * picture is larger than max_pixels, or a positive de265_error. */
EXPORT("sa_decode") int sa_decode(uint8_t *nals, size_t n, int max_pixels) {
    sa_release();
    /* de265_new_decoder takes a reference to libde265's global tables (scan orders,
     * context lookup tables) and de265_free_decoder drops it, rebuilding them for every
     * picture (about 9 ms each, 48 times for a phone's grid): one reference held for
     * the instance's life keeps them. */
    static int initialised;
    if (!initialised) {
        if (de265_init() != DE265_OK) { free(nals); return DE265_ERROR_OUT_OF_MEMORY; }
        initialised = 1;
    }
    pixel_limit = max_pixels;
    ctx = de265_new_decoder();
    if (!ctx) { free(nals); return DE265_ERROR_OUT_OF_MEMORY; }
    /* A damaged picture is still handed back (libheif does the same): the caller
     * compares its size with the container's. */
    de265_set_parameter_bool(ctx, DE265_DECODER_PARAM_SUPPRESS_FAULTY_PICTURES, 0);
    de265_set_parameter_bool(ctx, DE265_DECODER_PARAM_DISABLE_DEBLOCKING, skip_filters);
    de265_set_parameter_bool(ctx, DE265_DECODER_PARAM_DISABLE_SAO, skip_filters);
    de265_error err = DE265_OK;
    for (size_t i = 0; i < n;) {
        if (n - i < 4) { free(nals); return -2; }
        uint32_t len = (uint32_t)nals[i] << 24 | (uint32_t)nals[i + 1] << 16 | (uint32_t)nals[i + 2] << 8 | nals[i + 3];
        i += 4;
        if (len > n - i) { free(nals); return -2; }
        err = de265_push_NAL(ctx, nals + i, (int)len, 0, NULL);
        if (err != DE265_OK) { free(nals); return err; }
        i += len;
    }
    free(nals);
    err = de265_flush_data(ctx);
    if (err != DE265_OK) return err;
    int more = 1;
    while (more) {
        more = 0;
        err = de265_decode(ctx, &more);
        if (err != DE265_OK && err != DE265_ERROR_WAITING_FOR_INPUT_DATA) return err;
        if (too_large()) return -4;
        pic = de265_get_next_picture(ctx);
        if (pic) break;
    }
    if (!pic) return -1;
    int ys, cs = 0;
    info[0] = de265_get_image_width(pic, 0);
    info[1] = de265_get_image_height(pic, 0);
    info[2] = de265_get_bits_per_pixel(pic, 0);
    info[3] = de265_get_chroma_format(pic);
    info[4] = (int32_t)(uintptr_t)de265_get_image_plane(pic, 0, &ys);
    info[5] = info[6] = 0;
    if (info[3] != de265_chroma_mono) {
        info[5] = (int32_t)(uintptr_t)de265_get_image_plane(pic, 1, &cs);
        info[6] = (int32_t)(uintptr_t)de265_get_image_plane(pic, 2, &cs);
    }
    info[7] = ys;
    info[8] = cs;
    info[9] = de265_get_image_matrix_coefficients(pic);
    info[10] = de265_get_image_full_range_flag(pic);
    info[11] = de265_get_image_colour_primaries(pic);
    info[12] = de265_get_image_transfer_characteristics(pic);
    if (info[3] != de265_chroma_mono && de265_get_bits_per_pixel(pic, 1) != info[2]) return -3;
    return 0;
}
