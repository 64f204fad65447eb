/*
 * Writes the seed corpus of fuzz_decoder (layout in fuzz_decoder.h) with
 * the real encoder, so the seeds follow backstay.proto:
 *
 *   ninja -C build-fuzz test/fuzz/gen_seeds
 *   build-fuzz/test/fuzz/gen_seeds test/fuzz/corpus/decoder
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_decoder.h"
#include "proto.h"

struct seed {
	uint8_t bytes[512];
	size_t len;
};

static ProtobufCBinaryData bin(const char *s)
{
	return (ProtobufCBinaryData){.len = strlen(s), .data = (uint8_t *)s};
}

static void seed_start(struct seed *s, uint8_t config, const uint8_t chunks[4])
{
	s->bytes[0] = config;
	memcpy(s->bytes + 1, chunks, 4);
	s->len = FUZZ_PREFIX_LEN;
}

/* Append env's frame and, when the config asks for one, a trailer. */
static void seed_add(struct seed *s, const Backstay__Envelope *env)
{
	size_t trailer = fuzz_trailer_len(s->bytes[0]);
	uint8_t *frame;
	size_t len;

	if (proto_frame_encode(env, PROTO_MAX_FRAME_DEFAULT, &frame, &len) != 0 ||
	    s->len + len + trailer > sizeof s->bytes) {
		fprintf(stderr, "gen_seeds: cannot encode a seed frame\n");
		exit(1);
	}
	memcpy(s->bytes + s->len, frame, len);
	memset(s->bytes + s->len + len, 0x5a, trailer);
	s->len += len + trailer;
	free(frame);
}

static void seed_write(const struct seed *s, const char *dir, const char *name)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(s->bytes, 1, s->len, f) != s->len || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

static void add_handshake(struct seed *s)
{
	Backstay__Hello hello = BACKSTAY__HELLO__INIT;
	Backstay__HelloReply reply = BACKSTAY__HELLO_REPLY__INIT;
	Backstay__HelloProof proof = BACKSTAY__HELLO_PROOF__INIT;
	Backstay__Envelope env = BACKSTAY__ENVELOPE__INIT;

	hello.cluster_id = bin("0123456789abcdef");
	hello.node_id = 1;
	hello.min_version = 1;
	hello.max_version = 1;
	hello.role = BACKSTAY__ROLE__PEER;
	hello.nonce = bin("nonce-1");
	hello.address = "127.0.0.1:7332";
	env.body_case = BACKSTAY__ENVELOPE__BODY_HELLO;
	env.hello = &hello;
	seed_add(s, &env);
	reply.version = 1;
	reply.nonce = bin("nonce-2");
	reply.proof = bin("mac");
	reply.node_id = 2;
	env.body_case = BACKSTAY__ENVELOPE__BODY_HELLO_REPLY;
	env.hello_reply = &reply;
	seed_add(s, &env);
	proof.proof = bin("mac");
	env.body_case = BACKSTAY__ENVELOPE__BODY_HELLO_PROOF;
	env.hello_proof = &proof;
	seed_add(s, &env);
}

static void add_raft(struct seed *s, Backstay__RaftMessage *rm)
{
	Backstay__Envelope env = BACKSTAY__ENVELOPE__INIT;

	rm->server_id = 1;
	rm->server_address = "127.0.0.1:7332";
	env.body_case = BACKSTAY__ENVELOPE__BODY_RAFT;
	env.raft = rm;
	seed_add(s, &env);
}

static void add_votes(struct seed *s)
{
	Backstay__RequestVote rv = BACKSTAY__REQUEST_VOTE__INIT;
	Backstay__RequestVoteResult rvr = BACKSTAY__REQUEST_VOTE_RESULT__INIT;
	Backstay__TimeoutNow tn = BACKSTAY__TIMEOUT_NOW__INIT;
	Backstay__RaftMessage rm = BACKSTAY__RAFT_MESSAGE__INIT;

	rv.version = 2;
	rv.term = 3;
	rv.candidate_id = 1;
	rv.last_log_index = 10;
	rv.last_log_term = 2;
	rv.pre_vote = true;
	rm.msg_case = BACKSTAY__RAFT_MESSAGE__MSG_REQUEST_VOTE;
	rm.request_vote = &rv;
	add_raft(s, &rm);
	rvr.version = 2;
	rvr.term = 3;
	rvr.vote_granted = true;
	rvr.pre_vote = true;
	rvr.features = 1;
	rm.msg_case = BACKSTAY__RAFT_MESSAGE__MSG_REQUEST_VOTE_RESULT;
	rm.request_vote_result = &rvr;
	add_raft(s, &rm);
	tn.term = 3;
	tn.last_log_index = 10;
	rm.msg_case = BACKSTAY__RAFT_MESSAGE__MSG_TIMEOUT_NOW;
	rm.timeout_now = &tn;
	add_raft(s, &rm);
}

