/*
 * The frame codec: Envelope <-> length-prefixed frame, and the incremental
 * decoder that cuts a byte stream into frames.
 *
 * The decoder keeps the unconsumed bytes in one buffer, [start, end). feed()
 * only appends (compacting consumed bytes away first when the buffer is
 * full) and checks the header at the front, so that an oversized frame is
 * refused as soon as its 4 header bytes are in, before its body is buffered.
 * Framing happens lazily in next(): that is what lets the caller change
 * max_frame, trailer_len and verify between frames, e.g. switch on the
 * integrity trailer right after the handshake's last frame while later
 * frames are already buffered.
 *
 * Everything the peer controls is checked before it is used: the length
 * against max_frame, the integrity trailer (verify) before the body reaches
 * protobuf-c, then the unpacked Envelope's oneof and field numbers.
 */
#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

/* Smallest buffer allocated; and the largest one kept once it empties. */
#define DECODER_MIN_CAP 4096u
#define DECODER_KEEP_CAP (64u << 10)

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* ------------------------------------------------------------------------
 * Envelope checks, shared by both directions.
 */

/* The message the oneof points at, or NULL when none is (validly) set. Every
 * member of the oneof is a message pointer, so the descriptor's offset finds
 * it without a switch that would need updating with each new body. */
static const void *envelope_body(const Backstay__Envelope *env)
{
	const ProtobufCFieldDescriptor *field;

	if (env->body_case == BACKSTAY__ENVELOPE__BODY__NOT_SET)
		return NULL;
	field = protobuf_c_message_descriptor_get_field(&backstay__envelope__descriptor,
							(unsigned)env->body_case);
	if (field == NULL)
		return NULL;
	return *(const void *const *)((const char *)env + field->offset);
}

/*
 * Field numbers run from 1 to 2^29 - 1. protobuf-c 1.4.1 checks this only
 * for one-byte tags: it keeps an unknown field numbered 0 (written as a
 * two-byte tag) or above the range, and then cannot re-encode it into
 * something it accepts back. Refusing those keeps "whatever we accept
 * re-encodes to what we accept" true (found by fuzz_decoder), which matters
 * as soon as a message is forwarded. Unknown fields with valid numbers are
 * kept: a newer peer may send fields this version does not know.
 */
#define FIELD_NUMBER_MAX 0x1fffffffu

static bool field_numbers_valid(const ProtobufCMessage *m);

/* The message(s) field f of m holds, checked with field_numbers_valid(). */
static bool submessages_valid(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	const char *base = (const char *)m;
	const ProtobufCMessage *const *subs;
	size_t n = 1, i;

	if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
	    *(const uint32_t *)(base + f->quantifier_offset) != f->id)
		return true;
	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		n = *(const size_t *)(base + f->quantifier_offset);
		subs = *(const ProtobufCMessage *const *const *)(base + f->offset);
	} else {
		subs = (const ProtobufCMessage *const *)(base + f->offset);
	}
	for (i = 0; i < n; i++)
		if (subs[i] != NULL && !field_numbers_valid(subs[i]))
			return false;
	return true;
}

/* Recursion is bounded by the schema's nesting (no message contains itself). */
static bool field_numbers_valid(const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *desc = m->descriptor;
	unsigned i;

	for (i = 0; i < m->n_unknown_fields; i++)
		if (m->unknown_fields[i].tag == 0 || m->unknown_fields[i].tag > FIELD_NUMBER_MAX)
			return false;
	for (i = 0; i < desc->n_fields; i++)
		if (desc->fields[i].type == PROTOBUF_C_TYPE_MESSAGE &&
		    !submessages_valid(m, &desc->fields[i]))
			return false;
	return true;
}

/* "Exactly one body must be set"; a Hello must name a role (0 is none). */
static bool envelope_valid(const Backstay__Envelope *env)
{
	if (envelope_body(env) == NULL)
		return false;
	if (env->body_case == BACKSTAY__ENVELOPE__BODY_HELLO &&
	    env->hello->role == BACKSTAY__ROLE__ROLE_UNSPECIFIED)
		return false;
	return true;
}

/* ------------------------------------------------------------------------
 * Encoding.
 */

