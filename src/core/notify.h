/*
 * notify: the service manager's readiness protocol (sd_notify(3)), written
 * here rather than linked from libsystemd. Under systemd (Type=notify) the
 * environment names a datagram socket in NOTIFY_SOCKET (a path, or an
 * abstract name when it starts with '@'); the daemon sends it lines
 * "KEY=VALUE": READY=1 once it serves, WATCHDOG=1 every half of
 * WATCHDOG_USEC (when WATCHDOG_PID is unset or ours), RELOADING=1 then
 * READY=1 around a reload, STOPPING=1 when it shuts down, STATUS=... for
 * `systemctl status`. Without NOTIFY_SOCKET every call does nothing.
 *
 * notify_open() reads and unsets the variables (children and plugins do
 * not inherit them) and connects the socket: the connection outlives the
 * privilege drop, so the daemon may send after becoming smtp.ini's user.
 * The watchdog is a timer on the event loop: a loop that is stuck stops
 * the pings, which is the point.
 */
#ifndef OUTPOST_NOTIFY_H
#define OUTPOST_NOTIFY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

struct event_base;

/* NOTIFY_SOCKET's value as a socket address: 0, or -1 when it is empty,
 * too long, or neither an absolute path nor '@' + a name. */
int	 notify_addr(const char *value, struct sockaddr_un *, socklen_t *);

/* The ping interval in microseconds (half of WATCHDOG_USEC) from the two
 * variables' values (NULL: unset); 0 when there is no watchdog for the
 * process self: WATCHDOG_USEC unset, not a positive number, or
 * WATCHDOG_PID set and another pid. */
uint64_t notify_watchdog_interval(const char *usec, const char *pid,
	    pid_t self);

/*
 * One message into buf (of size n): state (e.g. "READY=1"), then
 * "\nSTATUS=" and status when status is not NULL, its control characters
 * turned to spaces (a status is one line). The length, or -1 when it
 * does not fit.
 */
int	 notify_format(char *buf, size_t n, const char *state,
	    const char *status);

/* Reads the environment (and unsets NOTIFY_SOCKET, WATCHDOG_USEC,
 * WATCHDOG_PID); connects to the manager's socket when there is one. 0,
 * or -1 with *err (malloc'd, one line) when the socket is named but
 * cannot be used: the caller logs it and runs on without it. */
int	 notify_open(char **err);

/* 1 when NOTIFY_SOCKET named a socket that is connected. */
int	 notify_enabled(void);

/* Sends state (+ status); nothing without a socket. -1 when the send
 * failed (errno set); the manager being gone is not the daemon's
 * problem, so callers usually ignore it. */
int	 notify_send(const char *state, const char *status);

/* Starts the WATCHDOG=1 timer on base when the manager asked for one;
 * returns the interval in microseconds (0: none). */
uint64_t notify_watchdog_start(struct event_base *);

/* The ping interval in microseconds when the manager asked for pings
 * and its socket is connected, else 0 (for a loop of one's own: the
 * supervisor of smtp.ini nodes has no event loop). */
uint64_t notify_watchdog_usec(void);

/* Stops the timer and closes the socket. */
void	 notify_close(void);

#endif
