/*
 * libFuzzer target for the handshake state machine (consensus/handshake.c),
 * driven without sockets: the input (layout in fuzz_net.h) is the byte
 * stream of the other side, cut into frames by proto's decoder with the
 * handshake's frame limit, each frame fed to cns__tr_hs_step(). Besides "no
 * crash, no leak, no undefined behaviour" it checks:
 *   - states only move as handshake.c's table says, and 0 is returned
 *     exactly when the new state is not FAILED;
 *   - a terminal state refuses further input;
 *   - whatever the machine answers (reply, proof, Goodbye) encodes within
 *     the handshake frame limit and decodes back;
 *   - nobody reaches DONE: without the cluster secret no input can produce
 *     a valid proof, so DONE would mean authentication was bypassed.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_net.h"
#include "proto.h"

#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond))                                                                       \
			__builtin_trap();                                                          \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_out(const struct cns__tr_hs_out *out)
{
	struct proto_decoder d;
	Backstay__Envelope *back = NULL;
	uint8_t *frame;
	size_t len;

	if (out->env.body_case == BACKSTAY__ENVELOPE__BODY__NOT_SET)
		return;
	FUZZ_CHECK(proto_frame_encode(&out->env, CNS__TR_HS_MAX_FRAME, &frame, &len) == 0);
	proto_decoder_init(&d, CNS__TR_HS_MAX_FRAME);
	FUZZ_CHECK(proto_decoder_feed(&d, frame, len) == 0);
	FUZZ_CHECK(proto_decoder_next(&d, &back) == 0);
	FUZZ_CHECK(back->body_case == out->env.body_case);
	backstay__envelope__free_unpacked(back, NULL);
	proto_decoder_close(&d);
	free(frame);
}

static bool move_allowed(enum cns__tr_hs_state from, enum cns__tr_hs_state to)
{
	if (to == CNS__TR_HS_FAILED)
		return true;
	switch (from) {
	case CNS__TR_HS_SERVER_WAIT_HELLO:
		return to == CNS__TR_HS_SERVER_WAIT_PROOF;
	case CNS__TR_HS_SERVER_WAIT_PROOF:
	case CNS__TR_HS_CLIENT_WAIT_REPLY:
		return to == CNS__TR_HS_DONE;
	default:
		return false;
	}
}

static void feed_one(struct cns__tr_hs *hs, const Backstay__Envelope *env)
{
	enum cns__tr_hs_state from = hs->state;
	struct cns__tr_hs_out out;
	int rc = cns__tr_hs_step(hs, env, &out);

	if (from == CNS__TR_HS_FAILED) {
		FUZZ_CHECK(rc == -EPROTO && hs->state == CNS__TR_HS_FAILED);
		return;
	}
	FUZZ_CHECK(move_allowed(from, hs->state));
	FUZZ_CHECK((rc == 0) == (hs->state != CNS__TR_HS_FAILED));
	FUZZ_CHECK(rc == 0 || rc == -EACCES || rc == -EPROTONOSUPPORT || rc == -EPROTO ||
		   rc == -ECONNREFUSED);
	FUZZ_CHECK(hs->state != CNS__TR_HS_DONE);
	check_out(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t nonce[CNS__TR_NONCE_LEN] = {0x33, 0x44};
	struct cns__tr_identity self;
	struct cns__tr_hs hs;
	struct cns__tr_hs_out out;
	struct proto_decoder d;
	Backstay__Envelope *env;
	uint8_t config;

	if (size < 1)
		return 0;
	config = data[0];
	fuzz_identity(&self, config);
	if (config & FUZZ_HS_CLIENT) {
		cns__tr_hs_client(&hs, &self, fuzz_role(config), config & FUZZ_HS_EXPECT ? 1 : 0,
				  nonce, &out);
		check_out(&out);
	} else {
		cns__tr_hs_server(&hs, &self, nonce);
	}
	proto_decoder_init(&d, CNS__TR_HS_MAX_FRAME);
	if (proto_decoder_feed(&d, data + 1, size - 1) == 0) {
		while (proto_decoder_next(&d, &env) == 0) {
			feed_one(&hs, env);
			backstay__envelope__free_unpacked(env, NULL);
		}
	}
	cns__tr_hs_abort(&hs, CNS__TR_REASON_EOF, true, &out);
	check_out(&out);
	FUZZ_CHECK(hs.state == CNS__TR_HS_FAILED);
	cns__tr_hs_wipe(&hs);
	proto_decoder_close(&d);
	return 0;
}
