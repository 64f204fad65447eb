/*
 * The handshake with mutual authentication by the cluster secret, and the
 * per-frame MACs that follow it (protocol: transport.h). Pure: Envelopes
 * in, Envelopes out, randomness passed in; the transport does the I/O,
 * fuzz_handshake drives it with arbitrary input, tests drive both sides.
 *
 * States (enum cns__tr_hs_state) and the only moves allowed:
 *
 *   CLIENT_WAIT_REPLY --HelloReply ok--> DONE      --else--> FAILED
 *   SERVER_WAIT_HELLO --Hello ok-->      SERVER_WAIT_PROOF   --else--> FAILED
 *   SERVER_WAIT_PROOF --HelloProof ok--> DONE      --else--> FAILED
 *
 * Secrets are compared with CRYPTO_memcmp only. What a refused peer is told
 * never depends on which credential was wrong: the server does not refuse a
 * wrong cluster id until the proofs, and its Goodbye texts in
 * SERVER_WAIT_PROOF depend only on what the client sent.
 */
#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdio.h>
#include <string.h>

#include "transport.h"

static const char *const reason_texts[CNS__TR_REASON__COUNT] = {
	[CNS__TR_REASON_NONE] = "none",
	[CNS__TR_REASON_AUTH] = "authentication failed",
	[CNS__TR_REASON_VERSION] = "unsupported protocol version",
	[CNS__TR_REASON_ROLE] = "unknown role",
	[CNS__TR_REASON_PROTOCOL] = "protocol error",
	[CNS__TR_REASON_WRONG_NODE] = "unexpected node id",
	[CNS__TR_REASON_MALFORMED] = "malformed frame",
	[CNS__TR_REASON_TOO_BIG] = "frame too big",
	[CNS__TR_REASON_TRUNCATED] = "truncated frame",
	[CNS__TR_REASON_BAD_MAC] = "bad frame MAC",
	[CNS__TR_REASON_TIMEOUT] = "handshake timeout",
	[CNS__TR_REASON_OVERLOAD] = "too many handshakes",
	[CNS__TR_REASON_EOF] = "connection closed by peer",
	[CNS__TR_REASON_IO] = "i/o error",
	[CNS__TR_REASON_DUPLICATE] = "duplicate connection",
	[CNS__TR_REASON_GOODBYE] = "goodbye",
	[CNS__TR_REASON_SHUTDOWN] = "shutting down",
	[CNS__TR_REASON_REMOVED] = "peer removed",
	[CNS__TR_REASON_HANGUP] = "hung up",
};

const char *cns__tr_reason_text(enum cns__tr_reason reason)
{
	if ((unsigned)reason >= CNS__TR_REASON__COUNT)
		return "unknown";
	return reason_texts[reason];
}

void cns__tr_printable(char *dst, size_t size, const char *src)
{
	size_t i;

	if (size == 0)
		return;
	snprintf(dst, size, "%s", src != NULL ? src : "");
	for (i = 0; dst[i] != '\0'; i++)
		if (dst[i] < 0x20 || dst[i] > 0x7e)
			dst[i] = '?';
}

enum cns__tr_reason cns__tr_reason_from_text(const char *text)
{
	unsigned i;

	for (i = CNS__TR_REASON_NONE + 1; text != NULL && i < CNS__TR_REASON__COUNT; i++)
		if (strncmp(text, reason_texts[i], strlen(reason_texts[i])) == 0)
			return (enum cns__tr_reason)i;
	return CNS__TR_REASON_GOODBYE;
}

/* ------------------------------------------------------------------------
 * Transcript and MACs.
 */

#define LABEL_SERVER "backstay server proof v1"
#define LABEL_CLIENT "backstay client proof v1"
#define LABEL_SESSION "backstay session v1"
#define DIR_C2S 0x01
#define DIR_S2C 0x02
#define LABEL_MAX 32
#define T_MAX (BS_CLUSTER_ID_LEN + 2 * CNS__TR_NONCE_LEN + 2 * 8 + 5 * 4 + CNS__TR_MAX_ADDRESS)

static uint8_t *put_be64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--)
		*p++ = (uint8_t)(v >> (8 * i));
	return p;
}

static uint8_t *put_be32(uint8_t *p, uint32_t v)
{
	int i;

	for (i = 3; i >= 0; i--)
		*p++ = (uint8_t)(v >> (8 * i));
	return p;
}

