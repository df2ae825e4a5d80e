/*
 * STUN and TURN servers (session/pl-ice-servers.h), selected by the first
 * byte: '0' a STUN server as in --stun and the config, '1' a TURN URI as in
 * --turn, '2' the "ice" object a rendezvous service hands out. Whatever
 * parses prints as a string that parses back to the same server.
 */
#include "config.h"

#include <gio/gio.h>
#include <string.h>

#include "pl-fuzz.h"
#include "pl-ice-servers.h"
#include "pl-rendezvous-protocol.h"

typedef enum {
	PL_FUZZ_ICE_STUN,
	PL_FUZZ_ICE_TURN,
	PL_FUZZ_ICE_JSON,
	PL_FUZZ_ICE_N_MODES,
} PlFuzzIceMode;

static void
pl_fuzz_check_stun(const PlStunServer *server)
{
	g_autofree gchar *text = pl_stun_server_to_string(server);
	g_autoptr(PlStunServer) again = NULL;
	g_autoptr(GError) error = NULL;

	g_assert_nonnull(server->host);
	g_assert_cmpuint(server->port, >, 0);
	again = pl_stun_server_parse(text, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(again->host, ==, server->host);
	g_assert_cmpuint(again->port, ==, server->port);
}

static void
pl_fuzz_check_turn(const PlTurnServer *server)
{
	g_autofree gchar *text = pl_turn_server_to_string(server);
	g_autoptr(PlTurnServer) again = NULL;
	g_autoptr(GError) error = NULL;

	g_assert_nonnull(server->host);
	g_assert_cmpuint(server->port, >, 0);
	g_assert_true((server->username == NULL) == (server->password == NULL));
	g_assert_true(server->username == NULL || g_utf8_validate(server->username, -1, NULL));
	g_assert_true(server->password == NULL || g_utf8_validate(server->password, -1, NULL));
	/* no credentials in what goes to the logs */
	again = pl_turn_server_parse(text, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(again->host, ==, server->host);
	g_assert_cmpuint(again->port, ==, server->port);
	g_assert_cmpint(again->transport, ==, server->transport);
	g_assert_null(again->username);
}

static void
pl_fuzz_stun(const gchar *text)
{
	g_autoptr(PlStunServer) server = NULL;
	g_autoptr(GError) error = NULL;

	server = pl_stun_server_parse(text, &error);
	if (server == NULL) {
		pl_fuzz_note(G_STRFUNC, error);
		g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
		return;
	}
	pl_fuzz_check_stun(server);
}

static void
pl_fuzz_turn(const gchar *text)
{
	g_autoptr(PlTurnServer) server = NULL;
	g_autoptr(GError) error = NULL;

	server = pl_turn_server_parse(text, &error);
	if (server == NULL) {
		pl_fuzz_note(G_STRFUNC, error);
		g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
		return;
	}
	pl_fuzz_check_turn(server);
}

static void
pl_fuzz_json(const gchar *data, gsize len)
{
	g_autoptr(JsonObject) ice = pl_rendezvous_parse_object(data, len, NULL);
	g_autoptr(GPtrArray) stun =
	        g_ptr_array_new_with_free_func((GDestroyNotify)pl_stun_server_free);
	g_autoptr(GPtrArray) turn =
	        g_ptr_array_new_with_free_func((GDestroyNotify)pl_turn_server_free);
	g_autoptr(GError) error = NULL;

	if (ice == NULL)
		return;
	if (!pl_ice_servers_from_json(ice, stun, turn, &error)) {
		pl_fuzz_note(G_STRFUNC, error);
		g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
		return;
	}
	g_assert_no_error(error);
	for (guint i = 0; i < stun->len; i++)
		pl_fuzz_check_stun(g_ptr_array_index(stun, i));
	for (guint i = 0; i < turn->len; i++) {
		const PlTurnServer *server = g_ptr_array_index(turn, i);
		/* a relay without credentials is of no use: those are skipped */
		g_assert_nonnull(server->username);
		pl_fuzz_check_turn(server);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autofree gchar *text = NULL;

	if (size < 1)
		return 0;
	text = pl_fuzz_strndup(data + 1, size - 1);
	switch (data[0] % PL_FUZZ_ICE_N_MODES) {
	case PL_FUZZ_ICE_STUN:
		pl_fuzz_stun(text);
		break;
	case PL_FUZZ_ICE_TURN:
		pl_fuzz_turn(text);
		break;
	case PL_FUZZ_ICE_JSON:
		pl_fuzz_json((const gchar *)data + 1, size - 1);
		break;
	default:
		g_assert_not_reached();
	}
	return 0;
}
