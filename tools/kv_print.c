/*
 * Showing keys and values to an operator. Keys and values are bytes: they
 * are shown as they are when they are printable UTF-8 text, otherwise in
 * hex behind a marker, so that one key is always one line and nothing the
 * store holds can move the terminal's cursor.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "tools.h"

#define HEX_MARKER "[hex] "

/* Valid UTF-8 (jansson checks that) without C0/C1 control characters or
 * DEL, and not starting with the hex marker (which would be ambiguous). */
static bool is_text(const uint8_t *p, size_t n)
{
	json_t *probe;
	size_t i;

	if (n >= strlen(HEX_MARKER) && memcmp(p, HEX_MARKER, strlen(HEX_MARKER)) == 0)
		return false;
	for (i = 0; i < n; i++) {
		if (p[i] < 0x20 || p[i] == 0x7f)
			return false;
		/* U+0080..U+009F are encoded 0xC2 0x80..0x9F. */
		if (p[i] == 0xc2 && i + 1 < n && p[i + 1] >= 0x80 && p[i + 1] <= 0x9f)
			return false;
	}
	probe = json_stringn((const char *)p, n);
	if (probe == NULL)
		return false;
	json_decref(probe);
	return true;
}

static char *hex_of(const uint8_t *p, size_t n)
{
	char *out = malloc(2 * n + 1);

	if (out != NULL)
		bs_hex(p, n, out);
	return out;
}

void cli__print_bytes(FILE *f, const uint8_t *p, size_t n)
{
	size_t i;

	if (is_text(p, n)) {
		fwrite(p, 1, n, f);
		return;
	}
	fputs(HEX_MARKER, f);
	for (i = 0; i < n; i++)
		fprintf(f, "%02x", p[i]);
}

void cli__print_kv(FILE *f, const Backstay__KeyValue *kv)
{
	cli__print_bytes(f, kv->key.data, kv->key.len);
	fputs(" = ", f);
	cli__print_bytes(f, kv->value.data, kv->value.len);
	fputc('\n', f);
}

/* obj[name] = the bytes as a string, or obj[name "_hex"] = their hex. */
static int set_bytes(json_t *obj, const char *name, const uint8_t *p, size_t n)
{
	char hex_name[32];
	char *hex;
	int rv;

	if (is_text(p, n))
		return json_object_set_new(obj, name, json_stringn((const char *)p, n));
	hex = hex_of(p, n);
	if (hex == NULL)
		return -1;
	snprintf(hex_name, sizeof hex_name, "%s_hex", name);
	rv = json_object_set_new(obj, hex_name, json_string(hex));
	free(hex);
	return rv;
}

json_t *cli__kv_json(const Backstay__KeyValue *kv)
{
	json_t *obj = json_object();

	if (obj == NULL || set_bytes(obj, "key", kv->key.data, kv->key.len) != 0 ||
	    set_bytes(obj, "value", kv->value.data, kv->value.len) != 0 ||
	    json_object_set_new(obj, "create_revision",
				json_integer((json_int_t)kv->create_revision)) != 0 ||
	    json_object_set_new(obj, "mod_revision", json_integer((json_int_t)kv->mod_revision)) !=
		    0 ||
	    json_object_set_new(obj, "version", json_integer((json_int_t)kv->version)) != 0 ||
	    json_object_set_new(obj, "lease", json_integer((json_int_t)kv->lease)) != 0) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}

int cli__print_json(struct cli_ctx *ctx, json_t *obj)
{
	int rv;

	if (obj == NULL) {
		fprintf(ctx->err, "%s %s: out of memory\n", ctx->prog, ctx->verb);
		return CLI_FAIL;
	}
	rv = json_dumpf(obj, ctx->out, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(obj);
	fputc('\n', ctx->out);
	fflush(ctx->out);
	return rv == 0 ? CLI_OK : CLI_FAIL;
}
