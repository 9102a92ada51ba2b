/*
 * bouncecat: files a failed recipient under one of PowerMTA's 17 bounce
 * categories. The built-in rules are written in the rules-file language
 * and compiled by bouncecat_new, so there is one matcher. A struct
 * bouncecat owns its compiled rules: file rules in load order, then the
 * built-in ones; once loading is done it only is read, and threads may
 * share it (POSIX regexec is thread-safe on a shared pattern).
 */
#include "records/bouncecat.h"

#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/buf.h"
#include "lib/slashre.h"
#include "lib/xmalloc.h"

static const char *const names[BC_COUNT] = {
	"bad-mailbox", "inactive-mailbox", "quota-issues", "bad-domain",
	"no-answer-from-host", "routing-errors", "policy-related",
	"spam-related", "content-related", "virus-related", "protocol-errors",
	"relaying-issues", "invalid-sender", "bad-connection",
	"bad-configuration", "message-expired", "other"
};

/*
 * The built-in rules, first match wins. The text is tried first, because
 * servers put the real reason in words and pick statuses loosely (Gmail's
 * 5.7.1 covers spam, DMARC and bad headers; Yandex says 5.7.1 for an
 * unknown user; Outlook 5.5.0 for one). Among the phrases, the narrowest
 * come first: Outpost's own texts, then the reasons that other words in
 * the same reply would hide (a virus report mentions spam, a DMARC
 * rejection says it "protects users from spam", a greylisting or
 * "policy restrictions" notice names the mailbox). Then the status, most
 * specific detail first, then the code alone; "other" is the fallback.
 */
