/*
 * dane_policy: the rules of DANE for SMTP (RFC 7672) that need no network
 * (contract in dane.h): TLSA records read and sorted into usable or not,
 * the policy for one MX host from the security of its MX, address and
 * TLSA answers, OpenSSL's DANE verification set up on a connection and
 * its result read, and per-domain counters of results (RFC 8460 types).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "core/log.h"
#include "delivery/dane.h"
#include "delivery/tlsrpt.h"
#include "lib/buf.h"
#include "lib/xmalloc.h"

#define SRC		"outbound"

/* --- TLSA records --------------------------------------------------------- */

int
dane_tlsa_parse(const unsigned char *rd, size_t len, struct dane_tlsa *out)
{
	if (len < 4)
		return -1;
	out->usage = rd[0];
	out->selector = rd[1];
	out->mtype = rd[2];
	out->len = len - 3;
	out->data = xmalloc(out->len);
	memcpy(out->data, rd + 3, out->len);
	return 0;
}

int
dane_tlsa_usable(const struct dane_tlsa *t)
{
	if (t->usage != 2 && t->usage != 3)	/* PKIX-TA/EE: RFC 7672 3.1.3 */
		return 0;
	if (t->selector > 1)
		return 0;
	switch (t->mtype) {
	case 0:
		return t->len > 0;
	case 1:
		return t->len == 32;
	case 2:
		return t->len == 64;
	default:
		return 0;
	}
}

/* The exchange of an MX RDATA (preference, uncompressed name). */
int
dane_mx_names(const unsigned char *rd, size_t len, const char *host)
{
	char name[256];
	size_t i = 2, o = 0, hl = strlen(host);

	if (len < 3)
		return 0;
	while (i < len && rd[i] != 0) {
		size_t l = rd[i++];

		if (l > 63 || i + l > len || o + l + 1 >= sizeof(name))
			return 0;
		if (o > 0)
			name[o++] = '.';
		memcpy(name + o, rd + i, l);
		o += l;
		i += l;
	}
	name[o] = '\0';
	if (hl > 0 && host[hl - 1] == '.')
		hl--;
	return o == hl && o > 0 && strncasecmp(name, host, hl) == 0;
}

/* --- policies ------------------------------------------------------------- */

static struct dane_policy *policy_new(enum dane_level, const char *,
		    const char *);
static void	 policy_key(struct dane_policy *);

/* DANE does not apply: why, for the log. */
static struct dane_policy *
none(const char *domain, const char *host, const char *fmt, const char *arg)
{
	struct dane_policy *p = policy_new(DANE_NONE, domain, host);

	p->why = xasprintf(fmt, arg);
	policy_key(p);
	return p;
}

static struct dane_policy *
policy_new(enum dane_level level, const char *domain, const char *host)
{
	struct dane_policy *p = xcalloc(1, sizeof(*p));

	p->refs = 1;
	p->level = level;
	p->domain = xstrdup(domain);
	p->host = xstrdup(host);
	return p;
}

static void
policy_key(struct dane_policy *p)
{
	struct buf b = BUF_INIT;

	buf_printf(&b, "dane%d:%s", (int)p->level, p->host);
	for (size_t i = 0; i < p->n; i++) {
		buf_printf(&b, ":%u%u%u", p->recs[i].usage,
		    p->recs[i].selector, p->recs[i].mtype);
		for (size_t j = 0; j < p->recs[i].len; j++)
			buf_printf(&b, "%02x", p->recs[i].data[j]);
	}
	p->key = buf_release(&b);
}

struct dane_policy *
dane_policy_fail(const char *domain, const char *host, const char *result,
    const char *fmt, ...)
{
	struct dane_policy *p = policy_new(DANE_FAIL, domain, host);
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&p->why, fmt, ap) == -1)
		p->why = NULL;
	va_end(ap);
	if (p->why == NULL)
		p->why = xstrdup("DANE: out of memory");
	p->result = result;
	policy_key(p);
	return p;
}

