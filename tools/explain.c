/*
 * explain.c: the `explain FILE DOMAIN` command: which partner a domain maps
 * to and what will be offered, tried, accepted and refused on its streams
 * in each direction, and what its users may do to local contact lists.
 *
 * The answer and its wording come from the core (xp_explain_text in
 * module/core/explain.c), the same text the Prosody shell and ejabberdctl
 * print; this file only builds the table from the file and prints.
 */
#include <string.h>

#include "cli.h"

int xpt_cmd_explain(const char *path, const char *domain, const xpt_options *o)
{
	xpt_file f;
	xpt_built b;
	xp_text *text = NULL;
	const char *why = NULL;
	size_t errors = 0, warnings = 0;
	int rc = xpt_file_load(&f, path, o);

	if (rc != XPT_EXIT_OK) {
		xpt_file_free(&f);
		return rc;
	}
	rc = xpt_build(&b, &f);
	if (rc != XPT_EXIT_OK)
		goto out;
	if (b.table == NULL) {
		xpt_print_diags(b.builder, &f, stdout, &errors, &warnings);
		printf("%s: %lu error%s: a server would not load this table "
		       "(on reload it keeps the policy in force; at start-up "
		       "it refuses every domain until the file is fixed), so "
		       "there is nothing to explain\n",
		       f.path, (unsigned long)errors, errors == 1 ? "" : "s");
		rc = XPT_EXIT_ERRORS;
		goto out;
	}
	switch (xp_explain_text(b.ctx, b.table, domain, strlen(domain), &text,
	                        &why)) {
	case XP_OK:
		fwrite(xp_text_str(text), 1, xp_text_len(text), stdout);
		xp_text_free(text);
		rc = XPT_EXIT_OK;
		break;
	case XP_EINVAL:
		fprintf(stderr, "%s: explain: '%s' is not a valid domain: %s\n",
		        XPT_PROGRAM, domain, why != NULL ? why : "?");
		rc = XPT_EXIT_FAILURE;
		break;
	default:
		fprintf(stderr, "%s: out of memory\n", XPT_PROGRAM);
		rc = XPT_EXIT_FAILURE;
		break;
	}
out:
	xpt_built_free(&b);
	xpt_file_free(&f);
	return rc;
}