static const char *const builtin[] = {
	/* Outpost's own texts (delivery/: attempt.c, mta_error.c), matched verbatim. */
	"message-expired /^Too many failures/",
	"bad-domain /^No Such Domain: |^Nowhere to deliver mail to for domain"
	    "|^No MX for |^Domain .* sends and receives no email"
	    " \\(NULL MX\\)/",
	/* A DNS answer that never came (SERVFAIL, timeouts) does not show
	 * that the domain is gone, as NXDOMAIN does: like x.4.3, the route
	 * to the domain failed, even once retries ran out (5.1.0). */
	"routing-errors /^(DNS lookup failure|Temporary MX lookup error)/",
	"no-answer-from-host /^Tried all MXs /",
	/* Our TLS policy could not be met on the connection to that host:
	 * the mail and the address are fine, the transport was not. */
	"bad-connection /^(No TLS available but|Host failed TLS verification)"
	    " required by configuration/",
	"bad-connection /^(Connection ended before the recipient was sent"
	    "|No reply to the end of data)/",
	/* A server that broke the protocol or its deadline (mta_error.c):
	 * matched before the words of the reply line or host name quoted. */
	"protocol-errors /^Malformed reply from /",
	"no-answer-from-host /^Conversation with .* timed out while waiting/",
	"bad-connection /^Lost connection with .* while waiting/",
	"other /^(Error reading the queue entry|Queue entry corrupt: )/",
	/* The suppression list (delivery/attempt_suppress.c): whatever the
	 * reason quoted after it says. */
	"policy-related /^Recipient suppressed: /",

	/* Reasons other words in the same reply would hide. */
	"virus-related /virus|malware|trojan/",
	"relaying-issues /relay(ing)?( access)? (denied|not permitted"
	    "|not allowed|prohibited|disallowed)|(not (permitted|allowed"
	    "|authori[sz]ed)|unable) to relay|as a relay|open relay/",
	"policy-related /DMARC|DKIM|unauthenticated|authentication (check"
	    "|information|requirement|level)|SPF[- ]?(check|fail|polic|valid"
	    "|record)|not pass SPF|not permitted by the domain owner"
	    "|allow sending mails? from|spoof/",
	"policy-related /PTR (resource )?record|reverse (DNS|hostname)|rDNS"
	    "|cannot find your hostname|gr[ae]y-?list|TLS required"
	    "|must issue a STARTTLS/",
	"spam-related /spam|unsolicited|blocked using|block ?list|black ?list"
	    "|deny ?list|reputation|complaint|(^|[^a-z])(RBL|UCE)([^a-z]|$)"
	    "|DNSBL|Cloudmark|Barracuda|SORBS|junk mail|bulk mail|suspicious"
	    "|banned sending IP|\\[TSS?[0-9]+\\]/",
	/* A recipient receiving too fast is that mailbox's limit; a sender
	 * or a connection sending too fast is the receiver's policy. */
	"quota-issues /receiving mail (too quickly|at a rate)"
	    "|recipient has exceeded|messages they can receive/",
	"policy-related /rate.?limit|too many (connections|concurrent"
	    "|messages|errors)|concurrent connections|throttl|excessive volume"
	    "|frequency limit|messages? per connection|sender has exceeded"
	    "|limits? (for|on) how many/",
	"policy-related /polic(y|ies) (restriction|rejection|reason|violation)"
	    "|(local|security) polic|administrative prohibition"
	    "|blocked senders?|envelope blocked"
	    "|rejected by (the )?(destination|recipient)/",

	/* The mailbox, the message, the sender, the domain. */
	"quota-issues /quota|mailbox (is )?full|inbox is full|mailbox .* full"
	    "|mailbox size|out of storage|storage (space|limit|allocation)"
	    "|insufficient (system )?storage|disk space/",
	"inactive-mailbox /disabled|inactiv|deactivated|(account|user|mailbox)"
	    "( has been| is)?( temporarily)? suspended|account (is |has been )?"
	    "(closed|locked|expired|frozen)|no longer (active|valid|in use)/",
	"message-expired /message expired|QUEUE\\.Expired|retry timeout"
	    " exceeded|(could not be delivered|cannot send message) for [0-9]/",
	"content-related /message (content|size|too (big|large)|length"
	    "|is too (big|large))|content (rejected|denied|filter|presents"
	    "|restriction)|(banned|prohibited|illegal|unsafe) (content|attachment)"
	    "|attachment|size (limit|exceeds)|too much mail data|header"
	    "|RFC ?(2822|5322)|lines? too long/",
	"invalid-sender /sender (address )?(rejected|invalid|unknown|verif)"
	    "|invalid sender|sender domain|domain of sender"
	    "|unresolvable .*from domain"
	    "|DNS MX or A\\/AAAA/",
	"bad-configuration /config(uration)? (error|problem)|misconfigur/",
	"routing-errors /host not found, try again|unrout(e)?able"
	    "|loops back to myself|loop detected|mail loop|too many hops"
	    "|hop count|routing loop|forwarding loop/",
	"bad-domain /no such domain|(domain|host)( name)? (not found"
	    "|does not exist|doesn't exist|unknown)|non-?existent domain"
	    "|NO-DOMAIN/",
	"bad-mailbox /user unknown|unknown (user|recipient|address|account"
	    "|mailbox|local part)|no such (user|mailbox|recipient|address"
	    "|account|person)|NoSuchUser|Recip(ient)?NotFound|not exists?"
	    "|(user|mailbox|recipient|account|address|addressee) (not found"
	    "|unknown|invalid)|recipient rejected|invalid[- ](recipient"
	    "|mailbox|user|address|account)|not our customer|unallocated"
	    "|could not be found"
	    "|not a valid (RFC.?5321 |e-?mail )?(address|mailbox|user)"
	    "|address syntax|doesn't have an? .* account|mailbox (not found"
	    "|unavailable)|marked as invalid|user not local"
	    "|not in (the )?recipient list|address(es)? rejected ?: ?access"
	    " denied/",
	/* "Recipient address rejected: <reason>" with an unknown reason:
	 * under X.7 a policy of the receiver, else the address. */
	"policy-related status *.7 /address rejected/",
	"bad-mailbox /address rejected/",
	"protocol-errors /syntax error|command (not recognized|unrecognized)"
	    "|unrecognized command|bad sequence of commands"
	    "|protocol (error|violation)/",
	"no-answer-from-host /connection timed out|timed out while"
	    "|no route to host|connection refused|(host|network) is"
	    " unreachable/",
	"bad-connection /lost connection|connection (reset|closed|dropped)"
	    "|broken pipe/",
	"other /temporary (server|system) (error|problem|failure)|internal"
	    "( server)? error|local error in processing|unknown error"
	    "|resources? temporarily unavailable/",

	/* RFC 3463 and its registry: the subject, then the detail. */
	"bad-mailbox status *.1.1", "bad-domain status *.1.2",
	"bad-mailbox status *.1.3", "bad-mailbox status *.1.4",
	"inactive-mailbox status *.1.6", "invalid-sender status *.1.7",
	"invalid-sender status *.1.8",
	"bad-domain status *.1.10",		/* RFC 7505 null MX */
	"bad-mailbox status *.1",
	"inactive-mailbox status *.2.1", "quota-issues status *.2.2",
	"content-related status *.2.3",
	"quota-issues status *.3.1", "content-related status *.3.4",
	"bad-configuration status *.3.5",
	"no-answer-from-host status *.4.1", "bad-connection status *.4.2",
	"routing-errors status *.4.3", "routing-errors status *.4.4",
	"routing-errors status *.4.6", "message-expired status *.4.7",
	"protocol-errors status *.5",
	"content-related status *.6",
	"bad-connection status *.7.5",		/* cryptographic failure */
	"bad-configuration status *.7.8",	/* our credentials refused */
	"bad-connection status *.7.10",		/* encryption needed */
	"inactive-mailbox status *.7.13",	/* account disabled */
	"bad-mailbox status *.7.17",		/* RRVS: new mailbox owner */
	"bad-domain status *.7.18",		/* RRVS: domain owner changed */
	"invalid-sender status *.7.27",		/* sender's domain: null MX */
	"policy-related status *.7",

	/* The code alone (RFC 5321 §4.2.3, RFC 7504). */
	"bad-connection code 421", "quota-issues code 452",
	"protocol-errors code 500", "protocol-errors code 501",
	"protocol-errors code 502", "protocol-errors code 503",
	"protocol-errors code 504", "bad-domain code 521",
	"policy-related code 530", "bad-configuration code 535",
	"bad-mailbox code 550", "bad-mailbox code 551",
	"quota-issues code 552", "bad-mailbox code 553",
	"bad-domain code 556",
};

