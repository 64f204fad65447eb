/*
 * The self-signed certificate PostgreSQL presents when ssl.certificate is
 * not set (chef-backend made one at reconfigure from the same ssl.*
 * settings). Peers connect with sslmode=require: the channel is encrypted,
 * the certificate is not verified, exactly as in chef-backend.
 *
 * OpenSSL's libcrypto does the work; dates and the serial come from the
 * node's clock (CONVENTIONS §7).
 */
#include <errno.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "pgctl_internal.h"

enum { SERIAL_BYTES = 16, MIN_KEY_BITS = 1024, MAX_KEY_BITS = 16384 };

/* OpenSSL's first queued error, for errmsg; the queue is emptied. */
static const char *ssl_error(char *buf, size_t size)
{
	unsigned long e = ERR_get_error();

	if (e == 0)
		snprintf(buf, size, "unknown OpenSSL error");
	else
		ERR_error_string_n(e, buf, size);
	ERR_clear_error();
	return buf;
}

static int add_name(X509_NAME *name, const char *field, const char *value)
{
	if (value == NULL || value[0] == '\0')
		return 0;
	return X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8, (const unsigned char *)value,
					  -1, -1, 0) == 1
		       ? 0
		       : -EINVAL;
}

static int set_subject(X509 *x, const struct pgc_node *node)
{
	const struct bs_config *c = node->config;
	X509_NAME *name = X509_get_subject_name(x);
	const char *cn = node->cert_cn != NULL ? node->cert_cn : node->app_name;

	if (add_name(name, "C", bs_config_str(c, BS_SET_SSL_COUNTRY_NAME)) != 0 ||
	    add_name(name, "O", bs_config_str(c, BS_SET_SSL_COMPANY_NAME)) != 0 ||
	    add_name(name, "OU", bs_config_str(c, BS_SET_SSL_ORGANIZATIONAL_UNIT_NAME)) != 0 ||
	    add_name(name, "CN", cn != NULL ? cn : "backstay") != 0)
		return -EINVAL;
	return X509_set_issuer_name(x, name) == 1 ? 0 : -EINVAL;
}

/* A positive random serial of SERIAL_BYTES. */
static int set_serial(X509 *x, struct bs_clock *clock)
{
	unsigned char bytes[SERIAL_BYTES];
	BIGNUM *bn;
	int rv = bs_clock_random(clock, bytes, sizeof bytes);

	if (rv != 0)
		return rv;
	bytes[0] &= 0x7f;
	bytes[0] |= 0x01; /* never zero, never negative */
	bn = BN_bin2bn(bytes, sizeof bytes, NULL);
	if (bn == NULL)
		return -ENOMEM;
	rv = BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL ? 0 : -ENOMEM;
	BN_free(bn);
	return rv;
}

static int set_validity(X509 *x, struct bs_clock *clock, int64_t days)
{
	time_t now = (time_t)(bs_clock_wall_ms(clock) / 1000);

	if (days <= 0 || days > 100 * 366)
		return -EINVAL;
	if (X509_time_adj_ex(X509_getm_notBefore(x), 0, 0, &now) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), (int)days, 0, &now) == NULL)
		return -EINVAL;
	return 0;
}

/* The certificate for key, signed by it. */
static int build_cert(const struct pgc_node *node, EVP_PKEY *key, X509 **ret_x)
{
	struct bs_clock *clock = node->clock != NULL ? node->clock : bs_clock_real();
	X509 *x = X509_new();
	int rv;

	if (x == NULL)
		return -ENOMEM;
	rv = X509_set_version(x, 2) == 1 ? 0 : -EINVAL;
	if (rv == 0)
		rv = set_serial(x, clock);
	if (rv == 0)
		rv = set_validity(x, clock, bs_config_int(node->config, BS_SET_SSL_DURATION));
	if (rv == 0)
		rv = X509_set_pubkey(x, key) == 1 ? 0 : -EINVAL;
	if (rv == 0)
		rv = set_subject(x, node);
	if (rv == 0 && X509_sign(x, key, EVP_sha256()) == 0)
		rv = -EINVAL;
	if (rv != 0) {
		X509_free(x);
		return rv;
	}
	*ret_x = x;
	return 0;
}

