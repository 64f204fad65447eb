/*
 * consensus/ — Raft on libraft's raft_step(), LMDB storage, libuv TCP transport, KV state machine with leases.
 *
 * Public prefix: cns_. Nothing is exported yet (issue 3).
 */
#ifndef BS_CONSENSUS_H
#define BS_CONSENSUS_H

#endif /* BS_CONSENSUS_H */
