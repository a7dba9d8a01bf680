/*
 * contact.c: the contact policy of SPEC section 4: how far a partner's users
 * may reach into local users' contact lists and inboxes, by partner type.
 * The host supplies the local user's roster and blocklist state; the host's
 * own processing (blocklist, roster push, offline storage) runs whenever the
 * verdict is "deliver".
 */
#include "internal.h"

const char *xp_subscribe_action_name(xp_subscribe_action a)
{
	switch (a) {
	case XP_SUBSCRIBE_DELIVER:
		return "deliver";
	case XP_SUBSCRIBE_AUTO_APPROVE:
		return "approve";
	case XP_SUBSCRIBE_DENY:
		return "deny";
	}
	return "?";
}

const char *xp_message_action_name(xp_message_action a)
{
	return a == XP_MESSAGE_BOUNCE ? "bounce" : "deliver";
}

static int trusted(const xp_partner *p)
{
	return p->type == XP_TYPE_FEDERATED ||
	       p->type == XP_TYPE_PUBLIC_VERIFIED;
}

xp_subscribe_action xp_contact_subscribe(const xp_partner *p,
                                         const xp_contact_state *c)
{
	if (p == NULL || c == NULL)
		return XP_SUBSCRIBE_DENY;
	/* A local user's blocklist wins over automatic approval: the host's
	 * blocking code sees the request as if we were not here. */
	if (c->blocked)
		return XP_SUBSCRIBE_DELIVER;
	if (trusted(p))
		return c->subscribed_from ? XP_SUBSCRIBE_DELIVER
		                          : XP_SUBSCRIBE_AUTO_APPROVE;
	return c->in_roster ? XP_SUBSCRIBE_DELIVER : XP_SUBSCRIBE_DENY;
}

xp_message_action xp_contact_message(const xp_partner *p,
                                     const xp_contact_state *c)
{
	if (p == NULL || c == NULL)
		return XP_MESSAGE_BOUNCE;
	if (p->type == XP_TYPE_PUBLIC_UNVERIFIED && !c->in_roster)
		return XP_MESSAGE_BOUNCE;
	return XP_MESSAGE_DELIVER;
}

int xp_contact_strip_status(const xp_partner *p)
{
	return p == NULL || p->type != XP_TYPE_FEDERATED;
}
