/*
 * feedback_capture: a test plugin observing OP_HOOK_FEEDBACK. Each event
 * is appended (flushed and fsync'd before the answer, as a recording
 * plugin with sync=true would) as one line to <config>/../feedback.log:
 *   type=<t>\tevent_id=<e>\tid=<id>\trecipient=<r>\t... (every field;
 *   "-" for NULL; tabs and line ends in values become spaces)
 * While <config>/../feedback.hold exists, events are recorded but not
 * answered (a recording plugin that has not finished): Outpost keeps
 * their reports in the spool.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "outpost/plugin.h"

struct cap {
	char		 log[4096];
	char		 hold[4096];
};

static void
field(FILE *f, const char *k, const char *v, int first)
{
	fprintf(f, "%s%s=", first ? "" : "\t", k);
	if (v == NULL) {
		fputc('-', f);
		return;
	}
	for (; *v; v++)
		fputc(*v == '\t' || *v == '\r' || *v == '\n' ? ' ' : *v, f);
}

static void
on_feedback(struct op_call *c, void *data)
{
	const struct cap *cap = data;
	const struct op_feedback *e = op_call_feedback(c);
	char num[2][32];
	FILE *f;

	if (e != NULL && (f = fopen(cap->log, "a")) != NULL) {
		snprintf(num[0], sizeof(num[0]), "%lld", e->arrival_time);
		snprintf(num[1], sizeof(num[1]), "%lld", e->queue_time);
		field(f, "type", e->type, 1);
		field(f, "event_id", e->event_id, 0);
		field(f, "arrival_time", num[0], 0);
		field(f, "reporting_mta", e->reporting_mta, 0);
		field(f, "report_from", e->report_from, 0);
		field(f, "id", e->id, 0);
		field(f, "recipient", e->recipient, 0);
		field(f, "mail_from", e->mail_from, 0);
		field(f, "message_id", e->message_id, 0);
		field(f, "queue_time", num[1], 0);
		field(f, "correlation", e->correlation, 0);
		field(f, "action", e->action, 0);
		field(f, "status", e->status, 0);
		field(f, "diagnostic", e->diagnostic, 0);
		field(f, "remote_mta", e->remote_mta, 0);
		field(f, "category", e->category, 0);
		field(f, "feedback_type", e->feedback_type, 0);
		field(f, "user_agent", e->user_agent, 0);
		field(f, "source_ip", e->source_ip, 0);
		fputc('\n', f);
		fflush(f);
		fsync(fileno(f));
		fclose(f);
	}
	if (access(cap->hold, F_OK) == 0)
		return;		/* never answered: the process is killed */
	op_next(c, OP_CONT, NULL);
}

static int
cap_init(struct op_env *env, void **data)
{
	struct cap *cap = calloc(1, sizeof(*cap));

	if (cap == NULL)
		return -1;
	snprintf(cap->log, sizeof(cap->log), "%s/../feedback.log",
	    op_config_dir(env));
	snprintf(cap->hold, sizeof(cap->hold), "%s/../feedback.hold",
	    op_config_dir(env));
	*data = cap;
	return op_register_hook(env, OP_HOOK_FEEDBACK, on_feedback,
	    OP_HOOK_OBSERVE);
}

static void
cap_shutdown(void *data)
{
	free(data);
}

const struct op_plugin outpost_plugin = {
	OUTPOST_PLUGIN_ABI, "feedback_capture", cap_init, cap_shutdown
};