static void add_replication(struct seed *s)
{
	Backstay__Entry e1 = BACKSTAY__ENTRY__INIT, e2 = BACKSTAY__ENTRY__INIT;
	Backstay__Entry *entries[2] = {&e1, &e2};
	Backstay__AppendEntries ae = BACKSTAY__APPEND_ENTRIES__INIT;
	Backstay__AppendEntriesResult aer = BACKSTAY__APPEND_ENTRIES_RESULT__INIT;
	Backstay__InstallSnapshot is = BACKSTAY__INSTALL_SNAPSHOT__INIT;
	Backstay__RaftMessage rm = BACKSTAY__RAFT_MESSAGE__INIT;

	e1.term = 3;
	e1.type = BACKSTAY__ENTRY_TYPE__COMMAND;
	e1.data = bin("put k v");
	e2.term = 3;
	e2.type = BACKSTAY__ENTRY_TYPE__BARRIER;
	ae.term = 3;
	ae.prev_log_index = 10;
	ae.prev_log_term = 2;
	ae.leader_commit = 9;
	ae.n_entries = 2;
	ae.entries = entries;
	rm.msg_case = BACKSTAY__RAFT_MESSAGE__MSG_APPEND_ENTRIES;
	rm.append_entries = &ae;
	add_raft(s, &rm);
	aer.term = 3;
	aer.rejected = 11;
	aer.last_log_index = 10;
	rm.msg_case = BACKSTAY__RAFT_MESSAGE__MSG_APPEND_ENTRIES_RESULT;
	rm.append_entries_result = &aer;
	add_raft(s, &rm);
	is.term = 3;
	is.last_index = 8;
	is.last_term = 2;
	is.conf_index = 1;
	is.conf = bin("conf");
	is.data = bin("snapshot");
	is.last = true;
	rm.msg_case = BACKSTAY__RAFT_MESSAGE__MSG_INSTALL_SNAPSHOT;
	rm.install_snapshot = &is;
	add_raft(s, &rm);
}

static void add_ctl(struct seed *s)
{
	char *args[] = {"node2"};
	Backstay__CtlRequest req = BACKSTAY__CTL_REQUEST__INIT;
	Backstay__CtlResponse resp = BACKSTAY__CTL_RESPONSE__INIT;
	Backstay__Goodbye bye = BACKSTAY__GOODBYE__INIT;
	Backstay__Envelope env = BACKSTAY__ENVELOPE__INIT;

	req.id = 1;
	req.verb = "promote";
	req.n_args = 1;
	req.args = args;
	env.body_case = BACKSTAY__ENVELOPE__BODY_CTL_REQUEST;
	env.ctl_request = &req;
	seed_add(s, &env);
	resp.id = 1;
	resp.code = 1;
	resp.message = "not caught up";
	env.body_case = BACKSTAY__ENVELOPE__BODY_CTL_RESPONSE;
	env.ctl_response = &resp;
	seed_add(s, &env);
	bye.reason = "done";
	env.body_case = BACKSTAY__ENVELOPE__BODY_GOODBYE;
	env.goodbye = &bye;
	seed_add(s, &env);
}

int main(int argc, char **argv)
{
	/* config: max_frame 4096 (2) or 16 MiB (3); trailer 8 (3 << 2); verify. */
	const uint8_t whole[4] = {255, 255, 255, 255}, bytes[4] = {0, 0, 0, 0};
	const uint8_t mixed[4] = {2, 0, 40, 6};
	struct seed s;

	if (argc != 2) {
		fprintf(stderr, "usage: gen_seeds DIR\n");
		return 2;
	}
	seed_start(&s, 3, whole);
	add_handshake(&s);
	seed_write(&s, argv[1], "handshake");

	seed_start(&s, 2, bytes);
	add_votes(&s);
	seed_write(&s, argv[1], "votes-bytewise");

	seed_start(&s, 3, mixed);
	add_replication(&s);
	seed_write(&s, argv[1], "replication");

	seed_start(&s, 3 | 3u << 2 | FUZZ_VERIFY, mixed);
	add_ctl(&s);
	seed_write(&s, argv[1], "ctl-trailer");
	return 0;
}
