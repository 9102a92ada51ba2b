/*
 * acct_fields: accounting_files' field lists and the values of its lines
 * (see acct_fields.h). An outbound event gives one line per recipient; a
 * remote bounce or a complaint gives one line. A field a type has no value
 * for is written empty.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/buf.h"
#include "lib/xmalloc.h"
#include "core/log.h"
#include "records/acct_fields.h"
#include "records/bouncecat.h"
#include "records/record.h"

#define NAME		"accounting_files"
#define INI		"accounting_files.ini"

const char *const acct_field_names[AF_CUSTOM] = {
	"type", "timeLogged", "timeQueued", "rcpt", "srcType", "srcMta",
	"srcIp", "destIp", "vmta", "jobId", "dsnStatus", "dsnMsg", "delay",
	"bounceCat", "dlvSourceIp",
	"orig", "msgId", "dsnAction", "dsnDiag", "dsnReportingMta", "dsnMta",
	"feedbackType", "userAgent", "eventId", "correlation"
};

static const struct {
	const char	*key;
	const char	*prefix;
	const char	*fields;
} kinds[AK_COUNT] = {
	{ "delivered", "d", "type,timeLogged,timeQueued,rcpt,srcMta,srcIp,"
	  "vmta,jobId,dsnStatus,dsnMsg" },
	{ "deferred", "df", "type,timeLogged,timeQueued,rcpt,srcMta,srcIp,"
	  "vmta,jobId,dsnStatus,dsnMsg,delay" },
	{ "bounce", "b", "type,timeLogged,timeQueued,rcpt,srcMta,srcIp,"
	  "vmta,jobId,dsnStatus,dsnMsg,bounceCat" },
	{ "remote_bounce", "rb", "type,timeLogged,timeQueued,orig,rcpt,vmta,"
	  "jobId,msgId,dsnAction,dsnStatus,dsnDiag,dsnReportingMta,dsnMta,"
	  "bounceCat" },
	{ "feedback", "f", "type,timeLogged,timeQueued,orig,rcpt,vmta,jobId,"
	  "msgId,feedbackType,userAgent,srcIp,dsnReportingMta" },
};

const char *
acct_kind_key(enum acct_kind k)
{
	return kinds[k].key;
}

const char *
acct_kind_prefix(enum acct_kind k)
{
	return kinds[k].prefix;
}

const char *
acct_kind_fields(enum acct_kind k)
{
	return kinds[k].fields;
}

/* --- field lists ---------------------------------------------------------- */

void
acct_fields_parse(struct acct_fields *fl, const char *list, const char *key)
{
	char *copy = xstrdup(list), *p = copy, *name;
	const size_t cl = strlen(ACCT_CUSTOM);

	while ((name = strsep(&p, ",")) != NULL) {
		struct slice s = slice_trim(slice_of(name, strlen(name)));
		struct acct_field *fs;

		if (s.len == 0)
			continue;
		fl->v = xreallocarray(fl->v, fl->n + 1, sizeof(*fl->v));
		fs = &fl->v[fl->n++];
		fs->name = xasprintf("%.*s", (int)s.len, s.p);
		fs->header = NULL;
		fs->f = AF_UNKNOWN;
		for (size_t i = 0; i < AF_CUSTOM; i++)
			if (strcmp(fs->name, acct_field_names[i]) == 0)
				fs->f = (enum acct_fid)i;
		if (fs->f == AF_UNKNOWN && strncmp(fs->name, ACCT_CUSTOM,
		    cl) == 0 && fs->name[cl] != '\0') {
			fs->f = AF_CUSTOM;
			fs->header = fs->name + cl;
		}
		if (fs->f == AF_UNKNOWN)
			log_warn(NAME, NULL, INI ": [fields] %s: unknown field "
			    "'%s'; it is written empty", key, fs->name);
	}
	free(copy);
}

void
acct_fields_free(struct acct_fields *fl)
{
	for (size_t i = 0; i < fl->n; i++)
		free(fl->v[i].name);
	free(fl->v);
	fl->v = NULL;
	fl->n = 0;
}

/* --- values --------------------------------------------------------------- */

void
acct_put_value(const struct acct_fmt *a, struct buf *b, const char *v,
    size_t len)
{
	if (a->csv) {
		size_t i;

		for (i = 0; i < len; i++)
			if (v[i] == ',' || v[i] == '"' || v[i] == '\r' ||
			    v[i] == '\n' || v[i] == '\0')
				break;
		if (i == len) {
			buf_add(b, v, len);
			return;
		}
		buf_addc(b, '"');
		for (i = 0; i < len; i++) {
			if (v[i] == '\0')	/* CSV cannot carry it */
				continue;
			if (v[i] == '"')
				buf_addc(b, '"');
			buf_addc(b, v[i]);
		}
		buf_addc(b, '"');
		return;
	}
	for (size_t i = 0; i < len; i++) {
		char c = v[i];

		if (c == '\t')
			buf_adds(b, "\\t");
		else if (c == '\r')
			buf_adds(b, "\\r");
		else if (c == '\n')
			buf_adds(b, "\\n");
		else if (c == '\\')
			buf_adds(b, "\\\\");
		else if (c == '\0')
			buf_adds(b, "\\0");
		else {
			if (strchr(a->sep, c) != NULL)
				buf_addc(b, '\\');
			buf_addc(b, c);
		}
	}
}

