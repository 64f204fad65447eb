/*
 * consensus/wire: every libraft message kind survives encode -> frame ->
 * decode field by field; a decoded AppendEntries has all its data in one
 * batch; a real libraft 0.22 follower in step mode accepts decoded
 * AppendEntries and InstallSnapshot messages with the ownership wire.h
 * documents (run under ASan: a wrong free or a leak fails); everything a
 * lying peer could send is refused with -EPROTO and nothing leaks.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "unit.h"
#include "wire.h"

#define SENDER_ID 7
#define SENDER_ADDR "10.0.0.7:2380"

/* ------------------------------------------------------------------------
 * Helpers.
 */

/* A configuration of n voters 1..n at "10.0.0.i:2380", encoded. */
static struct raft_buffer conf_bytes(unsigned n)
{
	struct raft_configuration conf;
	struct raft_buffer buf;
	char addr[32];
	unsigned i;

	raft_configuration_init(&conf);
	for (i = 1; i <= n; i++) {
		snprintf(addr, sizeof addr, "10.0.0.%u:2380", i);
		assert_int_equal(
			raft_configuration_add(&conf, i, addr, i == 3 ? RAFT_SPARE : RAFT_VOTER),
			0);
	}
	assert_int_equal(raft_configuration_encode(&conf, &buf), 0);
	raft_configuration_close(&conf);
	return buf;
}

/* encode -> proto frame -> decoder: the Envelope the receiver gets. */
static Backstay__Envelope *over_wire(const struct raft_message *m)
{
	struct cns__wire_msg msg;
	struct proto_decoder d;
	Backstay__Envelope *env = NULL;
	uint8_t *frame;
	size_t len;

	assert_int_equal(cns__wire_encode(m, SENDER_ID, SENDER_ADDR, &msg), 0);
	assert_int_equal(proto_frame_encode(&msg.env, PROTO_MAX_FRAME_DEFAULT, &frame, &len), 0);
	cns__wire_msg_release(&msg);
	proto_decoder_init(&d, PROTO_MAX_FRAME_DEFAULT);
	assert_int_equal(proto_decoder_feed(&d, frame, len), 0);
	assert_int_equal(proto_decoder_next(&d, &env), 0);
	proto_decoder_close(&d);
	free(frame);
	assert_int_equal(env->body_case, BACKSTAY__ENVELOPE__BODY_RAFT);
	return env;
}

/* Round trip: the decoded message, whose pb is returned in *ret_env. */
static struct raft_message roundtrip(const struct raft_message *m, Backstay__Envelope **ret_env)
{
	struct raft_message out;

	*ret_env = over_wire(m);
	assert_int_equal(cns__wire_decode((*ret_env)->raft, &out), 0);
	assert_int_equal(out.type, m->type);
	assert_int_equal(out.server_id, SENDER_ID);
	assert_string_equal(out.server_address, SENDER_ADDR);
	return out;
}

/* Build msg from m and return the decoder's verdict on msg.raft after
 * `mutate` changed it (the pb is the caller's to play with). */
typedef void (*mutate_fn)(struct cns__wire_msg *msg);

static int decode_mutated(const struct raft_message *m, mutate_fn mutate)
{
	struct cns__wire_msg msg;
	struct raft_message out;
	int rc;

	assert_int_equal(cns__wire_encode(m, SENDER_ID, SENDER_ADDR, &msg), 0);
	mutate(&msg);
	rc = cns__wire_decode(&msg.raft, &out);
	if (rc == 0)
		cns__wire_discard(&out);
	cns__wire_msg_release(&msg);
	return rc;
}

/* ------------------------------------------------------------------------
 * Sample messages. Entries: a command, an empty command, a barrier, a
 * configuration change (3 servers), another command.
 */

struct sample_ae {
	struct raft_message m;
	struct raft_entry entries[5];
	struct raft_buffer conf;
};

