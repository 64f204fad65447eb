/*
 * proto/ frame codec: every message type survives a round trip field by
 * field; a stream of frames decodes the same whatever way it is split;
 * limits, malformed input, truncation and the integrity hook behave as
 * proto.h says, and errors stick.
 *
 * protobuf-c allocates with malloc, not cmocka's test_malloc: leaks are
 * caught by running this under ASan/LSan (the sanitizer build in CI).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "unit.h"

#define N_SAMPLES 4

/* A borrowed byte string for a bytes field (pack only reads it). */
static ProtobufCBinaryData bin(const char *s)
{
	return (ProtobufCBinaryData){.len = strlen(s), .data = (uint8_t *)s};
}

static void assert_bin_equal(ProtobufCBinaryData got, ProtobufCBinaryData want)
{
	assert_int_equal(got.len, want.len);
	if (want.len > 0)
		assert_memory_equal(got.data, want.data, want.len);
}

static uint8_t *encode_ok(const Backstay__Envelope *env, size_t *ret_len)
{
	uint8_t *frame = NULL;

	assert_int_equal(proto_frame_encode(env, PROTO_MAX_FRAME_DEFAULT, &frame, ret_len), 0);
	assert_non_null(frame);
	return frame;
}

/* Decode a buffer that must hold exactly one frame. */
static Backstay__Envelope *decode_one(const uint8_t *frame, size_t len)
{
	struct proto_decoder d;
	Backstay__Envelope *env = NULL;

	proto_decoder_init(&d, PROTO_MAX_FRAME_DEFAULT);
	assert_int_equal(proto_decoder_feed(&d, frame, len), 0);
	assert_int_equal(proto_decoder_next(&d, &env), 0);
	assert_int_equal(proto_decoder_next(&d, &env), -EAGAIN);
	assert_int_equal(proto_decoder_finish(&d), 0);
	proto_decoder_close(&d);
	return env;
}

static Backstay__Envelope *roundtrip(const Backstay__Envelope *env)
{
	size_t len;
	uint8_t *frame = encode_ok(env, &len);
	Backstay__Envelope *out = decode_one(frame, len);

	free(frame);
	assert_int_equal(out->body_case, env->body_case);
	return out;
}

/* Feed raw bytes (one chunk) and expect `want` from next(). */
static void expect_next_error(size_t max_frame, const uint8_t *bytes, size_t len, int want)
{
	struct proto_decoder d;
	Backstay__Envelope *env = NULL;

	proto_decoder_init(&d, max_frame);
	proto_decoder_feed(&d, bytes, len);
	assert_int_equal(proto_decoder_next(&d, &env), want);
	assert_null(env);
	proto_decoder_close(&d);
}

/* A frame around an arbitrary body, bypassing the encoder's checks. */
static size_t raw_frame(const uint8_t *body, size_t body_len, uint8_t *out)
{
	out[0] = (uint8_t)(body_len >> 24);
	out[1] = (uint8_t)(body_len >> 16);
	out[2] = (uint8_t)(body_len >> 8);
	out[3] = (uint8_t)body_len;
	memcpy(out + PROTO_FRAME_HEADER_LEN, body, body_len);
	return PROTO_FRAME_HEADER_LEN + body_len;
}

/* ------------------------------------------------------------------------
 * Round trips: handshake and ctl.
 */

static void test_roundtrip_hello(void **state)
{
	Backstay__Hello m = BACKSTAY__HELLO__INIT;
	Backstay__Envelope env = BACKSTAY__ENVELOPE__INIT;
	Backstay__Envelope *out;

	(void)state;
	m.cluster_id = bin("0123456789abcdef");
	m.node_id = UINT64_MAX - 1;
	m.min_version = 1;
	m.max_version = 7;
	m.role = BACKSTAY__ROLE__JOIN;
	m.nonce = bin("a 32-byte nonce, nothing up my s");
	m.address = "10.0.0.1:7332";
	env.body_case = BACKSTAY__ENVELOPE__BODY_HELLO;
	env.hello = &m;

	out = roundtrip(&env);
	assert_bin_equal(out->hello->cluster_id, m.cluster_id);
	assert_true(out->hello->node_id == m.node_id);
	assert_int_equal(out->hello->min_version, 1);
	assert_int_equal(out->hello->max_version, 7);
	assert_int_equal(out->hello->role, BACKSTAY__ROLE__JOIN);
	assert_bin_equal(out->hello->nonce, m.nonce);
	assert_string_equal(out->hello->address, m.address);
	backstay__envelope__free_unpacked(out, NULL);
}

static void test_roundtrip_hello_reply(void **state)
{
	Backstay__HelloReply m = BACKSTAY__HELLO_REPLY__INIT;
	Backstay__Envelope env = BACKSTAY__ENVELOPE__INIT;
	Backstay__Envelope *out;

	(void)state;
	m.version = 3;
	m.nonce = bin("the other side's nonce");
	m.proof = bin("mac over both nonces");
	m.node_id = 2;
	env.body_case = BACKSTAY__ENVELOPE__BODY_HELLO_REPLY;
	env.hello_reply = &m;

	out = roundtrip(&env);
	assert_int_equal(out->hello_reply->version, 3);
	assert_bin_equal(out->hello_reply->nonce, m.nonce);
	assert_bin_equal(out->hello_reply->proof, m.proof);
	assert_int_equal(out->hello_reply->node_id, 2);
	backstay__envelope__free_unpacked(out, NULL);
}

static void test_roundtrip_hello_proof(void **state)
{
	Backstay__HelloProof m = BACKSTAY__HELLO_PROOF__INIT;
	Backstay__Envelope env = BACKSTAY__ENVELOPE__INIT;
	Backstay__Envelope *out;

	(void)state;
	m.proof = bin("client mac");
	env.body_case = BACKSTAY__ENVELOPE__BODY_HELLO_PROOF;
	env.hello_proof = &m;

	out = roundtrip(&env);
	assert_bin_equal(out->hello_proof->proof, m.proof);
	backstay__envelope__free_unpacked(out, NULL);
}

static void test_roundtrip_goodbye(void **state)
{
	Backstay__Goodbye m = BACKSTAY__GOODBYE__INIT;
	Backstay__Envelope env = BACKSTAY__ENVELOPE__INIT;
	Backstay__Envelope *out;

	(void)state;
	m.reason = "cluster id mismatch";
	env.body_case = BACKSTAY__ENVELOPE__BODY_GOODBYE;
	env.goodbye = &m;

	out = roundtrip(&env);
	assert_string_equal(out->goodbye->reason, m.reason);
	backstay__envelope__free_unpacked(out, NULL);
}

