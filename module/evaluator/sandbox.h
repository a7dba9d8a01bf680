/*
 * sandbox.h: evaluate a partner file (Prosody configuration syntax) in a
 * Lua sandbox and hand its settings back as plain C values.
 *
 * A partner file is an assignment such as
 *
 *   xmpp_partners = { ["fabrikam.com"] = { tls = "required", ... } }
 *
 * possibly inside a whole prosody.cfg.lua.  It is code, so it runs in a
 * state of its own with: no io, os, require, load, dofile, loadfile,
 * package, debug, collectgarbage, string.dump, setmetatable or coroutines;
 * text chunks only, never bytecode; a memory limit (a counting lua_Alloc);
 * an instruction limit (a count hook), with a time limit checked by the
 * same hook for loops that spend their time in library functions; and a
 * cost limit on string pattern matching, whose C loops the hook cannot
 * interrupt.  Touching a forbidden
 * name or exceeding a limit is a violation: evaluation stops with
 * XPS_EVIOLATION, even when the file catches the error with pcall.
 *
 * Assignments follow Prosody's rules: until the first VirtualHost or
 * Component line they set global options; after one they belong to that
 * host.  VirtualHost, Component, Include, RunScript, FileContents,
 * FileLine, FileLines, Credential and ENV_ variables have harmless
 * stand-ins that read nothing; each use leaves a note.
 *
 * Used by the xmpp-partners tool and meant for the ejabberd NIF, so it
 * never exits, never prints, and reports allocation failure as XPS_ENOMEM.
 * Link with liblua (5.3 or 5.4).
 */
#ifndef XP_SANDBOX_H
#define XP_SANDBOX_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum xps_status {
	XPS_OK = 0,
	XPS_ENOMEM = -1,     /* the host ran out of memory */
	XPS_EINVAL = -2,     /* API misuse */
	XPS_EIO = -3,        /* the file could not be read */
	XPS_ESYNTAX = -4,    /* the text is not valid Lua */
	XPS_ERUNTIME = -5,   /* evaluation raised an error */
	XPS_EVIOLATION = -6, /* sandbox violation: see xps_violation */
	XPS_EVALUE = -7      /* a value cannot be copied (a cycle, depth) */
} xps_status;

typedef enum xps_violation_kind {
	XPS_V_NONE = 0,
	XPS_V_FORBIDDEN = 1,    /* a forbidden library or function */
	XPS_V_BYTECODE = 2,     /* a precompiled (binary) chunk */
	XPS_V_MEMORY = 3,       /* the memory limit */
	XPS_V_INSTRUCTIONS = 4, /* the instruction limit */
	XPS_V_PATTERN = 5,      /* a string pattern search too costly */
	XPS_V_SIZE = 6,         /* the file, or the values copied, too large */
	XPS_V_TIME = 7          /* the time limit */
} xps_violation_kind;

/* Limits; a zero field takes the default. */
typedef struct xps_limits {
	size_t memory;              /* bytes the Lua state may hold */
	unsigned long instructions; /* Lua VM instructions per evaluation */
	size_t file_size;           /* bytes of one file */
	size_t values;              /* values one xps_get may copy */
	unsigned depth;             /* table nesting one xps_get may copy */
	/* run time per evaluation: the instruction limit does not see time
	 * spent inside library functions */
	double seconds;
} xps_limits;

/* Sized for a server's partner table: a 100,000-partner file is about 12 MiB
 * and needs about 32 MiB of Lua memory and 900,000 values; these defaults
 * leave room for about 500,000 partners (the time limit comes first). */
#define XPS_DEFAULT_MEMORY       ((size_t)256 << 20)
#define XPS_DEFAULT_INSTRUCTIONS 10000000UL
#define XPS_DEFAULT_FILE_SIZE    ((size_t)64 << 20)
#define XPS_DEFAULT_VALUES       ((size_t)8000000)
#define XPS_DEFAULT_DEPTH        32u
#define XPS_DEFAULT_SECONDS      10.0

/* ---- values ------------------------------------------------------------ */

