#include "config.h"

#include <errno.h>
#include <glib/gi18n.h>
#include <sys/un.h>

#include "pl-config.h"
#include "pl-ice-servers.h"
#include "pl-rendezvous-client.h"

/* the quark name must stay one token */
/* clang-format off */
G_DEFINE_QUARK(peerlink-config-error-quark, pl_config_error)
/* clang-format on */

PlConfig *
pl_config_new(void)
{
	PlConfig *self = g_new0(PlConfig, 1);

	self->socket_path =
	        g_build_filename(g_get_user_runtime_dir(), "peerlink", "agent.sock", NULL);
	self->state_dir = g_build_filename(g_get_user_state_dir(), "peerlink", NULL);
	self->stun_servers = g_new0(gchar *, 1);
	self->turn_servers = g_new0(gchar *, 1);
	self->addresses = g_new0(gchar *, 1);
	self->upnp = TRUE;
	self->max_incoming_sessions = PL_CONFIG_DEFAULT_MAX_INCOMING_SESSIONS;
	return self;
}

void
pl_config_free(PlConfig *self)
{
	g_free(self->socket_path);
	g_free(self->state_dir);
	g_free(self->rendezvous_url);
	g_free(self->rendezvous_ca);
	g_strfreev(self->stun_servers);
	g_strfreev(self->turn_servers);
	g_strfreev(self->addresses);
	g_free(self);
}

gchar *
pl_config_get_system_path(void)
{
	return g_build_filename(PL_SYSCONFDIR, "peerlink", "peerlink.conf", NULL);
}

gchar *
pl_config_get_user_path(void)
{
	return g_build_filename(g_get_user_config_dir(), "peerlink", "peerlink.conf", NULL);
}

static gboolean
parse_absolute_path(
        const gchar *value, const gchar *key, const gchar *source, gchar **out, GError **error)
{
	if (!g_path_is_absolute(value)) {
		g_set_error(error, PL_CONFIG_ERROR, PL_CONFIG_ERROR_INVALID_VALUE,
		            _("%s: %s must be an absolute path, not \"%s\""), source, key, value);
		return FALSE;
	}
	g_free(*out);
	*out = g_canonicalize_filename(value, NULL);
	return TRUE;
}

static gboolean
parse_boolean(
        const gchar *value, const gchar *key, const gchar *source, gboolean *out, GError **error)
{
	if (g_strcmp0(value, "true") == 0) {
		*out = TRUE;
		return TRUE;
	}
	if (g_strcmp0(value, "false") == 0) {
		*out = FALSE;
		return TRUE;
	}
	g_set_error(error, PL_CONFIG_ERROR, PL_CONFIG_ERROR_INVALID_VALUE,
	            _("%s: %s must be true or false, not \"%s\""), source, key, value);
	return FALSE;
}

static gboolean
parse_count(const gchar *value,
            const gchar *key,
            const gchar *source,
            guint max,
            guint *out,
            GError **error)
{
	guint64 n = 0;

	if (!g_ascii_string_to_unsigned(value, 10, 1, max, &n, NULL)) {
		g_set_error(error, PL_CONFIG_ERROR, PL_CONFIG_ERROR_INVALID_VALUE,
		            _("%s: %s must be a whole number from 1 to %u, not \"%s\""), source,
		            key, max, value);
		return FALSE;
	}
	*out = (guint)n;
	return TRUE;
}

/* An empty value means "none". */
static gboolean
parse_optional_path(
        const gchar *value, const gchar *key, const gchar *source, gchar **out, GError **error)
{
	if (value[0] == '\0') {
		g_clear_pointer(out, g_free);
		return TRUE;
	}
	return parse_absolute_path(value, key, source, out, error);
}

static gboolean
parse_rendezvous_url(
        const gchar *value, const gchar *key, const gchar *source, gchar **out, GError **error)
{
	g_autoptr(GUri) uri = NULL;
	g_autoptr(GError) error_local = NULL;

	if (value[0] == '\0') {
		g_clear_pointer(out, g_free);
		return TRUE;
	}
	uri = pl_rendezvous_client_parse_url(value, &error_local);
	if (uri == NULL) {
		g_set_error(error, PL_CONFIG_ERROR, PL_CONFIG_ERROR_INVALID_VALUE, "%s: %s: %s",
		            source, key, error_local->message);
		return FALSE;
	}
	g_free(*out);
	*out = g_strdup(value);
	return TRUE;
}