void
acct_header(const struct acct_fmt *a, const struct acct_fields *fl,
    struct buf *b)
{
	for (size_t j = 0; j < fl->n; j++) {
		if (j > 0)
			buf_adds(b, a->sep);
		acct_put_value(a, b, fl->v[j].name, strlen(fl->v[j].name));
	}
	buf_addc(b, '\n');
}

void
acct_local_time(char *out, size_t size, long long ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (localtime_r(&t, &tm) == NULL ||
	    strftime(out, size, "%Y-%m-%d %H:%M:%S%z", &tm) == 0)
		out[0] = '\0';
}

/* What the lines of an event share: its times, formatted once. */
struct event_times {
	char	 logged[64];
	char	 queued[64];
};

/* A failure that ran out of retries (Outpost's "Too many failures"):
 * whatever the last reply said, the message expired in the queue. */
static int
expired(const struct op_outbound *o, const struct op_rcpt *r)
{
	return r->code >= 300 && r->code < 500 && o->error != NULL &&
	    strncmp(o->error, "Too many failures", 17) == 0;
}

static void
add_str(struct buf *v, const char *s)
{
	if (s != NULL)
		buf_adds(v, s);
}

/* One field's value of an outbound event's line, raw, into v. */
static void
field_value(const struct acct_fmt *a, enum acct_kind k,
    const struct acct_field *fs, struct buf *v, const struct event_times *t,
    const struct op_outbound *o, const struct op_rcpt *r)
{
	switch (fs->f) {
	case AF_TYPE:
		buf_adds(v, kinds[k].prefix);
		break;
	case AF_TIME_LOGGED:
		buf_adds(v, t->logged);
		break;
	case AF_TIME_QUEUED:
		buf_adds(v, t->queued);
		break;
	case AF_RCPT:
		add_str(v, r->address);
		break;
	case AF_SRC_TYPE:
		buf_adds(v, "smtp");
		break;
	case AF_SRC_MTA:
		add_str(v, o->helo);
		break;
	case AF_SRC_IP:
	case AF_DLV_SOURCE_IP:
		add_str(v, o->local_ip);
		break;
	case AF_DEST_IP:
		add_str(v, o->ip);
		break;
	case AF_VMTA:
		add_str(v, o->route);
		break;
	case AF_JOB_ID:
		add_str(v, o->id);
		break;
	case AF_DSN_STATUS:
		add_str(v, r->status);
		break;
	case AF_DSN_MSG:
		add_str(v, r->response);
		break;
	case AF_DELAY:
		if (k == AK_DEFERRED)
			rec_number(v, o->delay);
		break;
	case AF_BOUNCE_CAT:
		if (k == AK_BOUNCE)
			buf_adds(v, bouncecat_name(expired(o, r) ?
			    BC_MESSAGE_EXPIRED : bouncecat_classify(a->bc,
			    r->code, r->status, r->response)));
		break;
	case AF_ORIG:
		add_str(v, o->mail_from);
		break;
	case AF_MSG_ID:
		rec_header(o, "Message-ID", v);
		break;
	case AF_DSN_ACTION:
		add_str(v, r->action);
		break;
	case AF_DSN_DIAG:
		add_str(v, r->reason);
		break;
	case AF_DSN_MTA:
		add_str(v, o->host);
		break;
	case AF_CUSTOM:
		rec_header(o, fs->header, v);
		break;
	case AF_DSN_REPORTING_MTA:
	case AF_FEEDBACK_TYPE:
	case AF_USER_AGENT:
	case AF_EVENT_ID:
	case AF_CORRELATION:
	case AF_UNKNOWN:
		break;
	}
}

void
acct_outbound_lines(const struct acct_fmt *a, enum acct_kind k,
    const struct acct_fields *fl, const struct op_outbound *o,
    long long now_ms, struct buf *b)
{
	struct buf v = BUF_INIT;
	struct event_times t;

	acct_local_time(t.logged, sizeof(t.logged), now_ms);
	acct_local_time(t.queued, sizeof(t.queued), o->queue_time);
	for (unsigned i = 0; i < o->nrcpts; i++) {
		for (size_t j = 0; j < fl->n; j++) {
			if (j > 0)
				buf_adds(b, a->sep);
			buf_reset(&v);
			field_value(a, k, &fl->v[j], &v, &t, o, &o->rcpts[i]);
			acct_put_value(a, b, v.p, v.len);
		}
		buf_addc(b, '\n');
	}
	buf_free(&v);
}