/* A body whose fields are all zero still counts as set. */
static void test_roundtrip_empty_body(void **state)
{
	Backstay__Goodbye m = BACKSTAY__GOODBYE__INIT;
	Backstay__Envelope env = BACKSTAY__ENVELOPE__INIT;
	Backstay__Envelope *out;

	(void)state;
	env.body_case = BACKSTAY__ENVELOPE__BODY_GOODBYE;
	env.goodbye = &m;

	out = roundtrip(&env);
	assert_non_null(out->goodbye);
	assert_string_equal(out->goodbye->reason, "");
	backstay__envelope__free_unpacked(out, NULL);
}

static void test_roundtrip_ctl_request(void **state)
{
	char *args[] = {"node2", "--force", ""};
	Backstay__CtlRequest m = BACKSTAY__CTL_REQUEST__INIT;
	Backstay__Envelope env = BACKSTAY__ENVELOPE__INIT;
	Backstay__Envelope *out;
	size_t i;

	(void)state;
	m.id = 42;
	m.verb = "promote";
	m.n_args = 3;
	m.args = args;
	m.payload = bin("{\"wait\":true}");
	env.body_case = BACKSTAY__ENVELOPE__BODY_CTL_REQUEST;
	env.ctl_request = &m;

	out = roundtrip(&env);
	assert_int_equal(out->ctl_request->id, 42);
	assert_string_equal(out->ctl_request->verb, "promote");
	assert_int_equal(out->ctl_request->n_args, 3);
	for (i = 0; i < 3; i++)
		assert_string_equal(out->ctl_request->args[i], args[i]);
	assert_bin_equal(out->ctl_request->payload, m.payload);
	backstay__envelope__free_unpacked(out, NULL);
}

static void test_roundtrip_ctl_response(void **state)
{
	Backstay__CtlResponse m = BACKSTAY__CTL_RESPONSE__INIT;
	Backstay__Envelope env = BACKSTAY__ENVELOPE__INIT;
	Backstay__Envelope *out;

	(void)state;
	m.id = 42;
	m.code = -71;
	m.message = "node2 is not caught up";
	m.payload = bin("\x00\x01\x02");
	m.payload.len = 3; /* bin() stops at the NUL */
	env.body_case = BACKSTAY__ENVELOPE__BODY_CTL_RESPONSE;
	env.ctl_response = &m;

	out = roundtrip(&env);
	assert_int_equal(out->ctl_response->id, 42);
	assert_int_equal(out->ctl_response->code, -71);
	assert_string_equal(out->ctl_response->message, m.message);
	assert_bin_equal(out->ctl_response->payload, m.payload);
	backstay__envelope__free_unpacked(out, NULL);
}

/* ------------------------------------------------------------------------
 * Round trips: Raft. Each wraps its message in a RaftMessage from server 3.
 */

static Backstay__Envelope *raft_roundtrip(Backstay__RaftMessage *rm,
					  Backstay__RaftMessage__MsgCase msg_case)
{
	Backstay__Envelope env = BACKSTAY__ENVELOPE__INIT;
	Backstay__Envelope *out;

	rm->server_id = 3;
	rm->server_address = "10.0.0.3:7332";
	rm->msg_case = msg_case;
	env.body_case = BACKSTAY__ENVELOPE__BODY_RAFT;
	env.raft = rm;

	out = roundtrip(&env);
	assert_int_equal(out->raft->server_id, 3);
	assert_string_equal(out->raft->server_address, "10.0.0.3:7332");
	assert_int_equal(out->raft->msg_case, msg_case);
	return out;
}

static void test_roundtrip_request_vote(void **state)
{
	Backstay__RequestVote m = BACKSTAY__REQUEST_VOTE__INIT;
	Backstay__RaftMessage rm = BACKSTAY__RAFT_MESSAGE__INIT;
	Backstay__Envelope *out;
	Backstay__RequestVote *got;

	(void)state;
	m.version = 2;
	m.term = 9;
	m.candidate_id = 3;
	m.last_log_index = 1000;
	m.last_log_term = 8;
	m.disrupt_leader = true;
	m.pre_vote = true;
	rm.request_vote = &m;

	out = raft_roundtrip(&rm, BACKSTAY__RAFT_MESSAGE__MSG_REQUEST_VOTE);
	got = out->raft->request_vote;
	assert_int_equal(got->version, 2);
	assert_int_equal(got->term, 9);
	assert_int_equal(got->candidate_id, 3);
	assert_int_equal(got->last_log_index, 1000);
	assert_int_equal(got->last_log_term, 8);
	assert_true(got->disrupt_leader);
	assert_true(got->pre_vote);
	backstay__envelope__free_unpacked(out, NULL);
}

static void test_roundtrip_request_vote_result(void **state)
{
	Backstay__RequestVoteResult m = BACKSTAY__REQUEST_VOTE_RESULT__INIT;
	Backstay__RaftMessage rm = BACKSTAY__RAFT_MESSAGE__INIT;
	Backstay__Envelope *out;
	Backstay__RequestVoteResult *got;

	(void)state;
	m.version = 2;
	m.term = 9;
	m.vote_granted = true;
	m.pre_vote = true;
	m.features = 0xffff;
	m.capacity = 512;
	rm.request_vote_result = &m;

	out = raft_roundtrip(&rm, BACKSTAY__RAFT_MESSAGE__MSG_REQUEST_VOTE_RESULT);
	got = out->raft->request_vote_result;
	assert_int_equal(got->version, 2);
	assert_int_equal(got->term, 9);
	assert_true(got->vote_granted);
	assert_true(got->pre_vote);
	assert_int_equal(got->features, 0xffff);
	assert_int_equal(got->capacity, 512);
	backstay__envelope__free_unpacked(out, NULL);
}

