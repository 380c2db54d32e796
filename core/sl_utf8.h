/*
 * sl_utf8.h — strict UTF-8 validation (RFC 3629: no overlongs, no surrogates,
 * nothing above U+10FFFF), the same rule jansson applies, so the fast event
 * parser and the jansson reference agree on what is valid text.
 */
#ifndef SL_UTF8_H
#define SL_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Length (1-4) of the valid UTF-8 sequence at s (n bytes available), or 0 if
 * the bytes there are not a valid sequence. */
size_t sl_utf8_seq_len(const unsigned char *s, size_t n);
/* True when all n bytes are valid UTF-8. */
bool sl_utf8_valid(const char *s, size_t n);

#endif
