/*
 * struct raft_message <-> Backstay__RaftMessage. Encoding borrows the
 * message's bytes (no copies on the send path); decoding validates every
 * field a peer could lie about before a single byte reaches libraft, whose
 * 0.22.1 release build has its precondition asserts compiled out
 * (libraft-0.22-step-api.md §2) and whose configuration decoder trusts its
 * input's length. The RAFT_RECEIVE ownership rules of §6 are quoted where
 * they are implemented.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

/* raft's configuration encoding format (configuration.c ENCODING_FORMAT). */
#define CONF_FORMAT 1
/* Entry data offsets in a received batch are aligned like libraft's own
 * encoder does, so that code parsing entries may cast. */
#define ENTRY_ALIGN 8u

/* ------------------------------------------------------------------------
 * Encoding.
 */

static bool entry_type_valid(unsigned type)
{
	return type == RAFT_COMMAND || type == RAFT_BARRIER || type == RAFT_CHANGE;
}

static int encode_append_entries(const struct raft_append_entries *ae, struct cns__wire_msg *out)
{
	Backstay__AppendEntries *pb = &out->u.append_entries;
	Backstay__Entry *structs, **ptrs;
	unsigned i;

	backstay__append_entries__init(pb);
	pb->version = ae->version;
	pb->term = ae->term;
	pb->prev_log_index = ae->prev_log_index;
	pb->prev_log_term = ae->prev_log_term;
	pb->leader_commit = ae->leader_commit;
	if (ae->n_entries == 0)
		return 0;
	if (ae->n_entries > CNS__WIRE_MAX_ENTRIES || ae->entries == NULL)
		return -EINVAL;
	out->entries = malloc(ae->n_entries * (sizeof *structs + sizeof *ptrs));
	if (out->entries == NULL)
		return -ENOMEM;
	structs = out->entries;
	ptrs = (Backstay__Entry **)(structs + ae->n_entries);
	for (i = 0; i < ae->n_entries; i++) {
		const struct raft_entry *e = &ae->entries[i];

		if (!entry_type_valid(e->type) || (e->buf.len > 0 && e->buf.base == NULL))
			return -EINVAL;
		backstay__entry__init(&structs[i]);
		structs[i].term = e->term;
		structs[i].type = (Backstay__EntryType)e->type;
		structs[i].data.len = e->buf.len;
		structs[i].data.data = e->buf.base;
		ptrs[i] = &structs[i];
	}
	pb->n_entries = ae->n_entries;
	pb->entries = ptrs;
	return 0;
}

static void encode_append_entries_result(const struct raft_append_entries_result *r,
					 Backstay__AppendEntriesResult *pb)
{
	backstay__append_entries_result__init(pb);
	pb->version = r->version;
	pb->term = r->term;
	pb->rejected = r->rejected;
	pb->last_log_index = r->last_log_index;
	pb->features = r->features;
	pb->capacity = r->capacity;
}

static void encode_request_vote(const struct raft_request_vote *rv, Backstay__RequestVote *pb)
{
	backstay__request_vote__init(pb);
	pb->version = rv->version;
	pb->term = rv->term;
	pb->candidate_id = rv->candidate_id;
	pb->last_log_index = rv->last_log_index;
	pb->last_log_term = rv->last_log_term;
	pb->disrupt_leader = rv->disrupt_leader;
	pb->pre_vote = rv->pre_vote;
}

static void encode_request_vote_result(const struct raft_request_vote_result *r,
				       Backstay__RequestVoteResult *pb)
{
	backstay__request_vote_result__init(pb);
	pb->version = r->version;
	pb->term = r->term;
	pb->vote_granted = r->vote_granted;
	pb->pre_vote = r->pre_vote;
	pb->features = r->features;
	pb->capacity = r->capacity;
}

/* libraft 0.22 never chunks (§7.10): offset 0, last true. */
static int encode_install_snapshot(const struct raft_install_snapshot *is,
				   struct cns__wire_msg *out)
{
	Backstay__InstallSnapshot *pb = &out->u.install_snapshot;

