/*
 * xmpp-partners.c: main() of the xmpp-partners command-line tool: options,
 * help texts and the dispatch to the commands (check, explain,
 * import-lync, pin).  The only place that decides the exit status.
 */
#include <stdlib.h>
#include <string.h>

#include <lua.h>

#include "cli.h"
#include "lync_csv.h"
#include "xmpp_partners.h"

typedef struct command {
	const char *name;
	int nargs;
	const char *synopsis;
	const char *help;
} command;

static const command commands[] = {
        {"check", 1, "check FILE",
         "Validate a partner file: a file with xmpp_partners = { ... } in\n"
         "Prosody configuration syntax, optionally with\n"
         "xmpp_partners_default, xmpp_partners_keepalive_interval,\n"
         "xmpp_partners_connection_limit, xmpp_partners_refusal_backoff and\n"
         "the pre-authentication bounds (xmpp_partners_pending_per_address,\n"
         "xmpp_partners_pending_limit, xmpp_partners_auth_timeout,\n"
         "xmpp_partners_preauth_bytes, xmpp_partners_preauth_depth), or a\n"
         "whole prosody.cfg.lua.  The\n"
         "file is evaluated in a sandbox (no library access, bounded memory\n"
         "and instructions); only assignments of the global section count,\n"
         "as in Prosody.  Every error and warning is printed as\n"
         "FILE:LINE: severity: message, with its matrix row.\n"
         "\n"
         "Exit status: 0 no errors (warnings allowed), 1 errors,\n"
         "2 unreadable file or sandbox violation.\n"},
        {"explain", 2, "explain FILE DOMAIN",
         "Explain what the partner file does for DOMAIN: the partner it maps\n"
         "to (or that it is refused, or gets the allow-mode defaults), what\n"
         "is offered, accepted and enforced on incoming and outgoing streams\n"
         "(STARTTLS, SASL EXTERNAL, dialback, authentication methods, proxy,\n"
         "connection limits, keepalive, pinned keys) and the contact policy\n"
         "(subscription requests, messages, presence status).  Every answer\n"
         "comes from the policy core's verdict functions.\n"
         "\n"
         "Exit status: 0 explained (also when the domain is refused), 1 the\n"
         "file has errors, 2 unreadable file, sandbox violation or an\n"
         "invalid DOMAIN.\n"},
        {"import-lync", 1, "import-lync CSV",
         "Print, on standard output, a partner file with the XMPP partners of\n"
         "Lync Server 2013 / Skype for Business Server 2015, from the CSV\n"
         "written by\n"
         "\n"
         "  Get-CsXmppAllowedPartner | Export-Csv partners.csv\n"
         "\n"
         "Export-Csv writes the AdditionalDomains list as a type name; to\n"
         "keep it, export with\n"
         "\n"
         "  " LYNC_EXPORT_COMMAND "\n"
         "\n"
         "Every row is checked by the policy core: rejected rows are printed\n"
         "as comments with the CSV line and the reason, and reported on\n"
         "standard error.\n"
         "\n"
         "Exit status: 0 every row imported, 1 some rows rejected or lists\n"
         "lost, 2 the file is not a CSV export that can be read.\n"},
        {"pin", 1, "pin CERT",
         "Print the pin of a certificate's public key (sha256: and the hex\n"
         "SHA-256 of its SubjectPublicKeyInfo), as the fingerprints key of a\n"
         "partner takes it.  CERT is PEM or DER.\n"
         "\n"
         "Exit status: 0 printed, 1 not a certificate, 2 unreadable file.\n"},
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *out)
{
	size_t i;

	fprintf(out,
	        "Usage: %s [OPTION]... COMMAND ARGUMENT...\n"
	        "\n"
	        "Check and explain partner files of xmpp-partners (per-partner "
	        "XMPP\n"
	        "federation policy for Prosody and ejabberd), and import the "
	        "XMPP\n"
	        "partners of Lync Server 2013 / Skype for Business Server "
	        "2015.\n"
	        "\n"
	        "Commands:\n",
	        XPT_PROGRAM);
	for (i = 0; i < N_COMMANDS; i++)
		fprintf(out, "  %-22s %s\n", commands[i].synopsis,
		        i == 0   ? "validate a partner file or prosody.cfg.lua"
		        : i == 1 ? "what the policy does for DOMAIN"
		        : i == 2 ? "a Lync/Skype for Business export as a "
		                   "partner file"
		                 : "the pin of a certificate's key");
	fprintf(out,
	        "  %-22s %s\n"
	        "\n"
	        "Options:\n"
	        "  --memory-limit=MIB       memory a partner file may use in "
	        "the sandbox\n"
	        "                           (default %lu)\n"
	        "  --instruction-limit=N    Lua instructions a partner file "
	        "may run\n"
	        "                           (default %lu)\n"
	        "  --time-limit=SECONDS     how long a partner file may run "
	        "(default %d)\n"
	        "  -h, --help               show this help (or a command's) "
	        "and exit\n"
	        "  -V, --version            show the version and exit\n"
	        "\n"
	        "Exit status: 0 no errors (warnings allowed), 1 errors in the "
	        "input,\n"
	        "2 usage error, unreadable input or sandbox violation.\n"
	        "See %s COMMAND --help and the manual page %s(1).\n",
	        "help [COMMAND]", "this help, or a command's",
	        (unsigned long)(XPS_DEFAULT_MEMORY >> 20),
	        (unsigned long)XPS_DEFAULT_INSTRUCTIONS,
	        (int)XPS_DEFAULT_SECONDS, XPT_PROGRAM, XPT_PROGRAM);
}

