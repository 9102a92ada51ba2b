/*
 * libFuzzer target: accounting_files' field lists and value escaping
 * (records/acct_fields.c). The values of one field are static there, so
 * the module is compiled into this file (white box); the plugin ABI calls
 * record.c makes (op_next from rec_submit, op_call_feedback from
 * rec_feedback — never reached here) are stubs that abort.
 *
 * Input: [mode] then lines: the separator (mode & 3 == 2), the [fields]
 * list, then the values of one event separated by 0x1f: rcpt, helo,
 * local_ip, ip, route, id, status, response, and the message (any bytes).
 * mode & 3: 0 TAB, 1 ",", 2 the given separator; (mode >> 2) % 5: the
 * kind (delivered, deferred, bounce, remote_bounce, feedback); the reply
 * code is 200 + mode. For remote_bounce and feedback the eight values are
 * the report's recipient, reporting_mta, source_ip, remote_mta, vmta, id,
 * status and diagnostic, and the message its mail_from.
 *
 * Oracles: the field list parses to its trimmed, non-empty names, each
 * known name to its field, custom_<h> to header h; the header line and a
 * record line never hold a line break (CSV: outside quotes), and they read
 * back — RFC 4180 for CSV, backslash escapes otherwise — to the field
 * names and to the values field_value() / feedback_value() give (CSV
 * drops NUL bytes), and the module's line builders write that line. A
 * separator holding a backslash or one of t, r, n, 0 makes the escaped
 * form ambiguous (\t is TAB or "t"): only the line-break oracle applies
 * (the separator is the administrator's: one with a CR is not tried).
 */
#include "../../src/records/acct_fields.c"

#include "fuzz.h"

/* --- the plugin ABI: reached only from rec_submit, rec_feedback ----- */

void
op_next(struct op_call *c, int code, const char *msg)
{
	(void)c; (void)code; (void)msg;
	abort();
}

const struct op_feedback *
op_call_feedback(const struct op_call *c)
{
	(void)c;
	abort();
}

/* --- the target ----------------------------------------------------------- */

static struct bouncecat *bc;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_set_level(LOG_EMERG);	/* unknown fields are logged */
	bc = bouncecat_new();
	return 0;
}

struct fields {
	struct buf	*v;
	size_t		 n;
};

static struct buf *
fields_add(struct fields *f)
{
	f->v = xreallocarray(f->v, f->n + 1, sizeof(*f->v));
	memset(&f->v[f->n], 0, sizeof(f->v[f->n]));
	return &f->v[f->n++];
}

static void
fields_free(struct fields *f)
{
	for (size_t i = 0; i < f->n; i++)
		buf_free(&f->v[i]);
	free(f->v);
	memset(f, 0, sizeof(*f));
}

/* RFC 4180: quoted fields may hold anything, "" is a quote. */
static void
read_csv(const char *p, size_t len, struct fields *out)
{
	size_t i = 0;

	for (;;) {
		struct buf *v = fields_add(out);

		if (i < len && p[i] == '"') {
			for (i++; ; i++) {
				check(i < len);		/* closed */
				if (p[i] == '"' && i + 1 < len &&
				    p[i + 1] == '"')
					buf_addc(v, p[i++]);
				else if (p[i] == '"')
					break;
				else
					buf_addc(v, p[i]);
			}
			i++;
			check(i == len || p[i] == ',');
		} else {
			for (; i < len && p[i] != ','; i++) {
				check(p[i] != '"' && p[i] != '\r' &&
				    p[i] != '\n');
				buf_addc(v, p[i]);
			}
		}
		if (i == len)
			return;
		i++;	/* the comma */
	}
}

/* Backslash escapes; sep (no '\\', 't', 'r', 'n' or '0' in it) splits. */
static void
read_escaped(const char *p, size_t len, const char *sep, struct fields *out)
{
	size_t sl = strlen(sep), i = 0;
	struct buf *v = fields_add(out);

	while (i < len) {
		check(p[i] != '\r' && p[i] != '\n');
		if (p[i] == '\\') {
			char c;

			check(i + 1 < len);
			c = p[i + 1];
			buf_addc(v, c == 't' ? '\t' : c == 'r' ? '\r' :
			    c == 'n' ? '\n' : c == '0' ? '\0' : c);
			/* Only what needs it is escaped. */
			check(strchr("trn0\\", c) != NULL || strchr(sep, c));
			i += 2;
		} else if (len - i >= sl && memcmp(p + i, sep, sl) == 0) {
			v = fields_add(out);
			i += sl;
		} else {
			check(strchr(sep, p[i]) == NULL || p[i] == '\0');
			buf_addc(v, p[i++]);
		}
	}
}

