/*
 * Fixtures shared by test_store.c and test_writer.c: persist requests whose
 * payloads say which entry and which write they belong to (so a load can be
 * checked byte for byte, and a test can find an entry's bytes in data.mdb),
 * and scenarios run in a child process on a small tmpfs of its own.
 *
 * Children cannot use cmocka's asserts (a failure would longjmp into the
 * child's copy of the test runner): they check with FX_CHECK, which prints
 * the failed condition and exits 1, and the parent asserts on the status.
 */
#ifndef BS_TEST_STORE_FIXTURE_H
#define BS_TEST_STORE_FIXTURE_H

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"

enum { FX_SKIP = 77 }; /* a child that cannot set up its tmpfs exits with this */

static inline void *fx_alloc(size_t size)
{
	void *p = calloc(1, size ? size : 1);

	if (p == NULL)
		abort();
	return p;
}

/* Payload of entry `index` as written by write number `gen`: the text
 * "e<index>g<gen>;" repeated to len bytes. */
static inline void fx_payload_fill(uint8_t *buf, size_t len, uint64_t index, uint64_t gen)
{
	char unit[48];
	int n = snprintf(unit, sizeof unit, "e%llug%llu;", (unsigned long long)index,
			 (unsigned long long)gen);
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = (uint8_t)unit[i % (size_t)n];
}

static inline bool fx_payload_ok(const struct raft_buffer *buf, size_t len, uint64_t index,
				 uint64_t gen)
{
	uint8_t *want;
	bool ok;

	if (buf->len != len)
		return false;
	if (len == 0)
		return true;
	want = fx_alloc(len);
	fx_payload_fill(want, len, index, gen);
	ok = memcmp(want, buf->base, len) == 0;
	free(want);
	return ok;
}

static inline void fx_entry_init(struct cns__entry *e, uint64_t index, uint64_t term, size_t len,
				 uint64_t gen)
{
	e->term = term;
	e->type = RAFT_COMMAND;
	e->buf.len = len;
	e->buf.base = len > 0 ? fx_alloc(len) : NULL;
	if (len > 0)
		fx_payload_fill(e->buf.base, len, index, gen);
}

/* A request storing n RAFT_COMMAND entries first..first+n-1 of term `term`,
 * each len bytes, payloads of write `gen`. */
static inline struct cns__persist *fx_entries(uint64_t first, unsigned n, uint64_t term, size_t len,
					      uint64_t gen)
{
	struct cns__persist *p = fx_alloc(sizeof *p);
	unsigned i;

	p->first_index = first;
	p->n_entries = n;
	p->entries = fx_alloc(n * sizeof *p->entries);
	for (i = 0; i < n; i++)
		fx_entry_init(&p->entries[i], first + i, term, len, gen);
	return p;
}

/* A snapshot whose conf is "conf@<conf_index>" and whose data is len bytes
 * of payload "e<index>g<gen>;". */
static inline struct cns__snapshot *fx_snapshot(uint64_t index, uint64_t term, uint64_t conf_index,
						size_t len, uint64_t gen)
{
	struct cns__snapshot *s = fx_alloc(sizeof *s);
	char conf[32];
	int n = snprintf(conf, sizeof conf, "conf@%llu", (unsigned long long)conf_index);

	s->index = index;
	s->term = term;
	s->conf_index = conf_index;
	s->conf.len = (size_t)n;
	s->conf.base = fx_alloc((size_t)n);
	memcpy(s->conf.base, conf, (size_t)n);
	s->data.len = len;
	s->data.base = len > 0 ? fx_alloc(len) : NULL;
	if (len > 0)
		fx_payload_fill(s->data.base, len, index, gen);
	return s;
}

/* ---- children ------------------------------------------------------------ */

static inline void fx_check_at(bool ok, const char *what, const char *file, int line)
{
	if (ok)
		return;
	fprintf(stderr, "%s:%d: check failed in child: %s\n", file, line, what);
	fflush(stderr);
	_exit(1);
}

#define FX_CHECK(cond) fx_check_at((cond), #cond, __FILE__, __LINE__)

/* Wait for pid; its exit code, or 128 + the signal that killed it. */
static inline int fx_wait(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return -1;
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
}

/*
 * Run fn(dir, arg) in a child, inside a private mount namespace where a
 * tmpfs with mount options `opts` ("size=512k") covers dir; the mount dies
 * with the child. Returns the child's exit code (fn's result; exit() runs,
 * so LeakSanitizer checks the child too), FX_SKIP when the namespace or the
 * mount is not permitted (not root), 128 + signal when it was killed.
 */
static inline int fx_in_tmpfs(const char *dir, const char *opts,
			      int (*fn)(const char *dir, void *arg), void *arg)
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		/* MS_PRIVATE first: without it the mount could propagate back
		 * into the parent's namespace. */
		if (unshare(CLONE_NEWNS) != 0 ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
		    mount("tmpfs", dir, "tmpfs", 0, opts) != 0) {
			fprintf(stderr, "tmpfs on %s: %s\n", dir, strerror(errno));
			_exit(FX_SKIP);
		}
		exit(fn(dir, arg));
	}
	return fx_wait(pid);
}

/* Fill the file system holding dir: a file "filler" written until the
 * disk is full (ENOSPC). Returns its path (caller frees) or NULL. */
static inline char *fx_fill(const char *dir)
{
	static const uint8_t block[4096];
	char *path;
	int fd;

	if (asprintf(&path, "%s/filler", dir) < 0)
		return NULL;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		free(path);
		return NULL;
	}
	while (write(fd, block, sizeof block) > 0)
		;
	/* Top up the last partial page, byte by byte. */
	while (write(fd, block, 1) > 0)
		;
	close(fd);
	return path;
}

#endif /* BS_TEST_STORE_FIXTURE_H */
