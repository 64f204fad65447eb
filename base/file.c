/*
 * Small files written atomically: a temporary file in the same directory,
 * created O_EXCL with mode 0600 (and fchmod'ed, so the umask does not
 * matter), written, fsync'ed, renamed over the path; then the directory is
 * fsync'ed so that the rename survives a crash. Readers see the old file or
 * the new one, never a part.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

enum { TEMP_TRIES = 8 };

/* Split path into its directory (heap, caller frees) and base name. */
static int split_path(const char *path, char **ret_dir, const char **ret_base)
{
	const char *slash = strrchr(path, '/');
	char *dir;

	if (slash != NULL && slash[1] == '\0')
		return -EISDIR;
	if (slash == NULL)
		dir = strdup(".");
	else
		dir = strndup(path, slash == path ? 1 : (size_t)(slash - path));
	if (dir == NULL)
		return -ENOMEM;
	*ret_dir = dir;
	*ret_base = slash != NULL ? slash + 1 : path;
	return 0;
}

/* Create ".<base>.tmp-<random>" in dfd, name into tmp (NAME_MAX + 1). */
static int create_temp(int dfd, const char *base, char *tmp)
{
	uint8_t r[8];
	char hex[2 * sizeof r + 1];
	int fd, tries, rv;

	for (tries = 0; tries < TEMP_TRIES; tries++) {
		rv = bs_clock_random(bs_clock_real(), r, sizeof r);
		if (rv != 0)
			return rv;
		bs_hex(r, sizeof r, hex);
		if (snprintf(tmp, NAME_MAX + 1, ".%s.tmp-%s", base, hex) > NAME_MAX)
			return -ENAMETOOLONG;
		fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd >= 0)
			return fd;
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

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

/* Mode, content and fsync of the temporary file; closes fd. */
static int fill_temp(int fd, const char *text)
{
	int rv = 0;

	if (fchmod(fd, 0600) != 0)
		rv = -errno;
	if (rv == 0)
		rv = write_all(fd, text, strlen(text));
	if (rv == 0)
		rv = write_all(fd, "\n", 1);
	if (rv == 0 && fsync(fd) != 0)
		rv = -errno;
	if (close(fd) != 0 && rv == 0)
		rv = -errno;
	return rv;
}

/* Steps after the directory is open: temp file, rename, directory fsync. */
static int write_in_dir(int dfd, const char *path, const char *base, const char *text, char *errmsg,
			size_t errmsg_size)
{
	char tmp[NAME_MAX + 1];
	int fd, rv;

	fd = create_temp(dfd, base, tmp);
	if (fd < 0) {
		bs_errf(errmsg, errmsg_size, "%s: creating a temporary file beside it: %s", path,
			bs_strerror(fd));
		return fd;
	}
	rv = fill_temp(fd, text);
	if (rv != 0) {
		bs_errf(errmsg, errmsg_size, "%s: writing %s: %s", path, tmp, bs_strerror(rv));
		goto err_unlink_temp;
	}
	if (renameat(dfd, tmp, dfd, base) != 0) {
		rv = -errno;
		bs_errf(errmsg, errmsg_size, "%s: renaming %s over it: %s", path, tmp,
			bs_strerror(rv));
		goto err_unlink_temp;
	}
	if (fsync(dfd) != 0) {
		rv = -errno;
		bs_errf(errmsg, errmsg_size, "%s: written, but syncing its directory failed: %s",
			path, bs_strerror(rv));
	}
	return rv;
err_unlink_temp:
	unlinkat(dfd, tmp, 0);
	return rv;
}

int bs_file_write_atomic(const char *path, const char *text, char *errmsg, size_t errmsg_size)
{
	const char *base;
	char *dir;
	int dfd, rv;

	rv = split_path(path, &dir, &base);
	if (rv != 0) {
		bs_errf(errmsg, errmsg_size, "%s: %s", path, bs_strerror(rv));
		return rv;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		rv = -errno;
		bs_errf(errmsg, errmsg_size, "%s: directory %s: %s", path, dir, bs_strerror(rv));
	} else {
		rv = write_in_dir(dfd, path, base, text, errmsg, errmsg_size);
		close(dfd);
	}
	free(dir);
	return rv;
}