static void test_roundtrip_append_entries(void **state)
{
	Backstay__Entry e[3] = {BACKSTAY__ENTRY__INIT, BACKSTAY__ENTRY__INIT,
				BACKSTAY__ENTRY__INIT};
	Backstay__Entry *entries[3] = {&e[0], &e[1], &e[2]};
	Backstay__AppendEntries m = BACKSTAY__APPEND_ENTRIES__INIT;
	Backstay__RaftMessage rm = BACKSTAY__RAFT_MESSAGE__INIT;
	Backstay__Envelope *out;
	Backstay__AppendEntries *got;
	size_t i;

	(void)state;
	e[0].term = 4;
	e[0].type = BACKSTAY__ENTRY_TYPE__COMMAND;
	e[0].data = bin("put /leader node1");
	e[1].term = 5;
	e[1].type = BACKSTAY__ENTRY_TYPE__BARRIER; /* empty data */
	e[2].term = 5;
	e[2].type = BACKSTAY__ENTRY_TYPE__CHANGE;
	e[2].data = bin("encoded configuration");
	m.version = 1;
	m.term = 5;
	m.prev_log_index = 99;
	m.prev_log_term = 4;
	m.leader_commit = 98;
	m.n_entries = 3;
	m.entries = entries;
	rm.append_entries = &m;

	out = raft_roundtrip(&rm, BACKSTAY__RAFT_MESSAGE__MSG_APPEND_ENTRIES);
	got = out->raft->append_entries;
	assert_int_equal(got->version, 1);
	assert_int_equal(got->term, 5);
	assert_int_equal(got->prev_log_index, 99);
	assert_int_equal(got->prev_log_term, 4);
	assert_int_equal(got->leader_commit, 98);
	assert_int_equal(got->n_entries, 3);
	for (i = 0; i < 3; i++) {
		assert_int_equal(got->entries[i]->term, e[i].term);
		assert_int_equal(got->entries[i]->type, e[i].type);
		assert_bin_equal(got->entries[i]->data, e[i].data);
	}
	backstay__envelope__free_unpacked(out, NULL);
}

/* A heartbeat: no entries at all. */
static void test_roundtrip_heartbeat(void **state)
{
	Backstay__AppendEntries m = BACKSTAY__APPEND_ENTRIES__INIT;
	Backstay__RaftMessage rm = BACKSTAY__RAFT_MESSAGE__INIT;
	Backstay__Envelope *out;

	(void)state;
	m.term = 5;
	m.prev_log_index = 99;
	rm.append_entries = &m;

	out = raft_roundtrip(&rm, BACKSTAY__RAFT_MESSAGE__MSG_APPEND_ENTRIES);
	assert_int_equal(out->raft->append_entries->n_entries, 0);
	assert_int_equal(out->raft->append_entries->prev_log_index, 99);
	backstay__envelope__free_unpacked(out, NULL);
}

static void test_roundtrip_append_entries_result(void **state)
{
	Backstay__AppendEntriesResult m = BACKSTAY__APPEND_ENTRIES_RESULT__INIT;
	Backstay__RaftMessage rm = BACKSTAY__RAFT_MESSAGE__INIT;
	Backstay__Envelope *out;
	Backstay__AppendEntriesResult *got;

	(void)state;
	m.version = 1;
	m.term = 5;
	m.rejected = 100;
	m.last_log_index = 97;
	m.features = 1;
	m.capacity = 65535;
	rm.append_entries_result = &m;

	out = raft_roundtrip(&rm, BACKSTAY__RAFT_MESSAGE__MSG_APPEND_ENTRIES_RESULT);
	got = out->raft->append_entries_result;
	assert_int_equal(got->version, 1);
	assert_int_equal(got->term, 5);
	assert_int_equal(got->rejected, 100);
	assert_int_equal(got->last_log_index, 97);
	assert_int_equal(got->features, 1);
	assert_int_equal(got->capacity, 65535);
	backstay__envelope__free_unpacked(out, NULL);
}

static void test_roundtrip_install_snapshot(void **state)
{
	Backstay__InstallSnapshot m = BACKSTAY__INSTALL_SNAPSHOT__INIT;
	Backstay__RaftMessage rm = BACKSTAY__RAFT_MESSAGE__INIT;
	Backstay__Envelope *out;
	Backstay__InstallSnapshot *got;

	(void)state;
	m.version = 1;
	m.term = 6;
	m.last_index = 5000;
	m.last_term = 6;
	m.conf_index = 4000;
	m.conf = bin("raft_configuration_encode output");
	m.data = bin("serialised key/value state");
	m.offset = 0;
	m.last = true;
	rm.install_snapshot = &m;

	out = raft_roundtrip(&rm, BACKSTAY__RAFT_MESSAGE__MSG_INSTALL_SNAPSHOT);
	got = out->raft->install_snapshot;
	assert_int_equal(got->version, 1);
	assert_int_equal(got->term, 6);
	assert_int_equal(got->last_index, 5000);
	assert_int_equal(got->last_term, 6);
	assert_int_equal(got->conf_index, 4000);
	assert_bin_equal(got->conf, m.conf);
	assert_bin_equal(got->data, m.data);
	assert_int_equal(got->offset, 0);
	assert_true(got->last);
	backstay__envelope__free_unpacked(out, NULL);
}

static void test_roundtrip_timeout_now(void **state)
{
	Backstay__TimeoutNow m = BACKSTAY__TIMEOUT_NOW__INIT;
	Backstay__RaftMessage rm = BACKSTAY__RAFT_MESSAGE__INIT;
	Backstay__Envelope *out;
	Backstay__TimeoutNow *got;

	(void)state;
	m.version = 1;
	m.term = 7;
	m.last_log_index = UINT64_MAX;
	m.last_log_term = 7;
	rm.timeout_now = &m;

	out = raft_roundtrip(&rm, BACKSTAY__RAFT_MESSAGE__MSG_TIMEOUT_NOW);
	got = out->raft->timeout_now;
	assert_int_equal(got->version, 1);
	assert_int_equal(got->term, 7);
	assert_true(got->last_log_index == UINT64_MAX);
	assert_int_equal(got->last_log_term, 7);
	backstay__envelope__free_unpacked(out, NULL);
}

/* ------------------------------------------------------------------------
 * Streams: a few frames of different kinds, cut every possible way.
 */

struct samples {
	uint8_t *frame[N_SAMPLES];
	size_t len[N_SAMPLES];
	uint8_t *stream; /* the frames back to back */
	size_t stream_len;
};

static void samples_add(struct samples *s, size_t i, const Backstay__Envelope *env)
{
	s->frame[i] = encode_ok(env, &s->len[i]);
	s->stream = realloc(s->stream, s->stream_len + s->len[i]);
	assert_non_null(s->stream);
	memcpy(s->stream + s->stream_len, s->frame[i], s->len[i]);
	s->stream_len += s->len[i];
}

