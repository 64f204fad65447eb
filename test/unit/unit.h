/* Entry points of the unit-test groups; each returns cmocka's failure count. */
#ifndef BS_TEST_UNIT_H
#define BS_TEST_UNIT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* cmocka.h needs the four above first; the blank line keeps clang-format's
 * include sorting (SortIncludes, IncludeBlocks: Preserve) from moving it. */
#include <cmocka.h>

int bs_test_clock(void);
int bs_test_log(void);
int bs_test_strings(void);
int bs_test_config(void);
int bs_test_secrets(void);
int bs_test_codec(void);
int bs_test_cli(void);
int bs_test_render(void);
int bs_test_store(void);
int bs_test_writer(void);
int bs_test_fsm(void);
int bs_test_wire(void);
int bs_test_transport(void);
int bs_test_driver(void);
int bs_test_node(void);
int bs_test_peer(void);
int bs_test_lease(void);
int bs_test_http(void);
int bs_test_cli_cluster(void);
int bs_test_vip(void);
int bs_test_vip_keeper(void);
int bs_test_es_probe(void);
int bs_test_leader_http(void);
int bs_test_leader(void);
int bs_test_pgctl(void);

/* A fresh empty directory under $TMPDIR for one test; removed (with what it
 * holds, one level deep) by unit_tmpdir_remove(). Paths are static-free:
 * the caller owns the returned string. */
char *unit_tmpdir_new(void);
void unit_tmpdir_remove(char *dir);

#endif
