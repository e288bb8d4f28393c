/* UTF-8 validation and cleaning for text that lethe did not write. A PostgreSQL text column
 * refuses invalid UTF-8, so whatever an executor prints is cleaned before it is stored. */
#include "text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The length of the valid UTF-8 sequence at s (at most n bytes), or 0 when it is not one. */
static size_t seq_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    unsigned int cp;
    if (c < 0x80)
        return c ? 1 : 0;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    return len;
}

long text_utf8_invalid_at(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t l = seq_len(u + i, n - i);
        if (!l)
            return (long)i;
        i += l;
    }
    return -1;
}

bool text_valid_utf8(const char *s, size_t n) { return text_utf8_invalid_at(s, n) < 0; }

/* The code point of the L-byte valid sequence at U. */
static unsigned code_point(const unsigned char *u, size_t l)
{
    static const unsigned char lead_mask[] = {0, 0x7F, 0x1F, 0x0F, 0x07};
    unsigned cp = u[0] & lead_mask[l];
    for (size_t i = 1; i < l; i++)
        cp = (cp << 6) | (u[i] & 0x3F);
    return cp;
}

/* Whether a character shows: not white space (as the catalog's checks say: sql/0086), nor one
 * that no font draws (Unicode's default ignorable code points: the soft hyphen, joiners,
 * bidirectional controls and isolates, variation selectors, tags; the Hangul fillers; the
 * Braille blank): a name of them alone is blank in every listing. */
static bool shows_something(unsigned cp)
{
    static const unsigned blank[][2] = {
        {0x09, 0x0D},       {0x20, 0x20},       {0x85, 0x85},       {0xA0, 0xA0},
        {0xAD, 0xAD},       {0x34F, 0x34F},     {0x61C, 0x61C},     {0x115F, 0x1160},
        {0x1680, 0x1680},   {0x17B4, 0x17B5},   {0x180B, 0x180F},   {0x2000, 0x200F},
        {0x2028, 0x202F},   {0x205F, 0x206F},   {0x2800, 0x2800},   {0x3000, 0x3000},
        {0x3164, 0x3164},   {0xFE00, 0xFE0F},   {0xFEFF, 0xFEFF},   {0xFFA0, 0xFFA0},
        {0xFFF0, 0xFFF8},   {0x1BCA0, 0x1BCA3}, {0x1D173, 0x1D17A}, {0xE0000, 0xE0FFF},
    };
    for (size_t i = 0; i < sizeof blank / sizeof *blank; i++)
        if (cp >= blank[i][0] && cp <= blank[i][1])
            return false;
    return true;
}

static bool is_control(unsigned cp)
{
    return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029;
}

/* Whether a character of the UTF-8 string S is one PRED holds for; *INVALID says whether a byte
 * was not part of valid UTF-8 (skipped). */
static bool any_code_point(const char *s, bool (*pred)(unsigned), bool *invalid)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t n = strlen(s);
    *invalid = false;
    for (size_t i = 0; i < n;) {
        size_t l = seq_len(u + i, n - i);
        if (!l) {
            *invalid = true;
            i++;
            continue;
        }
        if (pred(code_point(u + i, l)))
            return true;
        i += l;
    }
    return false;
}

bool text_blank(const char *s)
{
    bool invalid;
    return !any_code_point(s, shows_something, &invalid) && !invalid;
}

bool text_has_control(const char *s)
{
    bool invalid;
    return any_code_point(s, is_control, &invalid);
}

/* The characters that reorder what a terminal shows (Unicode's bidirectional controls: ALM,
 * LRM, RLM, LRE..RLO, LRI..PDI): a reference holding U+202E shows its tail backwards, and can
 * make a line read as something it does not say. */
static bool bidi_control(const unsigned char *u, size_t l)
{
    if (l == 2)
        return u[0] == 0xD8 && u[1] == 0x9C; /* U+061C */
    if (l != 3 || u[0] != 0xE2)
        return false;
    return (u[1] == 0x80 && (u[2] == 0x8E || u[2] == 0x8F || (u[2] >= 0xAA && u[2] <= 0xAE))) ||
           (u[1] == 0x81 && u[2] >= 0xA6 && u[2] <= 0xA9);
}

/* The code point of the L-byte character at U when it is to be shown as \uXXXX, else 0: the C1
 * controls (U+0080..U+009F: U+009B is an 8-bit CSI, U+0085 a line break to some terminals) and
 * the line and paragraph separators (U+2028, U+2029) always, as control characters; the
 * bidirectional controls where a person reads the text (SHOWN). */
static unsigned escaped_code_point(const unsigned char *u, size_t l, bool shown)
{
    if (l == 2 && u[0] == 0xC2 && u[1] <= 0x9F)
        return u[1];
    if (l == 3 && u[0] == 0xE2 && u[1] == 0x80 && (u[2] == 0xA8 || u[2] == 0xA9))
        return 0x2000u | (u[2] & 0x3F);
    if (!shown || !bidi_control(u, l))
        return 0;
    return l == 2 ? 0x061C
                  : ((unsigned)(u[0] & 0x0F) << 12) | ((unsigned)(u[1] & 0x3F) << 6) | (u[2] & 0x3F);
}