typedef gboolean (*PlListItemCheck)(const gchar *item, GError **error);

static gboolean
check_stun(const gchar *item, GError **error)
{
	g_autoptr(PlStunServer) server = pl_stun_server_parse(item, error);
	return server != NULL;
}

static gboolean
check_turn(const gchar *item, GError **error)
{
	g_autoptr(PlTurnServer) server = pl_turn_server_parse(item, error);
	return server != NULL;
}

static gboolean
check_address(const gchar *item, GError **error)
{
	g_autoptr(GInetAddress) address = g_inet_address_new_from_string(item);

	if (address == NULL)
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
		            _("\"%s\" is not a numeric IPv4 or IPv6 address"), item);
	return address != NULL;
}

/* A list separated by commas or spaces; an empty value is the empty list. */
static gboolean
parse_list(const gchar *value,
           const gchar *key,
           const gchar *source,
           PlListItemCheck check,
           gchar ***out,
           GError **error)
{
	g_auto(GStrv) parts = g_strsplit_set(value, ", \t", -1);
	g_autoptr(GStrvBuilder) builder = g_strv_builder_new();

	for (guint i = 0; parts[i] != NULL; i++) {
		g_autoptr(GError) error_local = NULL;
		if (parts[i][0] == '\0')
			continue;
		if (!check(parts[i], &error_local)) {
			g_set_error(error, PL_CONFIG_ERROR, PL_CONFIG_ERROR_INVALID_VALUE,
			            "%s: %s: %s", source, key, error_local->message);
			return FALSE;
		}
		g_strv_builder_add(builder, parts[i]);
	}
	g_strfreev(*out);
	*out = g_strv_builder_end(builder);
	return TRUE;
}

gboolean
pl_config_set(
        PlConfig *self, const gchar *key, const gchar *value, const gchar *source, GError **error)
{
	if (g_strcmp0(key, "socket") == 0)
		return parse_absolute_path(value, key, source, &self->socket_path, error);
	if (g_strcmp0(key, "state-dir") == 0)
		return parse_absolute_path(value, key, source, &self->state_dir, error);
	if (g_strcmp0(key, "verbose") == 0)
		return parse_boolean(value, key, source, &self->verbose, error);
	if (g_strcmp0(key, "rendezvous") == 0)
		return parse_rendezvous_url(value, key, source, &self->rendezvous_url, error);
	if (g_strcmp0(key, "rendezvous-ca") == 0)
		return parse_optional_path(value, key, source, &self->rendezvous_ca, error);
	if (g_strcmp0(key, "stun") == 0)
		return parse_list(value, key, source, check_stun, &self->stun_servers, error);
	if (g_strcmp0(key, "turn") == 0)
		return parse_list(value, key, source, check_turn, &self->turn_servers, error);
	if (g_strcmp0(key, "addresses") == 0)
		return parse_list(value, key, source, check_address, &self->addresses, error);
	if (g_strcmp0(key, "upnp") == 0)
		return parse_boolean(value, key, source, &self->upnp, error);
	if (g_strcmp0(key, "loopback") == 0)
		return parse_boolean(value, key, source, &self->loopback, error);
	if (g_strcmp0(key, "link-local") == 0)
		return parse_boolean(value, key, source, &self->link_local, error);
	if (g_strcmp0(key, "max-incoming-sessions") == 0)
		return parse_count(value, key, source, 100000, &self->max_incoming_sessions, error);
	g_set_error(error, PL_CONFIG_ERROR, PL_CONFIG_ERROR_UNKNOWN_KEY,
	            _("%s: unknown key \"%s\" in [%s]"), source, key, PL_CONFIG_GROUP);
	return FALSE;
}

/*
 * The escapes g_key_file_get_string() knows. It sets its error over its own
 * (a GLib warning) for a value with another escape that also ends in '\':
 * such values never get to it.
 */
