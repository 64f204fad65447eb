/*
 * leader/ — the leader module: a pure state machine plus the orchestrator; Elasticsearch probe.
 *
 * Public prefix: ldr_. Nothing is exported yet (issue 5).
 */
#ifndef BS_LEADER_H
#define BS_LEADER_H

#endif /* BS_LEADER_H */
