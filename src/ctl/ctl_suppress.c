/*
 * ctl_suppress: `outpostctl suppression list|add|remove` over the admin
 * API's /api/suppressions (admin/api_suppress.h): its own options, a table
 * of entries, or the API's JSON with --json.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"

static const char usage_text[] =
"usage: outpostctl suppression list [--address A] [--domain D] [--scope S]\n"
"                         [--source bounce|remote_bounce|complaint|admin]\n"
"                         [--expired] [--limit N] [--offset N]\n"
"       outpostctl suppression add ADDRESS [--scope global|DOMAIN]\n"
"                         [--reason TEXT] [--expires 30d|never]\n"
"       outpostctl suppression remove ADDRESS [--scope global|DOMAIN]\n";

static int
usage(const char *why)
{
	if (why != NULL)
		fprintf(stderr, "outpostctl: %s\n", why);
	fputs(usage_text, stderr);
	return EX_CTL_USAGE;
}

static const char *
str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : "-";
}

static void
show_list(json_t *o)
{
	json_t *list = json_object_get(o, "suppressions"), *e;
	size_t i;

	printf("%-32s %-20s %-13s %-20s %-20s %s\n", "ADDRESS", "SCOPE",
	    "SOURCE", "CREATED", "EXPIRES", "REASON");
	json_array_foreach(list, i, e)
		printf("%-32s %-20s %-13s %-20s %-20s %s%s\n", str(e, "address"),
		    str(e, "scope"), str(e, "source"), str(e, "created"),
		    json_is_null(json_object_get(e, "expires")) ? "never" :
		    str(e, "expires"), str(e, "reason"),
		    json_is_false(json_object_get(e, "active")) ?
		    " (expired)" : "");
	printf("-- %lld of %lld\n", (long long)json_array_size(list),
	    (long long)json_integer_value(json_object_get(o, "total")));
}

static void
show_added(json_t *o)
{
	printf("suppressed %s for %s (%s), expires %s\n", str(o, "address"),
	    str(o, "scope"), str(o, "source"),
	    json_is_null(json_object_get(o, "expires")) ? "never" :
	    str(o, "expires"));
}

static void
show_removed(json_t *o)
{
	printf("removed %lld entr%s of %s\n",
	    (long long)json_integer_value(json_object_get(o, "removed")),
	    json_integer_value(json_object_get(o, "removed")) == 1 ? "y" :
	    "ies", str(o, "address"));
}

/* The request and its answer: the exit status. */
static int
call(const struct ctl_target *t, int json, const char *method,
    const char *path, json_t *body, void (*show)(json_t *))
{
	char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
	char *reply = NULL;
	json_error_t e;
	json_t *o;
	int status;

	if (ctl_request(t, method, path, text, &status, &reply) != 0) {
		free(text);
		return EX_CTL_UNAVAIL;
	}
	free(text);
	if (json)
		fputs(reply, stdout);
	o = json_loads(reply, 0, &e);
	if (o == NULL || status >= 400) {
		fprintf(stderr, "outpostctl: %s (HTTP %d)\n", o != NULL &&
		    json_string_value(json_object_get(o, "error")) ?
		    json_string_value(json_object_get(o, "error")) :
		    "not JSON", status);
		json_decref(o);
		free(reply);
		return EX_CTL_API;
	}
	free(reply);
	if (!json)
		show(o);
	json_decref(o);
	return EX_CTL_OK;
}

int
ctl_suppression(const struct ctl_target *t, int json, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "address", 1, NULL, 'a' }, { "domain", 1, NULL, 'd' },
		{ "scope", 1, NULL, 's' }, { "source", 1, NULL, 'S' },
		{ "expired", 0, NULL, 'x' }, { "limit", 1, NULL, 'l' },
		{ "offset", 1, NULL, 'o' }, { "reason", 1, NULL, 'r' },
		{ "expires", 1, NULL, 'e' }, { "json", 0, NULL, 'j' },
		{ "help", 0, NULL, 'h' }, { NULL, 0, NULL, 0 }
	};
	const char *sub, *scope = NULL, *reason = NULL, *expires = NULL;
	char *q = strdup(""), *path = NULL;
	json_t *body = NULL;
	int ch, rc, listing;

	if (argc < 2 || q == NULL) {
		free(q);
		return usage("suppression needs list, add or remove");
	}
	sub = argv[1];
	listing = strcmp(sub, "list") == 0;
	optind = 0;
	while ((ch = getopt_long(argc - 1, argv + 1, "", opts, NULL)) != -1) {
		const char *key = NULL;

		switch (ch) {
		case 'a': key = "address"; break;
		case 'd': key = "domain"; break;
		case 'S': key = "source"; break;
		case 'l': key = "limit"; break;
		case 'o': key = "offset"; break;
		case 'x': ctl_add_param(&q, "expired", "1"); break;
		case 's': scope = optarg; break;
		case 'r': reason = optarg; break;
		case 'e': expires = optarg; break;
		case 'j': json = 1; break;
		case 'h':
			free(q);
			fputs(usage_text, stdout);
			return EX_CTL_OK;
		default:
			free(q);
			return usage(NULL);
		}
		if (key != NULL && !listing) {
			free(q);
			return usage("--address, --domain, --source, --limit, "
			    "--offset go with list");
		}
		if (key != NULL)
			ctl_add_param(&q, key, optarg);
	}
	argc--;
	argv++;
	if (listing) {
		if (optind != argc || reason != NULL || expires != NULL) {
			free(q);
			return usage("list takes filter options only");
		}
		if (scope != NULL)
			ctl_add_param(&q, "scope", scope);
		if (asprintf(&path, "/api/suppressions%s", q) < 0)
			abort();
		rc = call(t, json, "GET", path, NULL, show_list);
	} else if (strcmp(sub, "add") == 0 && optind == argc - 1) {
		body = json_pack("{s:s}", "address", argv[optind]);
		if (scope != NULL)
			json_object_set_new(body, "scope", json_string(scope));
		if (reason != NULL)
			json_object_set_new(body, "reason", json_string(reason));
		if (expires != NULL)
			json_object_set_new(body, "expires",
			    json_string(expires));
		rc = call(t, json, "POST", "/api/suppressions", body,
		    show_added);
		json_decref(body);
	} else if (strcmp(sub, "remove") == 0 && optind == argc - 1 &&
	    reason == NULL && expires == NULL) {
		char *a = strdup("");

		if (a == NULL)
			abort();
		ctl_add_param(&a, "a", argv[optind]);
		if (scope != NULL)
			ctl_add_param(&q, "scope", scope);
		if (asprintf(&path, "/api/suppressions/%s%s", a + 3, q) < 0)
			abort();
		free(a);
		rc = call(t, json, "DELETE", path, NULL, show_removed);
	} else
		rc = usage("suppression list|add ADDRESS|remove ADDRESS");
	free(path);
	free(q);
	return rc;
}
