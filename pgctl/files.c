/*
 * File system primitives for PostgreSQL's files: atomic writes owned by
 * the postgres OS user, directories made with an owner, trees removed.
 * Synchronous, any thread; the handle calls them on libuv's thread pool.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pgctl_internal.h"

enum { TAIL_READ = 4096 };

static int write_all(int fd, const char *p, size_t n)
{
	ssize_t got;

	while (n > 0) {
		got = write(fd, p, n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -errno;
		p += got;
		n -= (size_t)got;
	}
	return 0;
}

/* Content, owner, mode and fsync of an open temporary file. */
static int fill(int fd, const char *text, size_t len, mode_t mode, uid_t uid, gid_t gid)
{
	int rv;

	if (uid != (uid_t)-1 && fchown(fd, uid, gid) != 0)
		return -errno;
	if (fchmod(fd, mode) != 0)
		return -errno;
	rv = write_all(fd, text, len);
	if (rv != 0)
		return rv;
	if (fsync(fd) != 0)
		return -errno;
	return 0;
}

static int sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rv = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) != 0)
		rv = -errno;
	close(fd);
	return rv;
}

int pgc__write_file(const char *path, const char *text, size_t len, mode_t mode, uid_t uid,
		    gid_t gid, char *errmsg, size_t size)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	char *slash;
	int fd, rv;

	/* The thread's id keeps two pool threads apart. */
	if (snprintf(tmp, sizeof tmp, "%s.backstay-tmp.%d", path, (int)gettid()) >=
		    (int)sizeof tmp ||
	    snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir) {
		bs_errf(errmsg, size, "%s: path too long", path);
		return -ENAMETOOLONG;
	}
	slash = strrchr(dir, '/');
	if (slash != NULL)
		*(slash == dir ? slash + 1 : slash) = '\0';
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		rv = -errno;
		bs_errf(errmsg, size, "%s: creating %s: %s", path, tmp, bs_strerror(rv));
		return rv;
	}
	rv = fill(fd, text, len, mode, uid, gid);
	if (close(fd) != 0 && rv == 0)
		rv = -errno;
	if (rv == 0 && rename(tmp, path) != 0)
		rv = -errno;
	if (rv != 0) {
		unlink(tmp);
		bs_errf(errmsg, size, "%s: writing: %s", path, bs_strerror(rv));
		return rv;
	}
	rv = sync_dir(slash != NULL ? dir : ".");
	if (rv != 0)
		bs_errf(errmsg, size, "%s: written, but syncing its directory failed: %s", path,
			bs_strerror(rv));
	return rv;
}

/* mkdir -p of path's parents, root's 0755. */
static int make_parents(const char *path)
{
	char buf[PATH_MAX];
	char *s;

	if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
		return -ENAMETOOLONG;
	for (s = buf + 1; (s = strchr(s, '/')) != NULL; s++) {
		*s = '\0';
		if (mkdir(buf, 0755) != 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	return 0;
}

int pgc__mkdir_parents(const char *path, char *errmsg, size_t size)
{
	int rv = make_parents(path);

	if (rv != 0)
		bs_errf(errmsg, size, "creating the directories of %s: %s", path, bs_strerror(rv));
	return rv;
}

int pgc__mkdir_owned(const char *path, mode_t mode, uid_t uid, gid_t gid, char *errmsg, size_t size)
{
	int rv = make_parents(path);

	if (rv == 0 && mkdir(path, mode) != 0 && errno != EEXIST)
		rv = -errno;
	if (rv == 0 && uid != (uid_t)-1 && chown(path, uid, gid) != 0)
		rv = -errno;
	if (rv == 0 && chmod(path, mode) != 0)
		rv = -errno;
	if (rv != 0)
		bs_errf(errmsg, size, "creating directory %s: %s", path, bs_strerror(rv));
	return rv;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP || flag == FTW_D)
		return rmdir(path) == 0 || errno == ENOENT ? 0 : -1;
	return unlink(path) == 0 || errno == ENOENT ? 0 : -1;
}

int pgc__rmtree(const char *path, char *errmsg, size_t size)
{
	struct stat st;
	int rv;

	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode))
		rv = unlink(path) == 0 ? 0 : -errno;
	else
		rv = nftw(path, remove_one, 32, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -errno;
	if (rv != 0)
		bs_errf(errmsg, size, "removing %s: %s", path, bs_strerror(rv));
	return rv;
}

int pgc__dir_used(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int used = 0;

	if (d == NULL)
		return errno == ENOENT ? 0 : -errno;
	while (used == 0 && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			used = 1;
	}
	closedir(d);
	return used;
}

/* The last TAIL_READ bytes of path, trailing newlines and blanks cut;
 * length, or -1. */
static ssize_t read_tail(const char *path, char tail[TAIL_READ + 1])
{
	ssize_t n;
	off_t end;
	int fd;

	tail[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	end = lseek(fd, 0, SEEK_END);
	n = end < 0 ? -1 : pread(fd, tail, TAIL_READ, end > TAIL_READ ? end - TAIL_READ : 0);
	close(fd);
	if (n <= 0)
		return -1;
	tail[n] = '\0';
	while (n > 0 && (tail[n - 1] == '\n' || tail[n - 1] == ' '))
		tail[--n] = '\0';
	return n;
}

void pgc__file_tail(const char *path, unsigned lines, char *buf, size_t size)
{
	char tail[TAIL_READ + 1], *start;
	ssize_t n = read_tail(path, tail);

	buf[0] = '\0';
	if (n <= 0)
		return;
	for (start = tail + n; start > tail; start--) {
		if (start[-1] == '\n' && --lines == 0)
			break;
	}
	for (n = 0; start[n] != '\0'; n++) {
		if (start[n] == '\n')
			start[n] = '/'; /* "line / line" reads on one line */
	}
	snprintf(buf, size, "%s", start);
}

/* The server log's newest line with PANIC, FATAL or ERROR in its last
 * TAIL_READ bytes, or "". */
void pgc_log_last_error(const struct pgc *p, char *buf, size_t size)
{
	static const char *const levels[] = {"PANIC:", "FATAL:", "ERROR:"};
	char tail[TAIL_READ + 1], *line, *best = NULL, *save = NULL;
	size_t i;

	buf[0] = '\0';
	if (read_tail(p->paths.log_file, tail) <= 0)
		return;
	for (line = strtok_r(tail, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		for (i = 0; i < sizeof levels / sizeof levels[0]; i++)
			if (strstr(line, levels[i]) != NULL)
				best = line;
	}
	if (best != NULL)
		snprintf(buf, size, "%s", best);
}