	if (is->conf.n == 0 || (is->data.len > 0 && is->data.base == NULL))
		return -EINVAL; /* raft_configuration_encode asserts n > 0 */
	if (raft_configuration_encode(&is->conf, &out->conf) != 0)
		return -ENOMEM; /* its only failure */
	backstay__install_snapshot__init(pb);
	pb->version = is->version;
	pb->term = is->term;
	pb->last_index = is->last_index;
	pb->last_term = is->last_term;
	pb->conf_index = is->conf_index;
	pb->conf.len = out->conf.len;
	pb->conf.data = out->conf.base;
	pb->data.len = is->data.len;
	pb->data.data = is->data.base;
	pb->offset = 0;
	pb->last = true;
	return 0;
}

static void encode_timeout_now(const struct raft_timeout_now *tn, Backstay__TimeoutNow *pb)
{
	backstay__timeout_now__init(pb);
	pb->version = tn->version;
	pb->term = tn->term;
	pb->last_log_index = tn->last_log_index;
	pb->last_log_term = tn->last_log_term;
}

/* Fill the oneof; the numbering of RaftMessage.msg is 10 + raft's type. */
static int encode_body(const struct raft_message *m, struct cns__wire_msg *out)
{
	Backstay__RaftMessage *raft = &out->raft;

	switch (m->type) {
	case RAFT_APPEND_ENTRIES:
		raft->append_entries = &out->u.append_entries;
		raft->msg_case = BACKSTAY__RAFT_MESSAGE__MSG_APPEND_ENTRIES;
		return encode_append_entries(&m->append_entries, out);
	case RAFT_APPEND_ENTRIES_RESULT:
		raft->append_entries_result = &out->u.append_entries_result;
		raft->msg_case = BACKSTAY__RAFT_MESSAGE__MSG_APPEND_ENTRIES_RESULT;
		encode_append_entries_result(&m->append_entries_result,
					     raft->append_entries_result);
		return 0;
	case RAFT_REQUEST_VOTE:
		raft->request_vote = &out->u.request_vote;
		raft->msg_case = BACKSTAY__RAFT_MESSAGE__MSG_REQUEST_VOTE;
		encode_request_vote(&m->request_vote, raft->request_vote);
		return 0;
	case RAFT_REQUEST_VOTE_RESULT:
		raft->request_vote_result = &out->u.request_vote_result;
		raft->msg_case = BACKSTAY__RAFT_MESSAGE__MSG_REQUEST_VOTE_RESULT;
		encode_request_vote_result(&m->request_vote_result, raft->request_vote_result);
		return 0;
	case RAFT_INSTALL_SNAPSHOT:
		raft->install_snapshot = &out->u.install_snapshot;
		raft->msg_case = BACKSTAY__RAFT_MESSAGE__MSG_INSTALL_SNAPSHOT;
		return encode_install_snapshot(&m->install_snapshot, out);
	case RAFT_TIMEOUT_NOW:
		raft->timeout_now = &out->u.timeout_now;
		raft->msg_case = BACKSTAY__RAFT_MESSAGE__MSG_TIMEOUT_NOW;
		encode_timeout_now(&m->timeout_now, raft->timeout_now);
		return 0;
	default:
		return -EINVAL;
	}
}

int cns__wire_encode(const struct raft_message *m, raft_id from_id, const char *from_address,
		     struct cns__wire_msg *out)
{
	int rc;

	if (m == NULL || from_id == 0 || from_address == NULL)
		return -EINVAL;
	memset(out, 0, sizeof *out);
	backstay__envelope__init(&out->env);
	backstay__raft_message__init(&out->raft);
	out->raft.server_id = from_id;
	out->raft.server_address = (char *)from_address; /* pack only reads it */
	rc = encode_body(m, out);
	if (rc < 0) {
		cns__wire_msg_release(out);
		return rc;
	}
	out->env.body_case = BACKSTAY__ENVELOPE__BODY_RAFT;
	out->env.raft = &out->raft;
	return 0;
}

void cns__wire_msg_release(struct cns__wire_msg *msg)
{
	if (msg == NULL)
		return;
	free(msg->entries);
	raft_free(msg->conf.base);
	msg->entries = NULL;
	msg->conf = (struct raft_buffer){0};
}

