/*
 * entry: queue entries on disk. One entry is one file <queue_dir>/<id>
 * holding a versioned header (envelope and delivery state) and an end
 * marker; the message is in a body file msg.<body> that every entry of
 * the message refers to (docs/queue-format.md; version 1 entries held
 * the message themselves and are still read). entry.c encodes, decodes
 * and salvages entry images and parses body heads; entry_file.c reads
 * one entry file, body.c one body; the start-up scan is scan.c's,
 * --qlist/--qstat report.c's, the durable commit (temp files, fsync,
 * rename, directory fsync, shared rounds) queue.c's.
 */
#ifndef OUTPOST_QUEUE_FS_H
#define OUTPOST_QUEUE_FS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "lib/buf.h"
#include "lib/crc32c.h"

#define QFS_VERSION		2	/* written; 1 is read (and migrated) */
#define QFS_TMP_PREFIX		"tmp."		/* being written; removed at start-up */
#define QFS_ERROR_PREFIX	"error."	/* corrupt entries, set aside */
#define QFS_BODY_PREFIX		"msg."		/* message bodies */
#define QFS_ID_MAX		128
#define QFS_FILE_MAX		((size_t)1 << 30)	/* larger files are refused */
#define QFS_HEAD_MAX		((size_t)64 << 20)	/* and longer headers */
#define QFS_BODY_MAX		QFS_FILE_MAX	/* and larger messages */

/* Envelope flags. */
#define QE_SMTPUTF8	0x01	/* MAIL FROM ... SMTPUTF8 */
#define QE_8BITMIME	0x02	/* BODY=8BITMIME */
#define QE_ASCII_HEADERS 0x04	/* with QE_SMTPUTF8: its header section was
				 * scanned at enqueue and is all ASCII (an
				 * SMTPUTF8 entry without it, older entries
				 * included, is taken to have UTF-8 headers) */
#define QE_ALL		(QE_SMTPUTF8 | QE_8BITMIME | QE_ASCII_HEADERS)
				/* others are refused */

enum qrcpt_state {
	QRCPT_PENDING = 0,	/* still to deliver (new, or deferred) */
	QRCPT_DELIVERED,
	QRCPT_BOUNCED
};

struct qrcpt {
	char		*addr;		/* mailbox without <>; domain lower-cased */
	enum qrcpt_state state;
	char		*reason;	/* last result text, NULL when none */
};

struct qentry {
	char		*id;		/* <conn-uuid>.<txn>.<n>: the file name */
	char		*domain;	/* lower-case recipient domain */
	char		*mail_from;	/* "" for the null sender <> */
	unsigned	 flags;		/* QE_* */
	struct qrcpt	*rcpts;
	size_t		 nrcpts;
	int64_t		 queue_time;	/* ms since the epoch */
	int64_t		 next_attempt;	/* ms since the epoch */
	unsigned	 attempts;	/* temporary failures so far */
	char		*helo;		/* the submitting client's HELO/EHLO name */
	char		*client_ip;	/* and its address */
	char		*last_error;	/* NULL when none */
	char		**notes;	/* key, value, ...: NULL-terminated,
					 * or NULL when none */
	size_t		 nnotes;	/* pairs */
	/* The message (headers, empty line, body; CRLF; not dot-stuffed):
	 * the id of its body file (msg.<body>), NULL for a version 1 entry
	 * (the message is in the entry's own image, at msg_offset); its
	 * length either way. */
	char		*body;
	size_t		 msg_offset;
	size_t		 msg_len;
	/* Held by the administrator: kept, never tried until released (the
	 * optional field `held 1`, written only when set). */
	int		 held;
	/* qentry_pack'ed: rcpts is one block that also holds the recipients'
	 * addresses and the id, domain, mail_from, helo, client_ip and body
	 * strings (none of them is ever replaced once queued); the reasons,
	 * last_error and the notes stay allocated each. */
	int		 packed;
};

/* "pending", "delivered", "bounced" (an unknown state as pending). */
const char *qrcpt_state_name(enum qrcpt_state);

/* Frees everything e owns (not e itself). */
void	 qentry_clear(struct qentry *);
/*
 * Moves e's fixed strings and its recipients array into one allocation
 * (e->packed): what a queued entry costs in memory, a few hundred bytes
 * fewer than a dozen separate blocks. Nothing else changes: the fields
 * point into the block, qentry_clear frees it, qentry_copy makes an
 * unpacked copy. The strings must not be freed or replaced one by one
 * afterwards (the reasons, last_error and the notes may be).
 */
void	 qentry_pack(struct qentry *);
/* How many of e's recipients are still pending. */
size_t	 qentry_pending(const struct qentry *);
/* dst becomes a deep copy of src (every string, recipient and note). */
void	 qentry_copy(struct qentry *dst, const struct qentry *src);
/* Replaces e's notes with a copy of kv (key, value, ..., NULL; may be
 * NULL). */
void	 qentry_set_notes(struct qentry *, const char *const *kv);

/* Appends the complete file image of e (the current version: the
 * message is e->body's, of e->msg_len bytes) to out. Nothing is checked:
 * e must be decodable (qfs_valid_id(id) and (body), a domain, >= 1
 * recipient with an address, only QE_ALL flags); negative times are
 * written as 0. */
void	 qfs_encode(const struct qentry *, struct buf *out);

