/*
 * data_dir/backstay.pid: the running daemon holds an exclusive flock on it
 * for its whole life, so "is a daemon running here?" is answered by the
 * lock, not by a pid that may have been reused. The lock also stops a
 * second daemon from opening the same store.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "internal.h"

#define PIDFILE_NAME "backstay.pid"

void cli__pidfile_path(char *out, size_t size, const char *data_dir)
{
	snprintf(out, size, "%s/%s", data_dir, PIDFILE_NAME);
}

static long read_pid(int fd)
{
	char buf[32];
	ssize_t got = pread(fd, buf, sizeof buf - 1, 0);

	if (got <= 0)
		return 0;
	buf[got] = '\0';
	return strtol(buf, NULL, 10);
}

int cli__pidfile_lock(const char *data_dir, char *errmsg, size_t size)
{
	char path[PATH_MAX], text[32];
	int fd, rv, len;

	cli__pidfile_path(path, sizeof path, data_dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		rv = -errno;
		bs_errf(errmsg, size, "%s: %s", path, bs_strerror(rv));
		return rv;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		rv = errno == EWOULDBLOCK ? -EBUSY : -errno;
		if (rv == -EBUSY)
			bs_errf(errmsg, size, "another backstay (pid %ld) runs on %s", read_pid(fd),
				data_dir);
		else
			bs_errf(errmsg, size, "%s: lock: %s", path, bs_strerror(rv));
		close(fd);
		return rv;
	}
	len = snprintf(text, sizeof text, "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, text, (size_t)len, 0) != len) {
		rv = -errno;
		bs_errf(errmsg, size, "%s: %s", path, bs_strerror(rv));
		close(fd);
		return rv;
	}
	return fd;
}

long cli__daemon_pid(const char *data_dir)
{
	char path[PATH_MAX];
	long pid = 0;
	int fd;

	cli__pidfile_path(path, sizeof path, data_dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	if (flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK)
		pid = read_pid(fd); /* held: a daemon runs */
	close(fd);		    /* drops our shared lock, if we got it */
	return pid;
}
