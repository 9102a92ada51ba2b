/* Unit tests: the records of remote bounces and complaints — the exact
 * JSON line of outbound_logger (records/outbound_logger.c) and the exact
 * rb and f lines of accounting_files (records/acct_fields.c), escaping and
 * CSV quoting included — then both plugins driven through the feedback
 * hook's observer (plugins/hooks.c), with sync: the event is answered only
 * once its lines are on disk. Also rec_reason(): a remote reply is recorded
 * in the remote's words. */
#include "unit.h"

#include <dirent.h>
#include <sys/stat.h>
#include <time.h>

#include <event2/event.h>

#include "lib/buf.h"
#include "core/config.h"
#include "plugins/plugin.h"
#include "builtins/builtin.h"
#include "records/acct_fields.h"
#include "records/record.h"

#define NOW	1795000000999LL		/* 2026-11-18T11:06:40.999Z */
#define ARRIVED	1795000000123LL		/* 2026-11-18T11:06:40.123Z */
#define QUEUED	1794990000789LL		/* 2026-11-18T08:20:00.789Z */

static struct op_feedback
bounce(void)
{
	struct op_feedback fb;

	memset(&fb, 0, sizeof(fb));
	fb.size = sizeof(fb);
	fb.type = "remote_bounce";
	fb.event_id = "rb-7f3a";
	fb.arrival_time = ARRIVED;
	fb.reporting_mta = "mx.example.net";
	fb.report_from = "";
	fb.id = "B3D5.1";
	fb.recipient = "user@example.com";
	fb.mail_from = "news@sender.test";
	fb.message_id = "<m1@sender.test>";
	fb.queue_time = QUEUED;
	fb.correlation = "verp";
	fb.action = "failed";
	fb.status = "5.1.1";
	fb.diagnostic = "550 5.1.1 \"user\" unknown, gone\n\tfor good";
	fb.remote_mta = "mx2.example.net";
	fb.category = "bad-mailbox";
	fb.vmta = "pool-a";
	return fb;
}

/* A complaint whose original mail is only partly known. */
static struct op_feedback
complaint(void)
{
	struct op_feedback fb;

	memset(&fb, 0, sizeof(fb));
	fb.size = sizeof(fb);
	fb.type = "complaint";
	fb.event_id = "f-1";
	fb.arrival_time = ARRIVED;
	fb.reporting_mta = "fbl.example.org";
	fb.recipient = "Jos\xc3\xa9@example.com";
	fb.mail_from = "";
	fb.message_id = "<m2@sender.test>";
	fb.correlation = "message-id";
	fb.category = "complaint";
	fb.feedback_type = "abuse";
	fb.user_agent = "ExampleFBL/1.0";
	fb.source_ip = "192.0.2.7";
	return fb;
}

#define BOUNCE_JSON_TAIL \
	",\"name\":\"outbound_logger\",\"type\":\"remote_bounce\"," \
	"\"job_id\":\"B3D5.1\",\"queue_time\":\"2026-11-18T08:20:00.789Z\"," \
	"\"recipient\":\"user@example.com\",\"from\":\"news@sender.test\"," \
	"\"message_id\":\"<m1@sender.test>\",\"dsn_status\":\"5.1.1\"," \
	"\"dsn_action\":\"failed\",\"diagnostic\":\"550 5.1.1 " \
	"\\\"user\\\" unknown, gone\\n\\tfor good\"," \
	"\"bounce_category\":\"bad-mailbox\"," \
	"\"remote_mta\":\"mx2.example.net\"," \
	"\"reporting_mta\":\"mx.example.net\",\"report_from\":\"\"," \
	"\"arrival_time\":\"2026-11-18T11:06:40.123Z\"," \
	"\"correlation\":\"verp\"," \
	"\"event_id\":\"rb-7f3a\",\"vmta\":\"pool-a\"}\n"

static void
test_json_remote_bounce(void **state)
{
	struct op_feedback fb = bounce();
	struct buf b = BUF_INIT;

	(void)state;
	ol_feedback_record(&b, &fb, NOW, 42, "h\"1");
	assert_string_equal(buf_cstr(&b), "{\"level\":\"info\","
	    "\"time\":\"2026-11-18T11:06:40.999Z\",\"pid\":42,"
	    "\"hostname\":\"h\\\"1\"" BOUNCE_JSON_TAIL);
	buf_free(&b);
}