/* A line as written (without its LF) read back into want. */
static void
read_back(const struct acct_fmt *a, const struct buf *line,
    const struct fields *want)
{
	struct fields got = { NULL, 0 };
	const char *p = line->p != NULL ? line->p : "";

	if (!a->csv) {
		/* Never a line break in the line, whatever the separator. */
		check(memchr(p, '\n', line->len) == NULL &&
		    memchr(p, '\r', line->len) == NULL);
		if (strpbrk(a->sep, "\\trn0") != NULL)
			return;
	}
	if (want->n == 0) {
		check(line->len == 0);
		return;
	}
	if (a->csv)
		read_csv(p, line->len, &got);
	else
		read_escaped(p, line->len, a->sep, &got);
	check(got.n == want->n);
	for (size_t i = 0; i < want->n; i++) {
		struct buf w = BUF_INIT;

		for (size_t k = 0; k < want->v[i].len; k++)
			if (!a->csv || want->v[i].p[k] != '\0')
				buf_addc(&w, want->v[i].p[k]);
		check(got.v[i].len == w.len && (w.len == 0 ||
		    memcmp(got.v[i].p, w.p, w.len) == 0));
		buf_free(&w);
	}
	fields_free(&got);
}

/* acct_fields_parse against a plain reading of the list. */
static void
check_fields(const struct acct_fields *fl, const char *list)
{
	size_t n = 0;

	for (const char *p = list; ; ) {
		size_t len = strcspn(p, ",");
		struct slice s = slice_trim(slice_of(p, len));

		if (s.len > 0) {
			const struct acct_field *fs = &fl->v[n++];
			enum acct_fid f = AF_UNKNOWN;

			check(n <= fl->n);
			check(strlen(fs->name) == s.len &&
			    memcmp(fs->name, s.p, s.len) == 0);
			for (size_t i = 0; i < AF_CUSTOM; i++)
				if (strcmp(fs->name, acct_field_names[i]) == 0)
					f = (enum acct_fid)i;
			if (f == AF_UNKNOWN && s.len > strlen(ACCT_CUSTOM) &&
			    strncmp(s.p, ACCT_CUSTOM, strlen(ACCT_CUSTOM)) == 0)
				f = AF_CUSTOM;
			check(fs->f == f);
			if (f == AF_CUSTOM)
				check(fs->header ==
				    fs->name + strlen(ACCT_CUSTOM));
		}
		if (p[len] == '\0')
			break;
		p += len + 1;
	}
	check(n == fl->n);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data + 1, *end = (const char *)data + size;
	char *vals[8], *sep = NULL, *list = NULL, *nl, *rest = NULL;
	struct acct_fmt a;
	struct acct_fields fl = { NULL, 0 };
	enum acct_kind k;
	struct op_rcpt r;
	struct op_outbound o;
	struct op_feedback fb;
	struct event_times t;
	struct buf line = BUF_INIT, v = BUF_INIT, whole = BUF_INIT;
	struct fields names = { NULL, 0 }, values = { NULL, 0 };
	unsigned mode;

	if (size < 1)
		return 0;
	mode = data[0];
	memset(vals, 0, sizeof(vals));
	memset(&a, 0, sizeof(a));
	a.bc = bc;
	if ((mode & 3) == 2) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			return 0;
		sep = xstrndup(p, (size_t)(nl - p));
		p = nl + 1;
		/* configure(): empty is TAB; a CR in it is the admin's own
		 * line break, not a value's. */
		if (*sep == '\0' || strchr(sep, '\r') != NULL)
			goto out;
	}
	a.sep = sep != NULL ? sep : (mode & 3) == 1 ? "," : "\t";
	a.csv = strcmp(a.sep, ",") == 0;
	nl = memchr(p, '\n', (size_t)(end - p));
	list = xstrndup(p, nl != NULL ? (size_t)(nl - p) : (size_t)(end - p));
	p = nl != NULL ? nl + 1 : end;
	for (size_t i = 0; i < 8 && p < end; i++) {
		const char *us = memchr(p, 0x1f, (size_t)(end - p));
		size_t n = us != NULL ? (size_t)(us - p) : (size_t)(end - p);

		vals[i] = xstrndup(p, n);	/* C strings: to a NUL */
		p = us != NULL ? us + 1 : end;
	}

	k = (enum acct_kind)((mode >> 2) % AK_COUNT);
	acct_fields_parse(&fl, list, acct_kind_key(k));
	check_fields(&fl, list);

	/* The header line, as acct_header() writes it (without its LF). */
	acct_header(&a, &fl, &line);
	check(line.len > 0 && line.p[line.len - 1] == '\n');
	line.len--;
	for (size_t j = 0; j < fl.n; j++)
		buf_adds(fields_add(&names), fl.v[j].name);
	read_back(&a, &line, &names);

	/* One record line, as acct_outbound_lines() or acct_feedback_line()
	 * write it, compared with the values of its fields. */
	memset(&r, 0, sizeof(r));
	memset(&o, 0, sizeof(o));
	memset(&fb, 0, sizeof(fb));
	r.address = vals[0];
	o.helo = vals[1];
	o.local_ip = vals[2];
	o.ip = vals[3];
	o.route = vals[4];
	o.id = vals[5];
	r.status = vals[6];
	r.response = vals[7];
	r.reason = vals[7];
	r.code = 200 + (int)mode;
	o.message = p < end ? p : NULL;		/* the rest, NULs and all */
	o.message_len = (unsigned long)(end - p);
	o.error = mode & 0x80 ? "Too many failures" : NULL;
	o.delay = (double)mode / 7;
	o.queue_time = (long long)mode * 86400000LL;
	o.rcpts = &r;
	o.nrcpts = 1;
	rest = xstrndup(p, (size_t)(end - p));
	fb.type = k == AK_FEEDBACK ? "complaint" : "remote_bounce";
	fb.recipient = vals[0];
	fb.reporting_mta = vals[1];
	fb.source_ip = vals[2];
	fb.remote_mta = vals[3];
	fb.vmta = vals[4];
	fb.id = vals[5];
	fb.status = vals[6];
	fb.diagnostic = vals[7];
	fb.mail_from = rest;
	fb.arrival_time = 1795000000123LL;
	fb.queue_time = (long long)mode * 86400000LL;
	fb.feedback_type = "abuse";
	fb.event_id = "e,\"1\"";
	acct_local_time(t.logged, sizeof(t.logged), 1795000000123LL);
	acct_local_time(t.queued, sizeof(t.queued),
	    (long long)mode * 86400000LL);
	if (fb.queue_time == 0 && k >= AK_REMOTE_BOUNCE)
		t.queued[0] = '\0';
	buf_reset(&line);
	for (size_t j = 0; j < fl.n; j++) {
		if (j > 0)
			buf_adds(&line, a.sep);
		buf_reset(&v);
		if (k >= AK_REMOTE_BOUNCE)
			feedback_value(k, &fl.v[j], &v, &t, &fb);
		else
			field_value(&a, k, &fl.v[j], &v, &t, &o, &r);
		acct_put_value(&a, &line, v.p, v.len);
		buf_add(fields_add(&values), v.p != NULL ? v.p : "", v.len);
	}
	read_back(&a, &line, &values);
	/* The module's own line builders write that very line. */
	if (k >= AK_REMOTE_BOUNCE)
		acct_feedback_line(&a, k, &fl, &fb, &whole);
	else
		acct_outbound_lines(&a, k, &fl, &o, 1795000000123LL, &whole);
	if (whole.len > 0) {
		check(whole.len == line.len + 1 && whole.p[line.len] == '\n');
		check(line.len == 0 || memcmp(whole.p, line.p, line.len) == 0);
	}

	acct_fields_free(&fl);
out:
	fields_free(&names);
	fields_free(&values);
	buf_free(&line);
	buf_free(&v);
	buf_free(&whole);
	for (size_t i = 0; i < 8; i++)
		free(vals[i]);
	free(sep);
	free(list);
	free(rest);
	return 0;
}
