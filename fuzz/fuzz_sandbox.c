/*
 * fuzz_sandbox.c: the sandboxed partner-file evaluator
 * (module/evaluator/sandbox.c) on arbitrary Lua text, with small limits so
 * runaway chunks stop fast.  Every setting assigned is copied out with
 * xps_get and walked.  Checks: no crash or leak; a failure has a message;
 * copied values are well-formed.
 * (Liblua itself is not instrumented: coverage guidance sees only the
 * sandbox's own code.)
 */
#include "fuzz_common.h"
#include "sandbox.h"

static size_t walk(const xps_value *v, unsigned depth)
{
	size_t n = 1, i;
	FZ_CHECK(depth < 64);
	FZ_CHECK(v->type_name != NULL);
	switch (v->type) {
	case XPS_STRING:
		FZ_CHECK(v->string != NULL);
		FZ_CHECK(v->string[v->len] == '\0');
		break;
	case XPS_TABLE:
		FZ_CHECK(v->count == 0 || v->fields != NULL);
		for (i = 0; i < v->count; i++) {
			n += walk(&v->fields[i].key, depth + 1);
			n += walk(&v->fields[i].value, depth + 1);
		}
		break;
	default:
		break;
	}
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	xps_limits lim;
	xps_sandbox *s;
	size_t i, n;
	int rc;

	memset(&lim, 0, sizeof(lim));
	lim.memory = (size_t)16 << 20;
	lim.instructions = 200000;
	lim.values = 10000;
	lim.depth = 16;
	lim.seconds = 2.0;
	s = xps_new(&lim);
	FZ_CHECK(s != NULL);
	rc = xps_eval_buffer(s, (const char *)data, size, "fuzz.cfg.lua");
	FZ_CHECK(xps_message(s) != NULL);
	if (rc != 0)
		FZ_CHECK(xps_message(s)[0] != '\0');
	n = xps_note_count(s);
	for (i = 0; i < n; i++) {
		const xps_note *note = xps_note_at(s, i);
		FZ_CHECK(note != NULL && note->text != NULL);
		(void)strlen(note->text);
	}
	n = xps_setting_count(s);
	for (i = 0; i < n && i < 64; i++) {
		const xps_setting *st = xps_setting_at(s, i);
		xps_value *v = NULL;
		FZ_CHECK(st != NULL && st->section != NULL && st->name != NULL);
		rc = xps_get(s, st->section, st->name, &v);
		if (rc == 0 && v != NULL) {
			walk(v, 0);
			xps_value_free(v);
		} else if (rc != 0) {
			FZ_CHECK(v == NULL);
			FZ_CHECK(xps_message(s)[0] != '\0');
		}
	}
	{
		xps_value *v = NULL;
		rc = xps_get(s, "*", "xmpp_partners", &v);
		if (rc == 0 && v != NULL) {
			walk(v, 0);
			xps_value_free(v);
		}
	}
	xps_free(s);
	return 0;
}