static void
test_json_complaint(void **state)
{
	struct op_feedback fb = complaint();
	struct buf b = BUF_INIT;

	(void)state;
	/* Unknown: the job id, the queue time, the route; "" is <>. */
	ol_feedback_record(&b, &fb, NOW, 42, "h1");
	assert_string_equal(buf_cstr(&b), "{\"level\":\"info\","
	    "\"time\":\"2026-11-18T11:06:40.999Z\",\"pid\":42,"
	    "\"hostname\":\"h1\",\"name\":\"outbound_logger\","
	    "\"type\":\"complaint\",\"job_id\":null,\"queue_time\":null,"
	    "\"recipient\":\"Jos\xc3\xa9@example.com\",\"from\":\"\","
	    "\"message_id\":\"<m2@sender.test>\",\"feedback_type\":\"abuse\","
	    "\"user_agent\":\"ExampleFBL/1.0\",\"source_ip\":\"192.0.2.7\","
	    "\"reporting_mta\":\"fbl.example.org\",\"report_from\":null,"
	    "\"arrival_time\":\"2026-11-18T11:06:40.123Z\","
	    "\"correlation\":\"message-id\",\"event_id\":\"f-1\","
	    "\"vmta\":null}\n");
	buf_free(&b);
}

static void
defaults(struct acct_fields *fl, enum acct_kind k)
{
	memset(fl, 0, sizeof(*fl));
	acct_fields_parse(fl, acct_kind_fields(k), acct_kind_key(k));
}

static void
test_acct_lines(void **state)
{
	struct op_feedback rb = bounce(), f = complaint();
	struct acct_fmt tsv = { "\t", 0, NULL }, csv = { ",", 1, NULL };
	struct acct_fields frb, ff;
	struct buf b = BUF_INIT;

	(void)state;
	assert_string_equal(acct_kind_prefix(AK_REMOTE_BOUNCE), "rb");
	assert_string_equal(acct_kind_prefix(AK_FEEDBACK), "f");
	defaults(&frb, AK_REMOTE_BOUNCE);
	defaults(&ff, AK_FEEDBACK);
	acct_header(&tsv, &frb, &b);
	assert_string_equal(buf_cstr(&b), "type\ttimeLogged\ttimeQueued\torig\t"
	    "rcpt\tvmta\tjobId\tmsgId\tdsnAction\tdsnStatus\tdsnDiag\t"
	    "dsnReportingMta\tdsnMta\tbounceCat\n");
	buf_reset(&b);
	acct_header(&csv, &ff, &b);
	assert_string_equal(buf_cstr(&b), "type,timeLogged,timeQueued,orig,"
	    "rcpt,vmta,jobId,msgId,feedbackType,userAgent,srcIp,"
	    "dsnReportingMta\n");

	/* timeLogged is the report's arrival; a line break in a value is
	 * escaped (TSV) or quoted (CSV). */
	buf_reset(&b);
	acct_feedback_line(&tsv, AK_REMOTE_BOUNCE, &frb, &rb, &b);
	assert_string_equal(buf_cstr(&b), "rb\t2026-11-18 11:06:40+0000\t"
	    "2026-11-18 08:20:00+0000\tnews@sender.test\tuser@example.com\t"
	    "pool-a\tB3D5.1\t<m1@sender.test>\tfailed\t5.1.1\t"
	    "550 5.1.1 \"user\" unknown, gone\\n\\tfor good\t"
	    "mx.example.net\tmx2.example.net\tbad-mailbox\n");
	buf_reset(&b);
	acct_feedback_line(&csv, AK_REMOTE_BOUNCE, &frb, &rb, &b);
	assert_string_equal(buf_cstr(&b), "rb,2026-11-18 11:06:40+0000,"
	    "2026-11-18 08:20:00+0000,news@sender.test,user@example.com,"
	    "pool-a,B3D5.1,<m1@sender.test>,failed,5.1.1,"
	    "\"550 5.1.1 \"\"user\"\" unknown, gone\n\tfor good\","
	    "mx.example.net,mx2.example.net,bad-mailbox\n");
	/* Unknown values are empty fields. */
	buf_reset(&b);
	acct_feedback_line(&csv, AK_FEEDBACK, &ff, &f, &b);
	assert_string_equal(buf_cstr(&b), "f,2026-11-18 11:06:40+0000,,,"
	    "Jos\xc3\xa9@example.com,,,<m2@sender.test>,abuse,ExampleFBL/1.0,"
	    "192.0.2.7,fbl.example.org\n");

	/* Any field may be asked of any type; the original mail's own
	 * fields (srcMta, destIp, delay, custom_) are empty here. */
	acct_fields_free(&ff);
	acct_fields_parse(&ff, "eventId, correlation,srcMta,destIp,delay,"
	    "custom_Subject,dsnMsg,bounceCat,srcType,dlvSourceIp", "feedback");
	buf_reset(&b);
	acct_feedback_line(&csv, AK_FEEDBACK, &ff, &f, &b);
	assert_string_equal(buf_cstr(&b), "f-1,message-id,,,,,,complaint,"
	    "smtp,192.0.2.7\n");
	buf_reset(&b);
	acct_feedback_line(&tsv, AK_REMOTE_BOUNCE, &ff, &rb, &b);
	assert_string_equal(buf_cstr(&b), "rb-7f3a\tverp\t\t\t\t\t"
	    "\"user\" unknown, gone\\n\\tfor good\t"
	    "bad-mailbox\tsmtp\t\n");
	/* dsnMsg: the diagnostic after its code and status, as elsewhere. */
	{
		static const char *const diag[][2] = {
			{ "451 mailbox busy", "mailbox busy" },
			{ "550-5.7.1  blocked", "blocked" },
			{ "552 5.2.2", "" },
			{ "550 5.1 odd status", "5.1 odd status" },
			{ "5.1.1 no code", "5.1.1 no code" },
			{ "smtp; 550 as given", "smtp; 550 as given" },
			{ "550", "" },
		};

		acct_fields_free(&ff);
		acct_fields_parse(&ff, "dsnMsg", "remote_bounce");
		for (size_t i = 0; i < sizeof(diag) / sizeof(diag[0]); i++) {
			rb.diagnostic = diag[i][0];
			buf_reset(&b);
			acct_feedback_line(&tsv, AK_REMOTE_BOUNCE, &ff, &rb,
			    &b);
			assert_true(b.len > 0);
			b.p[b.len - 1] = '\0';
			assert_string_equal(b.p, diag[i][1]);
		}
	}
	acct_fields_free(&frb);
	acct_fields_free(&ff);
	buf_free(&b);
}