static void sample_ae_init(struct sample_ae *s)
{
	static uint8_t barrier[8];
	static char cmd1[] = "put /leader node1", cmd2[] = "x";

	memset(s, 0, sizeof *s);
	s->conf = conf_bytes(3);
	s->entries[0] = (struct raft_entry){
		.term = 2, .type = RAFT_COMMAND, .buf = {.base = cmd1, .len = sizeof cmd1}};
	s->entries[1] = (struct raft_entry){.term = 2, .type = RAFT_COMMAND};
	s->entries[2] = (struct raft_entry){
		.term = 3, .type = RAFT_BARRIER, .buf = {.base = barrier, .len = sizeof barrier}};
	s->entries[3] = (struct raft_entry){.term = 3, .type = RAFT_CHANGE, .buf = s->conf};
	s->entries[4] = (struct raft_entry){
		.term = 3, .type = RAFT_COMMAND, .buf = {.base = cmd2, .len = 1}};
	s->m.type = RAFT_APPEND_ENTRIES;
	s->m.server_id = 2; /* destination: not sent */
	s->m.server_address = "10.0.0.2:2380";
	s->m.append_entries = (struct raft_append_entries){
		.version = 0,
		.term = 3,
		.prev_log_index = 41,
		.prev_log_term = 2,
		.leader_commit = 40,
		.entries = s->entries,
		.n_entries = 5,
	};
}

static void sample_ae_close(struct sample_ae *s)
{
	raft_free(s->conf.base);
}

struct sample_is {
	struct raft_message m;
	char data[64];
};

static void sample_is_init(struct sample_is *s)
{
	memset(s, 0, sizeof *s);
	snprintf(s->data, sizeof s->data, "snapshot of the state machine");
	s->m.type = RAFT_INSTALL_SNAPSHOT;
	s->m.install_snapshot.version = 0;
	s->m.install_snapshot.term = 5;
	s->m.install_snapshot.last_index = 100;
	s->m.install_snapshot.last_term = 4;
	s->m.install_snapshot.conf_index = 90;
	s->m.install_snapshot.data = (struct raft_buffer){.base = s->data, .len = sizeof s->data};
	raft_configuration_init(&s->m.install_snapshot.conf);
	assert_int_equal(
		raft_configuration_add(&s->m.install_snapshot.conf, 1, "10.0.0.1:2380", RAFT_VOTER),
		0);
	assert_int_equal(raft_configuration_add(&s->m.install_snapshot.conf, 2, "10.0.0.2:2380",
						RAFT_STANDBY),
			 0);
}

static void sample_is_close(struct sample_is *s)
{
	raft_configuration_close(&s->m.install_snapshot.conf);
}

/* ------------------------------------------------------------------------
 * Round trips.
 */

static void check_one_batch(const struct raft_append_entries *ae)
{
	const uint8_t *batch = ae->entries[0].batch;
	size_t total = 0;
	unsigned i;

	for (i = 0; i < ae->n_entries; i++)
		total += (ae->entries[i].buf.len + 7) & ~(size_t)7;
	for (i = 0; i < ae->n_entries; i++) {
		const uint8_t *base = ae->entries[i].buf.base;

		assert_ptr_equal(ae->entries[i].batch, batch);
		assert_non_null(base);
		assert_true(base >= batch && base + ae->entries[i].buf.len <= batch + total);
		assert_int_equal((size_t)(base - batch) % 8, 0);
	}
}

static void test_append_entries_roundtrip(void **state)
{
	struct sample_ae s;
	Backstay__Envelope *env;
	struct raft_message out;
	const struct raft_append_entries *ae = &out.append_entries;
	unsigned i;

	(void)state;
	sample_ae_init(&s);
	out = roundtrip(&s.m, &env);
	assert_int_equal(ae->version, 0);
	assert_int_equal(ae->term, 3);
	assert_int_equal(ae->prev_log_index, 41);
	assert_int_equal(ae->prev_log_term, 2);
	assert_int_equal(ae->leader_commit, 40);
	assert_int_equal(ae->n_entries, 5);
	for (i = 0; i < 5; i++) {
		assert_int_equal(ae->entries[i].term, s.entries[i].term);
		assert_int_equal(ae->entries[i].type, s.entries[i].type);
		assert_int_equal(ae->entries[i].buf.len, s.entries[i].buf.len);
		if (s.entries[i].buf.len > 0)
			assert_memory_equal(ae->entries[i].buf.base, s.entries[i].buf.base,
					    s.entries[i].buf.len);
	}
	check_one_batch(ae);
	cns__wire_discard(&out);
	assert_int_equal(out.type, 0);
	backstay__envelope__free_unpacked(env, NULL);
	sample_ae_close(&s);
}

