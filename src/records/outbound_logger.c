/*
 * outbound_logger: Haraka's outbound-logger plugin (seed 000, SPEC §8).
 * One JSON line per recipient for every delivered, deferred and bounced
 * event, to standard output and/or <log_dir>/<filename>, written off the
 * loop by the record writer (writer.c).
 *
 * It observes the three hooks (OP_HOOK_OBSERVE), so no verdict of another
 * plugin hides an event from it, and it sees the outcome that took effect
 * (the final retry delay; what ran out of retries as bounced). With
 * [file] sync=true (the default) it answers only once the event's records
 * are on disk, and the mail's queue entry changes only after that: a crash
 * never loses a record (it may repeat one, with the delivery it records).
 * stop_at_bounce is a link of the bounce chain answering OK.
 *
 * The feedback hook's remote bounces and complaints (mail that came back
 * after the remote accepted the message) become remote_bounce and
 * complaint records, observed and made durable the same way; a value the
 * report did not give is null (queue_time too, when the original mail is
 * not known). stop_at_bounce has nothing to do with them.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/fsutil.h"
#include "lib/ini.h"
#include "lib/json.h"
#include "lib/xmalloc.h"
#include "core/log.h"
#include "proto/message.h"
#include "outpost/plugin.h"
#include "records/record.h"
#include "records/writer.h"

#define NAME		"outbound_logger"
#define FILENAME	"outbound.log"

struct ol {
	struct recwriter	*w;
	struct rw_stream	*out;		/* standard output */
	struct rw_stream	*file;
	int			 sync;
	int			 stop_at_bounce;
	char			 host[256];
	long			 pid;
};

static void
key_str(struct buf *b, const char *key, const char *v)
{
	buf_adds(b, ",\"");
	buf_adds(b, key);
	buf_adds(b, "\":");
	json_string(b, v != NULL ? v : "");
}

/* The fields every record of an event starts with, through queue_time:
 * the same for each of its recipients. */
static void
record_head(const struct ol *ol, struct buf *b, const char *type,
    const struct op_outbound *o)
{
	char now[32], queued[32];

	log_iso_time(now, sizeof(now), rec_now_ms());
	log_iso_time(queued, sizeof(queued), o->queue_time);
	buf_printf(b, "{\"level\":\"info\",\"time\":\"%s\",\"pid\":%ld", now,
	    ol->pid);
	key_str(b, "hostname", ol->host);
	buf_printf(b, ",\"name\":\"%s\",\"type\":\"%s\"", NAME, type);
	key_str(b, "job_id", o->id);
	key_str(b, "queue_time", queued);
}

/* Where the attempt came from, appended after the seed's keys: our
 * address, and the pool (vmta) that chose it when there was one
 * (accounting's dlvSourceIp and vmta). */
static void
source(struct buf *b, const struct op_outbound *o)
{
	if (o->local_ip != NULL && *o->local_ip != '\0')
		key_str(b, "local_ip", o->local_ip);
	if (o->route != NULL && *o->route != '\0')
		key_str(b, "vmta", o->route);
}

static void
record_delivered(struct buf *b, const struct buf *head,
    const struct op_outbound *o, const struct op_rcpt *r,
    const char *subject)
{
	buf_add(b, head->p, head->len);
	key_str(b, "smtp_host", o->host);
	key_str(b, "smtp_ip", o->ip);
	/* LMTP answers per recipient; SMTP's end-of-data reply is each
	 * recipient's too. */
	key_str(b, "smtp_response", r->response != NULL ? r->response :
	    o->response);
	buf_adds(b, ",\"smtp_delay\":");
	rec_number(b, o->delay);
	buf_printf(b, ",\"smtp_port\":%u", o->port);
	key_str(b, "recipient", r->address);
	key_str(b, "from", o->mail_from);
	key_str(b, "subject", subject);
	source(b, o);
	buf_adds(b, "}\n");
}

/* deferred and bounced. */
static void
record_failed(struct buf *b, const struct buf *head, int deferred,
    const struct op_outbound *o, const struct op_rcpt *r,
    const char *subject)
{
	struct buf reason = BUF_INIT;

	buf_add(b, head->p, head->len);
	key_str(b, "recipient", r->address);
	key_str(b, "from", o->mail_from);
	key_str(b, "subject", subject);
	key_str(b, "dsn_status", r->status);
	key_str(b, "dsn_action", r->action);
	rec_reason(&reason, r);
	key_str(b, "undelivered_reason", buf_cstr(&reason));
	buf_free(&reason);
	if (deferred) {
		buf_adds(b, ",\"delay\":");
		rec_number(b, o->delay);
	}
	if (o->host != NULL) {
		key_str(b, "smtp_host", o->host);
		key_str(b, "smtp_ip", o->ip);
		source(b, o);
	}
	buf_adds(b, "}\n");
}

