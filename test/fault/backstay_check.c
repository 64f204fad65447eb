/*
 * backstay-check: the checkers of the fault suite over the histories a run
 * left (formats and rules in README.md).
 *
 *   backstay-check linear [--budget STEPS] [--max-memory-mb MB] HISTORY...
 *   backstay-check lost --final DIR [--async] WRITES...
 *   backstay-check split WRITES...
 *   backstay-check recovery (--heal-ns T | --schedule FILE) [--bound-ms MS]
 *                  [--max-lag-bytes N] [--nodes N] SAMPLES
 *
 * Each prints one verdict line, "PASS|FAIL|UNKNOWN checker=NAME key=value...",
 * then, on FAIL, the offending operations indented by two spaces.
 * Exit: 0 PASS, 1 FAIL, 2 bad usage, 3 UNKNOWN or could not check (a file
 * missing or malformed: the reason on stderr).
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "chk.h"
#include "pgw.h"

enum { EXIT_PASS = 0, EXIT_FAIL = 1, EXIT_USAGE = 2, EXIT_CANNOT = 3 };

#define DEFAULT_BUDGET 10000000ULL
#define DEFAULT_MEMORY_MB 1024
#define DEFAULT_BOUND_MS 30000

static const char usage_text[] =
	"usage: backstay-check linear [--budget STEPS] [--max-memory-mb MB] HISTORY...\n"
	"       backstay-check lost --final DIR [--async] WRITES...\n"
	"       backstay-check split WRITES...\n"
	"       backstay-check recovery (--heal-ns T | --schedule FILE) [--bound-ms MS]\n"
	"                      [--max-lag-bytes N] [--nodes N] SAMPLES\n"
	"exit: 0 pass, 1 fail, 2 usage, 3 unknown or could not check (see test/fault/README.md)\n";

static int usage(const char *why)
{
	if (why != NULL)
		fprintf(stderr, "backstay-check: %s\n", why);
	fputs(usage_text, stderr);
	return EXIT_USAGE;
}

static int exit_of(enum chk_verdict v)
{
	return v == CHK_PASS ? EXIT_PASS : v == CHK_FAIL ? EXIT_FAIL : EXIT_CANNOT;
}

static int cannot(const char *checker, const char *path, const char *why)
{
	printf("UNKNOWN checker=%s error=\"%s: %s\"\n", checker, path, why);
	fprintf(stderr, "backstay-check %s: %s: %s\n", checker, path, why);
	return EXIT_CANNOT;
}

static bool parse_i64(const char *text, int64_t min, int64_t *ret)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || v < min)
		return false;
	*ret = v;
	return true;
}

/* ---- linear ----------------------------------------------------------------- */

static void print_lin_failure(const struct chk_key *k, const struct chk_lin_result *r)
{
	char buf[256];
	size_t i, from = r->n_prefix > CHK_SHOWN ? r->n_prefix - CHK_SHOWN : 0;

	chk_op_format(&k->ops[r->stuck], k->key, buf, sizeof buf);
	printf("  key %s is not linearizable: the longest order found places %zu of its %zu "
	       "ops and cannot pass the completion of\n    %s\n",
	       k->key, r->n_prefix, k->n, buf);
	printf("  the last ops of that order:\n");
	for (i = from; i < r->n_prefix; i++) {
		chk_op_format(&k->ops[r->prefix[i]], k->key, buf, sizeof buf);
		printf("    %s\n", buf);
	}
}

struct lin_outcome {
	enum chk_verdict verdict;
	uint64_t steps;
	size_t bad, n_bad;	     /* the first key that failed (or stayed undecided); how many */
	struct chk_lin_result first; /* that key's result when it failed */
};

/* Every key against the budget that is left; FAIL beats UNKNOWN beats PASS.
 * 0 or -ENOMEM. */
