/*
 * correlate: a read feedback mail → events. The VERP token of the
 * recipient names the job id and (for one-recipient transactions) the
 * recipient; without a token, the report's copy of the original headers
 * (Outpost's Received id, the Message-ID) and the recipients it names.
 * remote_bounce: one event per recipient whose Action is "failed" (a
 * delayed DSN gives none, as PowerMTA records only failures); complaint:
 * one event per ARF report, category "complaint".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/verp.h"
#include "feedback/correlate.h"
#include "feedback/spool.h"
#include "lib/xmalloc.h"
#include "proto/fbreport.h"
#include "records/bouncecat.h"

static const char *
keep(struct fb_event *e, const char *s)
{
	char *d;

	if (s == NULL || e->nstrs == sizeof(e->strs) / sizeof(e->strs[0]))
		return NULL;
	d = xstrdup(s);
	e->strs[e->nstrs++] = d;
	return d;
}

static const char *
first(const char *a, const char *b)
{
	return a != NULL && *a != '\0' ? a : b;
}

static struct fb_event *
new_event(struct fb_outcome *out)
{
	struct fb_event *e;

	out->ev = xreallocarray(out->ev, out->nev + 1, sizeof(*out->ev));
	e = &out->ev[out->nev++];
	memset(e, 0, sizeof(*e));
	e->pub.size = sizeof(e->pub);
	return e;
}

/* What every event of the mail shares. */
static enum verp_result addr_token(const struct fb_keys *, const char *,
    char **, char **);

/* The original envelope sender (ARF's Original-Mail-From), unless it is
 * our own return path. */
static const char *
orig_sender(const struct fb_report *r, const struct fb_keys *k)
{
	char *i = NULL, *x = NULL;
	enum verp_result v;

	if (r->original_mail_from == NULL)
		return NULL;
	v = addr_token(k, r->original_mail_from, &i, &x);
	free(i);
	free(x);
	return v == VERP_NONE ? r->original_mail_from : NULL;
}

static void
common(struct fb_event *e, const struct fb_envelope *env,
    const struct fb_report *r, const char *digest, size_t idx,
    const char *id, const char *corr, const char *rcpt, const char *mf)
{
	char eid[96];

	snprintf(eid, sizeof(eid), "%.32s.%zu", digest, idx);
	e->pub.event_id = keep(e, eid);
	e->pub.arrival_time = env->arrival;
	e->pub.reporting_mta = keep(e, first(r->reporting_mta,
	    first(r->reported_domain, env->helo)));
	e->pub.report_from = keep(e, env->from);
	e->pub.id = keep(e, id);
	e->pub.recipient = keep(e, rcpt);
	e->pub.mail_from = keep(e, mf);
	e->pub.message_id = keep(e, r->orig_message_id);
	e->pub.correlation = keep(e, corr);
}

static int
same_addr(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcasecmp(a, b) == 0;
}

static void
bounces(const struct fb_envelope *env, const struct fb_report *r,
    const struct fb_keys *k, const char *digest, const char *id,
    const char *corr, const char *trcpt, struct fb_outcome *out)
{
	size_t delayed = 0;

	for (size_t i = 0; i < r->nrcpts; i++) {
		const struct fb_rcpt *x = &r->rcpts[i];
		const char *rcpt;
		struct fb_event *e;

		if (x->action == NULL || strcasecmp(x->action, "failed") != 0) {
			if (x->action != NULL &&
			    strcasecmp(x->action, "delayed") == 0)
				delayed++;
			continue;
		}
		rcpt = first(x->original_recipient, x->final_recipient);
		/* The token's recipient is the truth; the report only
		 * speaks of it (or of what it was forwarded to). */
		if (trcpt != NULL) {
			if (out->nev > 0)
				break;
			for (size_t j = i; j < r->nrcpts; j++)
				if (same_addr(r->rcpts[j].original_recipient,
				    trcpt) || same_addr(
				    r->rcpts[j].final_recipient, trcpt)) {
					x = &r->rcpts[j];
					break;
				}
			rcpt = trcpt;
		}
		if (rcpt == NULL)
			continue;
		e = new_event(out);
		common(e, env, r, digest, i, id, corr, rcpt, orig_sender(r, k));
		e->pub.type = "remote_bounce";
		e->pub.action = "failed";
		e->pub.status = keep(e, x->status);
		e->pub.diagnostic = keep(e, x->diagnostic);
		e->pub.remote_mta = keep(e, x->remote_mta);
		e->pub.category = bouncecat_name(bouncecat_classify(k->bc,
		    x->code, x->status, x->diagnostic));
	}
	if (out->nev == 0 && delayed > 0)
		out->note = xasprintf("a delayed DSN (%zu recipient%s): "
		    "only failures are recorded", delayed,
		    delayed == 1 ? "" : "s");
	else if (out->nev == 0 && r->nrcpts > 0)
		out->note = xstrdup("a DSN without failed recipients");
	else if (out->nev == 0)
		out->quarantine = xstrdup("the report names no recipient");
}