/* PEM of a key (x == NULL) or a certificate, written to path. */
static int write_pem(const char *path, EVP_PKEY *key, X509 *x, mode_t mode, uid_t uid, gid_t gid,
		     char *errmsg, size_t size)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data;
	long len;
	int ok, rv;

	if (bio == NULL)
		return -ENOMEM;
	if (x == NULL)
		ok = PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL);
	else
		ok = PEM_write_bio_X509(bio, x);
	len = BIO_get_mem_data(bio, &data);
	if (ok != 1 || len <= 0) {
		bs_errf(errmsg, size, "%s: encoding PEM failed", path);
		rv = -ENOMEM;
	} else {
		rv = pgc__write_file(path, data, (size_t)len, mode, uid, gid, errmsg, size);
	}
	BIO_free(bio);
	return rv;
}

static int check_node(const struct pgc_node *node, int64_t *ret_bits, char *errmsg, size_t size)
{
	int64_t bits;

	if (node == NULL || node->config == NULL) {
		bs_errf(errmsg, size, "certificate: no configuration");
		return -EINVAL;
	}
	if (!bs_config_is_nil(node->config, BS_SET_SSL_CERTIFICATE)) {
		bs_errf(errmsg, size, "certificate: ssl.certificate is set; not replacing it");
		return -EINVAL;
	}
	bits = bs_config_int(node->config, BS_SET_SSL_KEY_LENGTH);
	if (bits < MIN_KEY_BITS || bits > MAX_KEY_BITS) {
		bs_errf(errmsg, size, "certificate: ssl.key_length %lld is out of range (%d..%d)",
			(long long)bits, MIN_KEY_BITS, MAX_KEY_BITS);
		return -EINVAL;
	}
	*ret_bits = bits;
	return 0;
}

/* Key and certificate written; the key first, so that a certificate on
 * disk always has its key. */
static int write_both(const struct pgc_node *node, EVP_PKEY *key, X509 *x, char *errmsg,
		      size_t size)
{
	struct pgc_paths *paths = malloc(sizeof *paths);
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;
	bool setuid_ok;
	char dir[sizeof paths->cert_file];
	char *slash;
	int rv;

	if (paths == NULL)
		return -ENOMEM;
	rv = pgc_node_paths(node, paths, errmsg, size);
	if (rv == 0)
		rv = pgc__os_user(node->config, &uid, &gid, &setuid_ok, errmsg, size);
	if (rv == 0 && !setuid_ok)
		uid = (uid_t)-1;
	if (rv == 0) {
		snprintf(dir, sizeof dir, "%s", paths->key_file);
		slash = strrchr(dir, '/');
		if (slash != NULL && slash != dir) {
			*slash = '\0';
			rv = pgc__mkdir_owned(dir, 0755, (uid_t)-1, (gid_t)-1, errmsg, size);
		}
	}
	if (rv == 0)
		rv = write_pem(paths->key_file, key, NULL, 0600, uid, gid, errmsg, size);
	if (rv == 0)
		rv = write_pem(paths->cert_file, key, x, 0644, uid, gid, errmsg, size);
	free(paths);
	return rv;
}

int pgc_cert_make(const struct pgc_node *node, char *errmsg, size_t size)
{
	char why[200];
	EVP_PKEY *key;
	X509 *x = NULL;
	int64_t bits;
	int rv = check_node(node, &bits, errmsg, size);

	if (rv != 0)
		return rv;
	key = EVP_RSA_gen((unsigned)bits);
	if (key == NULL) {
		bs_errf(errmsg, size, "certificate: generating a %lld-bit RSA key: %s",
			(long long)bits, ssl_error(why, sizeof why));
		return -ENOMEM;
	}
	rv = build_cert(node, key, &x);
	if (rv != 0) {
		bs_errf(errmsg, size,
			"certificate: building it (ssl.country_name must be two "
			"letters): %s",
			ssl_error(why, sizeof why));
		goto err_after_key;
	}
	rv = write_both(node, key, x, errmsg, size);
	X509_free(x);
err_after_key:
	EVP_PKEY_free(key);
	return rv;
}