static void
test_reason_in_the_remotes_words(void **state)
{
	struct op_rcpt r;
	struct buf b = BUF_INIT;

	(void)state;
	memset(&r, 0, sizeof(r));
	/* No enhanced code sent: the derived 4.0.0 is dsn_status only. */
	r = (struct op_rcpt){ "a@b.test", "delayed", "4.0.0", 450,
	    "mailbox busy", "450 mailbox busy", 1 };
	rec_reason(&b, &r);
	assert_string_equal(buf_cstr(&b), "mailbox busy");
	/* Sent: kept, even once retries made the status permanent. */
	buf_reset(&b);
	r = (struct op_rcpt){ "a@b.test", "failed", "5.2.2", 452, "full",
	    "452 4.2.2 full", 1 };
	rec_reason(&b, &r);
	assert_string_equal(buf_cstr(&b), "4.2.2 full");
	buf_reset(&b);
	r = (struct op_rcpt){ "a@b.test", "failed", "5.0.0", 550, "",
	    "550", 1 };
	rec_reason(&b, &r);
	assert_string_equal(buf_cstr(&b), "");
	/* Outpost's own: "<code> - <message>". */
	buf_reset(&b);
	r = (struct op_rcpt){ "a@b.test", "failed", "5.1.2", 550,
	    "No Such Domain: b.test", "550 5.1.2 No Such Domain: b.test", 0 };
	rec_reason(&b, &r);
	assert_string_equal(buf_cstr(&b), "550 - No Such Domain: b.test");
	buf_free(&b);
}

/* --- both plugins, through the feedback hook's observers ----------------- */

static struct event_base *base;
static char dir[64];

static char *
read_all(const char *path)
{
	FILE *f = fopen(path, "r");
	struct buf b = BUF_INIT;
	char chunk[4096];
	size_t n;

	assert_non_null(f);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_add(&b, chunk, n);
	fclose(f);
	return buf_release(&b);
}

/* The one file of prefix in d (malloc'd path). */
static char *
only_file(const char *d, const char *prefix)
{
	DIR *dh = opendir(d);
	struct dirent *de;
	char *found = NULL;
	size_t pl = strlen(prefix);

	assert_non_null(dh);
	while ((de = readdir(dh)) != NULL) {
		if (strncmp(de->d_name, prefix, pl) != 0 ||
		    de->d_name[pl] != '.' || de->d_name[pl + 1] < '0' ||
		    de->d_name[pl + 1] > '9')
			continue;
		assert_null(found);
		found = xasprintf("%s/%s", d, de->d_name);
	}
	closedir(dh);
	assert_non_null(found);
	return found;
}

static void
observed(void *arg, int code, const char *msg)
{
	(void)msg;
	*(int *)arg = code;
}

static void
fire(const struct op_feedback *fb, int recorded)
{
	int answered = 0;

	hook_observe(OP_HOOK_FEEDBACK, fb, observed, &answered);
	/* sync: not answered before the lines are written and fsynced. */
	if (recorded)
		assert_int_equal(answered, 0);
	while (answered == 0)
		event_base_loop(base, EVLOOP_ONCE);
	assert_int_equal(answered, OP_CONT);
}