/* T (transport.h), from this side's view: its own cluster id. */
static size_t transcript(const struct cns__tr_hs *hs, uint8_t *buf)
{
	size_t alen = strlen(hs->client_address);
	uint8_t *p = buf;

	memcpy(p, hs->self->cluster_id, BS_CLUSTER_ID_LEN);
	p += BS_CLUSTER_ID_LEN;
	memcpy(p, hs->nonce_c, CNS__TR_NONCE_LEN);
	p += CNS__TR_NONCE_LEN;
	memcpy(p, hs->nonce_s, CNS__TR_NONCE_LEN);
	p += CNS__TR_NONCE_LEN;
	p = put_be64(p, hs->client_id);
	p = put_be64(p, hs->server_id);
	p = put_be32(p, (uint32_t)hs->role);
	p = put_be32(p, hs->version);
	p = put_be32(p, hs->client_min);
	p = put_be32(p, hs->client_max);
	p = put_be32(p, (uint32_t)alen);
	memcpy(p, hs->client_address, alen);
	return (size_t)(p - buf) + alen;
}

/* HMAC-SHA256(secret, label 0x00 [dir] || T). dir 0: none. 0 or -ENOMEM. */
static int transcript_mac(const struct cns__tr_hs *hs, const char *label, uint8_t dir,
			  uint8_t out[CNS__TR_MAC_LEN])
{
	uint8_t buf[LABEL_MAX + 2 + T_MAX];
	size_t len = strlen(label) + 1, out_len = 0;
	uint8_t *ok;

	memcpy(buf, label, len);
	if (dir != 0)
		buf[len++] = dir;
	len += transcript(hs, buf + len);
	ok = EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, hs->self->secret, BS_CLUSTER_SECRET_LEN,
		       buf, len, out, CNS__TR_MAC_LEN, &out_len);
	OPENSSL_cleanse(buf, sizeof buf);
	return ok != NULL && out_len == CNS__TR_MAC_LEN ? 0 : -ENOMEM;
}

static int derive_keys(struct cns__tr_hs *hs)
{
	int rc = transcript_mac(hs, LABEL_SESSION, DIR_C2S, hs->key_c2s);

	return rc < 0 ? rc : transcript_mac(hs, LABEL_SESSION, DIR_S2C, hs->key_s2c);
}

/* Constant-time check of a received proof against the expected one. */
static int proof_check(const struct cns__tr_hs *hs, const char *label, ProtobufCBinaryData got,
		       bool *ret_ok)
{
	uint8_t want[CNS__TR_MAC_LEN];
	int rc = transcript_mac(hs, label, 0, want);

	if (rc == 0)
		*ret_ok = got.len == CNS__TR_MAC_LEN &&
			  CRYPTO_memcmp(want, got.data, CNS__TR_MAC_LEN) == 0;
	OPENSSL_cleanse(want, sizeof want);
	return rc;
}

/* ------------------------------------------------------------------------
 * Outgoing frames.
 */

static void out_none(struct cns__tr_hs_out *out)
{
	backstay__envelope__init(&out->env);
}

static void out_goodbye(struct cns__tr_hs_out *out, const char *text)
{
	backstay__envelope__init(&out->env);
	backstay__goodbye__init(&out->u.goodbye);
	snprintf(out->text, sizeof out->text, "%s", text);
	out->u.goodbye.reason = out->text;
	out->env.body_case = BACKSTAY__ENVELOPE__BODY_GOODBYE;
	out->env.goodbye = &out->u.goodbye;
}

/* Refuse: FAILED with reason, a local detail, and the text the peer gets
 * (NULL: tell it nothing). Returns err for the caller to return. */
static int fail(struct cns__tr_hs *hs, struct cns__tr_hs_out *out, enum cns__tr_reason reason,
		int err, const char *tell, const char *detail)
{
	hs->state = CNS__TR_HS_FAILED;
	hs->reason = reason;
	snprintf(hs->detail, sizeof hs->detail, "%s", detail);
	if (tell != NULL)
		out_goodbye(out, tell);
	else
		out_none(out);
	return err;
}

static int fail_protocol(struct cns__tr_hs *hs, struct cns__tr_hs_out *out, const char *detail)
{
	return fail(hs, out, CNS__TR_REASON_PROTOCOL, -EPROTO,
		    cns__tr_reason_text(CNS__TR_REASON_PROTOCOL), detail);
}

