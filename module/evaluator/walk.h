/*
 * walk.h: hand the values a partner file produced (sandbox.h's xps_value)
 * straight to the core's builder, with no Lua state in between.
 *
 * The Lua binding's core.read_file/load_file, the ejabberd NIF's
 * partner_file/1 and the command-line tool all judge a partner file
 * through this walk (the bindings with xpe_file_check), so a file gives the
 * same diagnostics in the CLI, Prosody and ejabberd.  Tables that come from
 * the host's own configuration (Prosody's config Lua tables, ejabberd.yml
 * terms) keep their binding's walk; the Lua binding's names odd keys and
 * detects lists as this one does (tests/lua/walk_spec.lua compares them).
 *
 * Keys go in sorted byte order, so diagnostics come out the same every
 * run; a table whose keys are exactly 1..n is a list; a non-string key is
 * named as Lua's tostring names it ([1], [2.5], [true]); every check of
 * keys, types and values is the builder's.
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

/*
 * A partner file on its own: partners (xmpp_partners, NULL for unset) and
 * the options (as in xpe_walk_options) walked into a new builder of ctx in
 * the host's style, and finished.  Returns XP_OK when the file is valid,
 * XP_ECONFIG with *errors set to "PATH: message; message" (malloc'd, the
 * caller frees it) when it has errors, XP_ENOMEM.
 */
int xpe_file_check(xp_ctx *ctx, xp_host_style style, const char *path,
                   const xps_value *partners, size_t n,
                   const char *const *names, const xps_value *const *values,
                   char **errors);

#ifdef __cplusplus
}
#endif
#endif /* XP_EVAL_WALK_H */