static int check_keys(const struct chk_kv *h, const struct chk_lin_budget *b, struct lin_outcome *o)
{
	size_t i;
	int rv;

	for (i = 0; i < h->n_keys; i++) {
		struct chk_lin_result r;
		struct chk_lin_budget left = {.steps =
						      b->steps > o->steps ? b->steps - o->steps : 0,
					      .cache_bytes = b->cache_bytes};

		rv = chk_linearize(h->keys[i].ops, h->keys[i].n, &left, &r);
		if (rv != 0)
			return rv;
		o->steps += r.steps;
		if (r.verdict == CHK_FAIL && o->verdict != CHK_FAIL) {
			o->verdict = CHK_FAIL;
			o->bad = i;
			o->n_bad = 0;
			o->first = r;
			r.prefix = NULL;
		} else if (r.verdict == CHK_UNKNOWN && o->verdict == CHK_PASS) {
			o->verdict = CHK_UNKNOWN;
			o->bad = i;
		}
		if (r.verdict == o->verdict && r.verdict != CHK_PASS)
			o->n_bad++;
		chk_lin_result_free(&r);
	}
	return 0;
}

static int read_kv_files(struct chk_kv *h, char **paths, int n)
{
	char errmsg[256];
	int i, rv;

	for (i = 0; i < n; i++) {
		FILE *f = fopen(paths[i], "re");

		if (f == NULL)
			return cannot("linearizable", paths[i], strerror(errno));
		rv = chk_kv_read(h, f, errmsg, sizeof errmsg);
		fclose(f);
		if (rv != 0)
			return cannot("linearizable", paths[i],
				      rv == -EINVAL ? errmsg : strerror(-rv));
	}
	return EXIT_PASS;
}

static void print_linear(const struct chk_kv *h, const struct lin_outcome *o,
			 const struct chk_lin_budget *b)
{
	printf("%s checker=linearizable keys=%zu ok=%zu info=%zu fail=%zu steps=%" PRIu64,
	       chk_verdict_name(o->verdict), h->n_keys, h->n_ok, h->n_info, h->n_fail, o->steps);
	if (o->verdict == CHK_FAIL)
		printf(" bad_keys=%zu first_bad=%s\n", o->n_bad, h->keys[o->bad].key);
	else if (o->verdict == CHK_UNKNOWN)
		printf(" undecided_keys=%zu first_undecided=%s budget_steps=%" PRIu64 "\n",
		       o->n_bad, h->keys[o->bad].key, b->steps);
	else
		printf("\n");
	if (o->verdict == CHK_FAIL)
		print_lin_failure(&h->keys[o->bad], &o->first);
}

static int cmd_linear(int argc, char **argv)
{
	static const struct option longopts[] = {{"budget", required_argument, NULL, 'b'},
						 {"max-memory-mb", required_argument, NULL, 'm'},
						 {NULL, 0, NULL, 0}};
	struct chk_lin_budget b = {DEFAULT_BUDGET, (size_t)DEFAULT_MEMORY_MB << 20};
	struct lin_outcome o = {.verdict = CHK_PASS};
	struct chk_kv h;
	int64_t x;
	int c, rv;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if ((c != 'b' && c != 'm') || !parse_i64(optarg, 1, &x))
			return usage("linear: --budget and --max-memory-mb want a positive number");
		if (c == 'b')
			b.steps = (uint64_t)x;
		else
			b.cache_bytes = (size_t)x << 20;
	}
	if (optind >= argc)
		return usage("linear: which history files?");
	chk_kv_init(&h);
	rv = read_kv_files(&h, argv + optind, argc - optind);
	if (rv == EXIT_PASS && check_keys(&h, &b, &o) != 0) {
		rv = cannot("linearizable", "search", strerror(ENOMEM));
	} else if (rv == EXIT_PASS) {
		print_linear(&h, &o, &b);
		rv = exit_of(o.verdict);
	}
	chk_lin_result_free(&o.first);
	chk_kv_free(&h);
	return rv;
}

/* ---- writes: lost, split ------------------------------------------------------ */

static int read_writes(const char *checker, struct chk_writes *w, char **paths, int n)
{
	char errmsg[256];
	int i, rv;

	for (i = 0; i < n; i++) {
		FILE *f = fopen(paths[i], "re");

		if (f == NULL)
			return cannot(checker, paths[i], strerror(errno));
		rv = chk_writes_read(w, f, errmsg, sizeof errmsg);
		fclose(f);
		if (rv != 0)
			return cannot(checker, paths[i], rv == -EINVAL ? errmsg : strerror(-rv));
	}
	return EXIT_PASS;
}

/* The final state: DIR/leader names the leader, DIR/NODE.ids holds each
 * node's ids. */
struct final_state {
	struct chk_lost_node *nodes;
	char (*names)[CHK_NAME_MAX];
	int64_t **ids;
	size_t n;
};