#define ANY	(-1)

struct rule {
	enum bounce_cat	 cat;
	int		 st[3];		/* class, subject, detail; ANY */
	int		 has_status;
	int		 code;		/* 0: any */
	regex_t		*re;		/* NULL: any; apart, as POSIX does
					 * not promise a regex_t may move */
};

struct rules {
	struct rule	*v;
	size_t		 n, cap;
};

struct bouncecat {
	struct rules	 user;		/* from files, in load order */
	struct rules	 builtin;
};

const char *
bouncecat_name(enum bounce_cat c)
{
	if ((int)c < 0 || c >= BC_COUNT)
		return names[BC_OTHER];
	return names[c];
}

int
bouncecat_parse(const char *name)
{
	if (name == NULL)
		return -1;
	for (int i = 0; i < BC_COUNT; i++)
		if (strcasecmp(name, names[i]) == 0)
			return i;
	return -1;
}

/* Reads 1 to max digits at *pp into *out. */
static int
number(const char **pp, int max, int *out)
{
	const char *p = *pp;
	int n = 0, v = 0;

	while (*p >= '0' && *p <= '9' && n < max) {
		v = v * 10 + (*p++ - '0');
		n++;
	}
	if (n == 0 || (*p >= '0' && *p <= '9'))
		return -1;
	*pp = p;
	*out = v;
	return 0;
}

