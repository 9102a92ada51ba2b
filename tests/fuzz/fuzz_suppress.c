/*
 * libFuzzer target: the suppression list's names and store (core/suppress.c)
 * with what the admin API and the hooks hand it. Input: an address, a
 * newline, a scope, a newline, a reason (the rest). Oracles: a normalised
 * address is at most 254 bytes, has an '@' with something on each side, no
 * space or control byte and no upper-case ASCII in its domain, and
 * normalising it again changes nothing; the same for a scope ("" for
 * global). Stored, the entry is found again for its scope (or any sender
 * domain when global) with the reason cut to SUPPRESS_REASON_MAX, listed
 * once under its address, and removed by address.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "core/suppress.h"

static struct suppress_store *store;
static char dir[] = "/tmp/fuzz_suppress.XXXXXX";

/* The store's directory goes with the run. */
static void
remove_store(void)
{
	char path[sizeof(dir) + 16];

	suppress_close(store);
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/lock.mdb", dir);
	unlink(path);
	rmdir(dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char *err = NULL;

	(void)argc;
	(void)argv;
	check(mkdtemp(dir) != NULL);
	store = suppress_open(dir, 64, 0, &err);
	check(store != NULL);
	atexit(remove_store);
	return 0;
}

static void
count_one(void *arg, const struct suppress_entry *e)
{
	(void)e;
	++*(int *)arg;
}

static void
check_address(const char *a)
{
	char again[SUPPRESS_ADDR_MAX + 1];
	const char *at = strrchr(a, '@');

	check(strlen(a) <= SUPPRESS_ADDR_MAX);
	check(at != NULL && at > a && at[1] != '\0');
	for (const char *p = a; *p; p++)
		check((unsigned char)*p > 0x20 && *p != 0x7f);
	for (const char *p = at + 1; *p; p++)
		check(!(*p >= 'A' && *p <= 'Z'));
	check(suppress_address(a, again) == 0);
	check(strcmp(a, again) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), *scope_in, *reason, *err = NULL;
	char again[SUPPRESS_SCOPE_MAX + 1];
	struct suppress_entry e, got;
	struct suppress_filter f = { NULL, NULL, NULL, -1, 1 };
	struct suppress_txn *t;
	size_t total;
	int n = 0;

	check(text != NULL);
	memcpy(text, data, size);
	text[size] = '\0';
	scope_in = strchr(text, '\n');
	if (scope_in == NULL || (reason = strchr(scope_in + 1, '\n')) ==
	    NULL) {
		free(text);
		return 0;
	}
	*scope_in++ = '\0';
	*reason++ = '\0';
	memset(&e, 0, sizeof(e));
	if (suppress_address(text, e.address) != 0 ||
	    suppress_scope(scope_in, e.scope) != 0) {
		free(text);
		return 0;
	}
	check_address(e.address);
	check(suppress_scope(e.scope[0] ? e.scope : "global", again) == 0);
	check(strcmp(again, e.scope) == 0);
	snprintf(e.reason, sizeof(e.reason), "%s", reason);
	e.source = (enum suppress_source)(size % SUP_NSOURCES);
	e.created = 100;
	e.expires = size % 2 ? 0 : 200;
	t = suppress_begin(store, &err);
	check(t != NULL);
	check(suppress_put(t, &e, 1, &err) == 1);
	check(suppress_commit(t, &err) == 0);
	check(suppress_lookup(store, e.address, e.scope[0] ? e.scope :
	    "any.example", 150, &got) == 1);
	check(strcmp(got.address, e.address) == 0);
	check(strcmp(got.scope, e.scope) == 0);
	check(strcmp(got.reason, e.reason) == 0);
	check(got.source == e.source && got.expires == e.expires);
	f.address = e.address;
	check(suppress_list(store, &f, 150, 0, 10, count_one, &n,
	    &total) == 0);
	check(n == 1 && total == 1);
	t = suppress_begin(store, &err);
	check(t != NULL);
	check(suppress_del(t, e.address, NULL, &err) == 1);
	check(suppress_commit(t, &err) == 0);
	check(suppress_lookup(store, e.address, e.scope, 150, &got) == 0);
	free(text);
	return 0;
}
