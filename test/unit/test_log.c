/* base/log.c: line format, level filtering, one line per event. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"
#include "unit.h"

/* 2026-11-22T02:40:00.123Z */
#define WALL_MS 1795315200123u

struct fixture {
	struct bs_clock *clock;
	FILE *stream;
	char *buf;
	size_t len;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);

	if (f == NULL || bs_clock_virtual_new(WALL_MS, 1, &f->clock) != 0)
		return -1;
	f->stream = open_memstream(&f->buf, &f->len);
	if (f->stream == NULL)
		return -1;
	bs_log_set_stream(f->stream);
	bs_log_set_clock(f->clock);
	bs_log_set_level(BS_LOG_INFO);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	bs_log_set_stream(NULL);
	bs_log_set_clock(NULL);
	bs_log_set_level(BS_LOG_INFO);
	fclose(f->stream);
	free(f->buf);
	bs_clock_free(f->clock);
	free(f);
	return 0;
}

/* What the stream holds so far (NUL-terminated by open_memstream). */
static const char *output(struct fixture *f)
{
	fflush(f->stream);
	return f->buf;
}

static void line_format(void **state)
{
	struct fixture *f = *state;

	bs_info("consensus", "became leader term=%d", 3);
	assert_string_equal(output(f),
			    "2026-11-22T02:40:00.123Z INFO  consensus: became leader term=3\n");
}

static void levels_and_virtual_time(void **state)
{
	struct fixture *f = *state;

	bs_log_set_level(BS_LOG_DEBUG);
	bs_debug("a", "d");
	bs_clock_advance(f->clock, 1001);
	bs_warn("b", "w");
	bs_clock_advance(f->clock, 86400000);
	bs_error("c", "e");
	assert_string_equal(output(f), "2026-11-22T02:40:00.123Z DEBUG a: d\n"
				       "2026-11-22T02:40:01.124Z WARN  b: w\n"
				       "2026-11-23T02:40:01.124Z ERROR c: e\n");
}

static void filtering(void **state)
{
	struct fixture *f = *state;

	bs_log_set_level(BS_LOG_WARN);
	assert_int_equal(bs_log_get_level(), BS_LOG_WARN);
	bs_debug("x", "dropped");
	bs_info("x", "dropped");
	bs_warn("x", "kept1");
	bs_error("x", "kept2");
	bs_log(BS_LOG_OFF, "x", "never a level of its own");
	assert_string_equal(output(f), "2026-11-22T02:40:00.123Z WARN  x: kept1\n"
				       "2026-11-22T02:40:00.123Z ERROR x: kept2\n");
	bs_log_set_level(BS_LOG_OFF);
	bs_error("x", "dropped");
	assert_int_equal(strlen(output(f)),
			 2 * strlen("2026-11-22T02:40:00.123Z WARN  x: kept1\n"));
}

static void one_line_per_event(void **state)
{
	struct fixture *f = *state;

	bs_info("peer", "error from %s: %s", "10.0.0.2", "first\nsecond\r\x01 tab\tok");
	assert_string_equal(output(f), "2026-11-22T02:40:00.123Z INFO  peer: error from 10.0.0.2: "
				       "first\\nsecond\\r\\x01 tab\tok\n");
}

static void no_component(void **state)
{
	struct fixture *f = *state;

	bs_info(NULL, "bare");
	assert_string_equal(output(f), "2026-11-22T02:40:00.123Z INFO  bare\n");
}

static void long_messages(void **state)
{
	struct fixture *f = *state;
	const char *prefix = "2026-11-22T02:40:00.123Z INFO  big: ";
	size_t sizes[] = {300, 511, 512, 1000, 5000}, i, j, off = 0;
	char *msg, *out;

	for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		msg = malloc(sizes[i] + 1);
		assert_non_null(msg);
		memset(msg, 'x', sizes[i]);
		msg[sizes[i]] = '\0';
		msg[sizes[i] / 2] = '\n'; /* escaping grows the line */
		bs_info("big", "%s", msg);
		out = (char *)output(f) + off;
		assert_memory_equal(out, prefix, strlen(prefix));
		out += strlen(prefix);
		for (j = 0; j < sizes[i] / 2; j++)
			assert_true(out[j] == 'x');
		assert_memory_equal(out + j, "\\n", 2);
		/* one escaped newline (two bytes) then the line's own '\n' */
		assert_int_equal(strchr(out, '\n') - out, sizes[i] + 1);
		off += strlen(prefix) + sizes[i] + 2;
		free(msg);
	}
	assert_int_equal(strlen(output(f)), off);
}

static void level_parse(void **state)
{
	static const char *const names[] = {"debug", "info", "warn", "error", "off"};
	enum bs_log_level level = BS_LOG_ERROR;
	size_t i;

	(void)state;
	for (i = 0; i < 5; i++) {
		assert_int_equal(bs_log_level_parse(names[i], &level), 0);
		assert_int_equal(level, (enum bs_log_level)i);
	}
	level = BS_LOG_WARN;
	assert_int_equal(bs_log_level_parse("verbose", &level), BS_E_PARSE);
	assert_int_equal(bs_log_level_parse("", &level), BS_E_PARSE);
	assert_int_equal(bs_log_level_parse("INFO", &level), BS_E_PARSE);
	assert_int_equal(level, BS_LOG_WARN);
}

int bs_test_log(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(line_format, setup, teardown),
		cmocka_unit_test_setup_teardown(levels_and_virtual_time, setup, teardown),
		cmocka_unit_test_setup_teardown(filtering, setup, teardown),
		cmocka_unit_test_setup_teardown(one_line_per_event, setup, teardown),
		cmocka_unit_test_setup_teardown(no_component, setup, teardown),
		cmocka_unit_test_setup_teardown(long_messages, setup, teardown),
		cmocka_unit_test(level_parse),
	};

	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