static int fail_crypto(struct cns__tr_hs *hs, struct cns__tr_hs_out *out)
{
	return fail(hs, out, CNS__TR_REASON_IO, -ENOMEM, NULL, "libcrypto HMAC failed");
}

/* A Goodbye received during the handshake: the peer's text goes to the
 * local log (printable ASCII only, shortened). */
static int fail_goodbye(struct cns__tr_hs *hs, struct cns__tr_hs_out *out,
			const Backstay__Goodbye *bye)
{
	enum cns__tr_reason reason = cns__tr_reason_from_text(bye->reason);
	char text[96];
	int err;

	cns__tr_printable(text, sizeof text, bye->reason);
	err = reason == CNS__TR_REASON_AUTH	 ? -EACCES
	      : reason == CNS__TR_REASON_VERSION ? -EPROTONOSUPPORT
						 : -ECONNREFUSED;
	if (hs->state == CNS__TR_HS_SERVER_WAIT_PROOF && !hs->cluster_ok)
		reason = CNS__TR_REASON_AUTH;
	fail(hs, out, reason, err, NULL, "");
	snprintf(hs->detail, sizeof hs->detail, "peer said: %s", text);
	return err;
}

static void out_hello(struct cns__tr_hs *hs, struct cns__tr_hs_out *out)
{
	Backstay__Hello *h = &out->u.hello;

	backstay__envelope__init(&out->env);
	backstay__hello__init(h);
	h->cluster_id.data = (uint8_t *)hs->self->cluster_id;
	h->cluster_id.len = BS_CLUSTER_ID_LEN;
	h->node_id = hs->client_id;
	h->min_version = hs->client_min;
	h->max_version = hs->client_max;
	h->role = hs->role;
	h->nonce.data = hs->nonce_c;
	h->nonce.len = CNS__TR_NONCE_LEN;
	h->address = hs->client_address;
	out->env.body_case = BACKSTAY__ENVELOPE__BODY_HELLO;
	out->env.hello = h;
}

/* ------------------------------------------------------------------------
 * Starting.
 */

static void hs_reset(struct cns__tr_hs *hs, const struct cns__tr_identity *self,
		     enum cns__tr_hs_state state)
{
	memset(hs, 0, sizeof *hs);
	hs->state = state;
	hs->self = self;
}

void cns__tr_hs_client(struct cns__tr_hs *hs, const struct cns__tr_identity *self,
		       Backstay__Role role, uint64_t expect_server_id,
		       const uint8_t nonce_c[CNS__TR_NONCE_LEN], struct cns__tr_hs_out *out)
{
	hs_reset(hs, self, CNS__TR_HS_CLIENT_WAIT_REPLY);
	hs->role = role;
	hs->client_id = self->node_id;
	hs->client_min = self->min_version;
	hs->client_max = self->max_version;
	hs->expect_server_id = expect_server_id;
	snprintf(hs->client_address, sizeof hs->client_address, "%s", self->address);
	memcpy(hs->nonce_c, nonce_c, CNS__TR_NONCE_LEN);
	out_hello(hs, out);
}

void cns__tr_hs_server(struct cns__tr_hs *hs, const struct cns__tr_identity *self,
		       const uint8_t nonce_s[CNS__TR_NONCE_LEN])
{
	hs_reset(hs, self, CNS__TR_HS_SERVER_WAIT_HELLO);
	hs->server_id = self->node_id;
	memcpy(hs->nonce_s, nonce_s, CNS__TR_NONCE_LEN);
}

/* ------------------------------------------------------------------------
 * Server: Hello -> HelloReply.
 */

static bool role_known(Backstay__Role role)
{
	return role == BACKSTAY__ROLE__PEER || role == BACKSTAY__ROLE__CTL ||
	       role == BACKSTAY__ROLE__JOIN;
}

/* Shape checks that need no secret: NULL when fine, else what is wrong. */
static const char *hello_shape(const struct cns__tr_hs *hs, const Backstay__Hello *h)
{
	if (h->nonce.len != CNS__TR_NONCE_LEN)
		return "nonce is not 32 bytes";
	if (h->cluster_id.len != BS_CLUSTER_ID_LEN)
		return "cluster id is not 16 bytes";
	if (h->address == NULL || strlen(h->address) > CNS__TR_MAX_ADDRESS)
		return "address too long";
	if (h->role == BACKSTAY__ROLE__PEER && h->node_id == 0)
		return "node id 0"; /* tools (CTL, JOIN) have none: their requests say who */
	if (h->role == BACKSTAY__ROLE__PEER && h->node_id == hs->self->node_id)
		return "peer claims our own node id";
	return NULL;
}

