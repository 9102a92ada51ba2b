/*
 * outpost-sendmail: the sendmail(8) command line for programs that hand
 * mail to the local MTA (PHP's mail(), cron, scripts). Reads a message
 * on standard input and submits it over SMTP to the local outpost
 * daemon (the first address of ROOT/config/smtp.ini's listen), all or
 * nothing: it exits 0 only once the daemon has queued the message for
 * every recipient. Exit codes are sendmail's (sysexits(3)).
 */
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/ini.h"
#include "lib/xmalloc.h"
#include "sendmail/message.h"
#include "sendmail/smtp.h"

#define EX_OK		0
#define EX_USAGE	64
#define EX_DATAERR	65
#define EX_NOUSER	67
#define EX_UNAVAILABLE	69
#define EX_IOERR	74
#define EX_TEMPFAIL	75
#define EX_CONFIG	78

#ifndef OUTPOST_ROOT_DEFAULT
#define OUTPOST_ROOT_DEFAULT	"/var/lib/outpost"
#endif
#define TIMEOUT		300	/* s, per read or write */

static const char *prog = "outpost-sendmail";

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: %s [-t] [-i] [-f sender] [-F fullname] [-C ROOT] [-v] "
	    "[recipient ...]\n"
	    "Reads a message on standard input and hands it to the local "
	    "outpost daemon.\n"
	    "  -t          recipients also from the To, Cc and Bcc headers\n"
	    "  -i, -oi     a line with a single dot does not end the input\n"
	    "  -f sender   the envelope sender (-f '<>' for none); -r too\n"
	    "  -F name     the full name of an added From header\n"
	    "  -C ROOT     outpost's install directory (default $OUTPOST_ROOT "
	    "or %s)\n"
	    "  -v          show the SMTP dialogue on standard error\n"
	    "Other sendmail options (-o..., -B, -N, -R, -V, -X, -h, -L, -O, "
	    "-U, -G, -n, -A, -bm) are accepted and ignored.\n", prog,
	    OUTPOST_ROOT_DEFAULT);
}

/* The daemon's address: the first of smtp.ini's listen; a wildcard
 * address means loopback. Without a config, 127.0.0.1 port 25. */
static int
daemon_address(const char *root, int explicit, char **host, char **port)
{
	char *path = xasprintf("%s/config/smtp.ini", root), *dir, *item;
	const char *listen = NULL, *colon;
	struct ini *ini = NULL;
	struct stat st;
	int exists = 0;

	*host = xstrdup("127.0.0.1");
	*port = xstrdup("25");
	dir = xasprintf("%s/config", root);
	if (stat(dir, &st) == -1 || !S_ISDIR(st.st_mode)) {
		free(dir);
		free(path);
		if (!explicit)
			return 0;
		fprintf(stderr, "%s: %s/config: not a directory (-C ROOT or "
		    "OUTPOST_ROOT)\n", prog, root);
		return -1;
	}
	free(dir);
	ini = ini_load(path, "smtp.ini", &exists, NULL, NULL);
	free(path);
	if (ini != NULL)
		listen = ini_get(ini, "main", "listen");
	if (listen == NULL || *listen == '\0') {
		ini_free(ini);
		return 0;		/* Haraka's default, [::0]:25 */
	}
	item = xstrndup(listen, strcspn(listen, ","));
	ini_free(ini);
	{
		char *h = item + strspn(item, " \t"), *end;

		if (*h == '[' && (end = strchr(h, ']')) != NULL) {
			*end = '\0';
			colon = end[1] == ':' ? end + 2 : NULL;
			h++;
		} else if ((end = strrchr(h, ':')) != NULL) {
			*end = '\0';
			colon = end + 1;
		} else {
			colon = NULL;
		}
		free(*host);
		if (strcmp(h, "0.0.0.0") == 0 || *h == '\0')
			*host = xstrdup("127.0.0.1");
		else if (strcmp(h, "::") == 0 || strcmp(h, "::0") == 0)
			*host = xstrdup("::1");
		else
			*host = xstrdup(h);
		if (colon != NULL && *colon != '\0') {
			free(*port);
			*port = xstrndup(colon, strcspn(colon, " \t"));
		}
	}
	free(item);
	return 0;
}

/* ROOT/config/me's first line, else the host name. */
static char *
this_host(const char *root)
{
	char *path = xasprintf("%s/config/me", root), line[256] = "";
	FILE *f = fopen(path, "re");

	free(path);
	if (f != NULL) {
		if (fgets(line, sizeof(line), f) == NULL)
			line[0] = '\0';
		fclose(f);
		line[strcspn(line, " \t\r\n")] = '\0';
	}
	if (line[0] == '\0' && gethostname(line, sizeof(line) - 1) != 0)
		snprintf(line, sizeof(line), "localhost");
	return xstrdup(line);
}

