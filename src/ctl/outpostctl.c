/*
 * outpostctl: the command line of the admin API (README, "Admin API"):
 * global options say where the daemon listens, a subcommand says what to
 * ask; answers are tables, or the API's JSON with --json. Exit status: 0,
 * 1 the API answered an error, 64 usage, 69 the daemon unreachable.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl/ctl.h"

#define MSG_MAX		(1u << 30)

static const char usage_text[] =
"usage: outpostctl [-c ROOT | --socket PATH | --url http://ADDR:PORT\n"
"                  [--token-file FILE]] [--json] COMMAND [ARGS]\n"
"commands:\n"
"  status                         the daemon's version and uptime\n"
"  queue                          the queue by destination\n"
"  entries [FILTER] [--limit N] [--offset N]\n"
"                                 queued entries, by id\n"
"  hold|release|retry|delete ID... | FILTER\n"
"  bounce --reason TEXT ID... | FILTER\n"
"  destinations                   the shaper's destinations\n"
"  suspend KEY DURATION [--reason TEXT]   (DURATION: 600, 15m, 2h, 1d)\n"
"  resume KEY\n"
"  destination limits KEY NAME=VALUE...\n"
"                                 shaping.ini limits of KEY until the next\n"
"                                 reload (max_connections=2 ...)\n"
"  reload                         re-read the configuration\n"
"  inject -f FROM -t TO [-t TO...] < message\n"
"  suppression list [--address A --domain D --scope S --source S --expired]\n"
"                   [--limit N] [--offset N]   the suppression list\n"
"  suppression add ADDRESS [--scope global|DOMAIN --reason T --expires 30d]\n"
"  suppression remove ADDRESS [--scope global|DOMAIN]\n"
"FILTER: --domain D --sender S --recipient R --destination KEY\n"
"        --state held,deferred,due,running --min-age AGE --max-age AGE\n"
"Default target: -c ROOT's config/http.ini (ROOT: $OUTPOST_ROOT, else .)\n";

static int
usage(const char *why)
{
	if (why != NULL)
		fprintf(stderr, "outpostctl: %s\n", why);
	fputs(usage_text, stderr);
	return EX_CTL_USAGE;
}

void
ctl_add_param(char **q, const char *key, const char *s)
{
	size_t n = strlen(*q);
	char *out = realloc(*q, n + strlen(key) + 3 * strlen(s) + 3);

	if (out == NULL)
		abort();
	n += (size_t)sprintf(out + n, "%s%s=", n > 0 ? "&" : "?", key);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (strchr("-_.~@", *p) != NULL || (*p >= '0' && *p <= '9') ||
		    ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z'))
			out[n++] = (char)*p;
		else
			n += (size_t)sprintf(out + n, "%%%02X", *p);
	out[n] = '\0';
	*q = out;
}

struct cmd {
	const char	*name;
	int		 json;
	json_t		*filter;	/* the filter options */
	json_t		*ids;
	const char	*reason, *limit, *offset, *from;
	json_t		*to;
};

static const char *const filter_opts[] = {
	"domain", "sender", "recipient", "destination", "state", "min-age",
	"max-age"
};

/* The subcommand's options and operands. -1 on a usage error. */
static int
parse_args(struct cmd *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "domain", 1, NULL, 0 }, { "sender", 1, NULL, 1 },
		{ "recipient", 1, NULL, 2 }, { "destination", 1, NULL, 3 },
		{ "state", 1, NULL, 4 }, { "min-age", 1, NULL, 5 },
		{ "max-age", 1, NULL, 6 }, { "reason", 1, NULL, 'r' },
		{ "limit", 1, NULL, 'l' }, { "offset", 1, NULL, 'o' },
		{ "json", 0, NULL, 'j' }, { NULL, 0, NULL, 0 }
	};
	int ch;

	optind = 0;		/* GNU getopt: a full new scan */
	while ((ch = getopt_long(argc, argv, "f:t:", opts, NULL)) != -1) {
		char key[16];

		switch (ch) {
		case 'r':	c->reason = optarg; break;
		case 'l':	c->limit = optarg; break;
		case 'o':	c->offset = optarg; break;
		case 'j':	c->json = 1; break;
		case 'f':	c->from = optarg; break;
		case 't':
			json_array_append_new(c->to, json_string(optarg));
			break;
		case '?':	return -1;
		default:
			snprintf(key, sizeof(key), "%s", filter_opts[ch]);
			if (strchr(key, '-') != NULL)
				*strchr(key, '-') = '_';
			json_object_set_new(c->filter, key,
			    json_string(optarg));
		}
	}
	for (int i = optind; i < argc; i++)
		json_array_append_new(c->ids, json_string(argv[i]));
	return 0;
}

