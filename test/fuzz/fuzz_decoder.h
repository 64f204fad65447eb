/*
 * Input layout of the fuzz_decoder target, shared with gen_seeds.c:
 *
 *   byte 0     configuration:
 *                bits 0-1  max_frame   = fuzz_max_frame[bits]
 *                bits 2-3  trailer_len = fuzz_trailer_len[bits]
 *                bit 4     verify hook on: it accepts every frame except
 *                          those whose trailer starts with FUZZ_REFUSE
 *   bytes 1-4  chunk sizes: the stream is fed in pieces of (byte + 1)
 *              bytes, taking these four in turn
 *   the rest   the byte stream itself
 */
#ifndef BS_FUZZ_DECODER_H
#define BS_FUZZ_DECODER_H

#include <stddef.h>

#include "proto.h"

#define FUZZ_PREFIX_LEN 5
#define FUZZ_VERIFY 0x10u
#define FUZZ_REFUSE 0xee

static inline size_t fuzz_max_frame(uint8_t config)
{
	static const size_t sizes[4] = {16, 256, 4096, PROTO_MAX_FRAME_DEFAULT};

	return sizes[config & 3u];
}

static inline size_t fuzz_trailer_len(uint8_t config)
{
	static const size_t lens[4] = {0, 0, 1, 8};

	return lens[(config >> 2) & 3u];
}

#endif /* BS_FUZZ_DECODER_H */