static void
test_through_the_hook(void **state)
{
	struct op_feedback rb = bounce(), f = complaint(), odd = bounce();
	struct config cfg;
	char *cfgdir, *path, *text, *err = NULL, *file, *want;
	char host[256] = "";

	(void)state;
	cfgdir = xasprintf("%s/config", dir);
	assert_int_equal(mkdir(cfgdir, 0700), 0);
	text = xasprintf("[file]\nenable=true\nlog_dir=%s/logs\n", dir);
	write_file(cfgdir, "outbound_logger.ini", text);
	free(text);
	text = xasprintf("[main]\npath=%s/acct\nseparator=,\nextension=csv\n"
	    "[location]\nfeedback=fbl\n", dir);
	write_file(cfgdir, "accounting_files.ini", text);
	free(text);

	memset(&cfg, 0, sizeof(cfg));
	log_set_level(LOG_EMERG);
	assert_int_equal(plugins_load(&cfg, base, builtin_plugins, &err), 0);
	if (plugins_add(&outbound_logger_plugin, cfgdir, 30, &err) != 0 ||
	    plugins_add(&accounting_files_plugin, cfgdir, 30, &err) != 0)
		fail_msg("%s", err);
	assert_int_equal(hook_observers(OP_HOOK_FEEDBACK), 2);
	/* Observers only: stop_at_bounce stays a link of the bounce chain
	 * alone, and feedback has no chain to stop. */
	assert_int_equal(hook_count(OP_HOOK_FEEDBACK), 0);
	assert_int_equal(hook_count(OP_HOOK_BOUNCE), 1);
	fire(&rb, 1);
	fire(&f, 1);
	odd.type = "delivered";		/* not feedback: no record */
	fire(&odd, 0);

	/* outbound_logger: the two lines, after their own time and pid. */
	path = xasprintf("%s/logs/outbound.log", dir);
	text = read_all(path);
	free(path);
	gethostname(host, sizeof(host) - 1);
	want = xasprintf("\"pid\":%ld,\"hostname\":\"%s\"" BOUNCE_JSON_TAIL,
	    (long)getpid(), host);
	assert_non_null(strstr(text, want));
	assert_true(strncmp(text, "{\"level\":\"info\",\"time\":\"", 24) == 0);
	assert_non_null(strstr(text, "}\n{\"level\":\"info\","));
	assert_non_null(strstr(text, ",\"type\":\"complaint\",\"job_id\":null,"
	    "\"queue_time\":null,"));
	assert_int_equal(strchr(strchr(text, '\n') + 1, '\n')[1], '\0');
	free(want);
	free(text);

	/* accounting_files: one line each, in the type's own file. */
	path = xasprintf("%s/acct/remote_bounce", dir);
	file = only_file(path, "rb");
	free(path);
	text = read_all(file);
	assert_string_equal(text, "type,timeLogged,timeQueued,orig,rcpt,vmta,"
	    "jobId,msgId,dsnAction,dsnStatus,dsnDiag,dsnReportingMta,dsnMta,"
	    "bounceCat\nrb,2026-11-18 11:06:40+0000,2026-11-18 08:20:00+0000,"
	    "news@sender.test,user@example.com,pool-a,B3D5.1,"
	    "<m1@sender.test>,failed,5.1.1,"
	    "\"550 5.1.1 \"\"user\"\" unknown, gone\n\tfor good\","
	    "mx.example.net,mx2.example.net,bad-mailbox\n");
	free(text);
	free(file);
	path = xasprintf("%s/acct/fbl", dir);
	file = only_file(path, "f");
	free(path);
	text = read_all(file);
	assert_non_null(strstr(text, "dsnReportingMta\nf,2026-11-18 "
	    "11:06:40+0000,,,Jos\xc3\xa9@example.com,,,<m2@sender.test>,"
	    "abuse,ExampleFBL/1.0,192.0.2.7,fbl.example.org\n"));
	free(text);
	free(file);
	/* The seed's three types are there, each file a header alone. */
	path = xasprintf("%s/acct/bounce", dir);
	file = only_file(path, "b");
	text = read_all(file);
	assert_string_equal(text, "type,timeLogged,timeQueued,rcpt,srcMta,"
	    "srcIp,vmta,jobId,dsnStatus,dsnMsg,bounceCat\n");
	free(text);
	free(file);
	free(path);
	plugins_unload();
	free(cfgdir);
}

static int
setup(void **state)
{
	(void)state;
	setenv("TZ", "UTC", 1);
	tzset();
	snprintf(dir, sizeof(dir), "/tmp/outpost-fbrec.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	base = event_base_new();
	return base == NULL;
}

static int
teardown(void **state)
{
	char *cmd = xasprintf("rm -rf '%s'", dir);
	int rc;

	(void)state;
	event_base_free(base);
	rc = system(cmd);
	free(cmd);
	return rc != 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_remote_bounce),
		cmocka_unit_test(test_json_complaint),
		cmocka_unit_test(test_acct_lines),
		cmocka_unit_test(test_reason_in_the_remotes_words),
		cmocka_unit_test(test_through_the_hook),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
