/*
 * Shared between store.c (open, apply) and store_load.c (load): the record
 * layout (described at the top of store.c), the store struct and the LMDB
 * error boundary. Nothing here leaves the store.
 */
#ifndef BS_CONSENSUS_STORE_INTERNAL_H
#define BS_CONSENSUS_STORE_INTERNAL_H

#include <errno.h>
#include <lmdb.h>
#include <stdbool.h>
#include <stdint.h>
#include <zlib.h>

#include "store.h"

struct cns__store {
	MDB_env *env;
	MDB_dbi meta, log, snap;
	size_t map_size; /* current LMDB map size */
};

/* Record layout: byte lengths of the fixed parts. */
enum {
	CNS__CRC_LEN = 4,
	CNS__VERSION_LEN = CNS__CRC_LEN + 4,
	CNS__TERM_VOTE_LEN = CNS__CRC_LEN + 8 + 8,
	CNS__ENTRY_HDR = CNS__CRC_LEN + 2 + 2 + 8,
	CNS__SNAP_HDR = CNS__CRC_LEN + 4 + 8 + 8 + 8,
};

#define CNS__KEY(name) ((MDB_val){sizeof(name) - 1, (void *)(name)})
#define CNS__KEY_VERSION CNS__KEY("version")
#define CNS__KEY_TERM_VOTE CNS__KEY("term_vote")
#define CNS__KEY_SNAPSHOT CNS__KEY("snapshot")

/* MDB_MAP_FULL as the boundary translates it. apply consumes it (grow the
 * map, retry the batch); it never leaves the store. */
#define CNS__E_MAP_FULL (-ENOBUFS)

void cns__put_be16(uint8_t *p, uint16_t v);
void cns__put_be32(uint8_t *p, uint32_t v);
void cns__put_be64(uint8_t *p, uint64_t v);
uint16_t cns__get_be16(const uint8_t *p);
uint32_t cns__get_be32(const uint8_t *p);
uint64_t cns__get_be64(const uint8_t *p);

/* Write the crc32 of key and value[4..len) into value[0..4). */
void cns__record_seal(const MDB_val *key, uint8_t *value, size_t len);
/* Is the value at least a checksum long, and does its checksum match? */
bool cns__record_intact(const MDB_val *key, const MDB_val *value);

/* The LMDB boundary (CONVENTIONS §2): rc is a non-zero mdb_* result. Writes
 * "<fmt...>: <text>" into errmsg and returns rc as a negative errno,
 * BS_E_CORRUPT (MDB_CORRUPTED, MDB_PAGE_NOTFOUND, MDB_INVALID,
 * MDB_INCOMPATIBLE) or CNS__E_MAP_FULL. */
int cns__lmdb_fail(int rc, char *errmsg, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Check the format-version record in txn: 0, -ENOENT when there is none
 * (errmsg untouched), BS_E_CORRUPT (damaged record or another format),
 * or an LMDB error. */
int cns__version_check(struct cns__store *s, MDB_txn *txn, char *errmsg, size_t size);

#endif /* BS_CONSENSUS_STORE_INTERNAL_H */
