/*
 * body: reading a message body file, msg.<body> (docs/queue-format.md),
 * the one copy of a message that all its entries share. A body is read
 * in order, in pieces of the caller's size, so delivery holds a bounded
 * part of it whatever its size; its checksum is verified as it is read,
 * and the last piece is handed over only once the whole file proved
 * intact, so a damaged message is never completed to a server.
 */
#ifndef OUTPOST_QUEUE_BODY_H
#define OUTPOST_QUEUE_BODY_H

#include <stddef.h>
#include <sys/types.h>

struct qbody;

/* The path of body id in dir (malloc'd). */
char	*qbody_path(const char *dir, const char *id);

/*
 * Opens dir/msg.<id> for reading: 0 with *out, or -1 with *why (static
 * or errno text) and *err: an errno when it could not be read (ENOENT:
 * it is missing), 0 when it was read and refused (corrupt: not a body
 * file, not `len` bytes of message, a bad tail).
 */
int	 qbody_open(const char *dir, const char *id, size_t len,
	    struct qbody **out, const char **why, int *err);
/*
 * The next at most n bytes of the message into buf: the count; 0 once
 * all of it was read and its checksum verified; -1 with qbody_error()'s
 * reason (a read error, or corrupt). Bytes are held back so that the
 * message's last bytes come only with a verified checksum.
 */
ssize_t	 qbody_read(struct qbody *, char *buf, size_t n);
/* Why the last qbody_read failed, and its errno (0: corrupt). */
const char *qbody_error(const struct qbody *, int *err);
void	 qbody_close(struct qbody *);

/* Back to the message's first byte (a new transaction). */
void	 qbody_rewind(struct qbody *);

/*
 * What delivery shows of a message (the hooks' view, a DSN's returned
 * copy): all of it when it has at most max bytes (read whole, checksum
 * verified), else its header section (headers and the empty line; cut at
 * max bytes). 0 with *out (malloc'd, NUL-terminated), *outlen and
 * *whole, the body rewound; -1 as qbody_read (qbody_error says why).
 */
int	 qbody_view(struct qbody *, size_t max, char **out, size_t *outlen,
	    int *whole);
/* The length of the header section of p[0..n): up to and with its empty
 * line; without one, its whole lines (else all of it). */
size_t	 qbody_header_section(const char *p, size_t n);

#endif