/*
 * An enhanced status "c.s.d" (RFC 3463: class one digit, the others one
 * to three) into st[]. With pattern set, '*' may stand for the class and
 * the detail may be left out (ANY). Returns 0, or -1 when malformed.
 */
static int
status_parse(const char *s, int pattern, int st[3])
{
	const char *p = s;

	if (pattern && *p == '*') {
		st[0] = ANY;
		p++;
	} else if (number(&p, 1, &st[0]) == -1)
		return -1;
	if (*p++ != '.' || number(&p, 3, &st[1]) == -1)
		return -1;
	st[2] = ANY;
	if (*p == '\0' && pattern)
		return 0;
	if (*p++ != '.' || number(&p, 3, &st[2]) == -1 || *p != '\0')
		return -1;
	return 0;
}

/* The next blank-separated word of *pp (empty at the end of the line). */
static struct slice
word(const char **pp)
{
	const char *p = *pp + strspn(*pp, " \t");
	size_t n = strcspn(p, " \t");

	*pp = p + n;
	return slice_of(p, n);
}

static void
rule_free(struct rule *r)
{
	if (r->re != NULL) {
		regfree(r->re);
		free(r->re);
		r->re = NULL;
	}
}

/* A reply code: three digits, the first 2 to 5. */
static int
code_parse(struct slice w)
{
	if (w.len != 3 || w.p[0] < '2' || w.p[0] > '5' || w.p[1] < '0' ||
	    w.p[1] > '9' || w.p[2] < '0' || w.p[2] > '9')
		return 0;
	return (w.p[0] - '0') * 100 + (w.p[1] - '0') * 10 + (w.p[2] - '0');
}

/*
 * Parses one line (no newline) into *r. Returns 1 for a rule, 0 for a
 * blank or comment line, -1 with *why (malloc'd) for a bad line. Each
 * kind of matcher may appear once.
 */
static int
rule_parse(const char *line, struct rule *r, char **why)
{
	const char *p = line + strspn(line, " \t");
	struct slice w;
	char *s = NULL;
	int cat;

	memset(r, 0, sizeof(*r));
	*why = NULL;
	if (*p == '\0' || *p == '#')
		return 0;
	w = word(&p);
	s = xstrndup(w.p, w.len);
	if ((cat = bouncecat_parse(s)) == -1)
		*why = xasprintf("unknown category '%s'", s);
	r->cat = (enum bounce_cat)cat;
	while (*why == NULL) {
		p += strspn(p, " \t");
		if (*p == '\0')
			break;
		if (*p == '/') {
			*why = r->re != NULL ? xstrdup("more than one regex") :
			    slashre_parse(&p, &r->re);
			continue;
		}
		w = word(&p);
		free(s);
		s = NULL;
		if (slice_caseeq(w, "status")) {
			if (r->has_status) {
				*why = xstrdup("more than one status");
				break;
			}
			w = word(&p);
			s = xstrndup(w.p, w.len);
			if (status_parse(s, 1, r->st) == -1)
				*why = xasprintf("bad status '%s'", s);
			r->has_status = 1;
		} else if (slice_caseeq(w, "code")) {
			if (r->code != 0) {
				*why = xstrdup("more than one code");
				break;
			}
			w = word(&p);
			if ((r->code = code_parse(w)) == 0)
				*why = xasprintf("bad code '%.*s'",
				    (int)w.len, w.p);
		} else
			*why = xasprintf("unexpected '%.*s'", (int)w.len, w.p);
	}
	if (*why == NULL && !r->has_status && r->code == 0 && r->re == NULL)
		*why = xstrdup("no matcher (status, code or /regex/)");
	free(s);
	if (*why == NULL)
		return 1;
	rule_free(r);
	return -1;
}

static void
rules_add(struct rules *rs, const struct rule *r)
{
	if (rs->n == rs->cap) {
		rs->cap = rs->cap ? rs->cap * 2 : 32;
		rs->v = xreallocarray(rs->v, rs->cap, sizeof(*rs->v));
	}
	rs->v[rs->n++] = *r;
}