/* A string the report may not have given: null when it did not. */
static void
key_opt(struct buf *b, const char *key, const char *v)
{
	if (v == NULL)
		buf_printf(b, ",\"%s\":null", key);
	else
		key_str(b, key, v);
}

static void
key_time(struct buf *b, const char *key, long long ms)
{
	char t[32];

	if (ms <= 0) {
		buf_printf(b, ",\"%s\":null", key);
		return;
	}
	log_iso_time(t, sizeof(t), ms);
	key_str(b, key, t);
}

void
ol_feedback_record(struct buf *b, const struct op_feedback *fb,
    long long now_ms, long pid, const char *host)
{
	int complaint = strcmp(fb->type, "complaint") == 0;
	char now[32];

	log_iso_time(now, sizeof(now), now_ms);
	buf_printf(b, "{\"level\":\"info\",\"time\":\"%s\",\"pid\":%ld", now,
	    pid);
	key_str(b, "hostname", host);
	buf_printf(b, ",\"name\":\"%s\",\"type\":\"%s\"", NAME,
	    complaint ? "complaint" : "remote_bounce");
	key_opt(b, "job_id", fb->id);
	key_time(b, "queue_time", fb->queue_time);
	key_opt(b, "recipient", fb->recipient);
	key_opt(b, "from", fb->mail_from);
	key_opt(b, "message_id", fb->message_id);
	if (complaint) {
		key_opt(b, "feedback_type", fb->feedback_type);
		key_opt(b, "user_agent", fb->user_agent);
		key_opt(b, "source_ip", fb->source_ip);
	} else {
		key_opt(b, "dsn_status", fb->status);
		key_opt(b, "dsn_action", fb->action);
		key_opt(b, "diagnostic", fb->diagnostic);
		key_opt(b, "bounce_category", fb->category);
		key_opt(b, "remote_mta", fb->remote_mta);
	}
	key_opt(b, "reporting_mta", fb->reporting_mta);
	key_opt(b, "report_from", fb->report_from);
	key_time(b, "arrival_time", fb->arrival_time);
	key_opt(b, "correlation", fb->correlation);
	key_opt(b, "event_id", fb->event_id);
	key_opt(b, "vmta", fb->vmta);
	buf_adds(b, "}\n");
}

/* A remote bounce or a complaint: one record. */
static void
ol_feedback(struct op_call *c, void *data)
{
	const struct ol *ol = data;
	const struct op_feedback *fb = rec_feedback(c, NAME);
	struct buf b = BUF_INIT;

	if (fb == NULL)
		return;
	ol_feedback_record(&b, fb, rec_now_ms(), ol->pid, ol->host);
	if (ol->out != NULL)
		rw_append(ol->out, b.p, b.len, NULL, NULL);
	rec_submit(ol->file, &b, ol->sync, c);
	buf_free(&b);
	log_debug(NAME, fb->id, "%s record added", fb->type);
}

static void
ol_event(struct op_call *c, void *data)
{
	const struct ol *ol = data;
	const struct op_outbound *o = op_call_outbound(c);
	enum op_hook h = op_call_hook(c);
	const char *type = h == OP_HOOK_DELIVERED ? "delivered" :
	    h == OP_HOOK_DEFERRED ? "deferred" : "bounced";
	struct buf b = BUF_INIT, head = BUF_INIT, subject = BUF_INIT;

	record_head(ol, &head, type, o);
	rec_subject(o, &subject);
	for (unsigned i = 0; i < o->nrcpts; i++) {
		if (h == OP_HOOK_DELIVERED)
			record_delivered(&b, &head, o, &o->rcpts[i],
			    buf_cstr(&subject));
		else
			record_failed(&b, &head, h == OP_HOOK_DEFERRED, o,
			    &o->rcpts[i], buf_cstr(&subject));
	}
	buf_free(&head);
	buf_free(&subject);
	if (ol->out != NULL && b.len > 0)
		rw_append(ol->out, b.p, b.len, NULL, NULL);
	rec_submit(ol->file, &b, ol->sync, c);
	buf_free(&b);
	log_debug(NAME, o->id, "%s record%s added", type,
	    o->nrcpts == 1 ? "" : "s");
}

/* stop_at_bounce: the bounce is handled here. */
static void
ol_bounce(struct op_call *c, void *data)
{
	const struct ol *ol = data;

	op_next(c, ol->stop_at_bounce ? OP_OK : OP_CONT, NULL);
}

static void
ol_reopen(struct op_call *c, void *data)
{
	const struct ol *ol = data;

	recwriter_reopen(ol->w);
	op_next(c, OP_CONT, NULL);
}

static void
ol_shutdown(void *data)
{
	struct ol *ol = data;

	if (ol == NULL)
		return;
	if (ol->w != NULL)
		recwriter_free(ol->w);
	free(ol);
}

