/*
 * Snapshots on the wire in chunks. libraft 0.22 hands over a whole
 * snapshot as one InstallSnapshot (its offset/last fields are placeholders),
 * but a frame is bounded (consensus.max_frame_bytes) and a state machine is
 * not: the node sends the data in slices of NODE_SNAPSHOT_CHUNK bytes, each
 * an InstallSnapshot with the same header and its offset, the final one
 * marked last; the receiver reassembles them, in order and from one sender
 * at a time, and steps the whole message once it is complete.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "node_internal.h"
#include "wire.h"

#define NODE_SNAPSHOT_CHUNK ((size_t)1 << 20)
#define NODE_SNAPSHOT_MAX ((size_t)1 << 31) /* refuse to buffer more */

bool node__snapshot_needs_chunks(const struct raft_message *m)
{
	return m->type == RAFT_INSTALL_SNAPSHOT &&
	       m->install_snapshot.data.len > NODE_SNAPSHOT_CHUNK;
}

/* Send w (an encoded InstallSnapshot) to peer `to` as chunks. A failed send
 * stops it: the leader resends the snapshot after its timeout. */
void node__send_chunked(struct cns_node *n, uint64_t to, struct cns__wire_msg *w)
{
	Backstay__InstallSnapshot *is = &w->u.install_snapshot;
	ProtobufCBinaryData all = is->data;
	size_t off;

	for (off = 0; off < all.len; off += NODE_SNAPSHOT_CHUNK) {
		is->data.data = all.data + off;
		is->data.len =
			all.len - off < NODE_SNAPSHOT_CHUNK ? all.len - off : NODE_SNAPSHOT_CHUNK;
		is->offset = off;
		is->last = off + is->data.len == all.len;
		if (cns__tr_send(&n->tr, to, &w->env) != 0)
			break;
	}
	is->data = all;
	is->offset = 0;
	is->last = true;
}

void node__snapshot_rx_reset(struct cns_node *n)
{
	free(n->rx.buf);
	memset(&n->rx, 0, sizeof n->rx);
}

static bool same_snapshot(const struct cns_node *n, uint64_t from,
			  const Backstay__InstallSnapshot *is)
{
	return n->rx.from == from && n->rx.term == is->term && n->rx.last_index == is->last_index &&
	       n->rx.len == is->offset;
}

static int rx_append(struct cns_node *n, const ProtobufCBinaryData *data)
{
	size_t need = n->rx.len + data->len;
	uint8_t *grown;

	if (need > NODE_SNAPSHOT_MAX)
		return -EFBIG;
	if (need > n->rx.cap) {
		size_t cap = n->rx.cap ? n->rx.cap : NODE_SNAPSHOT_CHUNK;

		while (cap < need)
			cap *= 2;
		grown = realloc(n->rx.buf, cap);
		if (grown == NULL)
			return -ENOMEM;
		n->rx.buf = grown;
		n->rx.cap = cap;
	}
	memcpy(n->rx.buf + n->rx.len, data->data, data->len);
	n->rx.len = need;
	return 0;
}

/*
 * A chunk arrived from `from`. Returns true when the snapshot is complete:
 * *full (the node's; valid until node__snapshot_rx_reset) is then the whole
 * message, built on *msg_store and *is_store. A chunk out of order, from
 * another sender or for another snapshot restarts (offset 0) or is dropped.
 */
bool node__snapshot_chunk(struct cns_node *n, uint64_t from, const Backstay__RaftMessage *pb,
			  Backstay__RaftMessage *msg_store, Backstay__InstallSnapshot *is_store)
{
	const Backstay__InstallSnapshot *is = pb->install_snapshot;

	if (is->offset == 0)
		node__snapshot_rx_reset(n);
	else if (!same_snapshot(n, from, is)) {
		node__snapshot_rx_reset(n);
		return false;
	}
	n->rx.from = from;
	n->rx.term = is->term;
	n->rx.last_index = is->last_index;
	if (rx_append(n, &is->data) != 0) {
		bs_warn("consensus", "snapshot from %llu dropped: %s", (unsigned long long)from,
			"too big to buffer");
		node__snapshot_rx_reset(n);
		return false;
	}
	if (!is->last)
		return false;
	*msg_store = *pb;
	*is_store = *is;
	is_store->data.data = n->rx.buf;
	is_store->data.len = n->rx.len;
	is_store->offset = 0;
	msg_store->install_snapshot = is_store;
	return true;
}