static void samples_build(struct samples *s)
{
	Backstay__Hello hello = BACKSTAY__HELLO__INIT;
	Backstay__Entry e = BACKSTAY__ENTRY__INIT;
	Backstay__Entry *entries[2] = {&e, &e};
	Backstay__AppendEntries ae = BACKSTAY__APPEND_ENTRIES__INIT;
	Backstay__RaftMessage rm = BACKSTAY__RAFT_MESSAGE__INIT;
	Backstay__TimeoutNow tn = BACKSTAY__TIMEOUT_NOW__INIT;
	Backstay__RaftMessage rm2 = BACKSTAY__RAFT_MESSAGE__INIT;
	Backstay__Goodbye bye = BACKSTAY__GOODBYE__INIT;
	Backstay__Envelope env = BACKSTAY__ENVELOPE__INIT;

	memset(s, 0, sizeof *s);
	hello.role = BACKSTAY__ROLE__PEER;
	hello.node_id = 1;
	hello.nonce = bin("nonce-nonce-nonce");
	hello.address = "127.0.0.1:7332";
	env.body_case = BACKSTAY__ENVELOPE__BODY_HELLO;
	env.hello = &hello;
	samples_add(s, 0, &env);

	e.term = 2;
	e.type = BACKSTAY__ENTRY_TYPE__COMMAND;
	e.data = bin("some command bytes");
	ae.term = 2;
	ae.n_entries = 2;
	ae.entries = entries;
	rm.server_id = 1;
	rm.server_address = "127.0.0.1:7332";
	rm.msg_case = BACKSTAY__RAFT_MESSAGE__MSG_APPEND_ENTRIES;
	rm.append_entries = &ae;
	env.body_case = BACKSTAY__ENVELOPE__BODY_RAFT;
	env.raft = &rm;
	samples_add(s, 1, &env);

	tn.term = 3;
	rm2.msg_case = BACKSTAY__RAFT_MESSAGE__MSG_TIMEOUT_NOW;
	rm2.timeout_now = &tn;
	env.raft = &rm2;
	samples_add(s, 2, &env); /* small: cuts fall inside its header too */

	bye.reason = "bye";
	env.body_case = BACKSTAY__ENVELOPE__BODY_GOODBYE;
	env.goodbye = &bye;
	samples_add(s, 3, &env);
}

static void samples_free(struct samples *s)
{
	size_t i;

	for (i = 0; i < N_SAMPLES; i++)
		free(s->frame[i]);
	free(s->stream);
}

/* Take every frame now available; check each against the next sample by
 * re-encoding it (protobuf-c packs fields in a fixed order). */
static void drain(struct proto_decoder *d, const struct samples *s, size_t *n_done)
{
	Backstay__Envelope *env;
	uint8_t *frame;
	size_t len;
	int rc;

	while ((rc = proto_decoder_next(d, &env)) == 0) {
		assert_true(*n_done < N_SAMPLES);
		frame = encode_ok(env, &len);
		assert_int_equal(len, s->len[*n_done]);
		assert_memory_equal(frame, s->frame[*n_done], len);
		free(frame);
		backstay__envelope__free_unpacked(env, NULL);
		(*n_done)++;
	}
	assert_int_equal(rc, -EAGAIN);
}

/* Feed the stream cut at the ascending offsets in cuts[], draining after
 * every piece, and check all samples came out, in order, and nothing else. */
static void decode_cut(const struct samples *s, const size_t *cuts, size_t n_cuts)
{
	struct proto_decoder d;
	size_t from = 0, n_done = 0, i;

	proto_decoder_init(&d, PROTO_MAX_FRAME_DEFAULT);
	for (i = 0; i <= n_cuts; i++) {
		size_t to = i < n_cuts ? cuts[i] : s->stream_len;

		assert_int_equal(proto_decoder_feed(&d, s->stream + from, to - from), 0);
		drain(&d, s, &n_done);
		from = to;
	}
	assert_int_equal(n_done, N_SAMPLES);
	assert_int_equal(proto_decoder_finish(&d), 0);
	proto_decoder_close(&d);
}

static void test_stream_one_chunk(void **state)
{
	struct samples s;

	(void)state;
	samples_build(&s);
	decode_cut(&s, NULL, 0);
	samples_free(&s);
}

static void test_stream_every_split(void **state)
{
	struct samples s;
	size_t i;

	(void)state;
	samples_build(&s);
	for (i = 0; i <= s.stream_len; i++)
		decode_cut(&s, &i, 1);
	samples_free(&s);
}

static void test_stream_every_two_splits(void **state)
{
	struct samples s;
	size_t cuts[2];

	(void)state;
	samples_build(&s);
	for (cuts[0] = 0; cuts[0] <= s.stream_len; cuts[0]++)
		for (cuts[1] = cuts[0]; cuts[1] <= s.stream_len; cuts[1]++)
			decode_cut(&s, cuts, 2);
	samples_free(&s);
}

static void test_stream_byte_at_a_time(void **state)
{
	struct samples s;
	size_t *cuts, i;

	(void)state;
	samples_build(&s);
	cuts = malloc(s.stream_len * sizeof *cuts);
	assert_non_null(cuts);
	for (i = 0; i < s.stream_len; i++)
		cuts[i] = i + 1;
	decode_cut(&s, cuts, s.stream_len);
	free(cuts);
	samples_free(&s);
}

/* Many small frames fed one at a time keep the buffer at its minimum. */
static void test_buffer_stays_small(void **state)
{
	struct samples s;
	struct proto_decoder d;
	size_t i, n_done;

	(void)state;
	samples_build(&s);
	proto_decoder_init(&d, PROTO_MAX_FRAME_DEFAULT);
	for (i = 0; i < 10000; i++) {
		n_done = 0;
		assert_int_equal(proto_decoder_feed(&d, s.stream, s.stream_len), 0);
		drain(&d, &s, &n_done);
		assert_int_equal(n_done, N_SAMPLES);
		assert_true(d.cap <= 4096);
	}
	proto_decoder_close(&d);
	samples_free(&s);
}

/* ------------------------------------------------------------------------
 * Limits.
 */

/* An envelope whose body is exactly body_len bytes, found by adjusting a
 * ctl payload. payload must have room for body_len bytes. */
static void envelope_of_size(Backstay__Envelope *env, Backstay__CtlRequest *req, uint8_t *payload,
			     size_t body_len)
{
	size_t size;

	req->payload.data = payload;
	req->payload.len = body_len;
	env->body_case = BACKSTAY__ENVELOPE__BODY_CTL_REQUEST;
	env->ctl_request = req;
	while ((size = backstay__envelope__get_packed_size(env)) > body_len)
		req->payload.len -= size - body_len;
	assert_int_equal(backstay__envelope__get_packed_size(env), body_len);
}

static void test_encode_limit(void **state)
{
	static uint8_t payload[1000];
	Backstay__CtlRequest req = BACKSTAY__CTL_REQUEST__INIT;
	Backstay__Envelope env = BACKSTAY__ENVELOPE__INIT;
	uint8_t *frame = (uint8_t *)"untouched";
	size_t len = 12345;

	(void)state;
	envelope_of_size(&env, &req, payload, 500);
	assert_int_equal(proto_frame_encode(&env, 499, &frame, &len), BS_E_FRAME_TOO_BIG);
	assert_string_equal((char *)frame, "untouched");
	assert_int_equal(len, 12345);
	assert_int_equal(proto_frame_encode(&env, 500, &frame, &len), 0);
	assert_int_equal(len, PROTO_FRAME_HEADER_LEN + 500);
	free(frame);
}

