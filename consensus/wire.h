/*
 * consensus/wire: libraft 0.22 messages (struct raft_message) <-> protobuf
 * (Backstay__RaftMessage, proto/backstay.proto). Prefix cns__wire_.
 *
 * Sending: the driver hands the node a complete message (AppendEntries
 * entries and InstallSnapshot conf/data filled from its log and snapshot);
 * cns__wire_encode() builds an Envelope around it that borrows its bytes,
 * the transport packs it, cns__wire_msg_release() frees the little encode
 * allocated.
 *
 * Receiving: cns__wire_decode() checks everything a peer could lie about and
 * builds the message exactly as libraft 0.22.1 wants it for RAFT_RECEIVE
 * (shared/reference/libraft-0.22-step-api.md §6); after raft_step(),
 * cns__wire_release() frees what stayed the caller's. All of libraft's
 * RAFT_RECEIVE ownership rules live in this file and nowhere else, because
 * upstream is changing them ("v1" work): on a libraft upgrade, only
 * cns__wire_decode/release change.
 *
 * Threads: none; no global state.
 */
#ifndef BS_CONSENSUS_WIRE_H
#define BS_CONSENSUS_WIRE_H

#include <raft.h>

#include "backstay.pb-c.h"

/* Most entries one AppendEntries may carry. libraft sends at most
 * max_inflight_entries (default 32) per message; this bounds what a peer
 * can make us allocate per message beyond the frame size limit. */
#define CNS__WIRE_MAX_ENTRIES 65536u
/* Most servers in a configuration received in a snapshot or a RAFT_CHANGE
 * entry (raft_configuration_decode checks duplicates in O(n^2)). */
#define CNS__WIRE_MAX_SERVERS 1024u

/*
 * An outgoing message as protobuf, ready for proto_frame_encode(&env). It
 * borrows from the raft_message it was built from (entry data, snapshot
 * data) and from `from_address`: those must outlive it. Self-referential:
 * fill it in place, never copy it.
 */
struct cns__wire_msg {
	Backstay__Envelope env; /* what to send; env.raft = &raft */
	Backstay__RaftMessage raft;
	union {
		Backstay__AppendEntries append_entries;
		Backstay__AppendEntriesResult append_entries_result;
		Backstay__RequestVote request_vote;
		Backstay__RequestVoteResult request_vote_result;
		Backstay__InstallSnapshot install_snapshot;
		Backstay__TimeoutNow timeout_now;
	} u;
	/* Private: what encode allocated. */
	void *entries;		 /* malloc'd: Entry structs, then pointers */
	struct raft_buffer conf; /* raft_configuration_encode()'d, raft_malloc'd */
};

/*
 * Build *out from m, a complete outgoing message (m->server_id is the
 * destination and is not sent), naming the sender from_id/from_address
 * (the receiver's libraft wants the sender there). The InstallSnapshot
 * conf goes on the wire as raft_configuration_encode() bytes; offset/last
 * are always 0/true (libraft 0.22 never chunks).
 *
 * Returns 0 (release *out with cns__wire_msg_release), -EINVAL for a
 * message that cannot be sent (unknown type, from_id 0, NULL address, more
 * than CNS__WIRE_MAX_ENTRIES entries, an entry of unknown type or with NULL
 * data, an empty snapshot configuration), or -ENOMEM. On failure nothing is
 * left allocated and *out must not be used.
 */
int cns__wire_encode(const struct raft_message *m, raft_id from_id, const char *from_address,
		     struct cns__wire_msg *out);
/* Free what cns__wire_encode() allocated. Accepts a zeroed struct. */
void cns__wire_msg_release(struct cns__wire_msg *msg);

/*
 * Build *ret, ready for raft_step(RAFT_RECEIVE), from a received message.
 *
 *   server_id / server_address  the sender, from pb. server_address points
 *       INTO pb: keep pb until the step's update has been consumed (libraft
 *       copies it for raft_leader(), but the replies it queues in
 *       update.messages point at it too).
 *   AppendEntries  entries is a malloc'd array (the caller's: released by
 *       cns__wire_release); every entry's data lies in ONE raft_malloc'd
 *       batch, 8-byte aligned per entry, and every entry's .batch points at
 *       it. raft takes the batch. Entries with no data point into the batch
 *       too (never NULL). n_entries == 0: entries is NULL, no batch.
 *   InstallSnapshot  conf decoded with raft_configuration_decode, data in a
 *       raft_malloc'd buffer (never NULL, even when empty); raft takes both.
 *
 * Checks (a peer may lie, and libraft 0.22.1's release build asserts
 * nothing): a known message kind; sender id != 0; version fields <= 255,
 * features/capacity <= 65535; term >= 1 in requests (AppendEntries,
 * RequestVote, InstallSnapshot, TimeoutNow) and candidate_id == sender;
 * AppendEntries: at most CNS__WIRE_MAX_ENTRIES entries, no index overflow,
 * entry types COMMAND/BARRIER/CHANGE, entry terms >= 1, non-decreasing,
 * >= prev_log_term and <= the message term (Raft's log invariants), every
 * CHANGE entry a valid configuration (libraft would otherwise fail the step
 * with RAFT_MALFORMED, which is fatal for the node); InstallSnapshot:
 * last_index/last_term >= 1, last_term <= term, 1 <= conf_index <=
 * last_index, offset 0 and last set (no chunking), conf a valid non-empty
 * configuration. Configurations are checked byte by byte before libraft
 * sees them: 0.22.1's decoder reads past the end of short input.
 *
 * Returns 0, -EPROTO for anything refused (the caller drops the message,
 * logs and counts it), or -ENOMEM. *ret is untouched on failure and
 * nothing is left allocated.
 */
int cns__wire_decode(const Backstay__RaftMessage *pb, struct raft_message *ret);

/*
 * After raft_step(RAFT_RECEIVE, m) returned step_rv, and after its update has
 * been consumed (update.entries may point into m's entries array): free what
 * is still the caller's. libraft 0.22.1 takes the entries batch and the
 * snapshot conf/data whatever step_rv is (it frees them itself on error,
 * except on one RAFT_NOMEM path where it leaks them; freeing them here would
 * risk a double free on the others), so this frees the entries array only.
 * step_rv is there for the libraft version that gives them back on error.
 * Zeroes *m.
 */
void cns__wire_release(struct raft_message *m, int step_rv);

/* Free everything in a decoded message that was never handed to
 * raft_step() (e.g. dropped because the node is stopping). Zeroes *m. */
void cns__wire_discard(struct raft_message *m);

#endif /* BS_CONSENSUS_WIRE_H */
