#include "config.h"

#include <glib/gi18n.h>

#include "pl-ipc-error.h"
#include "pl-ipc-params.h"
#include "pl-nat-check.h"
#include "pl-netcheck.h"

#define MIN_TIMEOUT_MS     500
#define MAX_TIMEOUT_MS     30000
#define DEFAULT_TIMEOUT_MS 3000

struct _PlNatCheck {
	GObject parent_instance;
	PlSessionManager *sessions;
	gboolean gateway;
	GCancellable *cancellable;
	JsonObject *last_report; /* or NULL */
	gint64 checked_at;       /* monotonic µs */
};

G_DEFINE_TYPE(PlNatCheck, pl_nat_check, G_TYPE_OBJECT)

static void
pl_nat_check_dispose(GObject *object)
{
	PlNatCheck *self = PL_NAT_CHECK(object);

	g_cancellable_cancel(self->cancellable);
	g_clear_object(&self->sessions);
	G_OBJECT_CLASS(pl_nat_check_parent_class)->dispose(object);
}

static void
pl_nat_check_finalize(GObject *object)
{
	PlNatCheck *self = PL_NAT_CHECK(object);

	g_clear_pointer(&self->last_report, json_object_unref);
	g_object_unref(self->cancellable);
	G_OBJECT_CLASS(pl_nat_check_parent_class)->finalize(object);
}

static void
pl_nat_check_class_init(PlNatCheckClass *klass)
{
	G_OBJECT_CLASS(klass)->dispose = pl_nat_check_dispose;
	G_OBJECT_CLASS(klass)->finalize = pl_nat_check_finalize;
}

static void
pl_nat_check_init(PlNatCheck *self)
{
	self->cancellable = g_cancellable_new();
}

PlNatCheck *
pl_nat_check_new(PlSessionManager *sessions, gboolean gateway)
{
	PlNatCheck *self = g_object_new(PL_TYPE_NAT_CHECK, NULL);

	self->sessions = g_object_ref(sessions);
	self->gateway = gateway;
	return self;
}

typedef struct {
	PlNatCheck *self;
	PlIpcRequest *request;
} PlNetcheckCall;

static void
netcheck_done_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autofree PlNetcheckCall *call = user_data;
	g_autoptr(PlNatCheck) self = call->self;
	g_autoptr(PlIpcRequest) request = call->request;
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonObject) report = pl_netcheck_run_finish(result, &error);

	if (report == NULL) {
		g_autoptr(GError) ipc_error =
		        g_error_new(PL_IPC_ERROR, PL_IPC_ERROR_SHUTTING_DOWN,
		                    _("the check was stopped: %s"), error->message);
		pl_ipc_request_return_error(request, ipc_error);
		return;
	}
	g_message("netcheck: %s", json_object_get_string_member(report, "verdict"));
	g_clear_pointer(&self->last_report, json_object_unref);
	self->last_report = json_object_ref(report);
	self->checked_at = g_get_monotonic_time();
	pl_ipc_request_return(request, report, NULL);
}

static void
netcheck_cb(PlIpcRequest *request, gpointer user_data)
{
	PlNatCheck *self = PL_NAT_CHECK(user_data);
	JsonObject *params = pl_ipc_request_get_params(request);
	const PlIcePathConfig *ice = pl_session_manager_get_ice_config(self->sessions);
	g_autoptr(GError) error = NULL;
	gint64 timeout_ms = DEFAULT_TIMEOUT_MS;
	PlNetcheckConfig config = {0};
	PlNetcheckCall *call;

	if (!pl_ipc_params_get_int(params, "timeout_ms", MIN_TIMEOUT_MS, MAX_TIMEOUT_MS,
	                           &timeout_ms, &error)) {
		pl_ipc_request_return_error(request, error);
		return;
	}
	config.stun_servers = ice->stun_servers;
	config.turn_servers = ice->turn_servers;
	config.local_addresses = ice->local_addresses->len > 0 ? ice->local_addresses : NULL;
	config.gateway = self->gateway;
	config.timeout_ms = (guint)timeout_ms;
	call = g_new0(PlNetcheckCall, 1);
	call->self = g_object_ref(self);
	call->request = g_object_ref(request);
	pl_netcheck_run_async(&config, self->cancellable, netcheck_done_cb, call);
}

void
pl_nat_check_add_methods(PlNatCheck *self, PlIpcServer *server)
{
	pl_ipc_server_add_method(server, "netcheck", netcheck_cb, self);
}

static void
copy_member(JsonObject *to, JsonObject *from, const gchar *name)
{
	JsonNode *node = json_object_get_member(from, name);

	if (node != NULL)
		json_object_set_member(to, name, json_node_copy(node));
}

JsonObject *
pl_nat_check_describe(PlNatCheck *self)
{
	JsonObject *object = json_object_new();
	const gchar *members[] = {"mapping", "filtering", "public_ipv4", "public_ipv6"};

	if (self->last_report == NULL) {
		json_object_set_string_member(object, "summary", "unknown");
		return object;
	}
	json_object_set_string_member(object, "summary",
	                              json_object_get_string_member(self->last_report, "verdict"));
	json_object_set_int_member(object, "checked_s_ago",
	                           (g_get_monotonic_time() - self->checked_at) / G_USEC_PER_SEC);
	for (guint i = 0; i < G_N_ELEMENTS(members); i++)
		copy_member(object, self->last_report, members[i]);
	return object;
}
