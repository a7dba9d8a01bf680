/*
 * test_sandbox.c: the sandbox API as the tool and the ejabberd NIF use it:
 * values copied out, Prosody's sections and stand-ins, and every kind of
 * violation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox.h"
#include "testutil.h"

static int eval(xps_sandbox *s, const char *text)
{
	return xps_eval_buffer(s, text, strlen(text), "partners.cfg.lua");
}

static const xps_value *field(const xps_value *t, const char *key)
{
	size_t i;

	assert_int_equal(t->type, XPS_TABLE);
	for (i = 0; i < t->count; i++)
		if (t->fields[i].key.type == XPS_STRING &&
		    strcmp(t->fields[i].key.string, key) == 0)
			return &t->fields[i].value;
	fail_msg("no key %s", key);
	return NULL;
}

static void expect_message(const xps_sandbox *s, const char *needle)
{
	if (strstr(xps_message(s), needle) == NULL)
		fail_msg("message '%s' lacks '%s'", xps_message(s), needle);
}

static void test_values(void **state)
{
	xps_sandbox *s = xps_new(NULL);
	xps_value *v = NULL;
	const xps_value *rec;

	(void)state;
	assert_non_null(s);
	assert_int_equal(
	        eval(s, "xmpp_partners = { [\"a.example\"] = { tls = "
	                "\"required\", dialback = true, connection_limit = 5, "
	                "n = 1.5, additional_domains = { \"b.example\" }, "
	                "f = print } }\n"),
	        XPS_OK);
	assert_string_equal(xps_message(s), "");
	assert_int_equal(xps_get(s, "*", "xmpp_partners", &v), XPS_OK);
	assert_non_null(v);
	rec = field(v, "a.example");
	assert_string_equal(field(rec, "tls")->string, "required");
	assert_int_equal(field(rec, "dialback")->type, XPS_BOOLEAN);
	assert_int_equal(field(rec, "connection_limit")->integer, 5);
	assert_true(field(rec, "n")->number == 1.5);
	assert_int_equal(field(rec, "additional_domains")->count, 1);
	assert_int_equal(field(rec, "f")->type, XPS_OTHER);
	assert_string_equal(field(rec, "f")->type_name, "function");
	xps_value_free(v);
	assert_int_equal(xps_get(s, "*", "not_set", &v), XPS_OK);
	assert_null(v);
	xps_free(s);
}

static void test_sections(void **state)
{
	xps_sandbox *s = xps_new(NULL);
	xps_value *v = NULL;
	const xps_setting *st;

	(void)state;
	assert_int_equal(eval(s, "a = 1\n"
	                         "VirtualHost \"example.com\"\n"
	                         "b = 2\n"
	                         "Component \"muc.example.com\" \"muc\"\n"
	                         "c = 3\n"
	                         "Component \"up.example.com\" { d = 4 }\n"
	                         "e = 5\n"),
	                 XPS_OK);
	assert_int_equal(xps_setting_count(s), 5);
	st = xps_setting_at(s, 0);
	assert_string_equal(st->section, "*");
	assert_string_equal(st->name, "a");
	assert_int_equal(st->line, 1);
	st = xps_setting_at(s, 1);
	assert_string_equal(st->section, "example.com");
	assert_int_equal(st->line, 3);
	assert_string_equal(xps_setting_at(s, 2)->section, "muc.example.com");
	assert_string_equal(xps_setting_at(s, 3)->section, "up.example.com");
	/* after Component "x" { ... } the global section resumes */
	assert_string_equal(xps_setting_at(s, 4)->section, "*");
	assert_int_equal(xps_get(s, "example.com", "b", &v), XPS_OK);
	assert_int_equal(v->integer, 2);
	xps_value_free(v);
	assert_int_equal(xps_get(s, "*", "b", &v), XPS_OK);
	assert_null(v);
	xps_free(s);
}