/* ------------------------------------------------------------------------
 * Checking a configuration before libraft decodes it. raft 0.22.1's
 * configurationDecode() reads the server count, ids and roles without a
 * length check (its "TODO: use 'if' instead of assert"), so a short buffer
 * makes it read past the end. Layout (configuration.c): format byte (1),
 * u64 little-endian server count, then per server u64 LE id,
 * NUL-terminated address, role byte; zero padding to a multiple of 8.
 */

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* One server at *off: 0 and *off moved past it, or -EPROTO. */
static int conf_check_server(const uint8_t *p, size_t len, size_t *off)
{
	const uint8_t *nul;
	size_t at = *off;

	if (len - at < 8 || get_le64(p + at) == 0)
		return -EPROTO;
	at += 8;
	nul = memchr(p + at, 0, len - at);
	if (nul == NULL || nul == p + at) /* unterminated, or empty address */
		return -EPROTO;
	at = (size_t)(nul - p) + 1;
	if (len - at < 1 || p[at] > RAFT_SPARE) /* RAFT_STANDBY 0, VOTER 1, SPARE 2 */
		return -EPROTO;
	*off = at + 1;
	return 0;
}

static int conf_check(const uint8_t *p, size_t len)
{
	uint64_t n, i;
	size_t off = 9;
	int rc;

	if (p == NULL || len < 9 || p[0] != CONF_FORMAT)
		return -EPROTO;
	n = get_le64(p + 1);
	if (n == 0 || n > CNS__WIRE_MAX_SERVERS)
		return -EPROTO;
	for (i = 0; i < n; i++) {
		rc = conf_check_server(p, len, &off);
		if (rc < 0)
			return rc;
	}
	return len - off < 8 ? 0 : -EPROTO; /* only the padding may follow */
}

/* Checked bytes -> configuration. libraft refuses duplicate ids and
 * addresses (RAFT_DUPLICATEID/ADDRESS, reported as RAFT_MALFORMED). */
static int conf_decode(ProtobufCBinaryData bytes, struct raft_configuration *ret)
{
	struct raft_buffer buf = {.base = bytes.data, .len = bytes.len};
	int rc;

	rc = conf_check(bytes.data, bytes.len);
	if (rc < 0)
		return rc;
	rc = raft_configuration_decode(&buf, ret);
	if (rc == RAFT_NOMEM)
		return -ENOMEM;
	return rc == 0 ? 0 : -EPROTO;
}

/* A RAFT_CHANGE entry must decode, or the follower's raft_step fails with
 * RAFT_MALFORMED (membershipUncommittedChange), which stops the node. */
static int change_check(ProtobufCBinaryData bytes)
{
	struct raft_configuration conf;
	int rc = conf_decode(bytes, &conf);

	if (rc == 0)
		raft_configuration_close(&conf);
	return rc;
}

/* ------------------------------------------------------------------------
 * Decoding.
 */

static bool fits_uchar(uint32_t v)
{
	return v <= UCHAR_MAX;
}

static bool fits_ushort(uint32_t v)
{
	return v <= USHRT_MAX;
}

static size_t align_up(size_t n)
{
	return (n + ENTRY_ALIGN - 1) & ~(size_t)(ENTRY_ALIGN - 1);
}

/* Raft's log invariants for the entries of one AppendEntries: terms are
 * non-decreasing along the log, so within [prev_log_term, term]. */
static int entries_check(const Backstay__AppendEntries *pb, size_t *ret_total)
{
	uint64_t prev_term = pb->prev_log_term;
	size_t total = 0, i;
	int rc;

	for (i = 0; i < pb->n_entries; i++) {
		const Backstay__Entry *e = pb->entries[i];

		if (!entry_type_valid((unsigned)e->type) || e->term == 0 || e->term < prev_term ||
		    e->term > pb->term)
			return -EPROTO;
		if (e->type == BACKSTAY__ENTRY_TYPE__CHANGE) {
			rc = change_check(e->data);
			if (rc < 0)
				return rc;
		}
		if (total > SIZE_MAX - ENTRY_ALIGN || e->data.len > SIZE_MAX - ENTRY_ALIGN - total)
			return -EPROTO;
		total += align_up(e->data.len);
		prev_term = e->term;
	}
	*ret_total = total;
	return 0;
}

/*
 * §6: "All entries must live in one raft_malloc batch: raft only ever frees
 * entries[0].batch." The array itself stays the caller's.
 */
static int entries_build(const Backstay__AppendEntries *pb, size_t total,
			 struct raft_append_entries *ret)
{
	struct raft_entry *entries;
	uint8_t *batch;
	size_t off = 0, i;