/* A failed answer: bogus (dnssec-invalid) or no answer at all. */
static struct dane_policy *
failed(const char *domain, const char *host, enum dane_sec sec,
    const char *what, const char *why_bogus)
{
	if (sec == DANE_SEC_BOGUS)
		return dane_policy_fail(domain, host, "dnssec-invalid",
		    "DANE: the %s failed DNSSEC validation%s%s", what,
		    why_bogus ? ": " : "", why_bogus ? why_bogus : "");
	return dane_policy_fail(domain, host, "dnssec-invalid",
	    "DANE: the validating lookup of the %s failed", what);
}

/*
 * RFC 7672 2.2: DANE applies to an MX host only when the MX RRset is
 * secure (and names it), its address records are secure, and its TLSA
 * RRset is secure and not empty. A bogus or failed answer on that path
 * makes the host unusable for now; an insecure one ends DANE's say.
 */
struct dane_policy *
dane_decide(const char *domain, const char *host,
    const struct dane_answers *a)
{
	struct dane_policy *p;
	char what[600];

	snprintf(what, sizeof(what), "MX records of %s", domain);
	if (a->mx == DANE_SEC_BOGUS || a->mx == DANE_SEC_FAIL)
		return failed(domain, host, a->mx, what, a->why_bogus);
	if (a->mx == DANE_SEC_INSECURE)
		return none(domain, host, "the MX records of %s are not signed",
		    domain);
	if (!a->mx_has_host)
		return dane_policy_fail(domain, host, "dnssec-invalid",
		    "DANE: %s is not in the validated MX records of %s",
		    host, domain);
	snprintf(what, sizeof(what), "addresses of %s", host);
	if (a->addr == DANE_SEC_BOGUS || a->addr == DANE_SEC_FAIL)
		return failed(domain, host, a->addr, what, a->why_bogus);
	if (a->addr == DANE_SEC_INSECURE)
		return none(domain, host, "the addresses of %s are not signed",
		    host);
	snprintf(what, sizeof(what), "TLSA records of _25._tcp.%s", host);
	if (a->tlsa == DANE_SEC_BOGUS || a->tlsa == DANE_SEC_FAIL)
		return failed(domain, host, a->tlsa, what, a->why_bogus);
	if (a->tlsa == DANE_SEC_INSECURE)
		return none(domain, host, "the TLSA records of %s are not "
		    "signed", host);
	if (a->n == 0)
		return none(domain, host, "%s has no TLSA record", host);
	p = policy_new(DANE_VERIFY, domain, host);
	for (size_t i = 0; i < a->n; i++) {
		const struct dane_tlsa *t = &a->recs[i];

		if (!dane_tlsa_usable(t))
			continue;
		p->recs = xreallocarray(p->recs, p->n + 1, sizeof(*p->recs));
		p->recs[p->n] = *t;
		p->recs[p->n].data = xmalloc(t->len);
		memcpy(p->recs[p->n].data, t->data, t->len);
		p->n++;
	}
	if (p->n == 0) {
		p->level = DANE_ENCRYPT;
		p->result = "tlsa-invalid";
	}
	policy_key(p);
	return p;
}

struct dane_policy *
dane_policy_ref(struct dane_policy *p)
{
	if (p != NULL)
		p->refs++;
	return p;
}

void
dane_policy_unref(struct dane_policy *p)
{
	if (p == NULL || --p->refs > 0)
		return;
	for (size_t i = 0; i < p->n; i++)
		free(p->recs[i].data);
	free(p->recs);
	free(p->domain);
	free(p->host);
	free(p->key);
	free(p->why);
	free(p);
}

/* --- OpenSSL --------------------------------------------------------------- */