/* Sends the request and shows the answer: the exit status. */
static int
run(const struct ctl_target *t, const struct cmd *c, const char *method,
    const char *path, json_t *body, void (*show)(json_t *))
{
	char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
	char *reply = NULL;
	json_t *o;
	json_error_t e;
	int status, rc;

	rc = ctl_request(t, method, path, text, &status, &reply);
	free(text);
	if (rc != 0)
		return EX_CTL_UNAVAIL;
	o = json_loads(reply, 0, &e);
	if (c->json)
		fputs(reply, stdout);
	if (o == NULL) {
		fprintf(stderr, "outpostctl: HTTP %d, not JSON: %.200s\n",
		    status, reply);
		free(reply);
		return EX_CTL_API;
	}
	free(reply);
	if (status >= 400) {
		fprintf(stderr, "outpostctl: %s (HTTP %d)\n",
		    json_string_value(json_object_get(o, "error")) ?
		    json_string_value(json_object_get(o, "error")) : "error",
		    status);
		if (!c->json && json_object_get(o, "skipped") != NULL)
			ctl_show_action(o);
		json_decref(o);
		return EX_CTL_API;
	}
	if (!c->json)
		show(o);
	json_decref(o);
	return EX_CTL_OK;
}

static char *
read_stdin(size_t *len)
{
	size_t cap = 65536, n = 0;
	char *p = malloc(cap + 1);
	size_t r;

	while (p != NULL && (r = fread(p + n, 1, cap - n, stdin)) > 0) {
		n += r;
		if (n == cap) {
			if (cap >= MSG_MAX) {
				free(p);
				return NULL;
			}
			cap *= 2;
			p = realloc(p, cap + 1);
		}
	}
	if (p != NULL)
		p[n] = '\0';
	*len = n;
	return p;
}

/* destination limits KEY NAME=VALUE...: whole numbers as numbers, other
 * values (rates: 10/m) as texts. */
static int
destination_limits(const struct ctl_target *t, const struct cmd *c)
{
	size_t nids = json_array_size(c->ids);
	json_t *body;
	char *q, *path;
	int rc;

	if (nids < 3 || strcmp(json_string_value(json_array_get(c->ids, 0)),
	    "limits") != 0)
		return usage("destination limits KEY NAME=VALUE...");
	body = json_object();
	for (size_t i = 2; i < nids; i++) {
		const char *kv = json_string_value(json_array_get(c->ids, i));
		const char *eq = strchr(kv, '='), *v;
		char *name;

		if (eq == NULL || eq == kv) {
			json_decref(body);
			return usage("limits are NAME=VALUE");
		}
		name = strndup(kv, (size_t)(eq - kv));
		v = eq + 1;
		if (*v != '\0' && strspn(v, "0123456789") == strlen(v) &&
		    strlen(v) < 10)
			json_object_set_new(body, name,
			    json_integer(strtoll(v, NULL, 10)));
		else
			json_object_set_new(body, name, json_string(v));
		free(name);
	}
	q = strdup("");
	ctl_add_param(&q, "k", json_string_value(json_array_get(c->ids, 1)));
	if (asprintf(&path, "/api/destinations/%s/limits", q + 3) < 0)
		abort();
	rc = run(t, c, "POST", path, body, ctl_show_limits);
	json_decref(body);
	free(q);
	free(path);
	return rc;
}