	entries = malloc(pb->n_entries * sizeof *entries);
	if (entries == NULL)
		return -ENOMEM;
	batch = raft_malloc(total > 0 ? total : 1);
	if (batch == NULL) {
		free(entries);
		return -ENOMEM;
	}
	for (i = 0; i < pb->n_entries; i++) {
		const Backstay__Entry *e = pb->entries[i];

		entries[i].term = e->term;
		entries[i].type = (enum raft_entry_type)e->type;
		entries[i].buf.base = batch + off;
		entries[i].buf.len = e->data.len;
		entries[i].batch = batch;
		if (e->data.len > 0)
			memcpy(batch + off, e->data.data, e->data.len);
		off += align_up(e->data.len);
	}
	ret->entries = entries;
	ret->n_entries = (unsigned)pb->n_entries;
	return 0;
}

static int decode_append_entries(const Backstay__AppendEntries *pb, struct raft_append_entries *ret)
{
	size_t total;
	int rc;

	if (!fits_uchar(pb->version) || pb->term == 0 || pb->n_entries > CNS__WIRE_MAX_ENTRIES ||
	    pb->prev_log_index > UINT64_MAX - pb->n_entries || pb->prev_log_term > pb->term)
		return -EPROTO;
	rc = entries_check(pb, &total);
	if (rc < 0)
		return rc;
	*ret = (struct raft_append_entries){
		.version = (unsigned char)pb->version,
		.term = pb->term,
		.prev_log_index = pb->prev_log_index,
		.prev_log_term = pb->prev_log_term,
		.leader_commit = pb->leader_commit,
	};
	if (pb->n_entries == 0)
		return 0;
	return entries_build(pb, total, ret);
}

static int decode_append_entries_result(const Backstay__AppendEntriesResult *pb,
					struct raft_append_entries_result *ret)
{
	if (!fits_uchar(pb->version) || !fits_ushort(pb->features) || !fits_ushort(pb->capacity))
		return -EPROTO;
	*ret = (struct raft_append_entries_result){
		.version = (unsigned char)pb->version,
		.term = pb->term,
		.rejected = pb->rejected,
		.last_log_index = pb->last_log_index,
		.features = (unsigned short)pb->features,
		.capacity = (unsigned short)pb->capacity,
	};
	return 0;
}

static int decode_request_vote(const Backstay__RequestVote *pb, raft_id sender,
			       struct raft_request_vote *ret)
{
	if (!fits_uchar(pb->version) || pb->term == 0 || pb->candidate_id != sender)
		return -EPROTO;
	*ret = (struct raft_request_vote){
		.version = (unsigned char)pb->version,
		.term = pb->term,
		.candidate_id = pb->candidate_id,
		.last_log_index = pb->last_log_index,
		.last_log_term = pb->last_log_term,
		.disrupt_leader = pb->disrupt_leader,
		.pre_vote = pb->pre_vote,
	};
	return 0;
}

static int decode_request_vote_result(const Backstay__RequestVoteResult *pb,
				      struct raft_request_vote_result *ret)
{
	if (!fits_uchar(pb->version) || !fits_ushort(pb->features) || !fits_ushort(pb->capacity))
		return -EPROTO;
	*ret = (struct raft_request_vote_result){
		.version = (unsigned char)pb->version,
		.term = pb->term,
		.vote_granted = pb->vote_granted,
		.pre_vote = pb->pre_vote,
		.features = (unsigned short)pb->features,
		.capacity = (unsigned short)pb->capacity,
	};
	return 0;
}

/* replicationInstallSnapshot asserts last_index != 0 and last_term != 0. */
static bool install_snapshot_valid(const Backstay__InstallSnapshot *pb)
{
	return fits_uchar(pb->version) && pb->term != 0 && pb->last_index != 0 &&
	       pb->last_term != 0 && pb->last_term <= pb->term && pb->conf_index != 0 &&
	       pb->conf_index <= pb->last_index && pb->offset == 0 && pb->last;
}

/* §6: "raft takes both install_snapshot.conf and .data". */
static int decode_install_snapshot(const Backstay__InstallSnapshot *pb,
				   struct raft_install_snapshot *ret)
{
	struct raft_configuration conf;
	void *data;
	int rc;

