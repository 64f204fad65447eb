/*
 * Logging: one line per event,
 *   2026-11-22T02:40:00.123Z INFO  consensus: became leader term=3
 * with the timestamp in UTC from the log clock's wall time. Each line is
 * built in memory and written with a single fwrite, so stdio's stream lock
 * keeps lines whole; control characters in the message (a newline from a
 * peer's error text, say) are escaped so one event is always one line.
 *
 * The level, stream and clock are process-wide settings, set at start-up
 * (or by a test) before other threads log.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base.h"

enum { LOG_STACK_MSG = 512, LOG_STACK_LINE = 1024, LOG_STAMP = 32, LOG_COMPONENT_MAX = 64 };

static enum bs_log_level log_level = BS_LOG_INFO;
static FILE *log_stream;	   /* NULL = stderr */
static struct bs_clock *log_clock; /* NULL = real */

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};
static const char *const level_tags[] = {"DEBUG", "INFO", "WARN", "ERROR"};

void bs_log_set_level(enum bs_log_level level)
{
	log_level = level;
}

enum bs_log_level bs_log_get_level(void)
{
	return log_level;
}

void bs_log_set_stream(FILE *stream)
{
	log_stream = stream;
}

void bs_log_set_clock(struct bs_clock *clock)
{
	log_clock = clock;
}

int bs_log_level_parse(const char *name, enum bs_log_level *ret_level)
{
	size_t i;

	for (i = 0; i < sizeof level_names / sizeof level_names[0]; i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*ret_level = (enum bs_log_level)i;
			return 0;
		}
	}
	return BS_E_PARSE;
}

/* "2026-11-22T02:40:00.123Z" into out (LOG_STAMP bytes). */
static void log_stamp(char *out)
{
	uint64_t ms = bs_clock_wall_ms(log_clock != NULL ? log_clock : bs_clock_real());
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;
	size_t n;

	if (gmtime_r(&secs, &tm) == NULL) {
		snprintf(out, LOG_STAMP, "@%llu", (unsigned long long)ms);
		return;
	}
	n = strftime(out, LOG_STAMP, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, LOG_STAMP - n, ".%03uZ", (unsigned)(ms % 1000));
}

/* Copy msg into out, escaping control characters; returns the length. out
 * must hold 4 * strlen(msg) + 1 bytes. */
static size_t log_escape(char *out, const char *msg)
{
	const unsigned char *s = (const unsigned char *)msg;
	size_t n = 0;

	for (; *s != '\0'; s++) {
		if (*s == '\n')
			n += (size_t)sprintf(out + n, "\\n");
		else if (*s == '\r')
			n += (size_t)sprintf(out + n, "\\r");
		else if ((*s < 0x20 && *s != '\t') || *s == 0x7f)
			n += (size_t)sprintf(out + n, "\\x%02x", *s);
		else
			out[n++] = (char)*s;
	}
	out[n] = '\0';
	return n;
}

/* Format the message into stack (LOG_STACK_MSG bytes) or, when longer, a
 * heap buffer returned in *heap. A failed allocation truncates. */
__attribute__((format(printf, 3, 0))) static const char *log_format(char *stack, char **heap,
								    const char *fmt, va_list ap)
{
	va_list ap2;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(stack, LOG_STACK_MSG, fmt, ap);
	*heap = NULL;
	if (n >= LOG_STACK_MSG && (*heap = malloc((size_t)n + 1)) != NULL)
		vsnprintf(*heap, (size_t)n + 1, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return "(unformattable log message)";
	return *heap != NULL ? *heap : stack;
}

static void log_emit(enum bs_log_level level, const char *component, const char *msg)
{
	char stack[LOG_STACK_LINE], stamp[LOG_STAMP];
	size_t cap = LOG_STAMP + LOG_COMPONENT_MAX + 4 * strlen(msg) + 16;
	char *line = cap <= sizeof stack ? stack : malloc(cap);
	size_t n;

	if (line == NULL) {
		line = stack;
		msg = "(log message dropped: out of memory)";
	}
	log_stamp(stamp);
	n = (size_t)sprintf(line, "%s %-5s %.*s%s", stamp, level_tags[level], LOG_COMPONENT_MAX,
			    component, component[0] != '\0' ? ": " : "");
	n += log_escape(line + n, msg);
	line[n++] = '\n';
	fwrite(line, 1, n, log_stream != NULL ? log_stream : stderr);
	if (line != stack)
		free(line);
}

void bs_log(enum bs_log_level level, const char *component, const char *fmt, ...)
{
	char stack[LOG_STACK_MSG];
	char *heap;
	const char *msg;
	va_list ap;

	if ((unsigned)level >= BS_LOG_OFF || level < log_level)
		return;
	va_start(ap, fmt);
	msg = log_format(stack, &heap, fmt, ap);
	va_end(ap);
	log_emit(level, component != NULL ? component : "", msg);
	free(heap);
}