/* The highest version both speak, or 0. */
static uint32_t version_pick(const struct cns__tr_identity *self, uint32_t min, uint32_t max)
{
	uint32_t hi = max < self->max_version ? max : self->max_version;
	uint32_t lo = min > self->min_version ? min : self->min_version;

	return min == 0 || min > max || hi < lo ? 0 : hi;
}

/* No common version. `side` is who refuses ("server" or "client"); the
 * text tells the peer which versions that side speaks. */
static int version_refuse(struct cns__tr_hs *hs, struct cns__tr_hs_out *out, const char *side,
			  uint32_t min, uint32_t max, uint32_t peer_min, uint32_t peer_max)
{
	char tell[96], detail[96];

	snprintf(tell, sizeof tell, "%s: %s speaks %u..%u",
		 cns__tr_reason_text(CNS__TR_REASON_VERSION), side, min, max);
	snprintf(detail, sizeof detail, "peer offers %u..%u, we speak %u..%u", peer_min, peer_max,
		 min, max);
	return fail(hs, out, CNS__TR_REASON_VERSION, -EPROTONOSUPPORT, tell, detail);
}

static void hello_record(struct cns__tr_hs *hs, const Backstay__Hello *h, uint32_t version)
{
	hs->role = h->role;
	hs->version = version;
	hs->client_id = h->node_id;
	hs->client_min = h->min_version;
	hs->client_max = h->max_version;
	snprintf(hs->client_address, sizeof hs->client_address, "%s", h->address);
	memcpy(hs->nonce_c, h->nonce.data, CNS__TR_NONCE_LEN);
	hs->cluster_ok =
		CRYPTO_memcmp(h->cluster_id.data, hs->self->cluster_id, BS_CLUSTER_ID_LEN) == 0;
}

static int server_hello(struct cns__tr_hs *hs, const Backstay__Hello *h, struct cns__tr_hs_out *out)
{
	Backstay__HelloReply *r = &out->u.reply;
	const char *bad;
	uint32_t version;

	if (!role_known(h->role))
		return fail(hs, out, CNS__TR_REASON_ROLE, -EPROTO,
			    cns__tr_reason_text(CNS__TR_REASON_ROLE), "unknown role in Hello");
	bad = hello_shape(hs, h);
	if (bad != NULL)
		return fail_protocol(hs, out, bad);
	version = version_pick(hs->self, h->min_version, h->max_version);
	if (version == 0)
		return version_refuse(hs, out, "server", hs->self->min_version,
				      hs->self->max_version, h->min_version, h->max_version);
	hello_record(hs, h, version);
	if (transcript_mac(hs, LABEL_SERVER, 0, hs->proof) < 0)
		return fail_crypto(hs, out);
	backstay__envelope__init(&out->env);
	backstay__hello_reply__init(r);
	r->version = version;
	r->nonce.data = hs->nonce_s;
	r->nonce.len = CNS__TR_NONCE_LEN;
	r->proof.data = hs->proof;
	r->proof.len = CNS__TR_MAC_LEN;
	r->node_id = hs->server_id;
	out->env.body_case = BACKSTAY__ENVELOPE__BODY_HELLO_REPLY;
	out->env.hello_reply = r;
	hs->state = CNS__TR_HS_SERVER_WAIT_PROOF;
	return 0;
}

/* ------------------------------------------------------------------------
 * Server: HelloProof -> DONE. Both checks always run; neither result is
 * told apart from the other.
 */

static int server_proof(struct cns__tr_hs *hs, const Backstay__HelloProof *p,
			struct cns__tr_hs_out *out)
{
	bool ok = false;

	if (proof_check(hs, LABEL_CLIENT, p->proof, &ok) < 0)
		return fail_crypto(hs, out);
	if (!ok || !hs->cluster_ok)
		return fail(hs, out, CNS__TR_REASON_AUTH, -EACCES,
			    cns__tr_reason_text(CNS__TR_REASON_AUTH),
			    !hs->cluster_ok ? "cluster id differs" : "client proof mismatch");
	if (derive_keys(hs) < 0)
		return fail_crypto(hs, out);
	out_none(out);
	hs->state = CNS__TR_HS_DONE;
	return 0;
}