/* Parses a file image of version 1 or 2. 0 with *e filled (version 2:
 * body and msg_len name the message; version 1: body is NULL and
 * msg_offset/msg_len locate the message in data), or -1 with a static
 * one-line reason in *why; e owns nothing then. Never reads outside
 * data[0..len). */
int	 qfs_decode(const char *data, size_t len, struct qentry *e,
	    const char **why);

/*
 * An image read on demand: qfs_decode_source keeps only its header in
 * memory (at most QFS_HEAD_MAX) and reads the rest through the CRC in
 * chunks, so a file of any size costs what its header does.
 */
struct qfs_source {
	size_t	 len;			/* the image's size */
	/* Copies n bytes at off (off + n <= len) into buf: 0, or -1 with
	 * errno set. */
	int	(*read)(void *arg, size_t off, void *buf, size_t n);
	void	*arg;
	size_t	 step;			/* first read of the header; 0: 4096 */
};

/* qfs_decode, reading through src: the same verdict and reason, or -1
 * with *err, the errno of a failed read (*why "read error"); *err is 0
 * otherwise. msg_offset/msg_len locate the message in the image. */
int	 qfs_decode_source(const struct qfs_source *, struct qentry *e,
	    const char **why, int *err);

/*
 * What can be read with certainty of an image qfs_decode refused, the
 * entry called name (docs/queue-format.md, "Salvage"): with an intact
 * version line (any version), every header line up to the first that is
 * not a well-formed field, the message line or the end of the image.
 * 0 when that names at least one pending recipient (and no other id):
 * then e->id is name, mail_from is "" and domain the first pending
 * recipient's when they were not read, and e has no message. -1 (e owns
 * nothing) else. Never reads outside data[0..len).
 */
int	 qfs_salvage(const char *data, size_t len, const char *name,
	    struct qentry *e);
/* The same through src: reads the header only. */
int	 qfs_salvage_source(const struct qfs_source *, const char *name,
	    struct qentry *e);

/* Reads and decodes one entry file. On success 0, and *msg (when not NULL)
 * gets the malloc'd message of a version 1 entry (NULL for version 2: the
 * message is in its body file, body.h). -1 with *why (static or errno text) else.
 * What is not a regular file is never opened (a symbolic link is never
 * followed): "not a regular file". Without msg, the file is read in
 * chunks (qfs_decode_source); with it, whole. */
int	 qfs_read(const char *path, struct qentry *e, char **msg,
	    size_t *msglen, const char **why);

/* True when name is a valid entry or body id (what qfs_encode accepts):
 * 1-127 bytes of [A-Za-z0-9._-], not starting with '.', "tmp.",
 * "error." or "msg.". */
int	 qfs_valid_id(const char *name);

/*
 * Body files, msg.<body>: "OUTPOST-BODY 1" LF, "size <n>" LF, the n
 * bytes of the message, LF, "END <crc>" LF, the CRC-32C of every byte
 * before END (docs/queue-format.md). qfs_body_head appends the first
 * two lines; qfs_body_tail the rest after the message, given the CRC of
 * the head and the message (lib/crc32c.h).
 */
#define QFS_BODY_TAIL	14		/* LF "END " 8 hex digits LF */
void	 qfs_body_head(size_t len, struct buf *out);
void	 qfs_body_tail(uint32_t crc, struct buf *out);
/*
 * Parses the head of a body file of flen bytes from its first have bytes
 * (64 are enough): 0 with the message's offset and length (the file is
 * exactly head, message, tail long), or -1 with a static reason.
 */
int	 qfs_body_parse(const char *p, size_t have, size_t flen, size_t *off,
	    size_t *len, const char **why);
/* The tail's CRC at p (QFS_BODY_TAIL bytes): 0, or -1 when it is not a
 * well-formed tail. */
int	 qfs_body_tail_crc(const char *p, uint32_t *crc);

/* qfs_read with *err: the errno of a failed system call (EINVAL for
 * what is not a regular file), or 0 when the file was read and refused
 * (corrupt: *why says how). */
int	 qfs_read_err(const char *path, struct qentry *e, char **msg,
	    size_t *msglen, const char **why, int *err);

/* dir/name as the entry called name (without the message): qfs_read, and
 * the id must match the name. *err as qfs_read_err's. */
int	 qfs_read_entry(const char *dir, const char *name, struct qentry *e,
	    const char **why, int *err);
/* qfs_read_entry of name in the directory open at dirfd, with its
 * status in *st (for a file that is not regular too: *err EINVAL).
 * regular: readdir said DT_REG, so its type is not looked up before the
 * open (the open never follows a link nor waits, and the fstat after it
 * still refuses what is not a regular file). */
struct stat;
int	 qfs_read_entry_at(int dirfd, const char *name, int regular,
	    struct qentry *e, struct stat *st, const char **why, int *err);
/* Opens path read-only if it is a regular file (the type is checked
 * before the open; a link is never followed, a FIFO never waited for):
 * the fd, or -1 with *why and *err (errno; EINVAL: not a regular file).
 * *st gets its status. */
int	 qfs_open_regular(const char *path, struct stat *st, const char **why,
	    int *err);
/* A qfs_source read on the fd at arg: all n bytes at off, or -1 with
 * errno (EIO for a file that got shorter). */
int	 qfs_pread_all(void *arg, size_t off, void *buf, size_t n);

/* qfs_salvage of the file dir/name (its header only; never follows a
 * link, never opens what is not a regular file). */
int	 qfs_salvage_entry(const char *dir, const char *name,
	    struct qentry *e);

#endif