typedef enum xps_type {
	XPS_NIL = 0,
	XPS_BOOLEAN,
	XPS_INTEGER,
	XPS_NUMBER,
	XPS_STRING,
	XPS_TABLE,
	XPS_OTHER /* a function (or any other type): see type_name */
} xps_type;

typedef struct xps_value xps_value;
typedef struct xps_field xps_field;

/* A copied value: plain data, owned by the caller of xps_get. */
struct xps_value {
	xps_type type;
	int boolean;
	long long integer;
	double number;
	const char *string; /* XPS_STRING: NUL-terminated (may hold NULs) */
	size_t len;
	xps_field *fields; /* XPS_TABLE: in no particular order */
	size_t count;
	const char *type_name; /* Lua's name of the type: "table", ... */
};

struct xps_field {
	xps_value key;
	xps_value value;
};

void xps_value_free(xps_value *v);

/* ---- the sandbox ------------------------------------------------------- */

typedef struct xps_sandbox xps_sandbox;

typedef enum xps_note_kind {
	XPS_NOTE_STANDIN = 0, /* Include not followed, ENV_ taken as unset... */
	/* a name read that is not defined: it reads as nil, which may be a
	 * missing pair of quotes */
	XPS_NOTE_UNDEFINED = 1
} xps_note_kind;

typedef struct xps_note {
	xps_note_kind kind;
	int line;         /* 0 when unknown */
	const char *text; /* one sentence, without the file name */
} xps_note;

/* One assignment of a setting, in evaluation order. */
typedef struct xps_setting {
	const char *section; /* "*" for the global section, else the host */
	const char *name;
	int line; /* 0 when unknown (VirtualHost "x" { ... }) */
} xps_setting;

/*
 * A new sandbox; limits may be NULL for the defaults.  Returns NULL when
 * memory runs out.  One sandbox may evaluate several chunks in turn:
 * settings and notes accumulate.  Free with xps_free().
 */
xps_sandbox *xps_new(const xps_limits *limits);
void xps_free(xps_sandbox *s);

/*
 * Evaluate a text chunk; name is how messages call it (a path).  Returns
 * XPS_OK or a negative xps_status; xps_message() then says what happened,
 * with "name:line:" where Lua knows the line.
 */
int xps_eval_buffer(xps_sandbox *s, const char *buf, size_t len,
                    const char *name);
/* Read the file at path (at most limits.file_size bytes) and evaluate it. */
int xps_eval_file(xps_sandbox *s, const char *path);

/* The message of the last failure ("" after success); owned by s. */
const char *xps_message(const xps_sandbox *s);
/* The first violation seen, XPS_V_NONE when there was none. */
xps_violation_kind xps_violation(const xps_sandbox *s);

size_t xps_note_count(const xps_sandbox *s);
const xps_note *xps_note_at(const xps_sandbox *s, size_t i);
size_t xps_setting_count(const xps_sandbox *s);
const xps_setting *xps_setting_at(const xps_sandbox *s, size_t i);

/*
 * Copy the value of setting name in section ("*" for global) out of the
 * sandbox.  On XPS_OK, *out is NULL when the setting was never assigned (or
 * assigned nil), else a value the caller frees with xps_value_free().
 * Fails with XPS_EVALUE for a table that contains itself or nests deeper
 * than limits.depth, XPS_EVIOLATION (XPS_V_SIZE) past limits.values, with
 * xps_message() naming the path, e.g. xmpp_partners["a.example"].tls.
 */
int xps_get(xps_sandbox *s, const char *section, const char *name,
            xps_value **out);

/*
 * Push a copied value onto another Lua state L (the caller's, not the
 * sandbox's): tables as tables (pairs with a nil key or value left out), a
 * function as a function that does nothing (so a type check still says
 * "function"), any other type as a light userdata; NULL as nil.  Raises a
 * Lua error in L when memory or stack runs out.
 */
struct lua_State;
void xps_push(struct lua_State *L, const xps_value *v);

#ifdef __cplusplus
}
#endif
#endif /* XP_SANDBOX_H */