static int
command(const struct ctl_target *t, struct cmd *c)
{
	const char *n = c->name;
	size_t nids = json_array_size(c->ids);
	json_t *body = NULL;
	char *q = NULL, *path = NULL;
	int rc;

	if (strcmp(n, "status") == 0 || strcmp(n, "queue") == 0 ||
	    strcmp(n, "destinations") == 0 || strcmp(n, "reload") == 0) {
		if (nids > 0 || json_object_size(c->filter) > 0)
			return usage("this command takes no arguments");
		if (n[0] == 's')
			return run(t, c, "GET", "/api/status", NULL,
			    ctl_show_status);
		if (n[0] == 'q')
			return run(t, c, "GET", "/api/queue", NULL,
			    ctl_show_queue);
		if (n[0] == 'd')
			return run(t, c, "GET", "/api/destinations", NULL,
			    ctl_show_destinations);
		return run(t, c, "POST", "/api/reload", NULL,
		    ctl_show_object);
	}
	if (strcmp(n, "entries") == 0) {
		const char *k;
		json_t *v;

		if (nids > 0)
			return usage("entries takes filter options only");
		q = strdup("");
		json_object_foreach(c->filter, k, v)
			ctl_add_param(&q, k, json_string_value(v));
		if (c->limit != NULL)
			ctl_add_param(&q, "limit", c->limit);
		if (c->offset != NULL)
			ctl_add_param(&q, "offset", c->offset);
		if (asprintf(&path, "/api/queue/entries%s", q) < 0)
			abort();
		rc = run(t, c, "GET", path, NULL, ctl_show_entries);
		free(q);
		free(path);
		return rc;
	}
	if (strcmp(n, "hold") == 0 || strcmp(n, "release") == 0 ||
	    strcmp(n, "retry") == 0 || strcmp(n, "delete") == 0 ||
	    strcmp(n, "bounce") == 0) {
		if ((nids > 0) == (json_object_size(c->filter) > 0))
			return usage("give entry ids or filter options");
		if ((c->reason != NULL) != (strcmp(n, "bounce") == 0))
			return usage("--reason goes with bounce, and only");
		body = nids > 0 ? json_pack("{s:O}", "ids", c->ids) :
		    json_pack("{s:O}", "filter", c->filter);
		if (c->reason != NULL)
			json_object_set_new(body, "reason",
			    json_string(c->reason));
		if (asprintf(&path, "/api/queue/%s", n) < 0)
			abort();
		rc = run(t, c, "POST", path, body, ctl_show_action);
		json_decref(body);
		free(path);
		return rc;
	}
	if (strcmp(n, "suspend") == 0 || strcmp(n, "resume") == 0) {
		const char *key;

		if (nids != (n[0] == 's' ? 2u : 1u))
			return usage(n[0] == 's' ? "suspend KEY DURATION" :
			    "resume KEY");
		key = json_string_value(json_array_get(c->ids, 0));
		if (n[0] == 's') {
			body = json_pack("{s:O}", "duration",
			    json_array_get(c->ids, 1));
			if (c->reason != NULL)
				json_object_set_new(body, "reason",
				    json_string(c->reason));
		}
		q = strdup("");
		ctl_add_param(&q, "k", key);	/* percent-encoded key */
		if (asprintf(&path, "/api/destinations/%s/%s", q + 3, n) < 0)
			abort();
		rc = run(t, c, "POST", path, body, ctl_show_object);
		json_decref(body);
		free(q);
		free(path);
		return rc;
	}
	if (strcmp(n, "destination") == 0)
		return destination_limits(t, c);
	if (strcmp(n, "inject") == 0) {
		size_t len;
		char *msg;

		if (c->from == NULL || json_array_size(c->to) == 0 || nids > 0)
			return usage("inject -f FROM -t TO [-t TO...] < "
			    "message");
		if ((msg = read_stdin(&len)) == NULL) {
			fprintf(stderr, "outpostctl: cannot read the message\n");
			return EX_CTL_USAGE;
		}
		body = json_pack("{s:s,s:O,s:s%}", "from", c->from, "to",
		    c->to, "content", msg, len);
		free(msg);
		if (body == NULL) {
			fprintf(stderr, "outpostctl: the message is not "
			    "UTF-8 text (or holds NUL bytes)\n");
			return EX_CTL_USAGE;
		}
		rc = run(t, c, "POST", "/api/inject", body, ctl_show_object);
		json_decref(body);
		return rc;
	}
	return usage("unknown command");
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", 1, NULL, 's' }, { "url", 1, NULL, 'u' },
		{ "token-file", 1, NULL, 'T' }, { "json", 0, NULL, 'j' },
		{ "help", 0, NULL, 'h' }, { NULL, 0, NULL, 0 }
	};
	struct ctl_target t = { NULL, NULL, NULL, NULL };
	struct cmd c;
	const char *root = NULL, *token = NULL, *url = NULL, *sock = NULL;
	int ch, rc;

	memset(&c, 0, sizeof(c));
	while ((ch = getopt_long(argc, argv, "+c:h", opts, NULL)) != -1)
		switch (ch) {
		case 'c':	root = optarg; break;
		case 's':	sock = optarg; break;
		case 'u':	url = optarg; break;
		case 'T':	token = optarg; break;
		case 'j':	c.json = 1; break;
		case 'h':	fputs(usage_text, stdout); return 0;
		default:	return usage(NULL);
		}
	if (optind >= argc)
		return usage("a command is required");
	if ((sock != NULL) + (url != NULL) + (root != NULL) > 1)
		return usage("give one of -c, --socket, --url");
	if (sock != NULL)
		t.socket = strdup(sock);
	else if (url != NULL) {
		if (ctl_target_url(&t, url) != 0)
			return usage("--url: http://ADDRESS:PORT");
	} else if (ctl_target_from_root(&t, root != NULL ? root :
	    getenv("OUTPOST_ROOT") != NULL ? getenv("OUTPOST_ROOT") : ".") !=
	    0)
		return EX_CTL_USAGE;
	if (token != NULL && ctl_read_token(&t, token) != 0)
		return EX_CTL_USAGE;
	c.name = argv[optind];
	c.filter = json_object();
	c.ids = json_array();
	c.to = json_array();
	if (strcmp(c.name, "suppression") == 0)	/* ctl_suppress.c */
		rc = ctl_suppression(&t, c.json, argc - optind, argv + optind);
	else if (parse_args(&c, argc - optind, argv + optind) != 0)
		rc = usage(NULL);
	else
		rc = command(&t, &c);
	json_decref(c.filter);
	json_decref(c.ids);
	json_decref(c.to);
	free(t.socket);
	free(t.host);
	free(t.port);
	free(t.token);
	return rc;
}
