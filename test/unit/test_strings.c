/* base/strings.c and error.c: edit distance, suggestions, hex, error text. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"
#include "unit.h"

static void edit_distance(void **state)
{
	(void)state;
	assert_int_equal(bs_edit_distance("", ""), 0);
	assert_int_equal(bs_edit_distance("abc", ""), 3);
	assert_int_equal(bs_edit_distance("", "abcd"), 4);
	assert_int_equal(bs_edit_distance("same", "same"), 0);
	assert_int_equal(bs_edit_distance("kitten", "sitting"), 3);
	assert_int_equal(bs_edit_distance("flaw", "lawn"), 2);
	assert_int_equal(bs_edit_distance("postgresql.prot", "postgresql.port"), 2);
	assert_int_equal(bs_edit_distance("abc", "abd"), 1);
	assert_int_equal(bs_edit_distance("abc", "xabc"), 1);
}

static void edit_distance_long(void **state)
{
	char a[301], b[301];

	(void)state;
	/* past the on-stack row: the heap path must agree */
	memset(a, 'a', 300);
	a[300] = '\0';
	memcpy(b, a, sizeof a);
	b[0] = 'b';
	b[299] = 'c';
	assert_int_equal(bs_edit_distance(a, b), 2);
	assert_int_equal(bs_edit_distance(a, "aaa"), 297);
}

static void closest(void **state)
{
	static const char *const keys[] = {"postgresql.port", "postgresql.username",
					   "etcd.client_port", "vip", NULL};
	static const char *const none[] = {NULL};

	(void)state;
	assert_string_equal(bs_closest("postgresql.prot", keys), "postgresql.port");
	assert_string_equal(bs_closest("postgresql.usrname", keys), "postgresql.username");
	assert_string_equal(bs_closest("vpi", keys), "vip");
	assert_string_equal(bs_closest("vip", keys), "vip");
	assert_null(bs_closest("zookeeper.session_timeout", keys));
	assert_null(bs_closest("xyz", keys));
	assert_null(bs_closest("anything", none));
}

static void hex(void **state)
{
	static const uint8_t bytes[] = {0x00, 0x01, 0xab, 0xff, 0x7f};
	char out[2 * sizeof bytes + 1];

	(void)state;
	bs_hex(bytes, sizeof bytes, out);
	assert_string_equal(out, "0001abff7f");
	bs_hex(bytes, 0, out);
	assert_string_equal(out, "");
}

static void strerror_texts(void **state)
{
	int code;

	(void)state;
	assert_string_equal(bs_strerror(-ENOENT), "No such file or directory");
	assert_string_equal(bs_strerror(0), "Success");
	assert_string_equal(bs_strerror(BS_E_SECRETS_PERM),
			    "Secrets file readable by group or others");
	for (code = BS_E_BASE; code < BS_E_LAST; code++)
		assert_true(strlen(bs_strerror(code)) > 0);
	assert_string_equal(bs_strerror(-99999), "Unknown error");
	assert_non_null(bs_strerror(-2147483647 - 1));
}

static void errf(void **state)
{
	char buf[8];

	(void)state;
	bs_errf(buf, sizeof buf, "%s:%d", "abcdef", 12);
	assert_string_equal(buf, "abcdef:");
	bs_errf(NULL, 0, "ignored %d", 1);
}

int bs_test_strings(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(edit_distance),  cmocka_unit_test(edit_distance_long),
		cmocka_unit_test(closest),	  cmocka_unit_test(hex),
		cmocka_unit_test(strerror_texts), cmocka_unit_test(errf),
	};

	return cmocka_run_group_tests_name("strings", tests, NULL, NULL);
}
