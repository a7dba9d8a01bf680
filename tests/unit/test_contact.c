/*
 * test_contact.c: the contact policy of SPEC section 4 for every partner
 * type and roster state, the blocklist, refused domains and allow mode.
 */
#include <string.h>

#include "testutil.h"

#define S(x) x, strlen(x)

static const xp_contact_state none = {0, 0, 0};
static const xp_contact_state pending = {
        1, 0, 0}; /* roster item, no subscription yet */
static const xp_contact_state from = {1, 1, 0}; /* already subscribed */
static const xp_contact_state blocked = {0, 0, 1};
static const xp_contact_state blocked_in_roster = {1, 0, 1};

static void test_table4(void **state)
{
	xp_ctx *ctx = test_ctx(NULL, NULL);
	xp_table *t = NULL;
	const test_partner ps[] = {
	        {"fed.test", "federated", NULL, NULL, -1, {NULL}, 0},
	        {"ver.test", "public_verified", NULL, NULL, -1, {NULL}, 0},
	        {"unv.test", "public_unverified", NULL, NULL, -1, {NULL}, 0},
	};
	const xp_partner *fed, *ver, *unv;

	(void)state;
	assert_int_equal(test_build(ctx, ps, 3, NULL, &t, NULL), XP_OK);
	fed = xp_table_resolve(t, S("fed.test"), NULL);
	ver = xp_table_resolve(t, S("ver.test"), NULL);
	unv = xp_table_resolve(t, S("unv.test"), NULL);

	/* inbound subscribe */
	assert_int_equal(xp_contact_subscribe(fed, &none),
	                 XP_SUBSCRIBE_AUTO_APPROVE);
	assert_int_equal(xp_contact_subscribe(ver, &none),
	                 XP_SUBSCRIBE_AUTO_APPROVE);
	assert_int_equal(xp_contact_subscribe(unv, &none), XP_SUBSCRIBE_DENY);
	assert_int_equal(xp_contact_subscribe(fed, &pending),
	                 XP_SUBSCRIBE_AUTO_APPROVE);
	assert_int_equal(xp_contact_subscribe(unv, &pending),
	                 XP_SUBSCRIBE_DELIVER);
	assert_int_equal(xp_contact_subscribe(fed, &from),
	                 XP_SUBSCRIBE_DELIVER);
	assert_int_equal(xp_contact_subscribe(unv, &from),
	                 XP_SUBSCRIBE_DELIVER);
	/* the blocklist wins: the host's blocking code handles it */
	assert_int_equal(xp_contact_subscribe(fed, &blocked),
	                 XP_SUBSCRIBE_DELIVER);
	assert_int_equal(xp_contact_subscribe(ver, &blocked),
	                 XP_SUBSCRIBE_DELIVER);
	assert_int_equal(xp_contact_subscribe(unv, &blocked_in_roster),
	                 XP_SUBSCRIBE_DELIVER);

	/* inbound message from someone not in the roster */
	assert_int_equal(xp_contact_message(fed, &none), XP_MESSAGE_DELIVER);
	assert_int_equal(xp_contact_message(ver, &none), XP_MESSAGE_DELIVER);
	assert_int_equal(xp_contact_message(unv, &none), XP_MESSAGE_BOUNCE);
	assert_int_equal(xp_contact_message(unv, &pending), XP_MESSAGE_DELIVER);

	/* <status/> towards partner users */
	assert_false(xp_contact_strip_status(fed));
	assert_true(xp_contact_strip_status(ver));
	assert_true(xp_contact_strip_status(unv));

	/* refused domains and missing state */
	assert_int_equal(xp_contact_subscribe(NULL, &from), XP_SUBSCRIBE_DENY);
	assert_int_equal(xp_contact_subscribe(fed, NULL), XP_SUBSCRIBE_DENY);
	assert_int_equal(xp_contact_message(NULL, &from), XP_MESSAGE_BOUNCE);
	assert_int_equal(xp_contact_message(fed, NULL), XP_MESSAGE_BOUNCE);
	assert_true(xp_contact_strip_status(NULL));

	assert_string_equal(xp_subscribe_action_name(XP_SUBSCRIBE_AUTO_APPROVE),
	                    "approve");
	assert_string_equal(xp_subscribe_action_name(XP_SUBSCRIBE_DENY),
	                    "deny");
	assert_string_equal(xp_subscribe_action_name(XP_SUBSCRIBE_DELIVER),
	                    "deliver");
	assert_string_equal(xp_message_action_name(XP_MESSAGE_BOUNCE),
	                    "bounce");
	assert_string_equal(xp_message_action_name(XP_MESSAGE_DELIVER),
	                    "deliver");
	assert_string_equal(xp_partner_type_name(XP_TYPE_PUBLIC_VERIFIED),
	                    "public_verified");
	xp_table_unref(t);
	xp_ctx_free(ctx);
}

static void test_allow_mode_default_type(void **state)
{
	xp_ctx *ctx = test_ctx(NULL, NULL);
	xp_table *t = NULL;
	const xp_partner *p;

	(void)state;
	assert_int_equal(test_build(ctx, NULL, 0, "allow", &t, NULL), XP_OK);
	p = xp_table_resolve(t, S("stranger.test"), NULL);
	assert_non_null(p);
	/* unlisted domains follow the public_unverified column */
	assert_int_equal(xp_contact_subscribe(p, &none), XP_SUBSCRIBE_DENY);
	assert_int_equal(xp_contact_subscribe(p, &pending),
	                 XP_SUBSCRIBE_DELIVER);
	assert_int_equal(xp_contact_message(p, &none), XP_MESSAGE_BOUNCE);
	assert_true(xp_contact_strip_status(p));
	xp_table_unref(t);
	xp_ctx_free(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_table4),
	        cmocka_unit_test(test_allow_mode_default_type),
	};
	return TEST_RUN("contact", tests);
}