static void
rules_free(struct rules *rs)
{
	for (size_t i = 0; i < rs->n; i++)
		rule_free(&rs->v[i]);
	free(rs->v);
}

struct bouncecat *
bouncecat_new(void)
{
	struct bouncecat *bc = xcalloc(1, sizeof(*bc));
	struct rule r;
	char *why = NULL;

	for (size_t i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++) {
		/* A table that does not compile is a bug every test run
		 * catches: no way to go on without it. */
		if (rule_parse(builtin[i], &r, &why) != 1) {
			fprintf(stderr, "bouncecat: built-in rule %zu: %s\n",
			    i, why ? why : "empty");
			abort();
		}
		rules_add(&bc->builtin, &r);
	}
	return bc;
}

void
bouncecat_free(struct bouncecat *bc)
{
	if (bc == NULL)
		return;
	rules_free(&bc->user);
	rules_free(&bc->builtin);
	free(bc);
}

int
bouncecat_load_text(struct bouncecat *bc, const char *name, const char *text,
    void (*warn)(void *, const char *), void *arg)
{
	const char *p = text;
	struct rule r;
	char *line, *why, *msg;
	size_t len, lineno = 0;
	int added = 0;

	if (bc == NULL) {
		errno = EINVAL;
		return -1;
	}
	while (p != NULL && *p != '\0') {
		len = strcspn(p, "\n");
		line = xstrndup(p, len);
		p += len + (p[len] == '\n');
		lineno++;
		if (len > 0 && line[len - 1] == '\r')
			line[len - 1] = '\0';
		why = NULL;
		switch (rule_parse(line, &r, &why)) {
		case 1:
			rules_add(&bc->user, &r);
			added++;
			break;
		case -1:
			if (warn != NULL) {
				msg = xasprintf("%s:%zu: %s",
				    name ? name : "(rules)", lineno, why);
				warn(arg, msg);
				free(msg);
			}
			free(why);
			break;
		}
		free(line);
	}
	return added;
}

int
bouncecat_load(struct bouncecat *bc, const char *path,
    void (*warn)(void *, const char *), void *arg)
{
	struct buf b = BUF_INIT;
	char chunk[4096];
	size_t n;
	FILE *f;
	int rv = -1, saved = 0;

	if ((f = fopen(path, "r")) == NULL)
		return errno == ENOENT ? 0 : -1;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_add(&b, chunk, n);
	if (ferror(f))		/* a directory, an I/O error */
		saved = errno ? errno : EIO;
	else
		rv = bouncecat_load_text(bc, path, buf_cstr(&b), warn, arg);
	fclose(f);
	buf_free(&b);
	if (saved)
		errno = saved;
	return rv;
}

static int
rule_match(const struct rule *r, int code, const int *st, const char *text)
{
	if (r->code != 0 && r->code != code)
		return 0;
	if (r->has_status) {
		if (st == NULL || (r->st[0] != ANY && r->st[0] != st[0]) ||
		    r->st[1] != st[1] ||
		    (r->st[2] != ANY && r->st[2] != st[2]))
			return 0;
	}
	if (r->re != NULL && regexec(r->re, text, 0, NULL, 0) != 0)
		return 0;
	return 1;
}

enum bounce_cat
bouncecat_classify(const struct bouncecat *bc, int code, const char *status,
    const char *text)
{
	const struct rules *sets[2];
	int st[3], *stp = NULL;

	if (bc == NULL)
		return BC_OTHER;
	if (status != NULL && status_parse(status, 0, st) == 0)
		stp = st;
	if (text == NULL)
		text = "";
	sets[0] = &bc->user;
	sets[1] = &bc->builtin;
	for (size_t s = 0; s < 2; s++)
		for (size_t i = 0; i < sets[s]->n; i++)
			if (rule_match(&sets[s]->v[i], code, stp, text))
				return sets[s]->v[i].cat;
	return BC_OTHER;
}
