/*
 * outbound_hooks: a test plugin on every outbound hook. Each call is
 * appended as one line to <config>/../hooks.log:
 *   <hook> id=<id> domain=<d> attempts=<n> rcpts=<a,b> [error=<e>]
 *   [delay=<s>] [host=<h> ip=<ip> port=<p> mode=<m> response=<r>
 *   secured=<0|1> authenticated=<0|1>] statuses=<s1,s2>
 * and answered as outbound_hooks.ini says:
 *   [send_email] delay=<seconds>      DELAY once per queue id
 *   [get_mx] answer=ok|deny|denysoft|cont, mx=<MX strings>,
 *            struct=<host>:<port>    (OK through op_next_mx),
 *            domain=<d>              (only for mail to d)
 *   [deferred] answer=cont|denysoft|ok, seconds=<n>
 *   [bounce] answer=cont|ok
 *   [delivered] notify=<addr>   after a delivery (not to <addr>'s
 *            domain) op_send_email() a dot-stuffed notice with an old
 *            Message-Id (removed), routed by a next_hop note to
 *            [delivered] next_hop; the answer is logged as "sent <code>"
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "outpost/plugin.h"

struct hooks {
	char	 log[4096];
	char	 ini[4096];
	char	 delayed[64][160];
	int	 ndelayed;
};

/* key=value under [section] of the ini, or NULL (one static buffer). */
static const char *
conf(const struct hooks *h, const char *section, const char *key)
{
	static char val[512];
	char line[600], cur[64] = "";
	FILE *f = fopen(h->ini, "r");
	const char *found = NULL;

	if (f == NULL)
		return NULL;
	while (found == NULL && fgets(line, sizeof(line), f) != NULL) {
		size_t n = strcspn(line, "\r\n");

		line[n] = '\0';
		if (line[0] == '[') {
			snprintf(cur, sizeof(cur), "%.*s", (int)strcspn(line + 1,
			    "]"), line + 1);
			continue;
		}
		if (strcmp(cur, section) == 0 && strncmp(line, key,
		    strlen(key)) == 0 && line[strlen(key)] == '=') {
			snprintf(val, sizeof(val), "%s", line + strlen(key) + 1);
			found = val;
		}
	}
	fclose(f);
	return found;
}

static void
record(const struct hooks *h, const char *hook, const struct op_outbound *o)
{
	FILE *f = fopen(h->log, "a");

	if (f == NULL)
		return;
	fprintf(f, "%s id=%s domain=%s attempts=%u rcpts=", hook, o->id,
	    o->domain, o->attempts);
	for (unsigned i = 0; i < o->nrcpts; i++)
		fprintf(f, "%s%s", i ? "," : "", o->rcpts[i].address);
	if (o->error != NULL)
		fprintf(f, " error=%s", o->error);
	if (strcmp(hook, "deferred") == 0 || strcmp(hook, "delivered") == 0)
		fprintf(f, " delay=%.3f", o->delay);
	if (o->host != NULL)
		fprintf(f, " host=%s ip=%s port=%u mode=%s response=%s "
		    "secured=%d authenticated=%d", o->host, o->ip ? o->ip : "",
		    o->port, o->mode ? o->mode : "",
		    o->response ? o->response : "", o->secured,
		    o->authenticated);
	fprintf(f, " statuses=");
	for (unsigned i = 0; i < o->nrcpts; i++)
		fprintf(f, "%s%s", i ? "," : "",
		    o->rcpts[i].status ? o->rcpts[i].status : "-");
	fprintf(f, "\n");
	fclose(f);
}

static void
on_send_email(struct op_call *c, void *data)
{
	struct hooks *h = data;
	const struct op_outbound *o = op_call_outbound(c);
	const char *d = conf(h, "send_email", "delay");

	record(h, "send_email", o);
	if (d != NULL) {
		for (int i = 0; i < h->ndelayed; i++)
			if (strcmp(h->delayed[i], o->id) == 0) {
				op_next(c, OP_CONT, NULL);
				return;
			}
		if (h->ndelayed < 64)
			snprintf(h->delayed[h->ndelayed++], 160, "%s", o->id);
		op_next(c, OP_DELAY, d);
		return;
	}
	op_next(c, OP_CONT, NULL);
}