/* ------------------------------------------------------------------------
 * Client: HelloReply -> HelloProof, DONE. The proof is checked first: the
 * version and node id are only believed once it has passed.
 */

static int client_expect(struct cns__tr_hs *hs, struct cns__tr_hs_out *out, uint64_t node_id)
{
	char detail[96];

	if (hs->role == BACKSTAY__ROLE__PEER && (node_id == 0 || node_id == hs->client_id))
		return fail_protocol(hs, out, "server has node id 0 or ours");
	if (hs->expect_server_id == 0 || node_id == hs->expect_server_id)
		return 0;
	snprintf(detail, sizeof detail, "dialed node %llu, reached node %llu",
		 (unsigned long long)hs->expect_server_id, (unsigned long long)node_id);
	return fail(hs, out, CNS__TR_REASON_WRONG_NODE, -EPROTO,
		    cns__tr_reason_text(CNS__TR_REASON_WRONG_NODE), detail);
}

static int client_reply(struct cns__tr_hs *hs, const Backstay__HelloReply *r,
			struct cns__tr_hs_out *out)
{
	Backstay__HelloProof *p = &out->u.proof;
	bool ok = false;
	int rc;

	if (r->nonce.len != CNS__TR_NONCE_LEN)
		return fail_protocol(hs, out, "nonce is not 32 bytes");
	memcpy(hs->nonce_s, r->nonce.data, CNS__TR_NONCE_LEN);
	hs->server_id = r->node_id;
	hs->version = r->version;
	if (proof_check(hs, LABEL_SERVER, r->proof, &ok) < 0)
		return fail_crypto(hs, out);
	if (!ok)
		return fail(hs, out, CNS__TR_REASON_AUTH, -EACCES,
			    cns__tr_reason_text(CNS__TR_REASON_AUTH),
			    "server proof mismatch (wrong cluster id or secret, ours or theirs)");
	if (r->version < hs->client_min || r->version > hs->client_max)
		return version_refuse(hs, out, "client", hs->client_min, hs->client_max, r->version,
				      r->version);
	rc = client_expect(hs, out, r->node_id);
	if (rc < 0)
		return rc;
	if (transcript_mac(hs, LABEL_CLIENT, 0, hs->proof) < 0 || derive_keys(hs) < 0)
		return fail_crypto(hs, out);
	backstay__envelope__init(&out->env);
	backstay__hello_proof__init(p);
	p->proof.data = hs->proof;
	p->proof.len = CNS__TR_MAC_LEN;
	out->env.body_case = BACKSTAY__ENVELOPE__BODY_HELLO_PROOF;
	out->env.hello_proof = p;
	hs->state = CNS__TR_HS_DONE;
	return 0;
}

/* ------------------------------------------------------------------------
 * Dispatch.
 */

int cns__tr_hs_step(struct cns__tr_hs *hs, const Backstay__Envelope *in, struct cns__tr_hs_out *out)
{
	Backstay__Envelope__BodyCase want;

	out_none(out);
	if (hs->state == CNS__TR_HS_DONE || hs->state == CNS__TR_HS_FAILED)
		return -EPROTO;
	if (in->body_case == BACKSTAY__ENVELOPE__BODY_GOODBYE && in->goodbye != NULL)
		return fail_goodbye(hs, out, in->goodbye);
	want = hs->state == CNS__TR_HS_SERVER_WAIT_HELLO   ? BACKSTAY__ENVELOPE__BODY_HELLO
	       : hs->state == CNS__TR_HS_SERVER_WAIT_PROOF ? BACKSTAY__ENVELOPE__BODY_HELLO_PROOF
							   : BACKSTAY__ENVELOPE__BODY_HELLO_REPLY;
	/* Every body member is a pointer in one union: one NULL check. */
	if (in->body_case != want || in->hello == NULL)
		return fail_protocol(hs, out, "unexpected frame during the handshake");
	switch (hs->state) {
	case CNS__TR_HS_SERVER_WAIT_HELLO:
		return server_hello(hs, in->hello, out);
	case CNS__TR_HS_SERVER_WAIT_PROOF:
		return server_proof(hs, in->hello_proof, out);
	default:
		return client_reply(hs, in->hello_reply, out);
	}
}

