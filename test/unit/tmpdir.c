/* Scratch directories for tests that touch the file system. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "unit.h"

char *unit_tmpdir_new(void)
{
	const char *base = getenv("TMPDIR");
	char *dir;

	if (base == NULL || base[0] == '\0')
		base = "/tmp";
	if (asprintf(&dir, "%s/bs-unit-XXXXXX", base) < 0)
		return NULL;
	if (mkdtemp(dir) == NULL) {
		free(dir);
		return NULL;
	}
	return dir;
}

void unit_tmpdir_remove(char *dir)
{
	DIR *d;
	struct dirent *e;
	char *path;

	if (dir == NULL)
		return;
	d = opendir(dir);
	if (d != NULL) {
		while ((e = readdir(d)) != NULL) {
			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
				continue;
			if (asprintf(&path, "%s/%s", dir, e->d_name) >= 0) {
				unlink(path);
				free(path);
			}
		}
		closedir(d);
	}
	rmdir(dir);
	free(dir);
}