static void test_heartbeat_roundtrip(void **state)
{
	struct raft_message m = {.type = RAFT_APPEND_ENTRIES}, out;
	Backstay__Envelope *env;

	(void)state;
	m.append_entries.term = 9;
	m.append_entries.prev_log_index = 12;
	m.append_entries.prev_log_term = 8;
	m.append_entries.leader_commit = 11;
	out = roundtrip(&m, &env);
	assert_int_equal(out.append_entries.n_entries, 0);
	assert_null(out.append_entries.entries);
	assert_int_equal(out.append_entries.leader_commit, 11);
	cns__wire_release(&out, 0);
	backstay__envelope__free_unpacked(env, NULL);
}

static void test_append_entries_result_roundtrip(void **state)
{
	struct raft_message m = {.type = RAFT_APPEND_ENTRIES_RESULT}, out;
	Backstay__Envelope *env;

	(void)state;
	m.append_entries_result = (struct raft_append_entries_result){.version = 2,
								      .term = 4,
								      .rejected = 17,
								      .last_log_index = 16,
								      .features = 1,
								      .capacity = 65535};
	out = roundtrip(&m, &env);
	assert_memory_equal(&out.append_entries_result, &m.append_entries_result,
			    sizeof m.append_entries_result);
	cns__wire_release(&out, 0);
	backstay__envelope__free_unpacked(env, NULL);
}

static void test_request_vote_roundtrip(void **state)
{
	struct raft_message m = {.type = RAFT_REQUEST_VOTE}, out;
	Backstay__Envelope *env;
	const struct raft_request_vote *rv = &out.request_vote;

	(void)state;
	m.request_vote = (struct raft_request_vote){.version = 2,
						    .term = 6,
						    .candidate_id = SENDER_ID,
						    .last_log_index = 33,
						    .last_log_term = 5,
						    .disrupt_leader = true,
						    .pre_vote = true};
	out = roundtrip(&m, &env);
	assert_int_equal(rv->version, 2);
	assert_int_equal(rv->term, 6);
	assert_int_equal(rv->candidate_id, SENDER_ID);
	assert_int_equal(rv->last_log_index, 33);
	assert_int_equal(rv->last_log_term, 5);
	assert_true(rv->disrupt_leader);
	assert_true(rv->pre_vote);
	cns__wire_release(&out, 0);
	backstay__envelope__free_unpacked(env, NULL);
}

static void test_request_vote_result_roundtrip(void **state)
{
	struct raft_message m = {.type = RAFT_REQUEST_VOTE_RESULT}, out;
	Backstay__Envelope *env;
	const struct raft_request_vote_result *r = &out.request_vote_result;

	(void)state;
	m.request_vote_result = (struct raft_request_vote_result){.version = 2,
								  .term = 0,
								  .vote_granted = true,
								  .pre_vote = true,
								  .features = 1,
								  .capacity = 1234};
	out = roundtrip(&m, &env); /* term 0 is legal in a result */
	assert_int_equal(r->version, 2);
	assert_int_equal(r->term, 0);
	assert_true(r->vote_granted);
	assert_true(r->pre_vote);
	assert_int_equal(r->features, 1);
	assert_int_equal(r->capacity, 1234);
	cns__wire_release(&out, 0);
	backstay__envelope__free_unpacked(env, NULL);
}