/* Reasons a peer is told about when the connection ends mid-handshake. */
static bool reason_told(enum cns__tr_reason reason)
{
	return reason == CNS__TR_REASON_TIMEOUT || reason == CNS__TR_REASON_MALFORMED ||
	       reason == CNS__TR_REASON_TOO_BIG || reason == CNS__TR_REASON_SHUTDOWN ||
	       reason == CNS__TR_REASON_OVERLOAD;
}

void cns__tr_hs_abort(struct cns__tr_hs *hs, enum cns__tr_reason reason, bool tell,
		      struct cns__tr_hs_out *out)
{
	bool mismatch = hs->state == CNS__TR_HS_SERVER_WAIT_PROOF && !hs->cluster_ok;

	out_none(out);
	if (hs->state == CNS__TR_HS_DONE || hs->state == CNS__TR_HS_FAILED)
		return;
	fail(hs, out, mismatch ? CNS__TR_REASON_AUTH : reason, 0,
	     tell && reason_told(reason) ? cns__tr_reason_text(reason) : NULL,
	     mismatch ? "cluster id differs" : "");
}

void cns__tr_hs_wipe(struct cns__tr_hs *hs)
{
	OPENSSL_cleanse(hs->key_c2s, sizeof hs->key_c2s);
	OPENSSL_cleanse(hs->key_s2c, sizeof hs->key_s2c);
	OPENSSL_cleanse(hs->proof, sizeof hs->proof);
	OPENSSL_cleanse(hs->nonce_c, sizeof hs->nonce_c);
	OPENSSL_cleanse(hs->nonce_s, sizeof hs->nonce_s);
}

/* ------------------------------------------------------------------------
 * Per-frame MAC: HMAC-SHA256(K, seq (u64 BE) || frame).
 */

/* The context is keyed once here: every frame then re-initialises it
 * with a NULL key, which reuses the key's precomputed inner and outer
 * states (keying per frame, with its digest lookup, cost about a quarter
 * of a busy node's CPU). */
int cns__tr_mac_init(struct cns__tr_mac *m, const uint8_t key[CNS__TR_KEY_LEN])
{
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	EVP_MAC *mac;

	memset(m, 0, sizeof *m);
	mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (mac == NULL)
		return -ENOMEM;
	m->ctx = EVP_MAC_CTX_new(mac);
	EVP_MAC_free(mac); /* the context keeps its own reference */
	if (m->ctx == NULL)
		return -ENOMEM;
	if (EVP_MAC_init(m->ctx, key, CNS__TR_KEY_LEN, params) != 1) {
		EVP_MAC_CTX_free(m->ctx);
		m->ctx = NULL;
		return -ENOMEM;
	}
	return 0;
}

static int mac_frame(struct cns__tr_mac *m, const uint8_t *frame, size_t len,
		     uint8_t out[CNS__TR_MAC_LEN])
{
	uint8_t seq[8];
	size_t out_len = 0;

	put_be64(seq, m->seq++);
	if (EVP_MAC_init(m->ctx, NULL, 0, NULL) != 1 ||
	    EVP_MAC_update(m->ctx, seq, sizeof seq) != 1 ||
	    EVP_MAC_update(m->ctx, frame, len) != 1 ||
	    EVP_MAC_final(m->ctx, out, &out_len, CNS__TR_MAC_LEN) != 1 ||
	    out_len != CNS__TR_MAC_LEN)
		return -ENOMEM;
	return 0;
}

int cns__tr_mac_sign(struct cns__tr_mac *m, const uint8_t *frame, size_t len,
		     uint8_t out[CNS__TR_MAC_LEN])
{
	return mac_frame(m, frame, len, out);
}

int cns__tr_mac_verify(void *data, const uint8_t *frame, size_t frame_len, const uint8_t *trailer,
		       size_t trailer_len)
{
	struct cns__tr_mac *m = data;
	uint8_t want[CNS__TR_MAC_LEN];
	int rc = mac_frame(m, frame, frame_len, want);

	if (rc == 0 &&
	    (trailer_len != CNS__TR_MAC_LEN || CRYPTO_memcmp(want, trailer, CNS__TR_MAC_LEN) != 0))
		rc = -EBADMSG;
	return rc;
}

void cns__tr_mac_close(struct cns__tr_mac *m)
{
	EVP_MAC_CTX_free(m->ctx); /* cleanses the key it holds */
	m->ctx = NULL;
}
