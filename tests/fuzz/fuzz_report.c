/*
 * libFuzzer target: the record line parsers of `outpost report`
 * (report/parse.c) — outbound_logger's JSON lines, accounting files'
 * header and TSV/CSV lines, times, reason keys.
 *
 * Input: [mode] then bytes. The bytes are tried as they are: as a JSON
 * line, as a time, as a reason; their first line as an accounting header
 * (detected separator), the other lines as its records. Then they are
 * split at 0x1f into a recipient and a reason, written as the plugins
 * write them — a JSON line through lib/json's json_string, an accounting
 * line with accounting_files' escaping (mode & 1: CSV, else TAB) — and
 * read back.
 *
 * Oracles: nothing crashes or reads out of bounds; a parsed record has a
 * known type; a time is -1 or at/after the epoch; a reason key has at
 * most 100 bytes and no control character; the written lines read back
 * to the recipient and reason (when those are valid UTF-8 without NUL:
 * json_string replaces the rest, as the plugins' output does).
 */
#include <string.h>

#include "fuzz.h"
#include "lib/buf.h"
#include "lib/json.h"
#include "report/parse.h"

static int
clean_utf8(const char *s)
{
	size_t n = strlen(s), k;

	for (const unsigned char *p = (const unsigned char *)s; n > 0;
	    p += k, n -= k)
		if ((k = utf8_len(p, n)) == 0)
			return 0;
	return 1;
}

/* accounting_files' put_value(): RFC 4180 for CSV, else escapes. */
static void
put_value(struct buf *b, const char *v, int csv)
{
	if (csv) {
		buf_addc(b, '"');
		for (; *v != '\0'; v++) {
			if (*v == '"')
				buf_addc(b, '"');
			buf_addc(b, *v);
		}
		buf_addc(b, '"');
		return;
	}
	for (; *v != '\0'; v++) {
		if (*v == '\t')
			buf_adds(b, "\\t");
		else if (*v == '\r')
			buf_adds(b, "\\r");
		else if (*v == '\n')
			buf_adds(b, "\\n");
		else if (*v == '\\')
			buf_adds(b, "\\\\");
		else
			buf_addc(b, *v);
	}
}

static void
check_record(const struct rp_record *r)
{
	check(r->type < RP_NTYPES);
	check(r->time_ms >= -1);
	if (r->rcpt != NULL)
		(void)strlen(r->rcpt);
	if (r->reason != NULL)
		(void)strlen(r->reason);
}

static void
as_is(const char *s, size_t n)
{
	struct buf store = BUF_INIT, key = BUF_INIT;
	struct rp_record r;
	struct rp_cols c;
	const char *nl = memchr(s, '\n', n), *p, *e;

	if (rp_json_line(s, n, &r, &store) == 0)
		check_record(&r);
	check(rp_time(s) >= -1);
	rp_normalise(s, &key);
	check(key.len <= 100);
	for (size_t i = 0; i < key.len; i++)
		check((unsigned char)key.p[i] >= 0x20 && key.p[i] != 0x7f);
	(void)rp_acct_is_header(s, n);
	if (nl != NULL && rp_acct_header(s, (size_t)(nl - s), NULL, &c) == 0)
		for (p = nl + 1; p < s + n; p = e + 1) {
			if ((e = memchr(p, '\n', (size_t)(s + n - p))) == NULL)
				e = s + n;
			if (rp_acct_line(&c, p, (size_t)(e - p), 0, &r,
			    &store) == 0)
				check_record(&r);
		}
	buf_free(&store);
	buf_free(&key);
}

static void
round_trip(const char *rcpt, const char *reason, int csv)
{
	struct buf line = BUF_INIT, store = BUF_INIT;
	struct rp_record r;
	struct rp_cols c;
	const char *header = csv ? "type,rcpt,dsnMsg" : "type\trcpt\tdsnMsg";

	buf_adds(&line, "{\"type\":\"bounced\",\"recipient\":");
	json_string(&line, rcpt);
	buf_adds(&line, ",\"undelivered_reason\":");
	json_string(&line, reason);
	buf_adds(&line, "}");
	check(rp_json_line(line.p, line.len, &r, &store) == 0);
	check(r.type == RP_BOUNCED);
	check(strcmp(r.rcpt, rcpt) == 0 && strcmp(r.reason, reason) == 0);
	check(rp_acct_header(header, strlen(header), NULL, &c) == 0);
	check(c.csv == csv);
	buf_reset(&line);
	buf_adds(&line, csv ? "b," : "b\t");
	put_value(&line, rcpt, csv);
	buf_adds(&line, csv ? "," : "\t");
	put_value(&line, reason, csv);
	check(rp_acct_line(&c, line.p, line.len, -1, &r, &store) == 0);
	check(strcmp(r.rcpt, rcpt) == 0 && strcmp(r.reason, reason) == 0);
	buf_free(&line);
	buf_free(&store);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in, *sep;

	if (size < 1)
		return 0;
	in = malloc(size);
	if (in == NULL)
		abort();
	memcpy(in, data + 1, size - 1);
	in[size - 1] = '\0';
	as_is(in, size - 1);
	if (strlen(in) == size - 1) {		/* no NUL inside */
		sep = strchr(in, 0x1f);
		if (sep != NULL)
			*sep++ = '\0';
		if (clean_utf8(in) && (sep == NULL || clean_utf8(sep)))
			round_trip(in, sep != NULL ? sep : "", data[0] & 1);
	}
	free(in);
	return 0;
}