char *
dane_ssl_setup(SSL *ssl, const struct dane_policy *p)
{
	int added = 0;

	if (p->level == DANE_ENCRYPT) {
		SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
		return NULL;
	}
	if (SSL_dane_enable(ssl, p->host) <= 0)
		return xasprintf("DANE: cannot enable DANE for %s", p->host);
	for (size_t i = 0; i < p->n; i++) {
		const struct dane_tlsa *t = &p->recs[i];
		int rv = SSL_dane_tlsa_add(ssl, t->usage, t->selector,
		    t->mtype, t->data, t->len);

		if (rv < 0)
			return xasprintf("DANE: cannot add a TLSA record for "
			    "%s", p->host);
		added += rv > 0;
	}
	if (added == 0)		/* dane_decide kept usable ones only */
		return xasprintf("DANE: no TLSA record of %s is usable",
		    p->host);
	SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
	return NULL;
}

char *
dane_ssl_check(SSL *ssl, const struct dane_policy *p, const char *peer,
    const char *uuid)
{
	long v;
	uint8_t usage, selector, mtype;
	int depth;
	X509 *cert;

	if (p->level == DANE_ENCRYPT) {
		log_info(SRC, uuid, "DANE: TLSA records of %s unusable; "
		    "encrypted without authentication to %s", p->host, peer);
		dane_count(p->domain, "tlsa-invalid", uuid);
		return NULL;
	}
	v = ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_ERR_UNSPECIFIED;
	cert = ssl != NULL ? SSL_get_peer_certificate(ssl) : NULL;
	depth = ssl != NULL ? SSL_get0_dane_tlsa(ssl, &usage, &selector,
	    &mtype, NULL, NULL) : -1;
	if (cert == NULL || v != X509_V_OK || depth < 0) {
		X509_free(cert);
		dane_count(p->domain, "validation-failure", uuid);
		if (v == X509_V_ERR_DANE_NO_MATCH || v == X509_V_OK)
			return xasprintf("DANE: no TLSA record matched the "
			    "server certificate of %s (%s)", peer, p->host);
		return xasprintf("DANE: the server certificate of %s (%s) "
		    "failed verification: %s", peer, p->host,
		    cert == NULL ? "no certificate" :
		    X509_verify_cert_error_string(v));
	}
	X509_free(cert);
	log_info(SRC, uuid, "DANE: verified %s (%s) by TLSA %u %u %u at "
	    "depth %d", peer, p->host, usage, selector, mtype, depth);
	dane_count(p->domain, "success", uuid);
	return NULL;
}

/* --- counters --------------------------------------------------------------- */

/* RFC 8460 4.3's result types a DANE policy can report, and "success". */
static const char *const results[] = {
	TLSRPT_SUCCESS, TLSRPT_STARTTLS_NOT_SUPPORTED, TLSRPT_DNSSEC_INVALID,
	TLSRPT_TLSA_INVALID, TLSRPT_DANE_REQUIRED, TLSRPT_VALIDATION_FAILURE,
	TLSRPT_CERT_NOT_TRUSTED,
};
#define NRESULTS	(sizeof(results) / sizeof(results[0]))

/* Counted by delivery/tlsrpt.c (policy type "tlsa"), with MTA-STS's; each
 * result is also logged with the domain's DANE totals and the mail's id. */
void
dane_count(const char *domain, const char *result, const char *uuid)
{
	struct buf b = BUF_INIT;
	unsigned long n;
	char *line;

	if (domain == NULL)
		return;
	tlsrpt_count(domain, TLSRPT_POLICY_TLSA, result);
	for (size_t i = 0; i < NRESULTS; i++)
		if ((n = tlsrpt_get(domain, TLSRPT_POLICY_TLSA,
		    results[i])) > 0)
			buf_printf(&b, " %s=%lu", results[i], n);
	line = buf_release(&b);
	log_info(SRC, uuid, "tls-report policy=tlsa domain=%s result=%s "
	    "totals:%s", domain, result, line != NULL ? line : "");
	free(line);
}