static char *clean(const char *in, size_t n, char *out, size_t cap, bool shown)
{
    const unsigned char *u = (const unsigned char *)in;
    size_t o = 0;
    bool cut = false;
    for (size_t i = 0; i < n;) {
        size_t l = seq_len(u + i, n - i);
        char esc[12];
        const char *piece;
        size_t plen;
        unsigned cp = l > 1 ? escaped_code_point(u + i, l, shown) : 0;
        if (cp) {
            snprintf(esc, sizeof esc, "\\u%04X", cp);
            piece = esc;
            plen = 6;
        } else if (l && (l > 1 || (u[i] >= 0x20 && u[i] != 0x7F))) {
            piece = in + i;
            plen = l;
        } else {
            snprintf(esc, sizeof esc, "\\x%02X", u[i]);
            piece = esc;
            plen = 4;
            l = 1;
        }
        if (o + plen + 1 > cap) {
            cut = true;
            break;
        }
        memcpy(out + o, piece, plen);
        o += plen;
        i += l;
    }
    if (cut) {
        /* Room for "...": drop whole characters from the end until it fits. */
        while (o > 0 && o + 4 > cap) {
            do
                o--;
            while (o > 0 && ((unsigned char)out[o] & 0xC0) == 0x80);
        }
        if (o + 4 <= cap) {
            memcpy(out + o, "...", 3);
            o += 3;
        }
    }
    out[o] = '\0';
    return out;
}

char *text_clean(const char *in, size_t n, char *out, size_t cap)
{
    return clean(in, n, out, cap, false);
}

const char *text_shown(const char *s)
{
    static char buf[8][512];
    static unsigned next;
    char *out = buf[next++ % 8];
    return s ? clean(s, strlen(s), out, sizeof buf[0], true) : "";
}

char *text_shown_n(const char *in, size_t n, char *out, size_t cap)
{
    return clean(in, n, out, cap, true);
}

/* MSG into OUT with every occurrence of SECRET replaced by "(the value)". */
static char *text_without(const char *msg, const char *secret, char *out, size_t cap)
{
    static const char shown[] = "(the value)";
    size_t k = 0, slen = secret ? strlen(secret) : 0;
    while (*msg && k + 1 < cap) {
        if (slen && strncmp(msg, secret, slen) == 0) {
            size_t n = sizeof shown - 1 < cap - 1 - k ? sizeof shown - 1 : cap - 1 - k;
            memcpy(out + k, shown, n);
            k += n;
            msg += slen;
        } else {
            out[k++] = *msg++;
        }
    }
    out[k] = '\0';
    return out;
}

/* libpq's "invalid connection option \"NAME\"" quotes a key of the conninfo, the text before
 * its '=': shown when it is a word (a mistyped key, which the operator must see to fix; an
 * outside tryout found "passwrd" hidden), where any other quoted part may be a value. */
static bool option_name_said(const char *whole, const char *open, const char *close)
{
    /* "invalid connection option "K"", and "invalid integer value "V" for connection option
     * "K"" (a value libpq judges as it connects): the keyword, never the value. */
    static const char said[] = "connection option ";
    size_t n = sizeof said - 1, len = (size_t)(close - open - 1);
    if ((size_t)(open - whole) < n || strncmp(open - n, said, n) != 0 || len > 32)
        return false;
    for (const char *c = open + 1; c < close; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || *c == '_'))
            return false;
    return true;
}

char *text_conninfo_said(const char *msg, const char *conninfo, char *out, size_t cap)
{
    char whole[1024];
    text_without(msg, conninfo, whole, sizeof whole);
    size_t k = 0;
    for (const char *p = whole; *p && k + 1 < cap;) {
        const char *close = *p == '"' ? strchr(p + 1, '"') : NULL;
        bool hidden = close && close - p > 2 && strncmp(p, "\"(the value)\"", 13) != 0 &&
                      !option_name_said(whole, p, close);
        /* A quoted part is copied, or hidden, whole: its closing quote opens nothing. */
        const char *from = hidden ? "\"...\"" : p;
        size_t len = hidden ? 5 : close ? (size_t)(close + 1 - p) : 1;
        if (len > cap - 1 - k)
            len = cap - 1 - k;
        memcpy(out + k, from, len);
        k += len;
        p = close ? close + 1 : p + 1;
    }
    while (k && (out[k - 1] == '\n' || out[k - 1] == ' '))
        k--;
    out[k] = '\0';
    return out;
}

bool text_port_valid(const char *port)
{
    for (const char *p = port;;) {
        p += strspn(p, " \t");
        size_t n = strspn(p, "0123456789");
        size_t z = strspn(p, "0"); /* leading zeros count for nothing */
        long v = n > 0 && n - z <= 5 ? strtol(p, NULL, 10) : 0;
        const char *q = p + n;
        q += strspn(q, " \t");
        if ((n && (n - z > 5 || v < 1 || v > 65535)) || (*q && *q != ','))
            return false;
        if (!*q)
            return true;
        p = q + 1;
    }
}