int proto_frame_encode(const Backstay__Envelope *env, size_t max_frame, uint8_t **ret_buf,
		       size_t *ret_len)
{
	size_t body_len, packed;
	uint8_t *buf;

	if (env == NULL || !envelope_valid(env) || !protobuf_c_message_check(&env->base))
		return -EINVAL;
	body_len = backstay__envelope__get_packed_size(env);
	if (body_len > max_frame || body_len > UINT32_MAX)
		return BS_E_FRAME_TOO_BIG;
	buf = malloc(PROTO_FRAME_HEADER_LEN + body_len);
	if (buf == NULL)
		return -ENOMEM;
	put_be32(buf, (uint32_t)body_len);
	packed = backstay__envelope__pack(env, buf + PROTO_FRAME_HEADER_LEN);
	assert(packed == body_len);
	(void)packed;
	*ret_buf = buf;
	*ret_len = PROTO_FRAME_HEADER_LEN + body_len;
	return 0;
}

/* ------------------------------------------------------------------------
 * Unpacking one body. protobuf-c answers NULL both for bad input and for a
 * failed allocation; this allocator tells the two apart. It is malloc/free,
 * so the result is freed with backstay__envelope__free_unpacked(env, NULL).
 */

struct unpack_alloc {
	bool failed;
};

static void *unpack_alloc(void *data, size_t size)
{
	struct unpack_alloc *state = data;
	void *p = malloc(size);

	if (p == NULL && size > 0)
		state->failed = true;
	return p;
}

static void unpack_free(void *data, void *p)
{
	(void)data;
	free(p);
}

static int envelope_unpack(const uint8_t *body, size_t len, Backstay__Envelope **ret_env)
{
	struct unpack_alloc state = {.failed = false};
	ProtobufCAllocator allocator = {
		.alloc = unpack_alloc,
		.free = unpack_free,
		.allocator_data = &state,
	};
	Backstay__Envelope *env;

	env = backstay__envelope__unpack(&allocator, len, body);
	if (env == NULL)
		return state.failed ? -ENOMEM : BS_E_FRAME_MALFORMED;
	if (!envelope_valid(env) || !field_numbers_valid(&env->base)) {
		backstay__envelope__free_unpacked(env, NULL);
		return BS_E_FRAME_MALFORMED;
	}
	*ret_env = env;
	return 0;
}

/* ------------------------------------------------------------------------
 * The decoder.
 */

void proto_decoder_init(struct proto_decoder *d, size_t max_frame)
{
	*d = (struct proto_decoder){.max_frame = max_frame};
}

void proto_decoder_close(struct proto_decoder *d)
{
	if (d == NULL)
		return;
	free(d->buf);
	*d = (struct proto_decoder){0};
}

static int decoder_fail(struct proto_decoder *d, int err)
{
	d->err = err;
	return err;
}

static size_t decoder_buffered(const struct proto_decoder *d)
{
	return d->end - d->start;
}

/* Capacity for `need` bytes: double (amortised growth while a large body
 * arrives in small chunks) but never beyond what is needed now or by the
 * frame at the front, whichever is larger. So the buffer holds at most
 * max(4 KiB, one whole frame, the bytes actually buffered). */
static size_t next_capacity(size_t cap, size_t need, size_t front_frame)
{
	size_t ceiling = need > front_frame ? need : front_frame;

	if (ceiling < DECODER_MIN_CAP)
		ceiling = DECODER_MIN_CAP;
	if (cap < DECODER_MIN_CAP)
		cap = DECODER_MIN_CAP;
	while (cap < need && cap <= SIZE_MAX / 2)
		cap *= 2;
	if (cap < need)
		cap = need;
	return cap < ceiling ? cap : ceiling;
}

/* Total size (header, body, trailer) of the frame at the front when its
 * header is buffered and acceptable, else 0. */
static size_t decoder_front_frame(const struct proto_decoder *d)
{
	uint32_t len;
	size_t total;

	if (decoder_buffered(d) < PROTO_FRAME_HEADER_LEN)
		return 0;
	len = get_be32(d->buf + d->start);
	if (len > d->max_frame)
		return 0;
	if (__builtin_add_overflow((size_t)len + PROTO_FRAME_HEADER_LEN, d->trailer_len, &total))
		return 0;
	return total;
}