/* A diagnostic's text after its reply code and enhanced status ("550
 * 5.1.1 no such user": "no such user"), as dsnMsg is elsewhere. */
static const char *
diag_text(const char *d)
{
	const char *p = d;

	if (p == NULL)
		return NULL;
	if (p[0] >= '2' && p[0] <= '5' && p[1] >= '0' && p[1] <= '9' &&
	    p[2] >= '0' && p[2] <= '9' && (p[3] == ' ' || p[3] == '-' ||
	    p[3] == '\0'))
		p += p[3] == '\0' ? 3 : 4;
	else
		return d;
	while (*p == ' ')
		p++;
	/* x.y.z: a class digit, then 1-3 and 1-3 digits. */
	if (p[0] >= '2' && p[0] <= '5' && p[1] == '.') {
		size_t n = strspn(p + 2, "0123456789"), m = 0;

		if (n >= 1 && n <= 3 && p[2 + n] == '.')
			m = strspn(p + 3 + n, "0123456789");
		if (m >= 1 && m <= 3 && (p[3 + n + m] == ' ' ||
		    p[3 + n + m] == '\0'))
			p += 3 + n + m;
	}
	while (*p == ' ')
		p++;
	return p;
}

/* One field's value of a remote bounce's or a complaint's line. */
static void
feedback_value(enum acct_kind k, const struct acct_field *fs, struct buf *v,
    const struct event_times *t, const struct op_feedback *fb)
{
	switch (fs->f) {
	case AF_TYPE:
		buf_adds(v, kinds[k].prefix);
		break;
	case AF_TIME_LOGGED:
		buf_adds(v, t->logged);
		break;
	case AF_TIME_QUEUED:
		buf_adds(v, t->queued);
		break;
	case AF_RCPT:
		add_str(v, fb->recipient);
		break;
	case AF_SRC_TYPE:
		buf_adds(v, "smtp");
		break;
	case AF_SRC_IP:
	case AF_DLV_SOURCE_IP:
		add_str(v, fb->source_ip);
		break;
	case AF_VMTA:
		add_str(v, fb->vmta);
		break;
	case AF_JOB_ID:
		add_str(v, fb->id);
		break;
	case AF_DSN_STATUS:
		add_str(v, fb->status);
		break;
	case AF_DSN_MSG:
		add_str(v, diag_text(fb->diagnostic));
		break;
	case AF_DSN_DIAG:
		add_str(v, fb->diagnostic);
		break;
	case AF_BOUNCE_CAT:
		add_str(v, fb->category);
		break;
	case AF_ORIG:
		add_str(v, fb->mail_from);
		break;
	case AF_MSG_ID:
		add_str(v, fb->message_id);
		break;
	case AF_DSN_ACTION:
		add_str(v, fb->action);
		break;
	case AF_DSN_REPORTING_MTA:
		add_str(v, fb->reporting_mta);
		break;
	case AF_DSN_MTA:
		add_str(v, fb->remote_mta);
		break;
	case AF_FEEDBACK_TYPE:
		add_str(v, fb->feedback_type);
		break;
	case AF_USER_AGENT:
		add_str(v, fb->user_agent);
		break;
	case AF_EVENT_ID:
		add_str(v, fb->event_id);
		break;
	case AF_CORRELATION:
		add_str(v, fb->correlation);
		break;
	case AF_SRC_MTA:	/* the original mail's: not in a report */
	case AF_DEST_IP:
	case AF_DELAY:
	case AF_CUSTOM:
	case AF_UNKNOWN:
		break;
	}
}

void
acct_feedback_line(const struct acct_fmt *a, enum acct_kind k,
    const struct acct_fields *fl, const struct op_feedback *fb,
    struct buf *b)
{
	struct buf v = BUF_INIT;
	struct event_times t;

	/* The line records the report's arrival. */
	acct_local_time(t.logged, sizeof(t.logged), fb->arrival_time > 0 ?
	    fb->arrival_time : rec_now_ms());
	t.queued[0] = '\0';
	if (fb->queue_time > 0)
		acct_local_time(t.queued, sizeof(t.queued), fb->queue_time);
	for (size_t j = 0; j < fl->n; j++) {
		if (j > 0)
			buf_adds(b, a->sep);
		buf_reset(&v);
		feedback_value(k, &fl->v[j], &v, &t, fb);
		acct_put_value(a, b, v.p, v.len);
	}
	buf_addc(b, '\n');
	buf_free(&v);
}