static gboolean
check_escapes(const gchar *raw)
{
	for (const gchar *p = raw; *p != '\0'; p++) {
		if (*p != '\\')
			continue;
		p++;
		if (*p != 's' && *p != 'n' && *p != 't' && *p != 'r' && *p != '\\')
			return FALSE;
	}
	return TRUE;
}

static gboolean
check_groups(GKeyFile *keyfile, const gchar *source, GError **error)
{
	g_auto(GStrv) groups = g_key_file_get_groups(keyfile, NULL);

	for (guint i = 0; groups[i] != NULL; i++) {
		if (g_strcmp0(groups[i], PL_CONFIG_GROUP) != 0) {
			g_set_error(error, PL_CONFIG_ERROR, PL_CONFIG_ERROR_UNKNOWN_KEY,
			            _("%s: unknown section [%s]"), source, groups[i]);
			return FALSE;
		}
	}
	return TRUE;
}

gboolean
pl_config_load_data(
        PlConfig *self, const gchar *data, gsize len, const gchar *source, GError **error)
{
	g_autoptr(GKeyFile) keyfile = g_key_file_new();
	g_autoptr(GError) error_local = NULL;
	g_auto(GStrv) keys = NULL;

	if (!g_key_file_load_from_data(keyfile, data, len, G_KEY_FILE_NONE, &error_local)) {
		g_set_error(error, PL_CONFIG_ERROR, PL_CONFIG_ERROR_PARSE, "%s: %s", source,
		            error_local->message);
		return FALSE;
	}
	if (!check_groups(keyfile, source, error))
		return FALSE;
	keys = g_key_file_get_keys(keyfile, PL_CONFIG_GROUP, NULL, NULL);
	for (guint i = 0; keys != NULL && keys[i] != NULL; i++) {
		g_autofree gchar *raw =
		        g_key_file_get_value(keyfile, PL_CONFIG_GROUP, keys[i], NULL);
		g_autofree gchar *value = NULL;
		if (raw != NULL && !check_escapes(raw)) {
			g_set_error(error, PL_CONFIG_ERROR, PL_CONFIG_ERROR_INVALID_VALUE,
			            _("%s: %s: the value has an escape other than \\s, \\n, \\t, "
			              "\\r and \\\\"),
			            source, keys[i]);
			return FALSE;
		}
		value = g_key_file_get_string(keyfile, PL_CONFIG_GROUP, keys[i], &error_local);
		/* a bad escape ("\x") sets the error but still returns a value */
		if (error_local != NULL) {
			g_set_error(error, PL_CONFIG_ERROR, PL_CONFIG_ERROR_INVALID_VALUE,
			            "%s: %s: %s", source, keys[i], error_local->message);
			return FALSE;
		}
		if (!pl_config_set(self, keys[i], value, source, error))
			return FALSE;
	}
	return TRUE;
}

gboolean
pl_config_load_file(PlConfig *self, const gchar *path, gboolean must_exist, GError **error)
{
	g_autofree gchar *data = NULL;
	g_autoptr(GError) error_local = NULL;
	gsize len = 0;

	if (!g_file_get_contents(path, &data, &len, &error_local)) {
		if (!must_exist && g_error_matches(error_local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
			return TRUE;
		g_set_error(error, PL_CONFIG_ERROR, PL_CONFIG_ERROR_PARSE,
		            _("cannot read the configuration: %s"), error_local->message);
		return FALSE;
	}
	return pl_config_load_data(self, data, len, path, error);
}

gboolean
pl_config_validate(PlConfig *self, GError **error)
{
	if (strlen(self->socket_path) >= sizeof(((struct sockaddr_un *)NULL)->sun_path)) {
		g_set_error(error, PL_CONFIG_ERROR, PL_CONFIG_ERROR_INVALID_VALUE,
		            _("socket path %s is too long (at most %u bytes)"), self->socket_path,
		            (guint)sizeof(((struct sockaddr_un *)NULL)->sun_path) - 1);
		return FALSE;
	}
	return TRUE;
}
