/*
 * Writes the seed corpora of fuzz_wire and fuzz_handshake (layouts in
 * fuzz_net.h) with the real encoders:
 *
 *   ninja -C build-fuzz test/fuzz/gen_net_seeds
 *   build-fuzz/test/fuzz/gen_net_seeds test/fuzz/corpus/wire test/fuzz/corpus/handshake
 */
#include <stdlib.h>

#include "fuzz_net.h"
#include "proto.h"
#include "wire.h"

static void write_file(const char *dir, const char *name, const uint8_t *bytes, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(bytes, 1, len, f) != len || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

__attribute__((noreturn)) static void die(const char *what)
{
	fprintf(stderr, "gen_net_seeds: %s\n", what);
	exit(1);
}

/* fuzz_wire: one packed Envelope built from m. */
static void wire_seed(const char *dir, const char *name, const struct raft_message *m)
{
	struct cns__wire_msg msg;
	uint8_t buf[1024];
	size_t len;

	if (cns__wire_encode(m, 1, "10.0.0.1:2380", &msg) != 0)
		die("cannot encode a Raft message");
	len = backstay__envelope__get_packed_size(&msg.env);
	if (len > sizeof buf)
		die("seed too large");
	backstay__envelope__pack(&msg.env, buf);
	cns__wire_msg_release(&msg);
	write_file(dir, name, buf, len);
}

static void wire_seeds(const char *dir)
{
	static char cmd[] = "put /a 1";
	struct raft_configuration conf;
	struct raft_buffer cbuf;
	struct raft_entry entries[3];
	struct raft_message m = {.type = RAFT_APPEND_ENTRIES};

	raft_configuration_init(&conf);
	if (raft_configuration_add(&conf, 1, "1", RAFT_VOTER) != 0 ||
	    raft_configuration_add(&conf, 2, "2", RAFT_VOTER) != 0 ||
	    raft_configuration_encode(&conf, &cbuf) != 0)
		die("cannot build a configuration");
	entries[0] = (struct raft_entry){
		.term = 2, .type = RAFT_COMMAND, .buf = {.base = cmd, .len = sizeof cmd}};
	entries[1] = (struct raft_entry){
		.term = 2, .type = RAFT_BARRIER, .buf = {.base = cmd, .len = 8}};
	entries[2] = (struct raft_entry){.term = 2, .type = RAFT_CHANGE, .buf = cbuf};
	m.append_entries = (struct raft_append_entries){.term = 2,
							.prev_log_index = 1,
							.prev_log_term = 1,
							.leader_commit = 1,
							.entries = entries,
							.n_entries = 3};
	wire_seed(dir, "append-entries", &m);
	m = (struct raft_message){.type = RAFT_INSTALL_SNAPSHOT};
	m.install_snapshot =
		(struct raft_install_snapshot){.term = 3,
					       .last_index = 10,
					       .last_term = 2,
					       .conf = conf,
					       .conf_index = 1,
					       .data = {.base = cmd, .len = sizeof cmd}};
	wire_seed(dir, "install-snapshot", &m);
	m = (struct raft_message){.type = RAFT_REQUEST_VOTE};
	m.request_vote = (struct raft_request_vote){.version = 2,
						    .term = 3,
						    .candidate_id = 1,
						    .last_log_index = 9,
						    .last_log_term = 2,
						    .pre_vote = true};
	wire_seed(dir, "request-vote", &m);
	raft_configuration_close(&conf);
	raft_free(cbuf.base);
}

/* fuzz_handshake: the config byte, then frames. */
struct seed {
	uint8_t bytes[1024];
	size_t len;
};

static void seed_add(struct seed *s, const Backstay__Envelope *env)
{
	uint8_t *frame;
	size_t len;

	if (proto_frame_encode(env, CNS__TR_HS_MAX_FRAME, &frame, &len) != 0 ||
	    s->len + len > sizeof s->bytes)
		die("cannot encode a handshake frame");
	memcpy(s->bytes + s->len, frame, len);
	s->len += len;
	free(frame);
}

/* A server's input: the real client's Hello, then a (wrong) proof. */
static void server_seed(const char *dir, const char *name, uint8_t config, uint8_t client_config)
{
	static const uint8_t nonce[CNS__TR_NONCE_LEN] = {7};
	static uint8_t proof[CNS__TR_MAC_LEN];
	struct cns__tr_identity client;
	struct cns__tr_hs hs;
	struct cns__tr_hs_out out;
	Backstay__Envelope env = BACKSTAY__ENVELOPE__INIT;
	Backstay__HelloProof p = BACKSTAY__HELLO_PROOF__INIT;
	struct seed s = {.bytes = {config}, .len = 1};

	fuzz_identity(&client, client_config | FUZZ_HS_CLIENT);
	cns__tr_hs_client(&hs, &client, fuzz_role(client_config), 1, nonce, &out);
	seed_add(&s, &out.env);
	p.proof.data = proof;
	p.proof.len = sizeof proof;
	env.body_case = BACKSTAY__ENVELOPE__BODY_HELLO_PROOF;
	env.hello_proof = &p;
	seed_add(&s, &env);
	write_file(dir, name, s.bytes, s.len);
}

/* A client's input: a HelloReply (with a wrong proof), or a Goodbye. */
static void client_seed(const char *dir, const char *name, uint8_t config, bool goodbye)
{
	static uint8_t bytes[CNS__TR_NONCE_LEN];
	Backstay__Envelope env = BACKSTAY__ENVELOPE__INIT;
	Backstay__HelloReply r = BACKSTAY__HELLO_REPLY__INIT;
	Backstay__Goodbye g = BACKSTAY__GOODBYE__INIT;
	struct seed s = {.bytes = {config}, .len = 1};

	r.version = 1;
	r.node_id = 1;
	r.nonce.data = r.proof.data = bytes;
	r.nonce.len = r.proof.len = sizeof bytes;
	g.reason = (char *)"unsupported protocol version: server speaks 1..1";
	env.body_case =
		goodbye ? BACKSTAY__ENVELOPE__BODY_GOODBYE : BACKSTAY__ENVELOPE__BODY_HELLO_REPLY;
	if (goodbye)
		env.goodbye = &g;
	else
		env.hello_reply = &r;
	seed_add(&s, &env);
	write_file(dir, name, s.bytes, s.len);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: gen_net_seeds WIRE_DIR HANDSHAKE_DIR\n");
		return 2;
	}
	wire_seeds(argv[1]);
	server_seed(argv[2], "server-peer", 0x00, 0x00);
	server_seed(argv[2], "server-ctl-v2", 0x02, 0x0a);
	client_seed(argv[2], "client-reply", 0x21, false);
	client_seed(argv[2], "client-goodbye", 0x01, true);
	return 0;
}