/* A body of exactly max_frame is accepted, one byte less of limit refuses. */
static void test_decode_exact_limit(void **state)
{
	static uint8_t payload[1000];
	Backstay__CtlRequest req = BACKSTAY__CTL_REQUEST__INIT;
	Backstay__Envelope env = BACKSTAY__ENVELOPE__INIT;
	Backstay__Envelope *out = NULL;
	struct proto_decoder d;
	uint8_t *frame;
	size_t len;

	(void)state;
	envelope_of_size(&env, &req, payload, 777);
	assert_int_equal(proto_frame_encode(&env, 777, &frame, &len), 0);

	proto_decoder_init(&d, 777);
	assert_int_equal(proto_decoder_feed(&d, frame, len), 0);
	assert_int_equal(proto_decoder_next(&d, &out), 0);
	assert_int_equal(out->ctl_request->payload.len, req.payload.len);
	backstay__envelope__free_unpacked(out, NULL);
	proto_decoder_close(&d);

	expect_next_error(776, frame, len, BS_E_FRAME_TOO_BIG);
	free(frame);
}

/* The default limit, exactly, arriving in 64 KiB reads: the buffer never
 * grows past one frame and is released once the frame is taken. */
static void test_decode_default_limit(void **state)
{
	const size_t chunk = 64u << 10;
	Backstay__CtlRequest req = BACKSTAY__CTL_REQUEST__INIT;
	Backstay__Envelope env = BACKSTAY__ENVELOPE__INIT;
	Backstay__Envelope *out = NULL;
	struct proto_decoder d;
	uint8_t *payload, *frame;
	size_t len, off;

	(void)state;
	payload = calloc(1, PROTO_MAX_FRAME_DEFAULT);
	assert_non_null(payload);
	envelope_of_size(&env, &req, payload, PROTO_MAX_FRAME_DEFAULT);
	assert_int_equal(proto_frame_encode(&env, PROTO_MAX_FRAME_DEFAULT, &frame, &len), 0);
	assert_int_equal(proto_frame_encode(&env, PROTO_MAX_FRAME_DEFAULT - 1, &frame, &len),
			 BS_E_FRAME_TOO_BIG);

	proto_decoder_init(&d, PROTO_MAX_FRAME_DEFAULT);
	for (off = 0; off < len; off += chunk) {
		size_t n = len - off < chunk ? len - off : chunk;

		assert_int_equal(proto_decoder_feed(&d, frame + off, n), 0);
		assert_true(d.cap <= len);
		if (off + n < len)
			assert_int_equal(proto_decoder_next(&d, &out), -EAGAIN);
	}
	assert_int_equal(proto_decoder_next(&d, &out), 0);
	assert_int_equal(out->ctl_request->payload.len, req.payload.len);
	assert_null(d.buf);
	assert_int_equal(proto_decoder_finish(&d), 0);
	backstay__envelope__free_unpacked(out, NULL);
	proto_decoder_close(&d);
	free(frame);
	free(payload);
}

/* A header announcing max_frame + 1 is refused by the feed that completes
 * it: the body is never waited for nor buffered. */
static void test_too_big_header(void **state)
{
	const uint8_t header[4] = {0x00, 0x00, 0x01, 0x01}; /* 257 */
	struct proto_decoder d;
	Backstay__Envelope *env = NULL;

	(void)state;
	proto_decoder_init(&d, 256);
	assert_int_equal(proto_decoder_feed(&d, header, 2), 0);
	assert_int_equal(proto_decoder_next(&d, &env), -EAGAIN);
	assert_int_equal(proto_decoder_feed(&d, header + 2, 2), BS_E_FRAME_TOO_BIG);
	assert_int_equal(proto_decoder_next(&d, &env), BS_E_FRAME_TOO_BIG);
	assert_null(env);
	proto_decoder_close(&d);
}

/* 4 GiB announced: refused, and nothing near that is allocated. */
static void test_too_big_huge(void **state)
{
	const uint8_t header[4] = {0xff, 0xff, 0xff, 0xff};
	struct proto_decoder d;

	(void)state;
	proto_decoder_init(&d, PROTO_MAX_FRAME_DEFAULT);
	assert_int_equal(proto_decoder_feed(&d, header, 4), BS_E_FRAME_TOO_BIG);
	assert_true(d.cap <= 4096);
	proto_decoder_close(&d);
}

/* ------------------------------------------------------------------------
 * Malformed input.
 */

static void test_zero_length(void **state)
{
	const uint8_t header[4] = {0, 0, 0, 0};
	struct proto_decoder d;
	Backstay__Envelope *env = NULL;

	(void)state;
	proto_decoder_init(&d, PROTO_MAX_FRAME_DEFAULT);
	assert_int_equal(proto_decoder_feed(&d, header, 4), BS_E_FRAME_MALFORMED);
	assert_int_equal(proto_decoder_next(&d, &env), BS_E_FRAME_MALFORMED);
	proto_decoder_close(&d);
}

static void test_garbage_body(void **state)
{
	static const struct {
		uint8_t body[4];
		size_t len;
	} cases[] = {
		{{0xff, 0xff, 0xff}, 3},       /* varint tag that never ends */
		{{0x0f}, 1},		       /* field 1, wire type 7 (none such) */
		{{0x0a, 0x05, 0x08}, 3},       /* hello claims 5 bytes, has 1 */
		{{0x08, 0x01}, 2},	       /* hello (a message) sent as a varint */
		{{0x52, 0x02, 0x12, 0x7f}, 4}, /* raft's server_address overruns */
	};
	uint8_t frame[16];
	size_t i, len;

	(void)state;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		len = raw_frame(cases[i].body, cases[i].len, frame);
		expect_next_error(PROTO_MAX_FRAME_DEFAULT, frame, len, BS_E_FRAME_MALFORMED);
	}
}

/* A valid protobuf message with no body set: only an unknown field (100). */
static void test_no_body(void **state)
{
	const uint8_t body[] = {0xa0, 0x06, 0x01};
	uint8_t frame[16];
	size_t len;

	(void)state;
	len = raw_frame(body, sizeof body, frame);
	expect_next_error(PROTO_MAX_FRAME_DEFAULT, frame, len, BS_E_FRAME_MALFORMED);
}

