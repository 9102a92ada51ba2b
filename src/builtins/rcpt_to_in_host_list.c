/*
 * rcpt_to.in_host_list: Haraka's plugin of that name. config/host_list
 * (domains, one a line) and config/host_list_regex (regular expressions,
 * anchored as ^(?:re1|re2)$, case-insensitive) name the domains Outpost
 * takes mail for from any client, relaying or not — its bounce domains,
 * say. A recipient in one of them is accepted at RCPT; other recipients
 * still need a relaying client. Such mail is queued like the rest and
 * carries the note inbound=1 (queue/smtp_forward forwards it). With
 * config/host_list.anti_spoof true, a client that does not relay may not
 * send from those domains (550 at MAIL). The files are read at start-up.
 */
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/ini.h"
#include "lib/xmalloc.h"
#include "outpost/plugin.h"
#include "builtins/builtin.h"
#include "smtp/policy.h"

#define NAME	"rcpt_to.in_host_list"

struct host_list {
	char		**domains;	/* lower-case */
	size_t		  n;
	regex_t		  re;
	int		  has_re;
};

static int
in_host_list(const char *domain, void *data)
{
	const struct host_list *h = data;

	for (size_t i = 0; i < h->n; i++)
		if (strcmp(h->domains[i], domain) == 0)
			return 1;
	return h->has_re && regexec(&h->re, domain, 0, NULL, 0) == 0;
}

/* A JavaScript pattern as a POSIX extended one: (?: groups become plain
 * groups, \d a digit class. Others are taken as written. */
static void
add_pattern(struct buf *b, const char *p)
{
	while (*p) {
		if (strncmp(p, "(?:", 3) == 0) {
			buf_addc(b, '(');
			p += 3;
		} else if (p[0] == '\\' && p[1] == 'd') {
			buf_adds(b, "[0-9]");
			p += 2;
		} else if (p[0] == '\\' && p[1] != '\0') {
			buf_add(b, p, 2);
			p += 2;
		} else
			buf_addc(b, *p++);
	}
}

static void
hl_shutdown(void *data)
{
	struct host_list *h = data;

	if (h == NULL)
		return;
	reception_set_local_domain(NULL, NULL, 0);
	flat_list_free(h->domains);
	if (h->has_re)
		regfree(&h->re);
	free(h);
}

static int
hl_init(struct op_env *env, void **data)
{
	const char *dir = op_config_dir(env);
	struct host_list *h = xcalloc(1, sizeof(*h));
	char *path = xasprintf("%s/host_list", dir), **res = NULL;
	struct buf re = BUF_INIT;
	size_t nres = 0;
	int rc = -1, e, anti_spoof;
	char *v = NULL;

	*data = h;
	if (flat_list(path, &h->domains, &h->n) == -1) {
		op_log(OP_LOG_CRIT, NAME, NULL, "cannot read config/host_list");
		goto done;
	}
	for (size_t i = 0; i < h->n; i++)
		for (char *p = h->domains[i]; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
	free(path);
	path = xasprintf("%s/host_list_regex", dir);
	if (flat_list(path, &res, &nres) == -1) {
		op_log(OP_LOG_CRIT, NAME, NULL, "cannot read "
		    "config/host_list_regex");
		goto done;
	}
	if (nres > 0) {
		buf_adds(&re, "^(");
		for (size_t i = 0; i < nres; i++) {
			if (i > 0)
				buf_addc(&re, '|');
			add_pattern(&re, res[i]);
		}
		buf_adds(&re, ")$");
		if ((e = regcomp(&h->re, re.p, REG_EXTENDED | REG_ICASE |
		    REG_NOSUB)) != 0) {
			char why[128];

			regerror(e, &h->re, why, sizeof(why));
			op_log(OP_LOG_CRIT, NAME, NULL, "config/host_list_regex: "
			    "not a regular expression: %s", why);
			goto done;
		}
		h->has_re = 1;
	}
	free(path);
	path = xasprintf("%s/host_list.anti_spoof", dir);
	if (flat_value(path, &v) == -1) {
		op_log(OP_LOG_CRIT, NAME, NULL, "cannot read "
		    "config/host_list.anti_spoof");
		goto done;
	}
	anti_spoof = v != NULL && ini_is_truth(v);
	free(v);
	reception_set_local_domain(in_host_list, h, anti_spoof);
	op_log(OP_LOG_INFO, NAME, NULL, "mail for %zu domain%s and %zu "
	    "pattern%s taken from any client%s", h->n, h->n == 1 ? "" : "s",
	    nres, nres == 1 ? "" : "s", anti_spoof ? "; their senders only "
	    "from relaying clients (anti_spoof)" : "");
	rc = 0;
done:
	flat_list_free(res);
	buf_free(&re);
	free(path);
	if (rc != 0) {
		hl_shutdown(h);
		*data = NULL;
	}
	return rc;
}

const struct op_plugin rcpt_to_in_host_list_plugin = {
	OUTPOST_PLUGIN_ABI, NAME, hl_init, hl_shutdown
};
