/*
 * The agent's settings: built-in defaults, then a GKeyFile (the system file
 * and the user's, or the one given with --config), then the command line.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define PL_CONFIG_ERROR (pl_config_error_quark())
GQuark pl_config_error_quark(void);

typedef enum {
	PL_CONFIG_ERROR_PARSE,
	PL_CONFIG_ERROR_UNKNOWN_KEY,
	PL_CONFIG_ERROR_INVALID_VALUE,
} PlConfigError;

#define PL_CONFIG_GROUP                         "agent"
#define PL_CONFIG_DEFAULT_MAX_INCOMING_SESSIONS 1024

typedef struct {
	gchar *socket_path;
	gchar *state_dir;
	gboolean verbose;
	gchar *rendezvous_url; /* http or https; NULL: no rendezvous service */
	gchar *rendezvous_ca;  /* PEM file of the CA or certificate to trust; NULL: system trust */
	gchar **stun_servers;  /* "HOST:PORT" or "stun:..." strings, checked; never NULL */
	gchar **turn_servers;  /* "turn:..." URIs, checked; never NULL */
	gchar **addresses;     /* local addresses to gather on; empty: every usable one */
	gboolean upnp;         /* ask a UPnP-IGD router for port mappings */
	gboolean loopback;     /* use loopback addresses and accept peers' (local testing) */
	gboolean link_local;   /* use link-local addresses and accept peers' */
	guint max_incoming_sessions; /* sessions offered by peers held at once, all peers */
} PlConfig;

PlConfig *pl_config_new(void);
void pl_config_free(PlConfig *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PlConfig, pl_config_free)

gboolean pl_config_load_data(
        PlConfig *self, const gchar *data, gsize len, const gchar *source, GError **error);
gboolean
pl_config_load_file(PlConfig *self, const gchar *path, gboolean must_exist, GError **error);
gboolean pl_config_set(
        PlConfig *self, const gchar *key, const gchar *value, const gchar *source, GError **error);
gboolean pl_config_validate(PlConfig *self, GError **error);

gchar *pl_config_get_system_path(void);
gchar *pl_config_get_user_path(void);

G_END_DECLS