static int
read_all(FILE *in, struct buf *out)
{
	char chunk[65536];
	size_t n;

	while ((n = fread(chunk, 1, sizeof(chunk), in)) > 0)
		buf_add(out, chunk, n);
	return ferror(in) ? -1 : 0;
}

/* The exit status for a reply code (or -1: the connection failed). */
static int
status_of(int code)
{
	return code >= 500 ? EX_UNAVAILABLE : EX_TEMPFAIL;
}

static int
fail(struct smtp *s, const char *what, int code, int status)
{
	fprintf(stderr, "%s: %s: %s\n", prog, what, buf_cstr(&s->text));
	if (code > 0)
		smtp_cmd(s, "QUIT");
	return status;
}

/* The dialogue: 0 when the daemon took the message for everyone. */
static int
submit(struct smtp *s, const char *helo, const char *sender,
    const struct addrs *rcpts, const struct buf *msg, int has_8bit)
{
	struct buf data = BUF_INIT;
	int code, rc;

	if ((code = smtp_reply(s)) != 220)
		return fail(s, "greeting", code, status_of(code));
	if ((code = smtp_cmd(s, "EHLO %s", helo)) == 250) {
		buf_reset(&s->ehlo);
		buf_add(&s->ehlo, s->text.p, s->text.len);
	} else if (code >= 500 && (code = smtp_cmd(s, "HELO %s", helo)) != 250)
		return fail(s, "HELO", code, status_of(code));
	else if (code != 250)
		return fail(s, "EHLO", code, status_of(code));
	code = smtp_cmd(s, "MAIL FROM:<%s>%s", sender,
	    has_8bit && smtp_has(s, "8BITMIME") ? " BODY=8BITMIME" : "");
	if (code != 250)
		return fail(s, "MAIL FROM", code, status_of(code));
	for (size_t i = 0; i < rcpts->n; i++) {
		code = smtp_cmd(s, "RCPT TO:<%s>", rcpts->v[i]);
		if (code == 250 || code == 251)
			continue;
		fprintf(stderr, "%s: %s: %s\n", prog, rcpts->v[i],
		    buf_cstr(&s->text));
		/* All or nothing: the caller can try the whole again. */
		if (code > 0)
			smtp_cmd(s, "QUIT");
		return code >= 500 ? EX_NOUSER : EX_TEMPFAIL;
	}
	if ((code = smtp_cmd(s, "DATA")) != 354)
		return fail(s, "DATA", code, status_of(code));
	msg_dot_stuff(msg->p, msg->len, &data);
	if (s->verbose)
		fprintf(stderr, ">>> (%zu bytes of message)\n", data.len);
	rc = smtp_send(s, data.p, data.len);
	buf_free(&data);
	if (rc != 0)
		return fail(s, "sending the message", -1, EX_TEMPFAIL);
	if ((code = smtp_reply(s)) != 250)
		return fail(s, "end of data", code, status_of(code));
	smtp_cmd(s, "QUIT");
	return EX_OK;
}