static const command *find_command(const char *name)
{
	size_t i;

	for (i = 0; i < N_COMMANDS; i++)
		if (strcmp(name, commands[i].name) == 0)
			return &commands[i];
	return NULL;
}

static void command_help(const command *c)
{
	printf("Usage: %s [OPTION]... %s\n\n%s", XPT_PROGRAM, c->synopsis,
	       c->help);
}

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "%s: ", XPT_PROGRAM);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry '%s --help' for more information.\n",
	        XPT_PROGRAM);
	return XPT_EXIT_FAILURE;
}

/* A positive whole number no larger than max; 0 when malformed. */
static unsigned long parse_count(const char *s, unsigned long max)
{
	unsigned long n = 0;

	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return 0;
		if (n > (max - (unsigned long)(*s - '0')) / 10)
			return 0;
		n = 10 * n + (unsigned long)(*s - '0');
	}
	return n;
}

/* "--name=value" or "--name value"; returns the value or NULL. */
static const char *option_value(int argc, char **argv, int *i, const char *name)
{
	size_t len = strlen(name);
	const char *a = argv[*i];

	if (strncmp(a, name, len) != 0)
		return NULL;
	if (a[len] == '=')
		return a + len + 1;
	if (a[len] == '\0' && *i + 1 < argc)
		return argv[++*i];
	return NULL;
}

typedef struct parsed {
	xpt_options opts;
	int help, version;
	const char *args[4];
	int nargs;
} parsed;

static int parse_args(int argc, char **argv, parsed *p)
{
	int i, only_args = 0;
	const char *v;
	unsigned long n;

	memset(p, 0, sizeof(*p));
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (only_args || a[0] != '-' || a[1] == '\0') {
			if (p->nargs == 4)
				return usage_error("too many arguments (%s)",
				                   a);
			p->args[p->nargs++] = a;
		} else if (strcmp(a, "--") == 0) {
			only_args = 1;
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			p->help = 1;
		} else if (strcmp(a, "-V") == 0 ||
		           strcmp(a, "--version") == 0) {
			p->version = 1;
		} else if (strncmp(a, "--memory-limit", 14) == 0) {
			v = option_value(argc, argv, &i, "--memory-limit");
			n = v ? parse_count(v, 4096) : 0;
			if (n == 0)
				return usage_error(
				        "--memory-limit takes a number "
				        "of MiB from 1 to 4096 (%s)",
				        v ? v : a);
			p->opts.limits.memory = (size_t)n << 20;
		} else if (strncmp(a, "--time-limit", 12) == 0) {
			v = option_value(argc, argv, &i, "--time-limit");
			n = v ? parse_count(v, 3600) : 0;
			if (n == 0)
				return usage_error(
				        "--time-limit takes a number "
				        "of seconds from 1 to 3600 (%s)",
				        v ? v : a);
			p->opts.limits.seconds = (double)n;
		} else if (strncmp(a, "--instruction-limit", 19) == 0) {
			v = option_value(argc, argv, &i, "--instruction-limit");
			n = v ? parse_count(v, 4000000000UL) : 0;
			if (n == 0)
				return usage_error("--instruction-limit takes "
				                   "a number from 1 "
				                   "to 4000000000 (%s)",
				                   v ? v : a);
			p->opts.limits.instructions = n;
		} else {
			return usage_error("unknown option %s", a);
		}
	}
	return XPT_EXIT_OK;
}

static int run(const command *c, const parsed *p)
{
	const char *const *a = p->args + 1;

	if (strcmp(c->name, "check") == 0)
		return xpt_cmd_check(a[0], &p->opts);
	if (strcmp(c->name, "explain") == 0)
		return xpt_cmd_explain(a[0], a[1], &p->opts);
	if (strcmp(c->name, "import-lync") == 0)
		return xpt_cmd_import_lync(a[0], &p->opts);
	return xpt_cmd_pin(a[0]);
}

int main(int argc, char **argv)
{
	parsed p;
	const command *c;
	int rc = parse_args(argc, argv, &p);

	if (rc != XPT_EXIT_OK)
		return rc;
	if (p.version) {
		printf("%s %s (policy core %s, %s)\n", XPT_PROGRAM, XP_VERSION,
		       XP_VERSION, LUA_RELEASE);
		return XPT_EXIT_OK;
	}
	if (p.nargs > 0 && strcmp(p.args[0], "help") == 0) {
		if (p.nargs == 1) {
			usage(stdout);
			return XPT_EXIT_OK;
		}
		c = find_command(p.args[1]);
		if (c == NULL)
			return usage_error("no such command: %s", p.args[1]);
		command_help(c);
		return XPT_EXIT_OK;
	}
	if (p.nargs == 0) {
		if (p.help) {
			usage(stdout);
			return XPT_EXIT_OK;
		}
		usage(stderr);
		return XPT_EXIT_FAILURE;
	}
	c = find_command(p.args[0]);
	if (c == NULL)
		return usage_error("no such command: %s", p.args[0]);
	if (p.help) {
		command_help(c);
		return XPT_EXIT_OK;
	}
	if (p.nargs - 1 != c->nargs) {
		fprintf(stderr, "%s: %s takes %d argument%s: %s %s\n",
		        XPT_PROGRAM, c->name, c->nargs,
		        c->nargs == 1 ? "" : "s", XPT_PROGRAM, c->synopsis);
		fprintf(stderr, "Try '%s %s --help' for more information.\n",
		        XPT_PROGRAM, c->name);
		return XPT_EXIT_FAILURE;
	}
	fflush(stdout);
	rc = run(c, &p);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "%s: cannot write the output\n", XPT_PROGRAM);
		return XPT_EXIT_FAILURE;
	}
	return rc;
}