static void test_standins(void **state)
{
	xps_sandbox *s = xps_new(NULL);
	xps_value *v = NULL;
	size_t i;
	int saw_include = 0, saw_env = 0, saw_lines = 0, saw_undefined = 0;
	static const char code[] = "Include \"conf.d/*.cfg.lua\"\n"
	                           "x = ENV_HOME or \"unset\"\n"
	                           "y = FileLines(\"list.txt\")\n"
	                           "z = optional\n";

	assert_int_equal(xps_eval_buffer(s, code, sizeof(code) - 1,
	                                 "/etc/prosody/prosody.cfg.lua"),
	                 XPS_OK);
	(void)state;
	for (i = 0; i < xps_note_count(s); i++) {
		const xps_note *n = xps_note_at(s, i);
		if (strstr(n->text, "check /etc/prosody/conf.d/*.cfg.lua"))
			saw_include = n->line == 1;
		if (strstr(n->text, "ENV_HOME is taken as unset"))
			saw_env = n->line == 2;
		if (strstr(n->text, "FileLines(\"list.txt\")"))
			saw_lines = 1;
		if (strstr(n->text, "'optional' is not defined"))
			saw_undefined = n->kind == XPS_NOTE_UNDEFINED;
	}
	assert_true(saw_include);
	assert_true(saw_env);
	assert_true(saw_lines);
	assert_true(saw_undefined);
	assert_int_equal(xps_get(s, "*", "x", &v), XPS_OK);
	assert_string_equal(v->string, "unset");
	xps_value_free(v);
	assert_int_equal(xps_get(s, "*", "y", &v), XPS_OK);
	assert_int_equal(v->type, XPS_TABLE);
	assert_int_equal(v->count, 0);
	xps_value_free(v);
	xps_free(s);
}

static void violation(const char *code, xps_violation_kind kind,
                      const char *needle)
{
	xps_limits lim;
	xps_sandbox *s;

	memset(&lim, 0, sizeof(lim));
	lim.memory = (size_t)4 << 20;
	lim.instructions = 1000000;
	s = xps_new(&lim);
	assert_non_null(s);
	assert_int_equal(eval(s, code), XPS_EVIOLATION);
	assert_int_equal(xps_violation(s), kind);
	expect_message(s, needle);
	/* the state is spent: a second evaluation is refused too */
	assert_int_equal(eval(s, "x = 1"), XPS_EVIOLATION);
	xps_free(s);
}

static void test_violations(void **state)
{
	(void)state;
	violation("io.open('x')", XPS_V_FORBIDDEN,
	          "partners.cfg.lua:1: 'io' is not available");
	violation("x = 1\npcall(os.exit)", XPS_V_FORBIDDEN,
	          "partners.cfg.lua:2: 'os'");
	violation("string.dump(print)", XPS_V_FORBIDDEN, "string.dump");
	violation("setmetatable({}, {})", XPS_V_FORBIDDEN, "setmetatable");
	violation("while true do end", XPS_V_INSTRUCTIONS,
	          "limit of 1000000 Lua instructions");
	violation("while true do pcall(function() while true do end end) end",
	          XPS_V_INSTRUCTIONS, "instructions");
	violation("local t = {} while true do t[#t+1] = ('x'):rep(4096) end",
	          XPS_V_MEMORY, "limit of 4 MiB");
	violation("for i = 1, 1e6 do pcall(string.rep, 'x', 1e8) end",
	          XPS_V_MEMORY, "more memory");
	violation("local s = ('a'):rep(50000) s:gsub('.-.-x', '')",
	          XPS_V_PATTERN, "string.gsub on a 50000-byte string");
	violation("\x1bLua junk", XPS_V_BYTECODE, "bytecode");
}

static void test_time_limit(void **state)
{
	xps_limits lim;
	xps_sandbox *s;

	(void)state;
	memset(&lim, 0, sizeof(lim));
	lim.seconds = 0.5;
	s = xps_new(&lim);
	assert_int_equal(eval(s, "local t = {}\n"
	                         "for i = 1, 100000 do t[i] = i end\n"
	                         "for i = 1, 1e9 do table.sort(t) end\n"),
	                 XPS_EVIOLATION);
	assert_int_equal(xps_violation(s), XPS_V_TIME);
	expect_message(s, "partners.cfg.lua:3: the file ran longer than the "
	                  "limit of 0.5 s");
	xps_free(s);
}