/* Field numbers protobuf-c 1.4.1 lets through but cannot re-encode. */
static void test_invalid_field_numbers(void **state)
{
	static const struct {
		uint8_t body[8];
		size_t len;
	} cases[] = {
		/* goodbye, then field 0 written as a two-byte tag (0x82 0x00) */
		{{0x22, 0x00, 0x82, 0x00, 0x00}, 5},
		/* the same inside the RaftMessage */
		{{0x52, 0x03, 0x82, 0x00, 0x00}, 5},
		/* goodbye, then field 2^29 (one past the largest) */
		{{0x22, 0x00, 0x80, 0x80, 0x80, 0x80, 0x10, 0x01}, 8},
	};
	uint8_t frame[16];
	size_t i, len;

	(void)state;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		len = raw_frame(cases[i].body, cases[i].len, frame);
		expect_next_error(PROTO_MAX_FRAME_DEFAULT, frame, len, BS_E_FRAME_MALFORMED);
	}
}

/* A field this version does not know (a newer peer's) is kept, and goes
 * out again when the envelope is re-encoded. */
static void test_unknown_field_kept(void **state)
{
	const uint8_t body[] = {0x22, 0x00, 0xa0, 0x06, 0x01}; /* goodbye, field 100 = 1 */
	uint8_t frame[16], *again;
	Backstay__Envelope *env;
	size_t len, again_len;

	(void)state;
	len = raw_frame(body, sizeof body, frame);
	env = decode_one(frame, len);
	assert_int_equal(env->body_case, BACKSTAY__ENVELOPE__BODY_GOODBYE);
	assert_int_equal(env->base.n_unknown_fields, 1);
	again = encode_ok(env, &again_len);
	assert_int_equal(again_len, len);
	assert_memory_equal(again, frame, len);
	free(again);
	backstay__envelope__free_unpacked(env, NULL);
}

/* Packed without the encoder's checks: a Hello that names no role. */
static void test_hello_without_role(void **state)
{
	Backstay__Hello hello = BACKSTAY__HELLO__INIT;
	Backstay__Envelope env = BACKSTAY__ENVELOPE__INIT;
	uint8_t body[64], frame[80];
	size_t body_len, len;
	uint8_t *out = NULL;

	(void)state;
	hello.node_id = 1;
	hello.address = "127.0.0.1:7332";
	env.body_case = BACKSTAY__ENVELOPE__BODY_HELLO;
	env.hello = &hello;
	assert_int_equal(proto_frame_encode(&env, PROTO_MAX_FRAME_DEFAULT, &out, &len), -EINVAL);
	assert_null(out);

	body_len = backstay__envelope__pack(&env, body);
	len = raw_frame(body, body_len, frame);
	expect_next_error(PROTO_MAX_FRAME_DEFAULT, frame, len, BS_E_FRAME_MALFORMED);
}

/* The codec judges the Envelope only: an unknown role value, a RaftMessage
 * without a msg, are passed on for the consumer to refuse politely. */
static void test_inner_checks_left_to_consumer(void **state)
{
	Backstay__Hello hello = BACKSTAY__HELLO__INIT;
	Backstay__RaftMessage rm = BACKSTAY__RAFT_MESSAGE__INIT;
	Backstay__Envelope env = BACKSTAY__ENVELOPE__INIT;
	Backstay__Envelope *out;

	(void)state;
	hello.role = (Backstay__Role)9;
	env.body_case = BACKSTAY__ENVELOPE__BODY_HELLO;
	env.hello = &hello;
	out = roundtrip(&env);
	assert_int_equal(out->hello->role, 9);
	assert_string_equal(proto_role_name(out->hello->role), "unknown");
	backstay__envelope__free_unpacked(out, NULL);

	rm.server_id = 2;
	env.body_case = BACKSTAY__ENVELOPE__BODY_RAFT;
	env.raft = &rm;
	out = roundtrip(&env);
	assert_int_equal(out->raft->msg_case, BACKSTAY__RAFT_MESSAGE__MSG__NOT_SET);
	backstay__envelope__free_unpacked(out, NULL);
}

/* ------------------------------------------------------------------------
 * End of stream, and sticky errors.
 */

static void test_finish(void **state)
{
	struct samples s;
	struct proto_decoder d;
	Backstay__Envelope *env = NULL;
	size_t n_done = 0;

	(void)state;
	samples_build(&s);

	proto_decoder_init(&d, PROTO_MAX_FRAME_DEFAULT);
	assert_int_equal(proto_decoder_finish(&d), 0); /* nothing ever fed */
	assert_int_equal(proto_decoder_feed(&d, s.frame[0], s.len[0]), 0);
	drain(&d, &s, &n_done);
	assert_int_equal(proto_decoder_finish(&d), 0); /* clean boundary */
	proto_decoder_close(&d);

	proto_decoder_init(&d, PROTO_MAX_FRAME_DEFAULT);
	assert_int_equal(proto_decoder_feed(&d, s.stream, 2), 0); /* inside a header */
	assert_int_equal(proto_decoder_finish(&d), BS_E_FRAME_TRUNCATED);
	assert_int_equal(proto_decoder_next(&d, &env), BS_E_FRAME_TRUNCATED);
	proto_decoder_close(&d);

	proto_decoder_init(&d, PROTO_MAX_FRAME_DEFAULT);
	assert_int_equal(proto_decoder_feed(&d, s.stream, s.len[0] + 6), 0); /* inside body 2 */
	n_done = 0;
	drain(&d, &s, &n_done);
	assert_int_equal(n_done, 1);
	assert_int_equal(proto_decoder_finish(&d), BS_E_FRAME_TRUNCATED);
	assert_int_equal(proto_decoder_finish(&d), BS_E_FRAME_TRUNCATED);
	proto_decoder_close(&d);
	assert_null(env);
	samples_free(&s);
}

/* After an error, good frames do not revive the decoder. */
static void test_errors_stick(void **state)
{
	const uint8_t bad[] = {0, 0, 0, 1, 0xff};
	struct samples s;
	struct proto_decoder d;
	Backstay__Envelope *env = NULL;

	(void)state;
	samples_build(&s);
	proto_decoder_init(&d, PROTO_MAX_FRAME_DEFAULT);
	assert_int_equal(proto_decoder_feed(&d, bad, sizeof bad), 0);
	assert_int_equal(proto_decoder_next(&d, &env), BS_E_FRAME_MALFORMED);
	assert_int_equal(proto_decoder_feed(&d, s.stream, s.stream_len), BS_E_FRAME_MALFORMED);
	assert_int_equal(proto_decoder_next(&d, &env), BS_E_FRAME_MALFORMED);
	assert_int_equal(proto_decoder_finish(&d), BS_E_FRAME_MALFORMED);
	assert_null(env);
	proto_decoder_close(&d);
	samples_free(&s);
}

