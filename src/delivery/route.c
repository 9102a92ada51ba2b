/*
 * route: op_next_mx, get_mx's structured answer. The plugin's op_mx list
 * becomes delivery's MX list in the hook's argument block (oc->mxs, read
 * by the attempt when the chain's verdict arrives); the plugins runner
 * only hands over the block (hook_answer_args) and takes the answer.
 * Also get_mx's answer as a string of MX forms.
 */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
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
op_next_mx(struct op_call *c, const struct op_mx *list, unsigned n)
{
	struct outbound_call *oc = hook_answer_args(c, OP_HOOK_GET_MX);

	if (oc == NULL) {
		op_next(c, OP_OK, NULL);	/* releases a late call */
		return;
	}
	mx_list_free(oc->mxs, oc->nmx);
	oc->nmx = route_from_plugin(list, n, &oc->mxs);
	op_next(c, OP_OK, NULL);
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