static void test_cheap_patterns_pass(void **state)
{
	xps_sandbox *s = xps_new(NULL);

	(void)state;
	assert_int_equal(eval(s, "local s = ('a,'):rep(2000)\n"
	                         "local n = 0\n"
	                         "for p in s:gmatch('[^,]+') do n = n + 1 end\n"
	                         "x = s:find('a,a', 1, true)\n"
	                         "y = s:gsub(',', ';')\n"),
	                 XPS_OK);
	xps_free(s);
}

static void test_errors(void **state)
{
	xps_sandbox *s = xps_new(NULL);
	char name[300];

	(void)state;
	assert_int_equal(eval(s, "x = = 1"), XPS_ESYNTAX);
	expect_message(s, "partners.cfg.lua:1:");
	assert_int_equal(eval(s, "\nerror('boom')"), XPS_ERUNTIME);
	expect_message(s, "partners.cfg.lua:2: boom");
	assert_int_equal(eval(s, "error({})"), XPS_ERUNTIME);
	expect_message(s, "a table value instead of a message");
	/* a long name is not cut down to Lua's 60 bytes */
	memset(name, 'd', sizeof(name) - 10);
	strcpy(name + sizeof(name) - 10, "/x.lua");
	assert_int_equal(xps_eval_buffer(s, "x = = 1", 7, name), XPS_ESYNTAX);
	expect_message(s, name);
	assert_int_equal(xps_eval_file(s, "/nonexistent/partners.lua"),
	                 XPS_EIO);
	expect_message(s, "/nonexistent/partners.lua: cannot open");
	xps_free(s);
}

static void test_copy_limits(void **state)
{
	xps_limits lim;
	xps_sandbox *s;
	xps_value *v = NULL;

	(void)state;
	s = xps_new(NULL);
	assert_int_equal(eval(s, "local r = {} r.me = r\n"
	                         "xmpp_partners = { [\"a.example\"] = r }"),
	                 XPS_OK);
	assert_int_equal(xps_get(s, "*", "xmpp_partners", &v), XPS_EVALUE);
	assert_null(v);
	expect_message(s, "xmpp_partners[\"a.example\"].me contains itself");
	xps_free(s);

	memset(&lim, 0, sizeof(lim));
	lim.depth = 4;
	lim.values = 1000;
	s = xps_new(&lim);
	assert_int_equal(eval(s,
	                      "deep = { { { { { 1 } } } } }\n"
	                      "local t = {} for i = 1, 12 do t = { t, t } end\n"
	                      "wide = t\n"),
	                 XPS_OK);
	assert_int_equal(xps_get(s, "*", "deep", &v), XPS_EVALUE);
	expect_message(s, "nests tables too deeply");
	assert_int_equal(xps_get(s, "*", "wide", &v), XPS_EVALUE);
	xps_free(s);

	lim.depth = 0;
	s = xps_new(&lim);
	assert_int_equal(eval(s, "local t = {} for i = 1, 12 do t = { t, t } "
	                         "end\nwide = t\n"),
	                 XPS_OK);
	assert_int_equal(xps_get(s, "*", "wide", &v), XPS_EVIOLATION);
	assert_int_equal(xps_violation(s), XPS_V_SIZE);
	expect_message(s, "too many values");
	xps_free(s);
}

static void test_misuse(void **state)
{
	xps_value *v = NULL;

	(void)state;
	assert_int_equal(xps_eval_buffer(NULL, "", 0, "x"), XPS_EINVAL);
	assert_int_equal(xps_get(NULL, "*", "x", &v), XPS_EINVAL);
	assert_string_equal(xps_message(NULL), "");
	xps_free(NULL);
	xps_value_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_values),
	        cmocka_unit_test(test_sections),
	        cmocka_unit_test(test_standins),
	        cmocka_unit_test(test_violations),
	        cmocka_unit_test(test_time_limit),
	        cmocka_unit_test(test_cheap_patterns_pass),
	        cmocka_unit_test(test_errors),
	        cmocka_unit_test(test_copy_limits),
	        cmocka_unit_test(test_misuse),
	};

	return TEST_RUN("sandbox", tests);
}
