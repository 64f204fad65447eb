/*
 * proto/ — backstay's wire format: the protobuf messages (backstay.proto,
 * compiled by protoc-c into backstay.pb-c.h) and the frame codec.
 *
 * Public prefix: proto_. Depends on base (error codes) and protobuf-c.
 *
 * A connection carries a stream of frames:
 *
 *   +------------------+---------------------------+---------------------+
 *   | body length (u32 |  body: one packed         |  trailer            |
 *   | big-endian)      |  Backstay__Envelope       |  (trailer_len bytes,|
 *   |   4 bytes        |  1 .. max_frame bytes     |   0 for now)        |
 *   +------------------+---------------------------+---------------------+
 *
 * The length counts the body only. A length of 0 is malformed (an Envelope
 * always has a body), a length over the receiver's max_frame is refused as
 * soon as the header arrives, before any of the body is buffered. The
 * trailer is the per-frame integrity hook (see proto_verify_cb): its length
 * is fixed per connection and agreed by the handshake, and it is not counted
 * in the length, so the limit means the same with or without it. The MAC it
 * is meant to carry covers header and body: a forged length misframes the
 * stream and fails the next check, closing the connection.
 *
 * Threads: none. A decoder belongs to one connection and is used from one
 * thread; the functions here keep no global state.
 */
#ifndef BS_PROTO_H
#define BS_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "backstay.pb-c.h"
#include "base.h"

#define PROTO_FRAME_HEADER_LEN 4
#define PROTO_MAX_FRAME_DEFAULT (16u << 20)

/*
 * Encode env into one frame (header + body, no trailer) in a buffer from
 * malloc(3). On 0, *ret_buf and *ret_len hold the frame and the caller frees
 * *ret_buf with free(3); on failure they are untouched.
 *
 * Returns 0, -EINVAL when env has no body set (or a body whose pointer is
 * NULL, a Hello without a role, or a message protobuf_c_message_check()
 * refuses), BS_E_FRAME_TOO_BIG when the body would exceed max_frame, or
 * -ENOMEM.
 *
 * Planned extension (handshake issue): once a session key exists the sender
 * appends a trailer (the MAC) after the body; encode will then reserve
 * trailer_len bytes at the end of the buffer for the caller to fill.
 */
int proto_frame_encode(const Backstay__Envelope *env, size_t max_frame, uint8_t **ret_buf,
		       size_t *ret_len);

/*
 * Per-frame integrity hook, called by proto_decoder_next() once a whole frame
 * and its trailer are buffered, before the body is unpacked (unauthenticated
 * bytes never reach the protobuf parser). `frame` is the header and body
 * (PROTO_FRAME_HEADER_LEN + body length bytes), `trailer` the trailer_len
 * bytes after it; both are borrowed for the duration of the call only. It is
 * called exactly once per frame, in stream order, so it may keep a sequence
 * number.
 * Return 0 to accept the frame, or a negative error code, which becomes the
 * decoder's sticky error and is returned by proto_decoder_next() (-EAGAIN
 * and positive values are turned into -EBADMSG: a refused frame must never
 * look like "feed more").
 */
typedef int (*proto_verify_cb)(void *data, const uint8_t *frame, size_t frame_len,
			       const uint8_t *trailer, size_t trailer_len);

/*
 * Incremental frame decoder: feed it whatever the socket delivers, then take
 * complete Envelopes out with proto_decoder_next() until it says -EAGAIN.
 *
 * The struct is public so that a connection can embed it (no allocation to
 * create one). The first group of fields may be changed by the caller between
 * calls; each change applies from the next frame proto_decoder_next() has not
 * returned yet (framing is done lazily there, so bytes already fed are cut
 * with the new values). The rest is private.
 *
 * Memory: the decoder owns one buffer holding the unconsumed bytes. Its size
 * stays within max(4 KiB, the frame at the front, the bytes buffered), so
 * at most one partial frame (header + max_frame + trailer) plus the chunk
 * being fed, provided the caller drains with proto_decoder_next() after
 * every feed. A buffer larger than 64 KiB is released when it empties, so a
 * connection that once carried a snapshot does not keep its memory.
 *
 * Errors: every error except -EAGAIN is sticky. From then on every call
 * (feed, next, finish) returns the same error, and the connection is meant
 * to be closed. Only proto_decoder_close() still does its job.
 */