static void test_install_snapshot_roundtrip(void **state)
{
	struct sample_is s;
	Backstay__Envelope *env;
	struct raft_message out;
	const struct raft_install_snapshot *is = &out.install_snapshot;

	(void)state;
	sample_is_init(&s);
	out = roundtrip(&s.m, &env);
	assert_int_equal(is->term, 5);
	assert_int_equal(is->last_index, 100);
	assert_int_equal(is->last_term, 4);
	assert_int_equal(is->conf_index, 90);
	assert_int_equal(is->conf.n, 2);
	assert_int_equal(is->conf.servers[0].id, 1);
	assert_string_equal(is->conf.servers[0].address, "10.0.0.1:2380");
	assert_int_equal(is->conf.servers[0].role, RAFT_VOTER);
	assert_int_equal(is->conf.servers[1].id, 2);
	assert_int_equal(is->conf.servers[1].role, RAFT_STANDBY);
	assert_int_equal(is->data.len, sizeof s.data);
	assert_memory_equal(is->data.base, s.data, sizeof s.data);
	cns__wire_discard(&out);
	backstay__envelope__free_unpacked(env, NULL);
	sample_is_close(&s);
}

static void test_empty_snapshot_data(void **state)
{
	struct sample_is s;
	Backstay__Envelope *env;
	struct raft_message out;

	(void)state;
	sample_is_init(&s);
	s.m.install_snapshot.data = (struct raft_buffer){0};
	out = roundtrip(&s.m, &env);
	assert_int_equal(out.install_snapshot.data.len, 0);
	assert_non_null(out.install_snapshot.data.base);
	cns__wire_discard(&out);
	backstay__envelope__free_unpacked(env, NULL);
	sample_is_close(&s);
}

static void test_timeout_now_roundtrip(void **state)
{
	struct raft_message m = {.type = RAFT_TIMEOUT_NOW}, out;
	Backstay__Envelope *env;

	(void)state;
	m.timeout_now = (struct raft_timeout_now){
		.version = 0, .term = 8, .last_log_index = 70, .last_log_term = 8};
	out = roundtrip(&m, &env);
	assert_memory_equal(&out.timeout_now, &m.timeout_now, sizeof m.timeout_now);
	cns__wire_release(&out, 0);
	backstay__envelope__free_unpacked(env, NULL);
}

/* ------------------------------------------------------------------------
 * A real libraft follower (step mode) takes decoded messages.
 */

static const uint64_t T0 = 1000;

/* Server 2 of a bootstrapped {1, 2} cluster (§5: entry 1 = configuration). */
static void follower_start(struct raft *r)
{
	struct raft_buffer conf = conf_bytes(2);
	struct raft_entry *e = raft_malloc(sizeof *e);
	struct raft_event ev;
	struct raft_update up;

	assert_non_null(e);
	*e = (struct raft_entry){.term = 1, .type = RAFT_CHANGE, .buf = conf, .batch = conf.base};
	memset(r, 0, sizeof *r);
	assert_int_equal(raft_init(r, NULL, NULL, 2, "10.0.0.2:2380"), 0);
	raft_seed(r, 2);
	memset(&ev, 0, sizeof ev);
	ev.time = T0;
	ev.type = RAFT_START;
	ev.start.term = 1;
	ev.start.start_index = 1;
	ev.start.entries = e;
	ev.start.n_entries = 1;
	assert_int_equal(raft_step(r, &ev, &up), 0);
	/* §6 RAFT_START: on success the batches and the array stay ours. */
	raft_free(conf.base);
	raft_free(e);
}

static int receive(struct raft *r, struct raft_message *m, uint64_t now, struct raft_update *up)
{
	struct raft_event ev;

	memset(&ev, 0, sizeof ev);
	ev.time = now;
	ev.type = RAFT_RECEIVE;
	ev.receive.message = m;
	return raft_step(r, &ev, up);
}

/* Leader 1 (sender) sends entries 2..6 in term 3 after entry 1 (term 1). */
static void sample_ae_from_leader(struct sample_ae *s)
{
	unsigned i;

	sample_ae_init(s);
	s->m.append_entries.term = 3;
	s->m.append_entries.prev_log_index = 1;
	s->m.append_entries.prev_log_term = 1;
	s->m.append_entries.leader_commit = 1;
	for (i = 0; i < 5; i++)
		s->entries[i].term = 3;
}

