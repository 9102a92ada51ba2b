/*
 * ctl_http: outpostctl's side of the wire: where the API listens (options
 * or ROOT/config/http.ini), one HTTP/1.1 request per connection over a
 * Unix or TCP socket (Connection: close), the answer read to the end.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "ctl/ctl.h"

#define TIMEOUT_MS	120000
#define REPLY_MAX	(256u << 20)

static char *
trim(char *s)
{
	char *e;

	s += strspn(s, " \t");
	e = s + strlen(s);
	while (e > s && strchr(" \t\r\n", e[-1]) != NULL)
		*--e = '\0';
	return s;
}

int
ctl_read_token(struct ctl_target *t, const char *path)
{
	FILE *f = fopen(path, "r");
	char line[512] = "";

	if (f == NULL) {
		fprintf(stderr, "outpostctl: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fgets(line, sizeof(line), f) == NULL)
		line[0] = '\0';
	fclose(f);
	line[strcspn(line, "\r\n")] = '\0';
	if (line[0] == '\0') {
		fprintf(stderr, "outpostctl: %s: no token\n", path);
		return -1;
	}
	free(t->token);
	t->token = strdup(line);
	return 0;
}

/* "127.0.0.1:8025" or "[::1]:8025" into host and port. */
static int
split_hostport(struct ctl_target *t, const char *hp)
{
	const char *colon;
	size_t n;

	if (hp[0] == '[') {
		const char *end = strchr(hp, ']');

		if (end == NULL || end[1] != ':')
			return -1;
		t->host = strndup(hp + 1, (size_t)(end - hp - 1));
		t->port = strdup(end + 2);
	} else {
		if ((colon = strrchr(hp, ':')) == NULL)
			return -1;
		t->host = strndup(hp, (size_t)(colon - hp));
		t->port = strdup(colon + 1);
	}
	n = strlen(t->port);
	if (n == 0 || strspn(t->port, "0123456789") != n || t->host[0] == '\0')
		return -1;
	return 0;
}

int
ctl_target_url(struct ctl_target *t, const char *url)
{
	char *hp;
	int rc;

	if (strncmp(url, "http://", 7) != 0)
		return -1;
	hp = strdup(url + 7);
	hp[strcspn(hp, "/")] = '\0';
	rc = split_hostport(t, hp);
	free(hp);
	return rc;
}

int
ctl_target_from_root(struct ctl_target *t, const char *root)
{
	char *path = NULL, line[4096], *listen = NULL, *token = NULL;
	int in_main = 1, rc = -1;
	FILE *f;

	if (asprintf(&path, "%s/config/http.ini", root) < 0)
		return -1;
	if ((f = fopen(path, "r")) == NULL) {
		fprintf(stderr, "outpostctl: %s: %s\n", path, strerror(errno));
		free(path);
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char *l = trim(line), *eq;

		if (*l == '[') {
			in_main = strncmp(l, "[main]", 6) == 0;
			continue;
		}
		if (!in_main || *l == ';' || *l == '#' ||
		    (eq = strchr(l, '=')) == NULL)
			continue;
		*eq = '\0';
		if (strcmp(trim(l), "listen") == 0) {
			free(listen);
			listen = strdup(trim(eq + 1));
		} else if (strcmp(trim(l), "token_file") == 0) {
			free(token);
			token = strdup(trim(eq + 1));
		}
	}
	fclose(f);
	if (listen == NULL || *listen == '\0') {
		fprintf(stderr, "outpostctl: %s: no listen: the admin API is "
		    "off\n", path);
		goto out;
	}
	/* A Unix socket first (no token), else the first TCP listener. */
	{
		char *copy = strdup(listen), *save = NULL;

		for (char *it = strtok_r(copy, ",", &save); it != NULL;
		    it = strtok_r(NULL, ",", &save))
			if (*(it = trim(it)) == '/') {
				t->socket = strdup(it);
				rc = 0;
				break;
			}
		free(copy);
		if (rc == 0)
			goto out;
	}
	listen[strcspn(listen, ",")] = '\0';
	if (split_hostport(t, trim(listen)) != 0) {
		fprintf(stderr, "outpostctl: %s: listen: cannot use '%s'\n",
		    path, listen);
		goto out;
	}
	if (token == NULL || *token == '\0') {
		fprintf(stderr, "outpostctl: %s: no token_file\n", path);
		goto out;
	}
	{
		char *tp = NULL;

		if (token[0] == '/')
			tp = strdup(token);
		else if (asprintf(&tp, "%s/config/%s", root, token) < 0)
			goto out;
		rc = ctl_read_token(t, tp);
		free(tp);
	}
out:
	free(listen);
	free(token);
	free(path);
	return rc;
}

