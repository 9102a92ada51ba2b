/*
 * route: op_next_mx, get_mx's structured answer. The plugin's op_mx list
 * becomes delivery's MX list in the hook's argument block (oc->mxs, read
 * by the attempt when the chain's verdict arrives); the plugins runner
 * only hands over the block (hook_answer_args) and takes the answer.
 * Also get_mx's answer as a string of MX forms, a built-in route's own
 * settings (smtp_forward.ini) and the shaping they give.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/shaping.h"
#include "delivery/route.h"
#include "lib/xmalloc.h"
#include "plugins/plugin.h"
#include "delivery/mx.h"

static char *
dup_or_null(const char *s)
{
	return s != NULL && *s != '\0' ? xstrdup(s) : NULL;
}

size_t
route_from_plugin(const struct op_mx *list, unsigned n, struct mx **out)
{
	struct mx *mxs = xcalloc(n ? n : 1, sizeof(*mxs));
	size_t k = 0;

	for (unsigned i = 0; i < n; i++) {
		struct mx *m = &mxs[k];

		if ((list[i].exchange == NULL || *list[i].exchange == '\0') &&
		    (list[i].path == NULL || *list[i].path == '\0'))
			continue;
		m->exchange = dup_or_null(list[i].exchange);
		if (m->exchange != NULL)
			for (char *p = m->exchange; *p; p++)
				if (*p >= 'A' && *p <= 'Z')
					*p = (char)(*p - 'A' + 'a');
		m->path = dup_or_null(list[i].path);
		m->priority = list[i].priority;
		m->port = list[i].port;
		m->bind = dup_or_null(list[i].bind);
		m->bind_helo = dup_or_null(list[i].bind_helo);
		m->using_lmtp = list[i].using_lmtp;
		m->auth_user = dup_or_null(list[i].auth_user);
		m->auth_pass = dup_or_null(list[i].auth_pass);
		m->auth_type = dup_or_null(list[i].auth_type);
		m->route = dup_or_null(list[i].route);
		k++;
	}
	*out = mxs;
	return k;
}

void
route_next_mx_own(struct op_call *c, const struct op_mx *list, unsigned n,
    const struct mx *own)
{
	struct outbound_call *oc = hook_answer_args(c, OP_HOOK_GET_MX);

	if (oc == NULL) {
		op_next(c, OP_OK, NULL);	/* releases a late call */
		return;
	}
	mx_list_free(oc->mxs, oc->nmx);
	oc->nmx = route_from_plugin(list, n, &oc->mxs);
	for (size_t i = 0; own != NULL && i < oc->nmx; i++) {
		oc->mxs[i].tls = own->tls;
		oc->mxs[i].tls_verify = own->tls_verify;
		oc->mxs[i].connect_timeout = own->connect_timeout;
		oc->mxs[i].max_connections = own->max_connections;
		oc->mxs[i].one_per_rcpt = own->one_per_rcpt;
	}
	op_next(c, OP_OK, NULL);
}

void
op_next_mx(struct op_call *c, const struct op_mx *list, unsigned n)
{
	route_next_mx_own(c, list, n, NULL);
}

int
route_shaping(const struct mx *mxs, size_t n, const struct shaping *sh,
    char *key, struct shaping_limits *lim)
{
	const struct mx *m = n > 0 ? &mxs[0] : NULL;
	const char *host;
	char unused[SHAPING_KEY_MAX];

	if (m == NULL || (m->connect_timeout == 0 && m->max_connections == 0 &&
	    !m->one_per_rcpt))
		return 0;
	host = m->from_dns != NULL ? m->from_dns : m->exchange != NULL ?
	    m->exchange : m->path != NULL ? m->path : "";
	*lim = *shaping_lookup(sh, host, &host, 1, unused);
	if (m->connect_timeout > 0)
		lim->connect_timeout = m->connect_timeout;
	if (m->max_connections > 0)
		lim->max_connections = m->max_connections;
	if (m->one_per_rcpt)
		lim->max_recipients_per_message = 1;
	snprintf(key, SHAPING_KEY_MAX, "forward:%.200s:%u", host,
	    m->port ? m->port : m->using_lmtp ? 24 : 25);
	return 1;
}

size_t
route_from_strings(const char *msg, const char *uuid, struct mx **out)
{
	char *copy = xstrdup(msg), *tok, *save = NULL;
	size_t n = 0;

	*out = NULL;
	for (tok = strtok_r(copy, ", \t", &save); tok != NULL;
	    tok = strtok_r(NULL, ", \t", &save)) {
		struct mx mx;
		const char *why;

		memset(&mx, 0, sizeof(mx));
		if (mx_parse(tok, &mx, &why) != 0) {
			log_error("outbound", uuid, "get_mx: ignoring '%s': %s",
			    tok, why);
			continue;
		}
		*out = xreallocarray(*out, n + 1, sizeof(**out));
		(*out)[n++] = mx;
	}
	free(copy);
	return n;
}
