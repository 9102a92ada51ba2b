/*
 * dns_answer: c-ares answers parsed into a query's result (dns_priv.h):
 * MX lists (null MX, preference order), TXT strings, and addresses, then
 * assembled in MX order with each host's addresses.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>

#include "delivery/dns_priv.h"
#include "delivery/mx.h"
#include "lib/buf.h"
#include "lib/xmalloc.h"

char *
dns_host_name(const char *s)
{
	size_t len = strlen(s);
	char *h;

	if (len > 0 && s[len - 1] == '.')
		len--;
	h = xstrndup(s, len);
	for (char *p = h; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return h;
}

void
dns_got_mx(struct dns_query *q, int status, unsigned char *abuf, int alen)
{
	struct ares_mx_reply *mxr = NULL;
	size_t n = 0;

	if (status == ARES_SUCCESS) {
		status = ares_parse_mx_reply(abuf, alen, &mxr);
		if (status != ARES_SUCCESS)
			mxr = NULL;
	}
	switch (status) {
	case ARES_SUCCESS:
		break;
	case ARES_ENODATA:
		q->implicit = 1;	/* no MX records, or none in the answer */
		return;
	case ARES_ENOTFOUND:
		q->ans.status = DNS_NXDOMAIN;
		return;
	default:
		q->ans.status = DNS_TEMP;
		q->ans.error = ares_strerror(status);
		return;
	}
	for (struct ares_mx_reply *r = mxr; r != NULL; r = r->next)
		n++;
	q->ans.mxs = xcalloc(n, sizeof(*q->ans.mxs));
	for (struct ares_mx_reply *r = mxr; r != NULL; r = r->next) {
		struct mx *m = &q->ans.mxs[q->ans.n++];

		m->exchange = dns_host_name(r->host);
		m->from_dns = xstrdup(q->domain);
		m->priority = r->priority;
	}
	ares_free_data(mxr);
	if (mx_is_null(q->ans.mxs, q->ans.n)) {
		mx_list_free(q->ans.mxs, q->ans.n);
		q->ans.mxs = NULL;
		q->ans.n = 0;
		q->ans.status = DNS_NULL_MX;
	} else {
		mx_sort(q->ans.mxs, q->ans.n);
		q->ans.status = DNS_OK;
	}
}

void
dns_got_txt(struct dns_query *q, int status, unsigned char *abuf, int alen)
{
	struct ares_txt_ext *txt = NULL;
	struct buf b = BUF_INIT;

	if (status == ARES_SUCCESS &&
	    (status = ares_parse_txt_reply_ext(abuf, alen, &txt)) !=
	    ARES_SUCCESS)
		txt = NULL;
	switch (status) {
	case ARES_SUCCESS:
		break;
	case ARES_ENODATA:
		q->ans.status = DNS_NOWHERE;
		return;
	case ARES_ENOTFOUND:
		q->ans.status = DNS_NXDOMAIN;
		return;
	default:
		q->ans.status = DNS_TEMP;
		q->ans.error = ares_strerror(status);
		return;
	}
	/* A record is its strings joined (RFC 7208 3.3's habit). */
	for (struct ares_txt_ext *t = txt; t != NULL; t = t->next) {
		if (t->record_start && q->ans.ntxt > 0)
			q->ans.txt[q->ans.ntxt - 1] = buf_release(&b);
		if (t->record_start || q->ans.ntxt == 0) {
			q->ans.txt = xreallocarray(q->ans.txt, q->ans.ntxt + 1,
			    sizeof(*q->ans.txt));
			q->ans.txt[q->ans.ntxt++] = NULL;
		}
		buf_add(&b, t->txt, t->length);
	}
	if (q->ans.ntxt > 0)
		q->ans.txt[q->ans.ntxt - 1] = buf_release(&b);
	buf_free(&b);
	ares_free_data(txt);
	q->ans.status = DNS_OK;
}

void
dns_got_addrs(struct dns_lookup *l, int status, unsigned char *abuf, int alen)
{
	struct hostent *he = NULL;
	char text[INET6_ADDRSTRLEN];
	int af = l->type == T_AAAA ? AF_INET6 : AF_INET;

	if (status != ARES_SUCCESS)
		return;			/* errors of either family ignored */
	if (l->type == T_AAAA)
		status = ares_parse_aaaa_reply(abuf, alen, &he, NULL, NULL);
	else
		status = ares_parse_a_reply(abuf, alen, &he, NULL, NULL);
	if (status != ARES_SUCCESS || he == NULL)
		return;
	for (char **a = he->h_addr_list; a != NULL && *a != NULL; a++) {
		if (he->h_addrtype != af ||
		    inet_ntop(af, *a, text, sizeof(text)) == NULL)
			continue;
		l->addrs = xreallocarray(l->addrs, l->naddrs + 1,
		    sizeof(*l->addrs));
		l->addrs[l->naddrs++] = xstrdup(text);
	}
	ares_free_hostent(he);
}

/* The addresses found, in lookup order, as entries copied from tmpl. */
static void
add_addrs(struct dns_query *q, const struct dns_lookup *l,
    const struct mx *tmpl, const char *from_dns, int priority)
{
	for (size_t j = 0; j < l->naddrs; j++) {
		struct mx *m;

		q->ans.mxs = xreallocarray(q->ans.mxs, q->ans.n + 1,
		    sizeof(*q->ans.mxs));
		m = &q->ans.mxs[q->ans.n++];
		if (tmpl != NULL)
			mx_copy(m, tmpl);
		else {
			memset(m, 0, sizeof(*m));
			m->priority = priority;
		}
		free(m->exchange);
		free(m->from_dns);
		m->exchange = xstrdup(l->addrs[j]);
		m->from_dns = xstrdup(from_dns);
	}
}

void
dns_assemble_implicit(struct dns_query *q)
{
	for (size_t i = 0; i < q->nlk; i++)
		add_addrs(q, &q->lk[i], NULL, q->domain, 0);
	q->ans.status = q->ans.n > 0 ? DNS_OK : DNS_NOWHERE;
}

int
dns_needs_lookup(const struct mx *m)
{
	return m->path == NULL && m->exchange != NULL &&
	    m->exchange[0] != '\0' && mx_ip_family(m->exchange) == 0;
}

void
dns_assemble_addresses(struct dns_query *q)
{
	size_t k = 0;

	for (size_t i = 0; i < q->nin; i++) {
		const struct mx *m = &q->in[i];

		if (dns_needs_lookup(m)) {
			/* Two lookups per name, AAAA first, in entry order. */
			for (; k < q->nlk && q->lk[k].entry == i; k++)
				add_addrs(q, &q->lk[k], m, m->exchange, 0);
			continue;
		}
		if (m->path == NULL && (m->exchange == NULL ||
		    m->exchange[0] == '\0'))
			continue;		/* nowhere to go (null MX) */
		q->ans.mxs = xreallocarray(q->ans.mxs, q->ans.n + 1,
		    sizeof(*q->ans.mxs));
		mx_copy(&q->ans.mxs[q->ans.n++], m);
	}
	mx_inet_prefer(q->ans.mxs, q->ans.n, q->prefer);
	q->ans.status = DNS_OK;
}
