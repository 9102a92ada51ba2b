/*
 * rotation: the names of a rotating record stream's files.
 *
 * A rotating stream's files are <prefix>.<yyyy-mm-dd-HHMMss>[.<n>][.<ext>]
 * (local time), in a directory and, once rotated, in its archive. A name
 * is never used twice across the two: workers of smtp.ini nodes write
 * their own files into one shared directory, so every choice of a name
 * (creating a file, moving one into the archive) is made under an flock
 * on the directory, and checks both places.
 */
#ifndef OUTPOST_ROTATION_H
#define OUTPOST_ROTATION_H

struct rot {
	const char	*dir;		/* the files' directory */
	const char	*archive_dir;	/* NULL: never archived */
	const char	*prefix;	/* "d" */
	const char	*ext;		/* "tsv", or "" */
	char		 stamp[32];	/* of the file rot_create() made */
	unsigned	 seq;		/* its .<n>, 0 for none */
};

/* Creates the next file, O_EXCL, for append: returns its fd and sets
 * *path (malloc'd), stamp and seq; -1 with errno on failure. */
int	rot_create(struct rot *, char **path);
/* Moves path (closed, named by stamp and seq) into the archive under its
 * own name, or the next free .<n> of its stamp when that is taken in
 * either place; never replaces a file. 0 with *as (malloc'd: the name it
 * got), else an errno (the file stays where it is). */
int	rot_archive(const struct rot *, const char *path, char **as);
/* The directory's name lock, for other code that moves names in it: an
 * fd to pass to rot_unlock(), or -1 (then nothing is held). */
int	rot_lock(const char *dir);
void	rot_unlock(int fd);

#endif