static void
on_get_mx(struct op_call *c, void *data)
{
	struct hooks *h = data;
	const char *a, *d = conf(h, "get_mx", "domain");
	char hostport[256];

	record(h, "get_mx", op_call_outbound(c));
	if (d != NULL && strcmp(d, op_call_outbound(c)->domain) != 0) {
		op_next(c, OP_CONT, NULL);
		return;
	}
	a = conf(h, "get_mx", "answer");	/* conf() reuses its buffer */
	if (0)
		;
	else if (a == NULL || strcmp(a, "cont") == 0)
		op_next(c, OP_CONT, NULL);
	else if (strcmp(a, "deny") == 0)
		op_next(c, OP_DENY, "no route");
	else if (strcmp(a, "denysoft") == 0)
		op_next(c, OP_DENYSOFT, "no route yet");
	else if (conf(h, "get_mx", "struct") != NULL) {
		struct op_mx mx;
		char *colon;

		snprintf(hostport, sizeof(hostport), "%s",
		    conf(h, "get_mx", "struct"));
		memset(&mx, 0, sizeof(mx));
		colon = strrchr(hostport, ':');
		if (colon != NULL) {
			*colon = '\0';
			mx.port = (unsigned)atoi(colon + 1);
		}
		mx.exchange = hostport;
		mx.route = "test-route";
		op_next_mx(c, &mx, 1);
	} else
		op_next(c, OP_OK, conf(h, "get_mx", "mx"));
}

static void
on_deferred(struct op_call *c, void *data)
{
	struct hooks *h = data;
	const char *a = conf(h, "deferred", "answer");

	record(h, "deferred", op_call_outbound(c));
	if (a != NULL && strcmp(a, "denysoft") == 0)
		op_next(c, OP_DENYSOFT, conf(h, "deferred", "seconds"));
	else if (a != NULL && strcmp(a, "ok") == 0)
		op_next(c, OP_OK, NULL);
	else
		op_next(c, OP_CONT, NULL);
}

static void
on_bounce(struct op_call *c, void *data)
{
	struct hooks *h = data;
	const char *a = conf(h, "bounce", "answer");

	record(h, "bounce", op_call_outbound(c));
	op_next(c, a != NULL && strcmp(a, "ok") == 0 ? OP_OK : OP_CONT, NULL);
}

static void
sent(void *arg, int code, const char *msg)
{
	const struct hooks *h = arg;
	FILE *f = fopen(h->log, "a");

	if (f == NULL)
		return;
	fprintf(f, "sent %d %s\n", code, msg ? msg : "");
	fclose(f);
}

static void
on_delivered(struct op_call *c, void *data)
{
	const struct hooks *h = data;
	const struct op_outbound *o = op_call_outbound(c);
	const char *n = conf(h, "delivered", "notify");
	char to[256], hop[256], text[1024];

	record(data, "delivered", o);
	if (n != NULL) {
		snprintf(to, sizeof(to), "%s", n);
		n = conf(h, "delivered", "next_hop");
		snprintf(hop, sizeof(hop), "%s", n ? n : "");
	}
	if (n != NULL && strcmp(strrchr(to, '@') + 1, o->domain) != 0) {
		const char *rcpt[1] = { to };
		const char *notes[] = { "next_hop", hop, NULL };

		snprintf(text, sizeof(text), "Message-Id: <old@plugin.test>\n"
		    "Subject: delivered %s\n\n..dot line\nlast line", o->id);
		op_send_email("", rcpt, 1, text, strlen(text),
		    OP_SEND_DOT_STUFFED | OP_SEND_REMOVE_MSGID, notes, sent,
		    data);
	}
	op_next(c, OP_CONT, NULL);
}

static int
hooks_init(struct op_env *env, void **data)
{
	struct hooks *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return -1;
	snprintf(h->log, sizeof(h->log), "%s/../hooks.log", op_config_dir(env));
	snprintf(h->ini, sizeof(h->ini), "%s/outbound_hooks.ini",
	    op_config_dir(env));
	*data = h;
	op_register_hook(env, OP_HOOK_SEND_EMAIL, on_send_email, 0);
	op_register_hook(env, OP_HOOK_GET_MX, on_get_mx, 0);
	op_register_hook(env, OP_HOOK_DEFERRED, on_deferred, 0);
	op_register_hook(env, OP_HOOK_BOUNCE, on_bounce, 0);
	op_register_hook(env, OP_HOOK_DELIVERED, on_delivered, 0);
	return 0;
}

static void
hooks_shutdown(void *data)
{
	free(data);
}

const struct op_plugin outpost_plugin = {
	OUTPOST_PLUGIN_ABI, "outbound_hooks", hooks_init, hooks_shutdown
};