static void test_raft_accepts_append_entries(void **state)
{
	struct sample_ae s;
	struct raft r;
	struct raft_update up;
	struct raft_message m;
	Backstay__Envelope *env;
	const char *leader_address = NULL;
	raft_id leader = 0;
	int rc;

	(void)state;
	follower_start(&r);
	sample_ae_from_leader(&s);
	env = over_wire(&s.m);
	/* The sender is the leader, node 1. */
	env->raft->server_id = 1;
	assert_int_equal(cns__wire_decode(env->raft, &m), 0);
	rc = receive(&r, &m, T0 + 10, &up);
	assert_int_equal(rc, 0);
	assert_true(up.flags & RAFT_UPDATE_ENTRIES);
	assert_int_equal(up.entries.index, 2);
	assert_int_equal(up.entries.n, 5);
	/* Borrowed: update.entries.batch is our entries array (§6). */
	assert_ptr_equal(up.entries.batch, m.append_entries.entries);
	assert_memory_equal(up.entries.batch[0].buf.base, "put /leader node1", 18);
	raft_leader(&r, &leader, &leader_address); /* raft copied the address */
	assert_int_equal(leader, 1);
	assert_string_equal(leader_address, SENDER_ADDR);
	/* The data batch is now the app's: it frees it once persisted. */
	raft_free(up.entries.batch[0].batch);
	cns__wire_release(&m, rc);
	backstay__envelope__free_unpacked(env, NULL);

	/* The same entries again: nothing new, raft frees the batch itself. */
	env = over_wire(&s.m);
	env->raft->server_id = 1;
	assert_int_equal(cns__wire_decode(env->raft, &m), 0);
	rc = receive(&r, &m, T0 + 20, &up);
	assert_int_equal(rc, 0);
	assert_false(up.flags & RAFT_UPDATE_ENTRIES);
	cns__wire_release(&m, rc);
	backstay__envelope__free_unpacked(env, NULL);

	raft_close(&r, NULL);
	sample_ae_close(&s);
}

static void test_raft_accepts_install_snapshot(void **state)
{
	struct sample_is s;
	struct raft r;
	struct raft_update up;
	struct raft_event ev;
	struct raft_message m;
	Backstay__Envelope *env;
	void *chunk;
	int rc;

	(void)state;
	follower_start(&r);
	sample_is_init(&s);
	env = over_wire(&s.m);
	env->raft->server_id = 1;
	assert_int_equal(cns__wire_decode(env->raft, &m), 0);
	rc = receive(&r, &m, T0 + 10, &up);
	assert_int_equal(rc, 0);
	assert_true(up.flags & RAFT_UPDATE_SNAPSHOT);
	assert_int_equal(up.snapshot.metadata.index, 100);
	assert_int_equal(up.snapshot.metadata.configuration.n, 2);
	assert_int_equal(up.snapshot.chunk.len, sizeof s.data);
	chunk = up.snapshot.chunk.base; /* the app's (§6) */
	cns__wire_release(&m, rc);
	backstay__envelope__free_unpacked(env, NULL);

	/* Persisted: RAFT_PERSISTED_SNAPSHOT takes metadata.configuration. */
	memset(&ev, 0, sizeof ev);
	ev.time = T0 + 20;
	ev.type = RAFT_PERSISTED_SNAPSHOT;
	ev.persisted_snapshot.metadata = up.snapshot.metadata;
	ev.persisted_snapshot.last = true;
	assert_int_equal(raft_step(&r, &ev, &up), 0);
	assert_int_equal(raft_commit_index(&r), 100);
	raft_free(chunk);
	raft_close(&r, NULL);
	sample_is_close(&s);
}

/* ------------------------------------------------------------------------
 * Refusals.
 */

static struct sample_ae ae_sample;