/* Make room for len more bytes after end. */
static int decoder_reserve(struct proto_decoder *d, size_t len)
{
	size_t used = decoder_buffered(d);
	size_t cap;
	uint8_t *p;

	if (len > SIZE_MAX - used)
		return -ENOMEM;
	if (d->end + len <= d->cap)
		return 0;
	if (d->start > 0) {
		memmove(d->buf, d->buf + d->start, used);
		d->start = 0;
		d->end = used;
		if (used + len <= d->cap)
			return 0;
	}
	cap = next_capacity(d->cap, used + len, decoder_front_frame(d));
	p = realloc(d->buf, cap);
	if (p == NULL)
		return -ENOMEM;
	d->buf = p;
	d->cap = cap;
	return 0;
}

/* Read and check the header at the front: 0 and the body length, -EAGAIN
 * when fewer than 4 bytes are buffered, or the (now sticky) frame error. */
static int decoder_header(struct proto_decoder *d, size_t *ret_body_len)
{
	uint32_t len;

	if (decoder_buffered(d) < PROTO_FRAME_HEADER_LEN)
		return -EAGAIN;
	len = get_be32(d->buf + d->start);
	if (len > d->max_frame)
		return decoder_fail(d, BS_E_FRAME_TOO_BIG);
	if (len == 0)
		return decoder_fail(d, BS_E_FRAME_MALFORMED);
	*ret_body_len = len;
	return 0;
}

int proto_decoder_feed(struct proto_decoder *d, const void *data, size_t len)
{
	size_t body_len;
	int rc;

	if (d->err != 0)
		return d->err;
	if (len == 0)
		return 0;
	rc = decoder_reserve(d, len);
	if (rc < 0)
		return decoder_fail(d, rc);
	memcpy(d->buf + d->end, data, len);
	d->end += len;
	rc = decoder_header(d, &body_len);
	return rc == -EAGAIN ? 0 : rc;
}

/* Run the integrity hook over the complete frame at the front. */
static int decoder_verify(struct proto_decoder *d, size_t frame_len)
{
	const uint8_t *frame = d->buf + d->start;
	int rc;

	if (d->verify == NULL)
		return 0;
	rc = d->verify(d->verify_data, frame, frame_len, frame + frame_len, d->trailer_len);
	if (rc > 0 || rc == -EAGAIN)
		rc = -EBADMSG;
	return rc;
}

/* Drop n bytes from the front; release a large buffer once it is empty. */
static void decoder_consume(struct proto_decoder *d, size_t n)
{
	d->start += n;
	if (d->start < d->end)
		return;
	d->start = 0;
	d->end = 0;
	if (d->cap > DECODER_KEEP_CAP) {
		free(d->buf);
		d->buf = NULL;
		d->cap = 0;
	}
}

int proto_decoder_next(struct proto_decoder *d, Backstay__Envelope **ret_env)
{
	size_t body_len, frame_len, total;
	Backstay__Envelope *env;
	int rc;

	if (d->err != 0)
		return d->err;
	rc = decoder_header(d, &body_len);
	if (rc < 0)
		return rc;
	frame_len = PROTO_FRAME_HEADER_LEN + body_len;
	if (__builtin_add_overflow(frame_len, d->trailer_len, &total))
		return decoder_fail(d, -EINVAL);
	if (decoder_buffered(d) < total)
		return -EAGAIN;
	rc = decoder_verify(d, frame_len);
	if (rc < 0)
		return decoder_fail(d, rc);
	rc = envelope_unpack(d->buf + d->start + PROTO_FRAME_HEADER_LEN, body_len, &env);
	if (rc < 0)
		return decoder_fail(d, rc);
	decoder_consume(d, total);
	*ret_env = env;
	return 0;
}

int proto_decoder_finish(struct proto_decoder *d)
{
	if (d->err != 0)
		return d->err;
	if (decoder_buffered(d) == 0)
		return 0;
	return decoder_fail(d, BS_E_FRAME_TRUNCATED);
}

const char *proto_role_name(Backstay__Role role)
{
	switch (role) {
	case BACKSTAY__ROLE__ROLE_UNSPECIFIED:
		return "unspecified";
	case BACKSTAY__ROLE__PEER:
		return "peer";
	case BACKSTAY__ROLE__CTL:
		return "ctl";
	case BACKSTAY__ROLE__JOIN:
		return "join";
	default:
		return "unknown";
	}
}
