/*
 * notify: sd_notify's datagrams to the service manager, and the watchdog
 * timer (notify.h). Process-wide state: one socket, one timer, used from
 * the event-loop thread only.
 */
#include "core/notify.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "lib/xmalloc.h"

static int notify_fd = -1;
static uint64_t watchdog_usec;		/* the ping interval; 0: none */
static struct event *watchdog_ev;

int
notify_addr(const char *value, struct sockaddr_un *sa, socklen_t *len)
{
	size_t n;

	if (value == NULL || (value[0] != '/' && value[0] != '@'))
		return -1;
	n = strlen(value);
	if (n < 2 || n >= sizeof(sa->sun_path))
		return -1;
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, value, n);
	if (value[0] == '@') {
		/* Abstract: a leading NUL, and the length says where the name
		 * ends (no terminating NUL counted). */
		sa->sun_path[0] = '\0';
		*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	} else {
		*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	}
	return 0;
}

/* A whole positive decimal number, or 0. */
static uint64_t
whole(const char *s)
{
	unsigned long long v;
	char *end;

	if (s == NULL || *s < '0' || *s > '9')
		return 0;
	errno = 0;
	v = strtoull(s, &end, 10);
	return errno == 0 && *end == '\0' ? (uint64_t)v : 0;
}

uint64_t
notify_watchdog_interval(const char *usec, const char *pid, pid_t self)
{
	uint64_t u = whole(usec);

	if (pid != NULL && whole(pid) != (uint64_t)self)
		return 0;
	return u / 2;
}

int
notify_format(char *buf, size_t n, const char *state, const char *status)
{
	size_t len = strlen(state), at;

	if (len >= n)
		return -1;
	memcpy(buf, state, len);
	if (status != NULL) {
		if (len + 8 + strlen(status) >= n)
			return -1;
		memcpy(buf + len, "\nSTATUS=", 8);
		at = len + 8;
		for (const char *p = status; *p != '\0'; p++)
			buf[at++] = (unsigned char)*p < 0x20 || *p == 0x7f ?
			    ' ' : *p;
		len = at;
	}
	buf[len] = '\0';
	return (int)len;
}

int
notify_open(char **err)
{
	const char *sock = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa;
	socklen_t len;
	int fd;

	watchdog_usec = notify_watchdog_interval(getenv("WATCHDOG_USEC"),
	    getenv("WATCHDOG_PID"), getpid());
	if (sock == NULL) {
		watchdog_usec = 0;
		unsetenv("WATCHDOG_USEC");
		unsetenv("WATCHDOG_PID");
		return 0;
	}
	if (notify_addr(sock, &sa, &len) != 0) {
		*err = xasprintf("NOTIFY_SOCKET=%s: not a socket path nor "
		    "an abstract name", sock);
		goto fail;
	}
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1 || connect(fd, (struct sockaddr *)&sa, len) == -1) {
		*err = xasprintf("NOTIFY_SOCKET=%s: %s", sock,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		goto fail;
	}
	notify_fd = fd;
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	return 0;
fail:
	watchdog_usec = 0;
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	return -1;
}

int
notify_enabled(void)
{
	return notify_fd != -1;
}

int
notify_send(const char *state, const char *status)
{
	char buf[1024];
	int n;

	if (notify_fd == -1)
		return 0;
	if ((n = notify_format(buf, sizeof(buf), state, status)) == -1) {
		errno = EMSGSIZE;
		return -1;
	}
	return send(notify_fd, buf, (size_t)n, MSG_NOSIGNAL) == n ? 0 : -1;
}

static void
on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	notify_send("WATCHDOG=1", NULL);
}

uint64_t
notify_watchdog_start(struct event_base *base)
{
	struct timeval tv;

	if (notify_fd == -1 || watchdog_usec == 0 || watchdog_ev != NULL)
		return 0;
	tv.tv_sec = (time_t)(watchdog_usec / 1000000);
	tv.tv_usec = (suseconds_t)(watchdog_usec % 1000000);
	watchdog_ev = event_new(base, -1, EV_PERSIST, on_watchdog, NULL);
	if (watchdog_ev == NULL || event_add(watchdog_ev, &tv) != 0)
		return 0;
	notify_send("WATCHDOG=1", NULL);
	return watchdog_usec;
}

uint64_t
notify_watchdog_usec(void)
{
	return notify_fd == -1 ? 0 : watchdog_usec;
}

void
notify_close(void)
{
	if (watchdog_ev != NULL) {
		event_free(watchdog_ev);
		watchdog_ev = NULL;
	}
	if (notify_fd != -1) {
		close(notify_fd);
		notify_fd = -1;
	}
	watchdog_usec = 0;
}