static void
complaint(const struct fb_envelope *env, const struct fb_report *r,
    const struct fb_keys *k, const char *digest, const char *id, const char *corr, const char *trcpt,
    struct fb_outcome *out)
{
	const char *rcpt = first(trcpt, first(r->original_rcpt_to,
	    r->nrcpts > 0 ? first(r->rcpts[0].original_recipient,
	    r->rcpts[0].final_recipient) : r->orig_to));
	struct fb_event *e;

	if (rcpt == NULL) {
		out->quarantine = xstrdup("the complaint names no recipient");
		return;
	}
	e = new_event(out);
	common(e, env, r, digest, 0, id, corr, rcpt, orig_sender(r, k));
	e->pub.type = "complaint";
	e->pub.category = "complaint";
	e->pub.feedback_type = keep(e, first(r->feedback_type, "abuse"));
	e->pub.user_agent = keep(e, r->user_agent);
	e->pub.source_ip = keep(e, r->source_ip);
}

/* The token of an address's local part. */
static enum verp_result
addr_token(const struct fb_keys *k, const char *addr, char **id, char **rcpt)
{
	char *local = xstrdup(addr), *at = strrchr(local, '@');
	enum verp_result v;

	if (at != NULL)
		*at = '\0';
	v = verp_decode(k->prefix, k->key, k->keylen, local, id, rcpt);
	free(local);
	return v;
}

void
correlate(const struct fb_envelope *env, const struct fb_report *r,
    const struct fb_keys *k, const char *digest, struct fb_outcome *out)
{
	char *tid = NULL, *trcpt = NULL;
	const char *id, *corr;
	int token = 0;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < env->nrcpts && !token; i++)
		switch (addr_token(k, env->rcpts[i], &tid, &trcpt)) {
		case VERP_OK:
			token = 1;
			break;
		case VERP_BAD:
			out->quarantine = xasprintf("forged or unknown VERP "
			    "token in <%s>", env->rcpts[i]);
			return;
		case VERP_NONE:
			break;
		}
	/* A complaint (ARF's Original-Mail-From) or a returned message's
	 * Return-Path may carry the token when the report was sent to
	 * another address; a bad one there is only ignored. */
	for (size_t i = 0; i < 2 && !token && r->kind != FB_UNKNOWN; i++) {
		const char *a = i == 0 ? r->original_mail_from :
		    r->orig_return_path;

		if (a != NULL)
			token = addr_token(k, a, &tid, &trcpt) == VERP_OK;
	}
	if (r->kind == FB_UNKNOWN) {
		out->quarantine = xstrdup("not a report Outpost can read");
		goto done;
	}
	if (token) {
		id = tid;
		corr = "verp";
	} else if (r->orig_queue_id != NULL) {
		id = r->orig_queue_id;
		corr = "received-id";
	} else {
		id = NULL;
		corr = r->orig_message_id != NULL ? "message-id" : "envelope";
	}
	if (r->kind == FB_ARF)
		complaint(env, r, k, digest, id, corr, trcpt, out);
	else
		bounces(env, r, k, digest, id, corr, trcpt, out);
done:
	free(tid);
	free(trcpt);
}

void
fb_outcome_free(struct fb_outcome *o)
{
	for (size_t i = 0; i < o->nev; i++)
		for (size_t j = 0; j < o->ev[i].nstrs; j++)
			free(o->ev[i].strs[j]);
	free(o->ev);
	free(o->quarantine);
	free(o->note);
	memset(o, 0, sizeof(*o));
}
