/*
 * Who this node is: data_dir/node.json, written by create-cluster and
 * join-cluster, read by the daemon at start.
 *
 *   {"name": "backend-1", "guid": "<32 hex>", "id": <Raft id>}
 *
 * name and guid are the node's lasting identity (cluster-status shows
 * them; remove-node takes the name); the Raft id is drawn afresh at every
 * join, so that a node removed and joined again (--recovery) is a new
 * member to Raft, with none of its old votes.
 */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define IDENTITY_FILE "node.json"

static void identity_path(char *out, size_t size, const char *data_dir)
{
	snprintf(out, size, "%s/%s", data_dir, IDENTITY_FILE);
}

bool cli__identity_exists(const char *data_dir)
{
	char path[PATH_MAX];

	identity_path(path, sizeof path, data_dir);
	return access(path, F_OK) == 0;
}

static bool guid_valid(const char *guid)
{
	size_t i;

	for (i = 0; guid[i] != '\0'; i++)
		if (!isxdigit((unsigned char)guid[i]) || isupper((unsigned char)guid[i]))
			return false;
	return i == CLI_GUID_LEN;
}

int cli__identity_read(const char *data_dir, struct cli_identity *ret, char *errmsg, size_t size)
{
	char path[PATH_MAX];
	const char *name, *guid;
	json_error_t jerr;
	json_int_t id;
	json_t *root;

	identity_path(path, sizeof path, data_dir);
	root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		if (access(path, F_OK) != 0) {
			bs_errf(errmsg, size, "%s: %s", path, bs_strerror(-errno));
			return -ENOENT;
		}
		bs_errf(errmsg, size, "%s:%d: %s", path, jerr.line, jerr.text);
		return BS_E_PARSE;
	}
	if (json_unpack(root, "{s:s, s:s, s:I}", "name", &name, "guid", &guid, "id", &id) != 0 ||
	    name[0] == '\0' || strlen(name) >= sizeof ret->name || !guid_valid(guid) || id <= 0) {
		json_decref(root);
		bs_errf(errmsg, size, "%s: wants {\"name\": NAME, \"guid\": 32 hex, \"id\": N > 0}",
			path);
		return BS_E_PARSE;
	}
	snprintf(ret->name, sizeof ret->name, "%s", name);
	snprintf(ret->guid, sizeof ret->guid, "%s", guid);
	ret->id = (uint64_t)id;
	json_decref(root);
	return 0;
}

int cli__identity_write(const char *data_dir, const struct cli_identity *idn, char *errmsg,
			size_t size)
{
	char path[PATH_MAX];
	json_t *root = json_pack("{s:s, s:s, s:I}", "name", idn->name, "guid", idn->guid, "id",
				 (json_int_t)idn->id);
	char *text = root != NULL ? json_dumps(root, JSON_INDENT(2)) : NULL;
	int rv = -ENOMEM;

	identity_path(path, sizeof path, data_dir);
	if (text != NULL)
		rv = bs_file_write_atomic(path, text, errmsg, size);
	else
		bs_errf(errmsg, size, "%s: out of memory", path);
	free(text);
	json_decref(root);
	return rv;
}

void cli__identity_remove(const char *data_dir)
{
	char path[PATH_MAX];

	identity_path(path, sizeof path, data_dir);
	unlink(path);
}

uint64_t cli__new_raft_id(void)
{
	uint64_t id = 0;

	/* Positive in a JSON integer (int64), never 0. */
	while (id == 0)
		id = bs_clock_random_below(bs_clock_real(), INT64_MAX);
	return id;
}

int cli__identity_new(const char *name, struct cli_identity *ret)
{
	uint8_t guid[CLI_GUID_LEN / 2];
	int rv;

	if (name[0] == '\0' || strlen(name) >= sizeof ret->name)
		return -EINVAL;
	rv = bs_clock_random(bs_clock_real(), guid, sizeof guid);
	if (rv != 0)
		return rv;
	snprintf(ret->name, sizeof ret->name, "%s", name);
	bs_hex(guid, sizeof guid, ret->guid);
	ret->id = cli__new_raft_id();
	return 0;
}

void cli__store_dir(char *out, size_t size, const struct bs_config *config)
{
	snprintf(out, size, "%s/consensus", bs_config_str(config, BS_SET_DATA_DIR));
}

/* data_dir/consensus/NAME into out. */
static void store_file(char *out, size_t size, const struct bs_config *config, const char *name)
{
	char dir[PATH_MAX];

	cli__store_dir(dir, sizeof dir, config);
	snprintf(out, size, "%.*s/%s", PATH_MAX - 16, dir, name);
}

bool cli__store_exists(const struct bs_config *config)
{
	char path[PATH_MAX];

	store_file(path, sizeof path, config, "data.mdb");
	return access(path, F_OK) == 0;
}

void cli__store_remove(const struct bs_config *config)
{
	char path[PATH_MAX];

	store_file(path, sizeof path, config, "data.mdb");
	unlink(path);
	store_file(path, sizeof path, config, "lock.mdb");
	unlink(path);
	cli__store_dir(path, sizeof path, config);
	rmdir(path);
}

int cli__node_name(const struct bs_config *config, char *out, size_t size)
{
	const char *fqdn = bs_config_str(config, BS_SET_FQDN);
	char host[256];
	size_t i;

	if (fqdn == NULL) {
		if (gethostname(host, sizeof host) != 0)
			return -errno;
		host[sizeof host - 1] = '\0';
		fqdn = host;
	}
	if (fqdn[0] == '\0' || strlen(fqdn) >= size)
		return -EINVAL;
	for (i = 0; fqdn[i] != '\0'; i++)
		out[i] = (char)tolower((unsigned char)fqdn[i]);
	out[i] = '\0';
	return 0;
}