static int
open_file(struct ol *ol, const struct ini *ini, const char *config_dir)
{
	const char *dir = ini_get(ini, "file", "log_dir");
	const char *name = ini_get(ini, "file", "filename");
	struct rw_opts opts;
	char *path, *err = NULL;

	if (dir == NULL || *dir == '\0') {
		log_error(NAME, NULL, "file path is not defined.");
		return 0;
	}
	if (name == NULL || *name == '\0')
		name = FILENAME;
	if (strchr(name, '/') != NULL) {
		log_error(NAME, NULL, "outbound_logger.ini: [file] filename "
		    "'%s' must be a file name, not a path", name);
		return -1;
	}
	path = path_from_root(config_dir, dir);
	if (mkdirs(path, 0750) != 0) {
		log_error(NAME, NULL, "%s: cannot create: %s", path,
		    strerror(errno));
		free(path);
		return -1;
	}
	memset(&opts, 0, sizeof(opts));
	opts.source = NAME;
	opts.fd = -1;
	opts.dir = path;
	opts.name = name;
	opts.sync = ol->sync;
	ol->file = rw_stream_open(ol->w, &opts, &err);
	free(path);
	if (ol->file == NULL) {
		log_error(NAME, NULL, "%s", err);
		free(err);
		return -1;
	}
	log_info(NAME, NULL, "writing records to %s%s",
	    rw_stream_path(ol->file), ol->sync ? " (sync)" : "");
	return 0;
}

static int
ol_init(struct op_env *env, void **data)
{
	const char *config_dir = op_config_dir(env);
	struct ol *ol = xcalloc(1, sizeof(*ol));
	char *path = xasprintf("%s/outbound_logger.ini", config_dir);
	char *err = NULL;
	struct ini *ini;
	int exists, rc = -1;

	*data = ol;
	ini = ini_load(path, "outbound_logger.ini", &exists, NULL, NULL);
	if (ini == NULL) {
		log_error(NAME, NULL, "%s: %s", path, strerror(errno));
		free(path);
		goto out;
	}
	free(path);
	ol->stop_at_bounce = ini_bool(ini, "main", "stop_at_bounce", 1);
	ol->sync = ini_bool(ini, "file", "sync", 1);
	ol->pid = (long)getpid();
	if (gethostname(ol->host, sizeof(ol->host) - 1) != 0)
		snprintf(ol->host, sizeof(ol->host), "localhost");
	if ((ol->w = recwriter_new(op_event_base(env), &err)) == NULL) {
		log_error(NAME, NULL, "%s", err);
		free(err);
		goto out;
	}
	if (ini_bool(ini, "stdout", "enable", 0)) {
		struct rw_opts opts;

		memset(&opts, 0, sizeof(opts));
		opts.source = NAME;
		opts.fd = STDOUT_FILENO;
		if ((ol->out = rw_stream_open(ol->w, &opts, &err)) == NULL) {
			log_error(NAME, NULL, "%s", err);
			free(err);
			goto out;
		}
	} else
		log_info(NAME, NULL, "stdout is disabled.");
	if (ini_bool(ini, "file", "enable", 0)) {
		if (open_file(ol, ini, config_dir) != 0)
			goto out;
	} else
		log_info(NAME, NULL, "file logging is disabled.");
	op_register_hook(env, OP_HOOK_DELIVERED, ol_event, OP_HOOK_OBSERVE);
	op_register_hook(env, OP_HOOK_DEFERRED, ol_event, OP_HOOK_OBSERVE);
	op_register_hook(env, OP_HOOK_BOUNCE, ol_event, OP_HOOK_OBSERVE);
	op_register_hook(env, OP_HOOK_BOUNCE, ol_bounce, 0);
	op_register_hook(env, OP_HOOK_FEEDBACK, ol_feedback, OP_HOOK_OBSERVE);
	op_register_hook(env, OP_HOOK_REOPEN, ol_reopen, 0);
	log_info(NAME, NULL, "Plugin is Ready!");
	rc = 0;
out:
	ini_free(ini);
	if (rc != 0) {		/* shutdown() is not called after a failure */
		ol_shutdown(ol);
		*data = NULL;
	}
	return rc;
}

void
outbound_logger_dirs(const char *config_dir, rec_dir_fn add, void *arg)
{
	char *path = xasprintf("%s/outbound_logger.ini", config_dir), *dir;
	struct ini *ini;
	const char *v;
	int exists;

	ini = ini_load(path, "outbound_logger.ini", &exists, NULL, NULL);
	free(path);
	if (ini == NULL)
		return;
	/* As ol_init and open_file read it. */
	if (ini_bool(ini, "file", "enable", 0) &&
	    (v = ini_get(ini, "file", "log_dir")) != NULL && *v != '\0') {
		dir = path_from_root(config_dir, v);
		add(arg, dir);
		free(dir);
	}
	ini_free(ini);
}

const struct op_plugin outbound_logger_plugin = {
	.abi = OUTPOST_PLUGIN_ABI,
	.name = NAME,
	.init = ol_init,
	.shutdown = ol_shutdown,
};
