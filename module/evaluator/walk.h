/*
 * walk.h: hand the values a partner file produced (sandbox.h's xps_value)
 * straight to the core's builder, with no Lua state in between.
 *
 * The walk is the one the Lua binding does on a Lua table (core.build):
 * keys in sorted byte order, so diagnostics come out the same every run;
 * a table whose keys are exactly 1..n is a list; a non-string key is named
 * as Lua's tostring names it ([1], [true]); every check of keys, types and
 * values is the builder's.  So a partner file read by the command-line
 * tool, by Prosody or by the ejabberd NIF gives the same diagnostics.
 *
 * Scratch memory comes from malloc and is freed before returning.
 */
#ifndef XP_EVAL_WALK_H
#define XP_EVAL_WALK_H

#include <stddef.h>

#include "sandbox.h"
#include "xmpp_partners.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The global options: names[i] is the option's name as the builder takes
 * it ("default", "keepalive_interval", ...), values[i] its value or NULL
 * when unset (skipped).  Walked in name order.  Returns XP_OK, or a
 * negative xp_status (XP_ENOMEM) from the builder.
 */
int xpe_walk_options(xp_builder *b, size_t n, const char *const *names,
                     const xps_value *const *values);

/* The xmpp_partners value: one begin/end per partner.  NULL walks as an
 * empty table (Prosody's default). */
int xpe_walk_partners(xp_builder *b, const xps_value *partners);

/* One record's keys under the caller's xp_builder_begin. */
int xpe_walk_record(xp_builder *b, const xps_value *record);

#ifdef __cplusplus
}
#endif
#endif /* XP_EVAL_WALK_H */