static void final_free(struct final_state *fs)
{
	size_t i;

	for (i = 0; i < fs->n; i++)
		free(fs->ids[i]);
	free(fs->ids);
	free(fs->names);
	free(fs->nodes);
}

static int read_leader(const char *dir, char *name, size_t size, char *errmsg, size_t errsize)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof path, "%s/leader", dir);
	f = fopen(path, "re");
	if (f == NULL) {
		int err = errno;

		bs_errf(errmsg, errsize, "%s: %s", path, strerror(err));
		return -err;
	}
	if (fgets(name, (int)size, f) == NULL)
		name[0] = '\0';
	fclose(f);
	name[strcspn(name, " \t\r\n")] = '\0';
	if (name[0] == '\0') {
		bs_errf(errmsg, errsize, "%s: empty", path);
		return -EINVAL;
	}
	return 0;
}

static int is_ids_file(const struct dirent *d)
{
	size_t len = strlen(d->d_name);

	return len > 4 && len - 4 < CHK_NAME_MAX && strcmp(d->d_name + len - 4, ".ids") == 0;
}

static int read_node_ids(const char *dir, const char *file, int64_t **ret_ids, size_t *ret_n,
			 char *errmsg, size_t errsize)
{
	char path[4096], why[200];
	FILE *f;
	int rv;

	snprintf(path, sizeof path, "%s/%s", dir, file);
	f = fopen(path, "re");
	if (f == NULL) {
		int err = errno;

		bs_errf(errmsg, errsize, "%s: %s", path, strerror(err));
		return -err;
	}
	rv = pgw_ids_read(f, ret_ids, ret_n, why, sizeof why);
	fclose(f);
	if (rv != 0)
		bs_errf(errmsg, errsize, "%s: %s", path, rv == -EINVAL ? why : strerror(-rv));
	return rv;
}

static int read_final(const char *dir, struct final_state *fs, char *errmsg, size_t errsize)
{
	struct dirent **list = NULL;
	char leader[CHK_NAME_MAX];
	int n = scandir(dir, &list, is_ids_file, alphasort), i, rv, leaders = 0;

	if (n < 0) {
		int err = errno;

		bs_errf(errmsg, errsize, "%s: %s", dir, strerror(err));
		return -err;
	}
	rv = read_leader(dir, leader, sizeof leader, errmsg, errsize);
	fs->nodes = calloc((size_t)n + 1, sizeof *fs->nodes);
	fs->names = calloc((size_t)n + 1, sizeof *fs->names);
	fs->ids = calloc((size_t)n + 1, sizeof *fs->ids);
	if (rv == 0 && (fs->nodes == NULL || fs->names == NULL || fs->ids == NULL))
		rv = -ENOMEM;
	for (i = 0; i < n; i++) {
		if (rv == 0) {
			struct chk_lost_node *nd = &fs->nodes[fs->n];

			snprintf(fs->names[fs->n], CHK_NAME_MAX, "%.*s",
				 (int)strlen(list[i]->d_name) - 4, list[i]->d_name);
			rv = read_node_ids(dir, list[i]->d_name, &fs->ids[fs->n], &nd->n, errmsg,
					   errsize);
			nd->name = fs->names[fs->n];
			nd->ids = fs->ids[fs->n];
			nd->leader = strcmp(nd->name, leader) == 0;
			leaders += nd->leader;
			fs->n += rv == 0;
		}
		free(list[i]);
	}
	free(list);
	if (rv == 0 && leaders != 1) {
		bs_errf(errmsg, errsize, "%s: the leader '%s' has no %s.ids", dir, leader, leader);
		rv = -EINVAL;
	}
	return rv;
}

static void print_lost(const struct final_state *fs, size_t n_acked, size_t n_failed,
		       enum chk_verdict v, bool async)
{
	size_t i, j, missing = 0;