	if (!install_snapshot_valid(pb))
		return -EPROTO;
	rc = conf_decode(pb->conf, &conf);
	if (rc < 0)
		return rc;
	data = raft_malloc(pb->data.len > 0 ? pb->data.len : 1);
	if (data == NULL) {
		raft_configuration_close(&conf);
		return -ENOMEM;
	}
	if (pb->data.len > 0)
		memcpy(data, pb->data.data, pb->data.len);
	*ret = (struct raft_install_snapshot){
		.version = (unsigned char)pb->version,
		.term = pb->term,
		.last_index = pb->last_index,
		.last_term = pb->last_term,
		.conf = conf,
		.conf_index = pb->conf_index,
		.data = {.base = data, .len = pb->data.len},
	};
	return 0;
}

static int decode_timeout_now(const Backstay__TimeoutNow *pb, struct raft_timeout_now *ret)
{
	if (!fits_uchar(pb->version) || pb->term == 0)
		return -EPROTO;
	*ret = (struct raft_timeout_now){
		.version = (unsigned char)pb->version,
		.term = pb->term,
		.last_log_index = pb->last_log_index,
		.last_log_term = pb->last_log_term,
	};
	return 0;
}

/* The oneof member. Every member is a pointer in one union, so one NULL
 * check covers a hand-built message whose case is set without a body
 * (protobuf-c's unpack never produces one). */
static int decode_body(const Backstay__RaftMessage *pb, struct raft_message *m)
{
	if (pb->append_entries == NULL)
		return -EPROTO;
	switch (pb->msg_case) {
	case BACKSTAY__RAFT_MESSAGE__MSG_APPEND_ENTRIES:
		m->type = RAFT_APPEND_ENTRIES;
		return decode_append_entries(pb->append_entries, &m->append_entries);
	case BACKSTAY__RAFT_MESSAGE__MSG_APPEND_ENTRIES_RESULT:
		m->type = RAFT_APPEND_ENTRIES_RESULT;
		return decode_append_entries_result(pb->append_entries_result,
						    &m->append_entries_result);
	case BACKSTAY__RAFT_MESSAGE__MSG_REQUEST_VOTE:
		m->type = RAFT_REQUEST_VOTE;
		return decode_request_vote(pb->request_vote, pb->server_id, &m->request_vote);
	case BACKSTAY__RAFT_MESSAGE__MSG_REQUEST_VOTE_RESULT:
		m->type = RAFT_REQUEST_VOTE_RESULT;
		return decode_request_vote_result(pb->request_vote_result, &m->request_vote_result);
	case BACKSTAY__RAFT_MESSAGE__MSG_INSTALL_SNAPSHOT:
		m->type = RAFT_INSTALL_SNAPSHOT;
		return decode_install_snapshot(pb->install_snapshot, &m->install_snapshot);
	case BACKSTAY__RAFT_MESSAGE__MSG_TIMEOUT_NOW:
		m->type = RAFT_TIMEOUT_NOW;
		return decode_timeout_now(pb->timeout_now, &m->timeout_now);
	default:
		return -EPROTO; /* not set, or a kind this version does not know */
	}
}

int cns__wire_decode(const Backstay__RaftMessage *pb, struct raft_message *ret)
{
	struct raft_message m;
	int rc;

	/* §6: "server_id/server_address must be the sender's, and the address
	 * must be non-NULL". protobuf-c gives "" for an absent string. */
	if (pb == NULL || pb->server_id == 0 || pb->server_address == NULL)
		return -EPROTO;
	memset(&m, 0, sizeof m);
	m.server_id = pb->server_id;
	m.server_address = pb->server_address;
	rc = decode_body(pb, &m);
	if (rc < 0)
		return rc;
	*ret = m;
	return 0;
}

void cns__wire_release(struct raft_message *m, int step_rv)
{
	(void)step_rv; /* 0.22.1 takes the batch, conf and data even on error */
	if (m == NULL)
		return;
	if (m->type == RAFT_APPEND_ENTRIES)
		free(m->append_entries.entries);
	memset(m, 0, sizeof *m);
}

void cns__wire_discard(struct raft_message *m)
{
	if (m == NULL)
		return;
	if (m->type == RAFT_APPEND_ENTRIES && m->append_entries.n_entries > 0)
		raft_free(m->append_entries.entries[0].batch);
	if (m->type == RAFT_INSTALL_SNAPSHOT) {
		raft_configuration_close(&m->install_snapshot.conf);
		raft_free(m->install_snapshot.data.base);
	}
	cns__wire_release(m, 0);
}