static void ae_term0(struct cns__wire_msg *msg)
{
	msg->u.append_entries.term = 0;
}
static void ae_version(struct cns__wire_msg *msg)
{
	msg->u.append_entries.version = 256;
}
static void ae_overflow(struct cns__wire_msg *msg)
{
	msg->u.append_entries.prev_log_index = UINT64_MAX - 2;
}
static void ae_prev_term(struct cns__wire_msg *msg)
{
	msg->u.append_entries.prev_log_term = msg->u.append_entries.term + 1;
}
static void ae_type0(struct cns__wire_msg *msg)
{
	msg->u.append_entries.entries[1]->type = 0;
}
static void ae_type4(struct cns__wire_msg *msg)
{
	msg->u.append_entries.entries[1]->type = 4;
}
static void ae_type_negative(struct cns__wire_msg *msg)
{
	msg->u.append_entries.entries[1]->type = -1;
}
static void ae_entry_term0(struct cns__wire_msg *msg)
{
	msg->u.append_entries.entries[0]->term = 0;
}
static void ae_entry_term_future(struct cns__wire_msg *msg)
{
	msg->u.append_entries.entries[4]->term = msg->u.append_entries.term + 1;
}
static void ae_entry_term_decreasing(struct cns__wire_msg *msg)
{
	msg->u.append_entries.entries[4]->term = 2; /* after a term-3 entry */
}
static void ae_entry_below_prev(struct cns__wire_msg *msg)
{
	msg->u.append_entries.prev_log_term = 3; /* first entry has term 2 */
}
static void ae_change_garbage(struct cns__wire_msg *msg)
{
	static uint8_t junk[] = {1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};

	msg->u.append_entries.entries[3]->data.data = junk;
	msg->u.append_entries.entries[3]->data.len = sizeof junk;
}
static void ae_change_empty(struct cns__wire_msg *msg)
{
	msg->u.append_entries.entries[3]->data.len = 0;
}
static void ae_too_many(struct cns__wire_msg *msg)
{
	msg->u.append_entries.n_entries = CNS__WIRE_MAX_ENTRIES + 1; /* checked first */
}
static void no_sender(struct cns__wire_msg *msg)
{
	msg->raft.server_id = 0;
}
static void no_address(struct cns__wire_msg *msg)
{
	msg->raft.server_address = NULL;
}
static void no_kind(struct cns__wire_msg *msg)
{
	msg->raft.msg_case = BACKSTAY__RAFT_MESSAGE__MSG__NOT_SET;
}
static void unknown_kind(struct cns__wire_msg *msg)
{
	msg->raft.msg_case = (Backstay__RaftMessage__MsgCase)17;
}

static void test_refuse_append_entries(void **state)
{
	static const mutate_fn cases[] = {
		ae_term0,
		ae_version,
		ae_overflow,
		ae_prev_term,
		ae_type0,
		ae_type4,
		ae_type_negative,
		ae_entry_term0,
		ae_entry_term_future,
		ae_entry_term_decreasing,
		ae_entry_below_prev,
		ae_change_garbage,
		ae_change_empty,
		ae_too_many,
		no_sender,
		no_address,
		no_kind,
		unknown_kind,
	};
	size_t i;

	(void)state;
	sample_ae_init(&ae_sample);
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int rc = decode_mutated(&ae_sample.m, cases[i]);

		if (rc != -EPROTO)
			fail_msg("case %zu: got %d, want -EPROTO", i, rc);
	}
	sample_ae_close(&ae_sample);
}

static void rv_term0(struct cns__wire_msg *msg)
{
	msg->u.request_vote.term = 0;
}
static void rv_candidate(struct cns__wire_msg *msg)
{
	msg->u.request_vote.candidate_id = SENDER_ID + 1;
}
static void rv_version(struct cns__wire_msg *msg)
{
	msg->u.request_vote.version = 300;
}
static void rvr_version(struct cns__wire_msg *msg)
{
	msg->u.request_vote_result.version = 256;
}
static void rvr_features(struct cns__wire_msg *msg)
{
	msg->u.request_vote_result.features = 65536;
}
static void rvr_capacity(struct cns__wire_msg *msg)
{
	msg->u.request_vote_result.capacity = UINT32_MAX;
}
static void aer_version(struct cns__wire_msg *msg)
{
	msg->u.append_entries_result.version = 1000;
}
static void aer_features(struct cns__wire_msg *msg)
{
	msg->u.append_entries_result.features = 70000;
}
static void aer_capacity(struct cns__wire_msg *msg)
{
	msg->u.append_entries_result.capacity = 65536;
}
static void tn_term0(struct cns__wire_msg *msg)
{
	msg->u.timeout_now.term = 0;
}
static void tn_version(struct cns__wire_msg *msg)
{
	msg->u.timeout_now.version = 256;
}

