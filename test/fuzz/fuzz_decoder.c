/*
 * libFuzzer target for proto/'s frame decoder. The input chooses the limits
 * and the chunking (fuzz_decoder.h), then is fed to one decoder, draining
 * after every piece, and ends with finish(). Besides "no crash, no leak,
 * no undefined behaviour" it checks what proto.h promises:
 *   - every Envelope returned re-encodes, decodes again, and re-encodes to
 *     the same bytes (decoder and encoder agree on what is valid);
 *   - the only errors are the documented ones, and they stick;
 *   - the buffer stays within one frame plus one chunk.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_decoder.h"
#include "proto.h"

/* A broken promise is a crash libFuzzer reports and saves. */
#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond))                                                                       \
			__builtin_trap();                                                          \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int refuse_marked(void *data, const uint8_t *frame, size_t frame_len, const uint8_t *trailer,
			 size_t trailer_len)
{
	(void)data;
	FUZZ_CHECK(frame_len > PROTO_FRAME_HEADER_LEN);
	(void)frame;
	return trailer_len > 0 && trailer[0] == FUZZ_REFUSE ? -EACCES : 0;
}

static uint8_t *encode(const Backstay__Envelope *env, size_t *ret_len)
{
	uint8_t *frame = NULL;

	FUZZ_CHECK(proto_frame_encode(env, UINT32_MAX, &frame, ret_len) == 0);
	return frame;
}

static void check_reencodes(const Backstay__Envelope *env)
{
	struct proto_decoder d;
	Backstay__Envelope *again = NULL;
	uint8_t *first, *second;
	size_t first_len, second_len;

	first = encode(env, &first_len);
	proto_decoder_init(&d, UINT32_MAX);
	FUZZ_CHECK(proto_decoder_feed(&d, first, first_len) == 0);
	FUZZ_CHECK(proto_decoder_next(&d, &again) == 0);
	FUZZ_CHECK(proto_decoder_finish(&d) == 0);
	second = encode(again, &second_len);
	FUZZ_CHECK(first_len == second_len && memcmp(first, second, first_len) == 0);
	free(second);
	backstay__envelope__free_unpacked(again, NULL);
	proto_decoder_close(&d);
	free(first);
}

/* Take every complete frame: 0 when it wants more, else the error. */
static int drain(struct proto_decoder *d)
{
	Backstay__Envelope *env;
	int rc;

	while ((rc = proto_decoder_next(d, &env)) == 0) {
		check_reencodes(env);
		backstay__envelope__free_unpacked(env, NULL);
	}
	return rc == -EAGAIN ? 0 : rc;
}

static void check_error(struct proto_decoder *d, int err)
{
	Backstay__Envelope *env = NULL;

	FUZZ_CHECK(err == BS_E_FRAME_TOO_BIG || err == BS_E_FRAME_MALFORMED ||
		   err == BS_E_FRAME_TRUNCATED || err == -EACCES);
	FUZZ_CHECK(proto_decoder_feed(d, "x", 1) == err);
	FUZZ_CHECK(proto_decoder_next(d, &env) == err && env == NULL);
	FUZZ_CHECK(proto_decoder_finish(d) == err);
}

static void check_bounded(const struct proto_decoder *d, size_t chunk)
{
	size_t bound = PROTO_FRAME_HEADER_LEN + d->max_frame + d->trailer_len + chunk;

	FUZZ_CHECK(d->cap <= (bound > 4096 ? bound : 4096));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_decoder d;
	const uint8_t *stream = data + FUZZ_PREFIX_LEN;
	size_t len, off = 0, turn = 0;
	int rc = 0;

	if (size < FUZZ_PREFIX_LEN)
		return 0;
	len = size - FUZZ_PREFIX_LEN;
	proto_decoder_init(&d, fuzz_max_frame(data[0]));
	d.trailer_len = fuzz_trailer_len(data[0]);
	if (data[0] & FUZZ_VERIFY)
		d.verify = refuse_marked;

	while (rc == 0 && off < len) {
		size_t n = (size_t)data[1 + turn++ % 4] + 1;

		if (n > len - off)
			n = len - off;
		rc = proto_decoder_feed(&d, stream + off, n);
		check_bounded(&d, n);
		off += n;
		if (rc == 0)
			rc = drain(&d);
	}
	if (rc == 0)
		rc = proto_decoder_finish(&d);
	if (rc != 0)
		check_error(&d, rc);
	proto_decoder_close(&d);
	return 0;
}