/* A frame after a bad one, in the same chunk, is never returned. */
static void test_error_mid_chunk(void **state)
{
	struct samples s;
	struct proto_decoder d;
	Backstay__Envelope *env = NULL;
	uint8_t *stream;

	(void)state;
	samples_build(&s);
	stream = malloc(s.stream_len);
	assert_non_null(stream);
	memcpy(stream, s.stream, s.stream_len);
	stream[s.len[0] + PROTO_FRAME_HEADER_LEN] = 0x0f; /* frame 2: wire type 7 */
	proto_decoder_init(&d, PROTO_MAX_FRAME_DEFAULT);
	assert_int_equal(proto_decoder_feed(&d, stream, s.stream_len), 0);
	assert_int_equal(proto_decoder_next(&d, &env), 0);
	backstay__envelope__free_unpacked(env, NULL);
	env = NULL;
	assert_int_equal(proto_decoder_next(&d, &env), BS_E_FRAME_MALFORMED);
	assert_int_equal(proto_decoder_next(&d, &env), BS_E_FRAME_MALFORMED);
	assert_null(env);
	proto_decoder_close(&d);
	free(stream);
	samples_free(&s);
}

/* ------------------------------------------------------------------------
 * Encoder refusals.
 */

static void test_encode_no_body(void **state)
{
	Backstay__Envelope env = BACKSTAY__ENVELOPE__INIT;
	uint8_t *frame = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(proto_frame_encode(&env, PROTO_MAX_FRAME_DEFAULT, &frame, &len), -EINVAL);
	env.body_case = BACKSTAY__ENVELOPE__BODY_GOODBYE; /* case set, pointer NULL */
	assert_int_equal(proto_frame_encode(&env, PROTO_MAX_FRAME_DEFAULT, &frame, &len), -EINVAL);
	env.body_case = (Backstay__Envelope__BodyCase)99; /* no such body */
	assert_int_equal(proto_frame_encode(&env, PROTO_MAX_FRAME_DEFAULT, &frame, &len), -EINVAL);
	assert_int_equal(proto_frame_encode(NULL, PROTO_MAX_FRAME_DEFAULT, &frame, &len), -EINVAL);
	assert_null(frame);
	assert_int_equal(len, 0);
}

/* protobuf_c_message_check() refusals: a NULL element in a repeated string. */
static void test_encode_broken_message(void **state)
{
	char *args[] = {"a", NULL};
	Backstay__CtlRequest req = BACKSTAY__CTL_REQUEST__INIT;
	Backstay__Envelope env = BACKSTAY__ENVELOPE__INIT;
	uint8_t *frame = NULL;
	size_t len = 0;

	(void)state;
	req.n_args = 2;
	req.args = args;
	env.body_case = BACKSTAY__ENVELOPE__BODY_CTL_REQUEST;
	env.ctl_request = &req;
	assert_int_equal(proto_frame_encode(&env, PROTO_MAX_FRAME_DEFAULT, &frame, &len), -EINVAL);
	assert_null(frame);
}

/* ------------------------------------------------------------------------
 * The integrity hook: a 4-byte trailer holding the sum of the frame's bytes.
 */

struct checker {
	unsigned calls;
	int refuse_with; /* 0: check the sum */
};

static uint32_t byte_sum(const uint8_t *p, size_t n)
{
	uint32_t sum = 0;

	while (n-- > 0)
		sum += *p++;
	return sum;
}

static int check_sum(void *data, const uint8_t *frame, size_t frame_len, const uint8_t *trailer,
		     size_t trailer_len)
{
	struct checker *c = data;
	uint32_t sum = byte_sum(frame, frame_len);

	c->calls++;
	if (c->refuse_with != 0)
		return c->refuse_with;
	assert_int_equal(trailer_len, 4);
	assert_int_equal(frame_len, PROTO_FRAME_HEADER_LEN + ((size_t)frame[2] << 8 | frame[3]));
	return memcmp(trailer, &sum, 4) == 0 ? 0 : -EBADMSG;
}

/* The samples, each followed by its 4-byte sum. */
static uint8_t *trailed_stream(const struct samples *s, size_t *ret_len)
{
	uint8_t *out = malloc(s->stream_len + 4 * N_SAMPLES);
	size_t i, off = 0;
	uint32_t sum;

	assert_non_null(out);
	for (i = 0; i < N_SAMPLES; i++) {
		memcpy(out + off, s->frame[i], s->len[i]);
		sum = byte_sum(s->frame[i], s->len[i]);
		memcpy(out + off + s->len[i], &sum, 4);
		off += s->len[i] + 4;
	}
	*ret_len = off;
	return out;
}

static void trailer_decoder(struct proto_decoder *d, struct checker *c)
{
	proto_decoder_init(d, PROTO_MAX_FRAME_DEFAULT);
	d->trailer_len = 4;
	d->verify = check_sum;
	d->verify_data = c;
}

static void test_trailer_every_split(void **state)
{
	struct samples s;
	struct proto_decoder d;
	struct checker c = {0};
	uint8_t *stream;
	size_t len, cut, n_done;

	(void)state;
	samples_build(&s);
	stream = trailed_stream(&s, &len);
	for (cut = 0; cut <= len; cut++) {
		c.calls = 0;
		n_done = 0;
		trailer_decoder(&d, &c);
		assert_int_equal(proto_decoder_feed(&d, stream, cut), 0);
		drain(&d, &s, &n_done);
		assert_int_equal(proto_decoder_feed(&d, stream + cut, len - cut), 0);
		drain(&d, &s, &n_done);
		assert_int_equal(n_done, N_SAMPLES);
		assert_int_equal(c.calls, N_SAMPLES); /* once per frame, never twice */
		assert_int_equal(proto_decoder_finish(&d), 0);
		proto_decoder_close(&d);
	}
	free(stream);
	samples_free(&s);
}

/* A frame whose trailer is missing at EOF is truncated. */
static void test_trailer_truncated(void **state)
{
	struct samples s;
	struct proto_decoder d;
	struct checker c = {0};
	Backstay__Envelope *env = NULL;

	(void)state;
	samples_build(&s);
	trailer_decoder(&d, &c);
	assert_int_equal(proto_decoder_feed(&d, s.frame[0], s.len[0]), 0);
	assert_int_equal(proto_decoder_next(&d, &env), -EAGAIN);
	assert_int_equal(c.calls, 0);
	assert_int_equal(proto_decoder_finish(&d), BS_E_FRAME_TRUNCATED);
	proto_decoder_close(&d);
	samples_free(&s);
}

/* A refused frame is never unpacked; the hook's error sticks; "feed more"
 * and positive answers cannot leak out as such. */
