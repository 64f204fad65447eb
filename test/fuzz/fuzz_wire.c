/*
 * libFuzzer target for consensus/wire's decoder: the input is one packed
 * Envelope. A RaftMessage in it goes through cns__wire_decode(); what is
 * accepted must
 *   - have all AppendEntries data in one batch, inside it, 8-byte aligned;
 *   - encode back (cns__wire_encode) and decode again to the same message;
 *   - be taken by a real libraft 0.22 follower in step mode (fresh per
 *     input) without crashing, with the ownership wire.h documents: the
 *     app frees what the update hands it, cns__wire_release the rest.
 * Refused input must say -EPROTO (or -ENOMEM) and leave nothing behind.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backstay.pb-c.h"
#include "wire.h"

#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond))                                                                       \
			__builtin_trap();                                                          \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_batch(const struct raft_message *m)
{
	const struct raft_append_entries *ae = &m->append_entries;
	const uint8_t *batch;
	size_t total = 0;
	unsigned i;

	if (m->type != RAFT_APPEND_ENTRIES || ae->n_entries == 0)
		return;
	batch = ae->entries[0].batch;
	for (i = 0; i < ae->n_entries; i++)
		total += (ae->entries[i].buf.len + 7) & ~(size_t)7;
	for (i = 0; i < ae->n_entries; i++) {
		const uint8_t *base = ae->entries[i].buf.base;

		FUZZ_CHECK(ae->entries[i].batch == batch);
		FUZZ_CHECK(base >= batch && base + ae->entries[i].buf.len <= batch + total);
		FUZZ_CHECK((size_t)(base - batch) % 8 == 0);
	}
}

/* Whatever we accept we can send: encode, pack, unpack, decode again. */
static void check_reencode(const struct raft_message *m)
{
	struct cns__wire_msg msg;
	Backstay__Envelope *back;
	struct raft_message again;
	uint8_t *buf;
	size_t len;

	FUZZ_CHECK(cns__wire_encode(m, m->server_id, m->server_address, &msg) == 0);
	len = backstay__envelope__get_packed_size(&msg.env);
	buf = malloc(len + 1);
	FUZZ_CHECK(buf != NULL);
	backstay__envelope__pack(&msg.env, buf);
	cns__wire_msg_release(&msg);
	back = backstay__envelope__unpack(NULL, len, buf);
	FUZZ_CHECK(back != NULL && back->body_case == BACKSTAY__ENVELOPE__BODY_RAFT);
	FUZZ_CHECK(cns__wire_decode(back->raft, &again) == 0);
	FUZZ_CHECK(again.type == m->type && again.server_id == m->server_id);
	if (m->type == RAFT_APPEND_ENTRIES)
		FUZZ_CHECK(again.append_entries.n_entries == m->append_entries.n_entries);
	cns__wire_discard(&again);
	backstay__envelope__free_unpacked(back, NULL);
	free(buf);
}

/* Node 2 of a bootstrapped {1, 2} cluster, as in test/unit/test_wire.c. */
static void follower_start(struct raft *r)
{
	struct raft_configuration conf;
	struct raft_buffer buf;
	struct raft_entry *e = raft_malloc(sizeof *e);
	struct raft_event ev;
	struct raft_update up;

	raft_configuration_init(&conf);
	FUZZ_CHECK(e != NULL && raft_configuration_add(&conf, 1, "1", RAFT_VOTER) == 0 &&
		   raft_configuration_add(&conf, 2, "2", RAFT_VOTER) == 0 &&
		   raft_configuration_encode(&conf, &buf) == 0);
	raft_configuration_close(&conf);
	*e = (struct raft_entry){.term = 1, .type = RAFT_CHANGE, .buf = buf, .batch = buf.base};
	memset(r, 0, sizeof *r);
	FUZZ_CHECK(raft_init(r, NULL, NULL, 2, "2") == 0);
	raft_seed(r, 2);
	memset(&ev, 0, sizeof ev);
	ev.time = 1000;
	ev.type = RAFT_START;
	ev.start.term = 1;
	ev.start.start_index = 1;
	ev.start.entries = e;
	ev.start.n_entries = 1;
	FUZZ_CHECK(raft_step(r, &ev, &up) == 0);
	raft_free(buf.base);
	raft_free(e);
}

/* What a step's update hands the app, freed as the driver would. */
static void consume_update(const struct raft_update *up)
{
	if ((up->flags & RAFT_UPDATE_ENTRIES) && up->entries.n > 0)
		raft_free(up->entries.batch[0].batch);
	if (up->flags & RAFT_UPDATE_SNAPSHOT) {
		struct raft_configuration conf = up->snapshot.metadata.configuration;

		raft_free(up->snapshot.chunk.base);
		raft_configuration_close(&conf);
	}
}

static void step_follower(struct raft_message *m)
{
	struct raft r;
	struct raft_event ev;
	struct raft_update up;
	int rc;

	follower_start(&r);
	memset(&ev, 0, sizeof ev);
	ev.time = 2000;
	ev.type = RAFT_RECEIVE;
	ev.receive.message = m;
	memset(&up, 0, sizeof up);
	rc = raft_step(&r, &ev, &up);
	if (rc == 0)
		consume_update(&up);
	cns__wire_release(m, rc);
	raft_close(&r, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Backstay__Envelope *env = backstay__envelope__unpack(NULL, size, data);
	struct raft_message m;
	int rc;

	if (env == NULL)
		return 0;
	if (env->body_case == BACKSTAY__ENVELOPE__BODY_RAFT && env->raft != NULL) {
		rc = cns__wire_decode(env->raft, &m);
		FUZZ_CHECK(rc == 0 || rc == -EPROTO || rc == -ENOMEM);
		if (rc == 0) {
			check_batch(&m);
			check_reencode(&m);
			step_follower(&m);
		}
	}
	backstay__envelope__free_unpacked(env, NULL);
	return 0;
}