	for (i = 0; i < fs->n; i++)
		missing = fs->nodes[i].missing > missing ? fs->nodes[i].missing : missing;
	printf("%s checker=lost-writes mode=%s acknowledged=%zu failed=%zu nodes=%zu "
	       "max_missing=%zu\n",
	       chk_verdict_name(v), async ? "async" : "quorum", n_acked, n_failed, fs->n, missing);
	for (i = 0; i < fs->n; i++) {
		const struct chk_lost_node *nd = &fs->nodes[i];

		printf("  node %s%s: rows=%zu missing=%zu divergent=%zu phantom=%zu", nd->name,
		       nd->leader ? " (leader)" : "", nd->n, nd->missing, nd->divergent,
		       nd->phantom);
		for (j = 0; j < nd->n_shown; j++)
			printf("%s%" PRId64, j == 0 ? " missing_ids=" : ",", nd->shown[j]);
		printf("\n");
	}
}

static int lost_run(struct chk_writes *w, const char *final_dir, bool async)
{
	struct final_state fs = {0};
	int64_t *acked = NULL, *failed = NULL, dup = 0;
	size_t n_acked = 0, n_failed = 0;
	char errmsg[512];
	enum chk_verdict v;
	int rv;

	rv = chk_writes_ids(w, CHK_W_OK, &acked, &n_acked, &dup);
	if (rv == -EEXIST) {
		snprintf(errmsg, sizeof errmsg, "id %" PRId64 " acknowledged twice", dup);
		rv = cannot("lost-writes", "writes", errmsg);
		goto out;
	}
	if (rv == 0)
		rv = chk_writes_ids(w, CHK_W_FAIL, &failed, &n_failed, &dup);
	if (rv == 0)
		rv = read_final(final_dir, &fs, errmsg, sizeof errmsg);
	if (rv != 0) {
		rv = cannot("lost-writes", final_dir, rv == -ENOMEM ? strerror(ENOMEM) : errmsg);
		goto out;
	}
	v = chk_lost(acked, n_acked, failed, n_failed, fs.nodes, fs.n, async);
	print_lost(&fs, n_acked, n_failed, v, async);
	rv = exit_of(v);
out:
	final_free(&fs);
	free(acked);
	free(failed);
	return rv;
}

static int cmd_lost(int argc, char **argv)
{
	static const struct option longopts[] = {{"final", required_argument, NULL, 'f'},
						 {"async", no_argument, NULL, 'a'},
						 {NULL, 0, NULL, 0}};
	struct chk_writes w = {0};
	const char *final_dir = NULL;
	bool async = false;
	int c, rv;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == 'f')
			final_dir = optarg;
		else if (c == 'a')
			async = true;
		else
			return usage(NULL);
	}
	if (final_dir == NULL || optind >= argc)
		return usage("lost: needs --final DIR and write history files");
	rv = read_writes("lost-writes", &w, argv + optind, argc - optind);
	if (rv == EXIT_PASS)
		rv = lost_run(&w, final_dir, async);
	chk_writes_free(&w);
	return rv;
}

static void print_write(const char *label, const struct chk_write *x)
{
	printf("  %s: id=%" PRId64 " client=%s route=%s epoch=%" PRId64 " node=%s [%" PRId64
	       "..%" PRId64 "] line %lu\n",
	       label, x->id, x->client, x->route, x->epoch, x->node, x->start_ns, x->end_ns,
	       x->line);
}

static int cmd_split(int argc, char **argv)
{
	struct chk_writes w = {0};
	struct chk_split_result r;
	int rv;

	if (argc < 2 || argv[1][0] == '-')
		return usage("split: which write history files?");
	rv = read_writes("split-brain", &w, argv + 1, argc - 1);
	if (rv == EXIT_PASS && chk_split(&w, &r) != 0)
		rv = cannot("split-brain", "check", strerror(ENOMEM));
	else if (rv == EXIT_PASS) {
		printf("%s checker=split-brain acknowledged=%zu epochs=%zu violations=%zu%s\n",
		       chk_verdict_name(r.verdict), r.n_ok, r.n_epochs, r.violations,
		       r.rule == CHK_SPLIT_EPOCH_NODE  ? " rule=one-epoch-one-node"
		       : r.rule == CHK_SPLIT_REAL_TIME ? " rule=epochs-monotonic-in-real-time"
						       : "");
		if (r.verdict == CHK_FAIL) {
			print_write(r.rule == CHK_SPLIT_REAL_TIME ? "acknowledged first" : "one",
				    &w.w[r.a]);
			print_write(r.rule == CHK_SPLIT_REAL_TIME ? "then began, older epoch"
								  : "same epoch, other node",
				    &w.w[r.b]);
		}
		rv = exit_of(r.verdict);
	}
	chk_writes_free(&w);
	return rv;
}