struct proto_decoder {
	/* Settable between calls. */
	size_t max_frame;	/* largest body accepted; init sets it */
	size_t trailer_len;	/* bytes after each body; 0 until the handshake sets it */
	proto_verify_cb verify; /* called per frame when non-NULL (needs no trailer) */
	void *verify_data;	/* passed to verify */

	/* Private. */
	uint8_t *buf; /* malloc'd, or NULL */
	size_t cap;   /* bytes allocated at buf */
	size_t start; /* first unconsumed byte */
	size_t end;   /* one past the last buffered byte */
	int err;      /* sticky error, 0 while healthy */
};

/* Prepare d (any contents) with a body limit, normally
 * PROTO_MAX_FRAME_DEFAULT. No allocation; cannot fail. Until a peer is
 * authenticated, use a small limit: an unpacked Envelope can take tens of
 * times its wire size (many tiny repeated entries). */
void proto_decoder_init(struct proto_decoder *d, size_t max_frame);

/* Release d's buffer and zero it. Accepts a zeroed or already closed
 * decoder. Envelopes returned earlier are independent of d and stay valid. */
void proto_decoder_close(struct proto_decoder *d);

/* Append len bytes of stream (any split: single bytes, partial headers,
 * several frames at once). data is copied; the caller keeps it. Returns 0,
 * BS_E_FRAME_TOO_BIG or BS_E_FRAME_MALFORMED when the frame header at the
 * front of the buffer is already known to be bad, or -ENOMEM (nothing was
 * appended; sticky like every error). */
int proto_decoder_feed(struct proto_decoder *d, const void *data, size_t len);

/*
 * Take the next complete frame. Returns:
 *   0                    *ret_env is a new Envelope with a body set; the
 *                        caller frees it with
 *                        backstay__envelope__free_unpacked(env, NULL);
 *   -EAGAIN              no complete frame buffered yet (not an error:
 *                        feed more);
 *   BS_E_FRAME_TOO_BIG   a header announced more than max_frame;
 *   BS_E_FRAME_MALFORMED zero length, a body protobuf-c cannot unpack, an
 *                        Envelope with no body set, a Hello whose role is
 *                        ROLE_UNSPECIFIED, or an unknown field numbered
 *                        outside 1 .. 2^29-1 (protobuf-c lets some
 *                        through; unknown fields with valid numbers are
 *                        kept, for newer peers);
 *   what verify returned, when it refused the frame;
 *   -ENOMEM              while unpacking;
 *   -EINVAL              trailer_len so large that a frame's size overflows.
 * *ret_env is untouched unless 0 is returned.
 *
 * The codec checks the framing and the Envelope only. Everything inside a
 * body (a RaftMessage with no msg set, enum values this version does not
 * know, a role other than the three) is for the consumer to judge: the
 * handshake answers an unknown role with a Goodbye, consensus drops a Raft
 * message kind it does not know, as libraft's own transport does.
 */
int proto_decoder_next(struct proto_decoder *d, Backstay__Envelope **ret_env);

/* Call when the stream has ended (EOF), after draining proto_decoder_next()
 * to -EAGAIN. 0 when nothing is buffered, BS_E_FRAME_TRUNCATED when the
 * stream stopped inside a frame (sticky), or the decoder's earlier error. */
int proto_decoder_finish(struct proto_decoder *d);

/* "peer", "ctl", "join"; "unspecified" for 0 and "unknown" for anything
 * else. Static storage. */
const char *proto_role_name(Backstay__Role role);

#endif /* BS_PROTO_H */