static void expect_refused(const struct raft_message *m, mutate_fn f)
{
	assert_int_equal(decode_mutated(m, f), -EPROTO);
}

static void test_refuse_small_messages(void **state)
{
	struct raft_message rv = {.type = RAFT_REQUEST_VOTE};
	struct raft_message rvr = {.type = RAFT_REQUEST_VOTE_RESULT};
	struct raft_message aer = {.type = RAFT_APPEND_ENTRIES_RESULT};
	struct raft_message tn = {.type = RAFT_TIMEOUT_NOW};

	(void)state;
	rv.request_vote.term = 3;
	rv.request_vote.candidate_id = SENDER_ID;
	tn.timeout_now.term = 3;
	expect_refused(&rv, rv_term0);
	expect_refused(&rv, rv_candidate);
	expect_refused(&rv, rv_version);
	expect_refused(&rvr, rvr_version);
	expect_refused(&rvr, rvr_features);
	expect_refused(&rvr, rvr_capacity);
	expect_refused(&aer, aer_version);
	expect_refused(&aer, aer_features);
	expect_refused(&aer, aer_capacity);
	expect_refused(&tn, tn_term0);
	expect_refused(&tn, tn_version);
	expect_refused(&tn, no_sender);
}

static void is_term0(struct cns__wire_msg *msg)
{
	msg->u.install_snapshot.term = 0;
}
static void is_last_index0(struct cns__wire_msg *msg)
{
	msg->u.install_snapshot.last_index = 0;
}
static void is_last_term0(struct cns__wire_msg *msg)
{
	msg->u.install_snapshot.last_term = 0;
}
static void is_last_term_future(struct cns__wire_msg *msg)
{
	msg->u.install_snapshot.last_term = msg->u.install_snapshot.term + 1;
}
static void is_conf_index0(struct cns__wire_msg *msg)
{
	msg->u.install_snapshot.conf_index = 0;
}
static void is_conf_index_after(struct cns__wire_msg *msg)
{
	msg->u.install_snapshot.conf_index = msg->u.install_snapshot.last_index + 1;
}
static void is_chunked(struct cns__wire_msg *msg)
{
	msg->u.install_snapshot.offset = 4096;
}
static void is_not_last(struct cns__wire_msg *msg)
{
	msg->u.install_snapshot.last = false;
}
static void is_version(struct cns__wire_msg *msg)
{
	msg->u.install_snapshot.version = 256;
}