static int
connect_to(const struct ctl_target *t)
{
	struct addrinfo hints, *res = NULL;
	int fd = -1, e;

	if (t->socket != NULL) {
		struct sockaddr_un sun;

		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		if (strlen(t->socket) >= sizeof(sun.sun_path)) {
			errno = ENAMETOOLONG;
			return -1;
		}
		memcpy(sun.sun_path, t->socket, strlen(t->socket));
		if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) ==
		    -1)
			return -1;
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
			e = errno;
			close(fd);
			errno = e;
			return -1;
		}
		return fd;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	if ((e = getaddrinfo(t->host, t->port, &hints, &res)) != 0) {
		errno = EINVAL;
		return -1;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd != -1 && connect(fd, res->ai_addr, res->ai_addrlen) == -1) {
		e = errno;
		close(fd);
		fd = -1;
		errno = e;
	}
	freeaddrinfo(res);
	return fd;
}

static int
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int
ctl_request(const struct ctl_target *t, const char *method, const char *path,
    const char *body, int *status, char **reply)
{
	const char *where = t->socket != NULL ? t->socket : t->host;
	char *head = NULL, *buf = NULL, *hend, *cl;
	size_t len = 0, cap = 0, blen = body != NULL ? strlen(body) : 0;
	int fd, n;

	if ((fd = connect_to(t)) == -1) {
		fprintf(stderr, "outpostctl: cannot reach the daemon at %s%s%s: "
		    "%s\n", where, t->socket ? "" : ":", t->socket ? "" :
		    t->port, strerror(errno));
		return -1;
	}
	n = asprintf(&head, "%s %s HTTP/1.1\r\nHost: outpost\r\n"
	    "Connection: close\r\nAccept: application/json\r\n%s%s%s"
	    "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
	    method, path, t->token ? "Authorization: Bearer " : "",
	    t->token ? t->token : "", t->token ? "\r\n" : "", blen);
	if (n < 0 || write_all(fd, head, (size_t)n) != 0 ||
	    (blen > 0 && write_all(fd, body, blen) != 0)) {
		fprintf(stderr, "outpostctl: sending to the daemon: %s\n",
		    strerror(errno));
		free(head);
		close(fd);
		return -1;
	}
	free(head);
	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		ssize_t r;

		if (len + 4096 + 1 > cap) {
			cap = cap ? 2 * cap : 65536;
			buf = realloc(buf, cap);
			if (buf == NULL || cap > REPLY_MAX)
				break;
		}
		if (poll(&p, 1, TIMEOUT_MS) <= 0) {
			errno = ETIMEDOUT;
			break;
		}
		if ((r = read(fd, buf + len, cap - len - 1)) < 0 &&
		    errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = 0;
			break;
		}
		len += (size_t)r;
	}
	close(fd);
	if (buf == NULL || errno != 0) {
		fprintf(stderr, "outpostctl: reading the answer: %s\n",
		    strerror(errno ? errno : ENOMEM));
		free(buf);
		return -1;
	}
	buf[len] = '\0';
	if (sscanf(buf, "HTTP/1.%*d %d", status) != 1 ||
	    (hend = strstr(buf, "\r\n\r\n")) == NULL) {
		fprintf(stderr, "outpostctl: the daemon's answer is not HTTP\n");
		free(buf);
		return -1;
	}
	*hend = '\0';
	hend += 4;
	len -= (size_t)(hend - buf);
	for (cl = buf; (cl = strchr(cl, '\n')) != NULL; cl++)
		if (strncasecmp(cl + 1, "Content-Length:", 15) == 0) {
			size_t want = strtoul(cl + 16, NULL, 10);

			if (want < len)
				len = want;
		}
	*reply = malloc(len + 1);
	memcpy(*reply, hend, len);
	(*reply)[len] = '\0';
	free(buf);
	return 0;
}