/* ---- recovery ---------------------------------------------------------------- */

static int heal_from_schedule(const char *path, int64_t *ret)
{
	char errmsg[256];
	FILE *f = fopen(path, "re");
	int rv;

	if (f == NULL)
		return cannot("recovery", path, strerror(errno));
	rv = chk_schedule_heal(f, ret, errmsg, sizeof errmsg);
	fclose(f);
	if (rv != 0)
		return cannot("recovery", path,
			      rv == -EINVAL   ? errmsg
			      : rv == -ENOENT ? "no events"
					      : strerror(-rv));
	return EXIT_PASS;
}

static int recovery_run(const char *path, const struct chk_recovery_opts *o)
{
	struct chk_samples s = {0};
	struct chk_recovery_result r;
	char errmsg[256];
	FILE *f = fopen(path, "re");
	int rv;

	if (f == NULL)
		return cannot("recovery", path, strerror(errno));
	rv = chk_samples_read(&s, f, errmsg, sizeof errmsg);
	fclose(f);
	if (rv != 0) {
		chk_samples_free(&s);
		return cannot("recovery", path, rv == -EINVAL ? errmsg : strerror(-rv));
	}
	chk_recovery(&s, o, &r);
	printf("%s checker=recovery bound_ms=%" PRId64 " samples_after_heal=%zu",
	       chk_verdict_name(r.verdict), o->bound_ns / 1000000, r.n_after_heal);
	if (r.recovered_ns >= 0)
		printf(" recovered_ms=%" PRId64 "\n", r.recovered_ns / 1000000);
	else
		printf(" recovered_ms=never why=\"%s\"\n", r.why);
	if (r.verdict == CHK_FAIL && r.recovered_ns < 0)
		printf("  the last sample (+%" PRId64 " ms after heal) is not recovered: %s\n",
		       (s.s[s.n - 1].t_ns - o->heal_ns) / 1000000, r.why);
	else if (r.verdict == CHK_FAIL)
		printf("  recovered %" PRId64 " ms after heal, over the bound; before that: %s\n",
		       r.recovered_ns / 1000000, r.why);
	chk_samples_free(&s);
	return exit_of(r.verdict);
}

static int cmd_recovery(int argc, char **argv)
{
	static const struct option longopts[] = {{"heal-ns", required_argument, NULL, 'h'},
						 {"schedule", required_argument, NULL, 's'},
						 {"bound-ms", required_argument, NULL, 'b'},
						 {"max-lag-bytes", required_argument, NULL, 'l'},
						 {"nodes", required_argument, NULL, 'n'},
						 {NULL, 0, NULL, 0}};
	struct chk_recovery_opts o = {.bound_ns = DEFAULT_BOUND_MS * 1000000LL,
				      .max_lag_bytes = -1};
	const char *schedule = NULL;
	bool have_heal = false;
	int64_t x;
	int c, rv;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == 's') {
			schedule = optarg;
			continue;
		}
		if (c == '?' || !parse_i64(optarg, 0, &x))
			return usage("recovery: the options want a number >= 0");
		if (c == 'h') {
			o.heal_ns = x;
			have_heal = true;
		} else if (c == 'b') {
			o.bound_ns = x * 1000000;
		} else if (c == 'l') {
			o.max_lag_bytes = x;
		} else {
			o.n_nodes = (size_t)x;
		}
	}
	if (have_heal == (schedule != NULL) || optind != argc - 1)
		return usage(
			"recovery: needs one of --heal-ns and --schedule, and one samples file");
	if (schedule != NULL && (rv = heal_from_schedule(schedule, &o.heal_ns)) != EXIT_PASS)
		return rv;
	return recovery_run(argv[optind], &o);
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage(NULL);
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		fputs(usage_text, stdout);
		return EXIT_PASS;
	}
	if (strcmp(argv[1], "linear") == 0)
		return cmd_linear(argc - 1, argv + 1);
	if (strcmp(argv[1], "lost") == 0)
		return cmd_lost(argc - 1, argv + 1);
	if (strcmp(argv[1], "split") == 0)
		return cmd_split(argc - 1, argv + 1);
	if (strcmp(argv[1], "recovery") == 0)
		return cmd_recovery(argc - 1, argv + 1);
	return usage("unknown checker");
}
