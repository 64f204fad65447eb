/*
 * Shared by fuzz_handshake, fuzz_wire and gen_net_seeds: the fixed identity
 * the handshake target runs with, and its input layout.
 *
 * fuzz_handshake input:
 *   byte 0     configuration:
 *                bit 0     0: drive a server, the stream is a client's;
 *                          1: drive a client (dialing node 1), the stream is
 *                             a server's
 *                bits 1-2  this side's versions: 1..1, 1..2, 2..3, 1..1
 *                bits 3-4  client role: PEER, CTL, JOIN, PEER
 *                bit 5     client: expect node 1 (else accept any id)
 *   the rest   the byte stream the other side sends (frames)
 *
 * fuzz_wire input: one packed Envelope (no frame header).
 */
#ifndef BS_FUZZ_NET_H
#define BS_FUZZ_NET_H

#include <stdio.h>
#include <string.h>

#include "transport.h"

#define FUZZ_HS_CLIENT 0x01u
#define FUZZ_HS_EXPECT 0x20u

static inline Backstay__Role fuzz_role(uint8_t config)
{
	static const Backstay__Role roles[4] = {BACKSTAY__ROLE__PEER, BACKSTAY__ROLE__CTL,
						BACKSTAY__ROLE__JOIN, BACKSTAY__ROLE__PEER};

	return roles[(config >> 3) & 3u];
}

/* Server: node 1; client: node 2. */
static inline void fuzz_identity(struct cns__tr_identity *id, uint8_t config)
{
	static const uint32_t ranges[4][2] = {{1, 1}, {1, 2}, {2, 3}, {1, 1}};
	bool client = config & FUZZ_HS_CLIENT;

	memset(id, 0, sizeof *id);
	memset(id->cluster_id, 0x11, sizeof id->cluster_id);
	memset(id->secret, 0x22, sizeof id->secret);
	id->node_id = client ? 2 : 1;
	snprintf(id->address, sizeof id->address, "10.0.0.%d:2380", client ? 2 : 1);
	id->min_version = ranges[(config >> 1) & 3u][0];
	id->max_version = ranges[(config >> 1) & 3u][1];
}

#endif /* BS_FUZZ_NET_H */
