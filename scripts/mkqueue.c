/*
 * mkqueue: writes a queue directory of valid entries and shared body
 * files in the current format (docs/queue-format.md), fast, for the scale
 * benchmark (bench/scale.sh) and the scale test: the images come from
 * the daemon's own encoder (src/queue/entry.c), so what it writes is what
 * outpost would have written. Files are written without fsync (a queue
 * made offline; run `sync` before relying on it after a crash).
 *
 *   mkqueue DIR ENTRIES [RCPTS [PER_BODY [DOMAINS [SIZE [DUE_S [HELD]]]]]]
 *
 * ENTRIES entries of RCPTS pending recipients each (4), PER_BODY
 * entries sharing one body (4: one message to PER_BODY domains), over
 * DOMAINS recipient domains d<n>.scale.test (1000), messages of SIZE
 * bytes (2048), next attempt DUE_S seconds from now (3600; 0: due now),
 * every HELD-th entry held by the administrator (0: none).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/crc32c.h"
#include "queue/entry.h"

static void
put(const char *dir, const char *name, const char *p, size_t len)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600)) == -1) {
		fprintf(stderr, "mkqueue: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n <= 0) {
			fprintf(stderr, "mkqueue: %s: %s\n", path,
			    n == 0 ? "short write" : strerror(errno));
			exit(1);
		}
		p += n;
		len -= (size_t)n;
	}
	close(fd);
}

static unsigned long
arg(int argc, char **argv, int i, unsigned long def, unsigned long min)
{
	char *end;
	unsigned long v;

	if (argc <= i)
		return def;
	errno = 0;
	v = strtoul(argv[i], &end, 10);
	if (errno != 0 || *end != '\0' || end == argv[i] || v < min) {
		fprintf(stderr, "mkqueue: bad number '%s' (at least %lu)\n",
		    argv[i], min);
		exit(64);
	}
	return v;
}

int
main(int argc, char **argv)
{
	struct buf img = BUF_INIT, body = BUF_INIT, tail = BUF_INIT;
	unsigned long n, rcpts, per, domains, size, due, held;
	char id[QFS_ID_MAX], bid[QFS_ID_MAX], name[QFS_ID_MAX + 8];
	char addr[64][128], dom[48];
	struct qrcpt r[64];
	struct qentry e;
	struct timeval tv;
	int64_t now;
	char *msg;

	if (argc < 3) {
		fprintf(stderr, "usage: mkqueue DIR ENTRIES [RCPTS [PER_BODY "
		    "[DOMAINS [SIZE [DUE_S [HELD]]]]]]\n");
		return 64;
	}
	n = arg(argc, argv, 2, 0, 1);
	rcpts = arg(argc, argv, 3, 4, 1);
	per = arg(argc, argv, 4, 4, 1);
	domains = arg(argc, argv, 5, 1000, 1);
	size = arg(argc, argv, 6, 2048, 64);
	due = arg(argc, argv, 7, 3600, 0);
	held = arg(argc, argv, 8, 0, 0);
	if (rcpts > 64) {
		fprintf(stderr, "mkqueue: at most 64 recipients per entry\n");
		return 64;
	}
	if (mkdir(argv[1], 0700) == -1 && errno != EEXIST) {
		fprintf(stderr, "mkqueue: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	gettimeofday(&tv, NULL);
	now = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;

	/* One message, written to every body file. */
	msg = malloc(size);
	if (msg == NULL)
		return 1;
	{
		int h = snprintf(msg, size, "From: bench@scale.test\r\n"
		    "Subject: scale\r\n\r\n");
		for (size_t i = (size_t)h; i < size; i++)
			msg[i] = (i % 78 == 76) ? '\r' : (i % 78 == 77) ? '\n' :
			    (char)('a' + i % 26);
	}
	qfs_body_head(size, &body);
	buf_add(&body, msg, size);
	qfs_body_tail(crc32c(0, body.p, body.len), &tail);
	buf_add(&body, tail.p, tail.len);

	for (unsigned long i = 0; i < n; i++) {
		unsigned long msgno = i / per, k = i % per + 1;
		unsigned long d = i % domains;

		snprintf(id, sizeof(id), "mkq%08lx-0000-4000-8000-%012lx.1.%lu",
		    msgno, msgno, k);
		if (k == 1) {
			snprintf(bid, sizeof(bid), "%s", id);
			snprintf(name, sizeof(name), QFS_BODY_PREFIX "%s", bid);
			put(argv[1], name, body.p, body.len);
		}
		snprintf(dom, sizeof(dom), "d%lu.scale.test", d);
		memset(&e, 0, sizeof(e));
		for (unsigned long j = 0; j < rcpts; j++) {
			snprintf(addr[j], sizeof(addr[j]), "u%lu.%lu@%s", i, j,
			    dom);
			r[j] = (struct qrcpt){ addr[j], QRCPT_PENDING, NULL };
		}
		e.id = id;
		e.domain = dom;
		e.mail_from = "bench@scale.test";
		e.rcpts = r;
		e.nrcpts = rcpts;
		e.queue_time = now;
		e.next_attempt = now + (int64_t)due * 1000;
		e.helo = "bench.scale.test";
		e.client_ip = "127.0.0.1";
		e.body = bid;
		e.msg_len = size;
		e.held = held > 0 && i % held == 0;
		buf_reset(&img);
		qfs_encode(&e, &img);
		put(argv[1], id, img.p, img.len);
	}
	printf("%lu entries (%lu recipients), %lu bodies in %s\n", n,
	    n * rcpts, (n + per - 1) / per, argv[1]);
	buf_free(&img);
	buf_free(&body);
	buf_free(&tail);
	free(msg);
	return 0;
}