static void test_trailer_refused(void **state)
{
	static const struct {
		int hook, want;
	} cases[] = {{-EACCES, -EACCES}, {-EAGAIN, -EBADMSG}, {1, -EBADMSG}};
	struct samples s;
	struct proto_decoder d;
	struct checker c = {0};
	Backstay__Envelope *env = NULL;
	uint8_t *stream;
	size_t len, i;

	(void)state;
	samples_build(&s);
	stream = trailed_stream(&s, &len);
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		c.calls = 0;
		c.refuse_with = cases[i].hook;
		trailer_decoder(&d, &c);
		assert_int_equal(proto_decoder_feed(&d, stream, len), 0);
		assert_int_equal(proto_decoder_next(&d, &env), cases[i].want);
		assert_int_equal(proto_decoder_next(&d, &env), cases[i].want);
		assert_int_equal(proto_decoder_finish(&d), cases[i].want);
		assert_int_equal(c.calls, 1);
		assert_null(env);
		proto_decoder_close(&d);
	}

	/* A spoilt trailer on the second frame. */
	c.refuse_with = 0;
	stream[s.len[0] + 4 + s.len[1]] ^= 1;
	trailer_decoder(&d, &c);
	assert_int_equal(proto_decoder_feed(&d, stream, len), 0);
	assert_int_equal(proto_decoder_next(&d, &env), 0);
	backstay__envelope__free_unpacked(env, NULL);
	assert_int_equal(proto_decoder_next(&d, &env), -EBADMSG);
	proto_decoder_close(&d);
	free(stream);
	samples_free(&s);
}

/* The handshake's switch: frame 1 has no trailer; the caller turns the
 * trailer on after taking it, while the next frames are already buffered. */
static void test_trailer_switched_on_mid_stream(void **state)
{
	struct samples s;
	struct proto_decoder d;
	struct checker c = {0};
	Backstay__Envelope *env = NULL;
	uint8_t *trailed, *stream;
	size_t trailed_len, len, n_done = 1;

	(void)state;
	samples_build(&s);
	trailed = trailed_stream(&s, &trailed_len);
	len = s.len[0] + trailed_len - (s.len[0] + 4);
	stream = malloc(len);
	assert_non_null(stream);
	memcpy(stream, s.frame[0], s.len[0]);
	memcpy(stream + s.len[0], trailed + s.len[0] + 4, trailed_len - (s.len[0] + 4));

	proto_decoder_init(&d, PROTO_MAX_FRAME_DEFAULT);
	assert_int_equal(proto_decoder_feed(&d, stream, len), 0);
	assert_int_equal(proto_decoder_next(&d, &env), 0);
	assert_int_equal(env->body_case, BACKSTAY__ENVELOPE__BODY_HELLO);
	backstay__envelope__free_unpacked(env, NULL);
	d.trailer_len = 4;
	d.verify = check_sum;
	d.verify_data = &c;
	drain(&d, &s, &n_done);
	assert_int_equal(n_done, N_SAMPLES);
	assert_int_equal(c.calls, N_SAMPLES - 1);
	assert_int_equal(proto_decoder_finish(&d), 0);
	proto_decoder_close(&d);
	free(stream);
	free(trailed);
	samples_free(&s);
}

/* ------------------------------------------------------------------------
 * Small things.
 */

static void test_close(void **state)
{
	struct proto_decoder d;
	struct samples s;

	(void)state;
	memset(&d, 0, sizeof d);
	proto_decoder_close(&d); /* zeroed */
	proto_decoder_close(NULL);

	samples_build(&s);
	proto_decoder_init(&d, PROTO_MAX_FRAME_DEFAULT);
	assert_int_equal(proto_decoder_feed(&d, s.stream, 7), 0); /* a partial frame */
	proto_decoder_close(&d);
	assert_null(d.buf);
	proto_decoder_close(&d); /* twice */
	samples_free(&s);
}

static void test_role_name(void **state)
{
	(void)state;
	assert_string_equal(proto_role_name(BACKSTAY__ROLE__PEER), "peer");
	assert_string_equal(proto_role_name(BACKSTAY__ROLE__CTL), "ctl");
	assert_string_equal(proto_role_name(BACKSTAY__ROLE__JOIN), "join");
	assert_string_equal(proto_role_name(BACKSTAY__ROLE__ROLE_UNSPECIFIED), "unspecified");
	assert_string_equal(proto_role_name((Backstay__Role)42), "unknown");
}

int bs_test_codec(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_hello),
		cmocka_unit_test(test_roundtrip_hello_reply),
		cmocka_unit_test(test_roundtrip_hello_proof),
		cmocka_unit_test(test_roundtrip_goodbye),
		cmocka_unit_test(test_roundtrip_empty_body),
		cmocka_unit_test(test_roundtrip_ctl_request),
		cmocka_unit_test(test_roundtrip_ctl_response),
		cmocka_unit_test(test_roundtrip_request_vote),
		cmocka_unit_test(test_roundtrip_request_vote_result),
		cmocka_unit_test(test_roundtrip_append_entries),
		cmocka_unit_test(test_roundtrip_heartbeat),
		cmocka_unit_test(test_roundtrip_append_entries_result),
		cmocka_unit_test(test_roundtrip_install_snapshot),
		cmocka_unit_test(test_roundtrip_timeout_now),
		cmocka_unit_test(test_stream_one_chunk),
		cmocka_unit_test(test_stream_every_split),
		cmocka_unit_test(test_stream_every_two_splits),
		cmocka_unit_test(test_stream_byte_at_a_time),
		cmocka_unit_test(test_buffer_stays_small),
		cmocka_unit_test(test_encode_limit),
		cmocka_unit_test(test_decode_exact_limit),
		cmocka_unit_test(test_decode_default_limit),
		cmocka_unit_test(test_too_big_header),
		cmocka_unit_test(test_too_big_huge),
		cmocka_unit_test(test_zero_length),
		cmocka_unit_test(test_garbage_body),
		cmocka_unit_test(test_no_body),
		cmocka_unit_test(test_invalid_field_numbers),
		cmocka_unit_test(test_unknown_field_kept),
		cmocka_unit_test(test_hello_without_role),
		cmocka_unit_test(test_inner_checks_left_to_consumer),
		cmocka_unit_test(test_finish),
		cmocka_unit_test(test_errors_stick),
		cmocka_unit_test(test_error_mid_chunk),
		cmocka_unit_test(test_encode_no_body),
		cmocka_unit_test(test_encode_broken_message),
		cmocka_unit_test(test_trailer_every_split),
		cmocka_unit_test(test_trailer_truncated),
		cmocka_unit_test(test_trailer_refused),
		cmocka_unit_test(test_trailer_switched_on_mid_stream),
		cmocka_unit_test(test_close),
		cmocka_unit_test(test_role_name),
	};

	return cmocka_run_group_tests_name("codec", tests, NULL, NULL);
}