int
main(int argc, char **argv)
{
	const char *root = getenv("OUTPOST_ROOT"), *sender_opt = NULL;
	const char *bad = NULL;
	char *host = NULL, *port = NULL, *me, *sender;
	struct msg_opts o;
	struct addrs rcpts = { NULL, 0 };
	struct buf in = BUF_INIT, msg = BUF_INIT;
	struct smtp s;
	struct passwd *pw;
	int ch, explicit = root != NULL && *root != '\0', rc, has_8bit;
	unsigned long nonce = 0;
	char *err = NULL;

	memset(&o, 0, sizeof(o));
	memset(&s, 0, sizeof(s));
	s.fd = -1;
	if (argc > 1 && strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		return EX_OK;
	}
	opterr = 0;
	while ((ch = getopt(argc, argv,
	    ":A:b:B:C:F:f:Gh:iL:nN:O:o:q:R:r:tUvV:X:")) != -1) {
		switch (ch) {
		case 'b':
			if (strcmp(optarg, "m") == 0)
				break;
			if (strcmp(optarg, "i") == 0)
				return EX_OK;	/* newaliases: none here */
			fprintf(stderr, "%s: -b%s is not supported (only "
			    "-bm, reading a message)\n", prog, optarg);
			return EX_USAGE;
		case 'C':
			root = optarg;
			explicit = 1;
			break;
		case 'F':
			o.fullname = optarg;
			break;
		case 'f':
		case 'r':
			sender_opt = optarg;
			break;
		case 'i':
			o.ignore_dots = 1;
			break;
		case 'o':
			if (strcmp(optarg, "i") == 0)
				o.ignore_dots = 1;
			break;
		case 'q':
			fprintf(stderr, "%s: -q: outpost runs its queue "
			    "itself (send the daemon SIGHUP to retry now)\n",
			    prog);
			return EX_USAGE;
		case 't':
			o.extract = 1;
			break;
		case 'v':
			s.verbose = 1;
			break;
		case ':':
			fprintf(stderr, "%s: option -%c needs a value\n", prog,
			    optopt);
			usage(stderr);
			return EX_USAGE;
		case '?':
			fprintf(stderr, "%s: unknown option -%c\n", prog,
			    optopt);
			usage(stderr);
			return EX_USAGE;
		default:
			break;		/* accepted, ignored */
		}
	}
	if (root == NULL || *root == '\0')
		root = OUTPOST_ROOT_DEFAULT;
	if (daemon_address(root, explicit, &host, &port) != 0) {
		free(host);
		free(port);
		return EX_CONFIG;
	}
	me = this_host(root);
	if (sender_opt != NULL) {
		size_t n = strlen(sender_opt);

		/* "<>" or "<a@b>" as well as a bare address. */
		if (n >= 2 && sender_opt[0] == '<' && sender_opt[n - 1] == '>')
			sender = xstrndup(sender_opt + 1, n - 2);
		else
			sender = xstrdup(sender_opt);
	} else {
		pw = getpwuid(getuid());
		sender = xasprintf("%s@%s", pw != NULL ? pw->pw_name :
		    "nobody", me);
	}
	if (strpbrk(sender, "<>\r\n\t ") != NULL) {
		fprintf(stderr, "%s: -f %s: not an address\n", prog, sender);
		rc = EX_USAGE;
		goto out;
	}
	if (sender[0] != '\0' && strchr(sender, '@') == NULL) {
		char *q = xasprintf("%s@%s", sender, me);

		free(sender);
		sender = q;
	}
	for (int i = optind; i < argc; i++)
		if (addrs_parse(&rcpts, argv[i], strlen(argv[i]), me,
		    &bad) != 0) {
			fprintf(stderr, "%s: %s: not an address\n", prog,
			    argv[i]);
			rc = EX_USAGE;
			goto out;
		}
	if (rcpts.n == 0 && !o.extract) {
		fprintf(stderr, "%s: no recipients given (arguments, or -t "
		    "for the message's To, Cc and Bcc)\n", prog);
		rc = EX_USAGE;
		goto out;
	}
	if (read_all(stdin, &in) != 0) {
		fprintf(stderr, "%s: reading the message: %s\n", prog,
		    strerror(errno));
		rc = EX_IOERR;
		goto out;
	}
	if (getrandom(&nonce, sizeof(nonce), GRND_NONBLOCK) == -1)
		nonce = (unsigned long)clock();
	o.sender = sender;
	o.domain = me;
	o.msgid_host = me;
	o.now = (long long)time(NULL);
	o.pid = (long)getpid();
	o.nonce = nonce;
	if (msg_prepare(in.p != NULL ? in.p : "", in.len, &o, &msg, &rcpts,
	    &has_8bit, &err) != 0) {
		fprintf(stderr, "%s: the message's To, Cc or Bcc has an "
		    "address that cannot be used: %.100s\n", prog, err);
		free(err);
		rc = EX_DATAERR;
		goto out;
	}
	if (rcpts.n == 0) {
		fprintf(stderr, "%s: no recipients: the message has no To, "
		    "Cc or Bcc address\n", prog);
		rc = EX_USAGE;
		goto out;
	}
	/* Named twice (an argument and a header): sent once. */
	for (size_t i = 1; i < rcpts.n; i++)
		for (size_t j = 0; j < i; j++)
			if (strcmp(rcpts.v[i], rcpts.v[j]) == 0) {
				free(rcpts.v[i]);
				rcpts.v[i--] = rcpts.v[--rcpts.n];
				break;
			}
	if (smtp_connect(&s, host, port, TIMEOUT, &err) != 0) {
		fprintf(stderr, "%s: %s (is outpost running?)\n", prog, err);
		free(err);
		rc = EX_TEMPFAIL;
		goto out;
	}
	rc = submit(&s, me, sender, &rcpts, &msg, has_8bit);
out:
	smtp_close(&s);
	addrs_free(&rcpts);
	buf_free(&in);
	buf_free(&msg);
	free(sender);
	free(me);
	free(host);
	free(port);
	return rc;
}
