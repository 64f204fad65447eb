/*
 * chef-backend's sentinel files (leaderl/data/no-start-pgsql and
 * leaderl/data/unsynced), in backstay's data_dir. Their presence is the
 * whole message; the content only says who wrote them.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pgctl_internal.h"

static const char *const names[] = {
	[PGC_NO_START_PGSQL] = "no-start-pgsql",
	[PGC_UNSYNCED] = "unsynced",
};

const char *pgc_sentinel_name(enum pgc_sentinel s)
{
	if ((unsigned)s >= sizeof names / sizeof names[0])
		return "?";
	return names[s];
}

static int sentinel_path(const char *dir, enum pgc_sentinel s, char *buf, size_t size)
{
	if (dir == NULL || (unsigned)s >= sizeof names / sizeof names[0])
		return -EINVAL;
	if (snprintf(buf, size, "%s/%s", dir, names[s]) >= (int)size)
		return -ENAMETOOLONG;
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

static int write_text(int fd, const char *text, size_t len)
{
	ssize_t n = write(fd, text, len);

	if (n < 0)
		return -errno;
	if ((size_t)n != len)
		return -EIO;
	return fsync(fd) == 0 ? 0 : -errno;
}

int pgc_sentinel_set(const char *dir, enum pgc_sentinel s, char *errmsg, size_t size)
{
	static const char text[] = "written by backstay\n";
	char path[PATH_MAX];
	int fd, rv = sentinel_path(dir, s, path, sizeof path);

	if (rv != 0) {
		bs_errf(errmsg, size, "sentinel %s: %s", pgc_sentinel_name(s), bs_strerror(rv));
		return rv;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		rv = -errno;
		bs_errf(errmsg, size, "writing %s: %s", path, bs_strerror(rv));
		return rv;
	}
	rv = write_text(fd, text, sizeof text - 1);
	close(fd);
	if (rv == 0)
		rv = sync_dir(dir);
	if (rv != 0)
		bs_errf(errmsg, size, "writing %s: %s", path, bs_strerror(rv));
	return rv;
}

int pgc_sentinel_clear(const char *dir, enum pgc_sentinel s, char *errmsg, size_t size)
{
	char path[PATH_MAX];
	int rv = sentinel_path(dir, s, path, sizeof path);

	if (rv != 0) {
		bs_errf(errmsg, size, "sentinel %s: %s", pgc_sentinel_name(s), bs_strerror(rv));
		return rv;
	}
	if (unlink(path) != 0) {
		if (errno == ENOENT)
			return 0;
		rv = -errno;
		bs_errf(errmsg, size, "removing %s: %s", path, bs_strerror(rv));
		return rv;
	}
	rv = sync_dir(dir);
	if (rv != 0)
		bs_errf(errmsg, size, "removed %s, but syncing %s failed: %s", path, dir,
			bs_strerror(rv));
	return rv;
}

bool pgc_sentinel_exists(const char *dir, enum pgc_sentinel s)
{
	char path[PATH_MAX];
	struct stat st;

	if (sentinel_path(dir, s, path, sizeof path) != 0)
		return false;
	return lstat(path, &st) == 0;
}
