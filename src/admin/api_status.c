/*
 * api_status: GET /api/status, what a monitor or outpostctl asks first:
 * the daemon's version, pid, start time and uptime.
 */
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "admin/api_status.h"
#include "admin/http.h"
#include "core/version.h"
#include "lib/buf.h"
#include "lib/xmalloc.h"

struct status {
	time_t	started;
};

static void
get_status(struct admin_req *r, void *arg)
{
	const struct status *st = arg;
	struct buf b = BUF_INIT;
	char when[32];
	struct tm tm;

	gmtime_r(&st->started, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	buf_printf(&b, "{\"name\":\"outpost\",\"version\":\"%s\","
	    "\"pid\":%ld,\"started\":\"%s\",\"uptime_s\":%lld}\n",
	    OUTPOST_VERSION, (long)getpid(), when,
	    (long long)(time(NULL) - st->started));
	admin_reply_json(r, 200, &b);
	buf_free(&b);
}

void *
api_status_register(struct admin *a, time_t started)
{
	struct status *st = xcalloc(1, sizeof(*st));

	st->started = started;
	admin_route(a, "GET", "/api/status", get_status, st);
	return st;
}
