/* Bytes from outside (an executor's output, an operator's option) made safe to store and to
 * log: valid UTF-8, no control characters, bounded. Never interprets what the text says. */
#ifndef LETHE_TEXT_H
#define LETHE_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* True when the n bytes at s are valid UTF-8 (no overlongs, no surrogates, nothing past
 * U+10FFFF) with no NUL. */
bool text_valid_utf8(const char *s, size_t n);
/* The offset of the first byte that is not part of valid UTF-8 (or a NUL), or -1. */
long text_utf8_invalid_at(const char *s, size_t n);

/* Copies n bytes of in to out (cap > 0) as printable UTF-8: each invalid byte and each control
 * character becomes \xNN; when it does not fit, the end is cut at a character boundary and
 * "..." is put in its place. Returns out. */
char *text_clean(const char *in, size_t n, char *out, size_t cap);

/* s made safe for a person's terminal, as text_clean does (at most 511 bytes shown), in one of
 * eight buffers used in turn, so that up to eight can appear in one printf. For text that
 * lethe did not write and prints for a person (a tenant's name, a reference, a hold's reason,
 * an operator's name): it can neither move the cursor nor forge a line of lethe's own output,
 * and a character that reorders what follows it (a bidirectional control) is shown as \uXXXX.
 * NULL gives "". */
const char *text_shown(const char *s);
/* text_shown for n bytes of in (not NUL-terminated), into out (cap > 0), as long as fits. */
char *text_shown_n(const char *in, size_t n, char *out, size_t cap);

/* Whether the UTF-8 string S is blank in any script: nothing but white space (the catalog's
 * checks' set, sql/0086) and characters no font draws (Unicode's default ignorable code points,
 * the Hangul fillers, the Braille blank). An invalid byte is not blank. */
bool text_blank(const char *s);
/* Whether S holds a control character: C0 (a line break, a tab), DEL, C1, or a line or
 * paragraph separator (U+2028, U+2029). */
bool text_has_control(const char *s);

/* libpq's message about a connection string it cannot read, CONNINFO, copied to OUT (cap > 0)
 * without its trailing line break: the string, which libpq quotes whole, as "(the value)", and
 * every other part it quotes, but a one-character token ("=", "]"), as "...": it quotes the
 * piece it stopped at, which may be a password ("Hun%ter2"); the one part shown is the word
 * of "invalid connection option \"NAME\"", a key of the string. Returns out. */
char *text_conninfo_said(const char *msg, const char *conninfo, char *out, size_t cap);
/* Whether PORT is a port as libpq takes it when it connects: a comma-separated list, each
 * element empty (the default) or a number from 1 to 65535, blanks around it. */
bool text_port_valid(const char *port);

#endif