/* Configuration bytes, each wrong in one way (layout: wire.c). */
static const struct {
	const char *what;
	uint8_t bytes[48];
	size_t len;
} bad_confs[] = {
	{"empty", {0}, 0},
	{"format byte only", {1}, 1},
	{"wrong format", {2, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 'a', 0, 1}, 20},
	{"count, no server", {1, 1, 0, 0, 0, 0, 0, 0, 0}, 9},
	{"zero servers", {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 16},
	{"huge count",
	 {1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0, 0, 0, 0, 0, 'a', 0, 1},
	 20},
	{"short id", {1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0}, 12},
	{"id 0", {1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 'a', 0, 1}, 20},
	{"unterminated address", {1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 'a', 'b'}, 19},
	{"empty address", {1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 19},
	{"no role", {1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 'a', 0}, 19},
	{"role 3", {1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 'a', 0, 3}, 20},
	{"trailing junk",
	 {1, 1, 0,   0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0,
	  0, 0, 'a', 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	 30},
	{"duplicate id",
	 {1, 2,	  0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,   0, 0, 0,
	  0, 'a', 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 'b', 0, 1, 0},
	 32},
};

static size_t bad_conf_index;

static void is_bad_conf(struct cns__wire_msg *msg)
{
	msg->u.install_snapshot.conf.data = (uint8_t *)bad_confs[bad_conf_index].bytes;
	msg->u.install_snapshot.conf.len = bad_confs[bad_conf_index].len;
}

static void test_refuse_install_snapshot(void **state)
{
	static const mutate_fn cases[] = {
		is_term0,	is_last_index0,	     is_last_term0, is_last_term_future,
		is_conf_index0, is_conf_index_after, is_chunked,    is_not_last,
		is_version,
	};
	struct sample_is s;
	size_t i;

	(void)state;
	sample_is_init(&s);
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
		if (decode_mutated(&s.m, cases[i]) != -EPROTO)
			fail_msg("case %zu not refused", i);
	for (i = 0; i < sizeof bad_confs / sizeof bad_confs[0]; i++) {
		bad_conf_index = i;
		if (decode_mutated(&s.m, is_bad_conf) != -EPROTO)
			fail_msg("configuration '%s' not refused", bad_confs[i].what);
	}
	sample_is_close(&s);
}

/* A RaftMessage carrying a kind from a newer version (field 17): protobuf-c
 * keeps it as an unknown field and leaves the oneof unset. */
static void test_refuse_unknown_kind_on_wire(void **state)
{
	static const uint8_t bytes[] = {
		0x08, 0x07,		     /* server_id = 7 */
		0x12, 0x01, 'a',	     /* server_address = "a" */
		0x8a, 0x01, 0x02, 0x08, 0x01 /* field 17, length 2: {1: 1} */
	};
	Backstay__RaftMessage *pb;
	struct raft_message m;

	(void)state;
	pb = backstay__raft_message__unpack(NULL, sizeof bytes, bytes);
	assert_non_null(pb);
	assert_int_equal(pb->msg_case, BACKSTAY__RAFT_MESSAGE__MSG__NOT_SET);
	assert_int_equal(cns__wire_decode(pb, &m), -EPROTO);
	backstay__raft_message__free_unpacked(pb, NULL);
}

static void test_encode_refusals(void **state)
{
	struct raft_message m = {.type = RAFT_TIMEOUT_NOW};
	struct raft_entry bad = {.term = 1, .type = 9};
	struct cns__wire_msg msg;
	struct sample_is s;

	(void)state;
	assert_int_equal(cns__wire_encode(&m, 0, SENDER_ADDR, &msg), -EINVAL);
	assert_int_equal(cns__wire_encode(&m, SENDER_ID, NULL, &msg), -EINVAL);
	m.type = 42;
	assert_int_equal(cns__wire_encode(&m, SENDER_ID, SENDER_ADDR, &msg), -EINVAL);
	m.type = RAFT_APPEND_ENTRIES;
	m.append_entries.term = 1;
	m.append_entries.entries = &bad;
	m.append_entries.n_entries = 1;
	assert_int_equal(cns__wire_encode(&m, SENDER_ID, SENDER_ADDR, &msg), -EINVAL);
	m.append_entries.n_entries = CNS__WIRE_MAX_ENTRIES + 1;
	assert_int_equal(cns__wire_encode(&m, SENDER_ID, SENDER_ADDR, &msg), -EINVAL);
	sample_is_init(&s);
	sample_is_close(&s);
	raft_configuration_init(&s.m.install_snapshot.conf); /* empty */
	assert_int_equal(cns__wire_encode(&s.m, SENDER_ID, SENDER_ADDR, &msg), -EINVAL);
	cns__wire_msg_release(NULL);
	cns__wire_release(NULL, 0);
	cns__wire_discard(NULL);
}

int bs_test_wire(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_append_entries_roundtrip),
		cmocka_unit_test(test_heartbeat_roundtrip),
		cmocka_unit_test(test_append_entries_result_roundtrip),
		cmocka_unit_test(test_request_vote_roundtrip),
		cmocka_unit_test(test_request_vote_result_roundtrip),
		cmocka_unit_test(test_install_snapshot_roundtrip),
		cmocka_unit_test(test_empty_snapshot_data),
		cmocka_unit_test(test_timeout_now_roundtrip),
		cmocka_unit_test(test_raft_accepts_append_entries),
		cmocka_unit_test(test_raft_accepts_install_snapshot),
		cmocka_unit_test(test_refuse_append_entries),
		cmocka_unit_test(test_refuse_small_messages),
		cmocka_unit_test(test_refuse_install_snapshot),
		cmocka_unit_test(test_refuse_unknown_kind_on_wire),
		cmocka_unit_test(test_encode_refusals),
	};

	return cmocka_run_group_tests_name("wire", tests, NULL, NULL);
}
