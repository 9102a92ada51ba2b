/*
 * attempt_source: the attempt's source-IP pool (config/pools.ini,
 * core/vmta.h). Once the route is known, the pool (the entry's note
 * pool=NAME from the header at reception, else the sender's domain, else
 * the default) gives its next address and HELO name, copied into the
 * attempt; each connection of the attempt binds to it. A get_mx plugin's
 * bind (Haraka's mechanism) and LMTP over a Unix socket keep the route's
 * own: no pool then. The round-robin state lives in the struct vmta.
 */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "core/log.h"
#include "core/vmta.h"
#include "delivery/attempt.h"
#include "delivery/attempt_priv.h"
#include "delivery/mx.h"
#include "queue/entry.h"

#define SRC		"outbound"

/* The entry's note pool=NAME, NULL if none. */
static const char *
note_pool(const struct qentry *e)
{
	for (size_t i = 0; i < e->nnotes; i++)
		if (strcmp(e->notes[2 * i], "pool") == 0)
			return e->notes[2 * i + 1];
	return NULL;
}

void
source_route(struct attempt *a)
{
	struct vmta *v = a->env->vmta;
	const char *name, *noted;
	struct vmta_pick p;

	a->src_pool[0] = a->src_addr[0] = a->src_helo[0] = '\0';
	if (vmta_count(v) == 0)
		return;
	for (size_t i = 0; i < a->nmx; i++)
		if (a->mxs[i].bind != NULL || a->mxs[i].path != NULL)
			return;		/* the plugin's binding, or a socket */
	noted = note_pool(a->e);
	if ((name = noted != NULL ? vmta_find(v, noted) : NULL) == NULL) {
		if (noted != NULL)
			log_warn(SRC, a->e->id, "pool %s is gone from "
			    "pools.ini; the sender's pool applies", noted);
		name = vmta_for_sender(v, a->e->mail_from);
	}
	if (name == NULL || vmta_pick(v, name, &p) != 0)
		return;
	snprintf(a->src_pool, sizeof(a->src_pool), "%s", p.pool);
	snprintf(a->src_addr, sizeof(a->src_addr), "%s", p.addr);
	snprintf(a->src_helo, sizeof(a->src_helo), "%s",
	    p.helo != NULL ? p.helo : "");
	log_debug(SRC, a->e->id, "pool %s: from %s", a->src_pool, a->src_addr);
}

void
source_conf(struct attempt *a, const struct mx *mx, struct mta_conf *c)
{
	c->bind = mx->bind;
	c->helo = mx->bind_helo ? mx->bind_helo : a->cfg->core->me;
	if (mx->bind != NULL || a->src_addr[0] == '\0')
		return;
	/* An address of the other family could not reach it: the
	 * system's own choice then. */
	if (c->ip != NULL && mx_ip_family(c->ip) != mx_ip_family(a->src_addr))
		return;
	c->bind = a->src_addr;
	if (a->src_helo[0] != '\0')
		c->helo = a->src_helo;
}

const char *
source_route_name(const struct attempt *a)
{
	const struct mx *mx = a->mx;

	if (mx == NULL)
		return NULL;
	if (mx->bind != NULL || a->src_pool[0] == '\0' ||
	    (mx->exchange != NULL &&
	    mx_ip_family(mx->exchange) != mx_ip_family(a->src_addr)))
		return mx->route;	/* no pool address (source_conf) */
	return a->src_pool;
}
