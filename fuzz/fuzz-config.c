/*
 * The agent's configuration file: pl_config_load_data() then
 * pl_config_validate(), as the daemon does at start. What loads holds only
 * values that pass their own checks again.
 */
#include "config.h"

#include <gio/gio.h>

#include "pl-config.h"
#include "pl-fuzz.h"
#include "pl-ice-servers.h"

static void
pl_fuzz_check_loaded(PlConfig *config)
{
	g_assert_true(g_path_is_absolute(config->socket_path));
	g_assert_true(g_path_is_absolute(config->state_dir));
	g_assert_true(config->rendezvous_ca == NULL || g_path_is_absolute(config->rendezvous_ca));
	g_assert_nonnull(config->stun_servers);
	g_assert_nonnull(config->turn_servers);
	g_assert_nonnull(config->addresses);
	for (guint i = 0; config->stun_servers[i] != NULL; i++) {
		g_autoptr(PlStunServer) server =
		        pl_stun_server_parse(config->stun_servers[i], NULL);
		g_assert_nonnull(server);
	}
	for (guint i = 0; config->turn_servers[i] != NULL; i++) {
		g_autoptr(PlTurnServer) server =
		        pl_turn_server_parse(config->turn_servers[i], NULL);
		g_assert_nonnull(server);
	}
	for (guint i = 0; config->addresses[i] != NULL; i++) {
		g_autoptr(GInetAddress) address =
		        g_inet_address_new_from_string(config->addresses[i]);
		g_assert_nonnull(address);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autoptr(PlConfig) config = pl_config_new();
	g_autoptr(GError) error = NULL;

	if (!pl_config_load_data(config, (const gchar *)data, size, "fuzz.conf", &error)) {
		pl_fuzz_note(G_STRFUNC, error);
		g_assert_nonnull(error);
		g_assert_true(error->domain == PL_CONFIG_ERROR);
		return 0;
	}
	g_assert_no_error(error);
	pl_fuzz_check_loaded(config);
	if (!pl_config_validate(config, &error)) {
		pl_fuzz_note(G_STRFUNC, error);
		g_assert_nonnull(error);
		g_assert_true(error->domain == PL_CONFIG_ERROR);
	}
	return 0;
}
