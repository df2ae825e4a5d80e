/*
 * The IPC line decoder: every line a client or the daemon receives goes
 * through pl_ipc_message_decode(). Whatever decodes must encode and decode
 * back to the same message.
 */
#include "config.h"

#include "pl-fuzz.h"
#include "pl-ipc-message.h"

static void
pl_fuzz_check_round_trip(PlIpcMessage *message)
{
	g_autoptr(GBytes) bytes = pl_ipc_message_encode(message);
	g_autoptr(PlIpcMessage) again = NULL;
	g_autoptr(GError) error = NULL;
	gsize len = 0;
	const gchar *line = g_bytes_get_data(bytes, &len);
	gint64 id = 0;

	/* one line, handed over without its '\n' as the transport does */
	g_assert_cmpuint(len, >, 0);
	g_assert_cmpint(line[len - 1], ==, '\n');
	g_assert_null(memchr(line, '\n', len - 1));
	again = pl_ipc_message_decode(line, len - 1, &id, &error);
	g_assert_no_error(error);
	g_assert_nonnull(again);
	g_assert_cmpint(pl_ipc_message_get_kind(again), ==, pl_ipc_message_get_kind(message));
	g_assert_cmpint(pl_ipc_message_get_id(again), ==, pl_ipc_message_get_id(message));
	g_assert_cmpstr(pl_ipc_message_get_name(again), ==, pl_ipc_message_get_name(message));
	g_assert_cmpstr(pl_ipc_message_get_error_code(again), ==,
	                pl_ipc_message_get_error_code(message));
	g_assert_cmpstr(pl_ipc_message_get_error_message(again), ==,
	                pl_ipc_message_get_error_message(message));
	g_assert_cmpuint(pl_ipc_message_get_n_fds(again), ==, pl_ipc_message_get_n_fds(message));
	g_assert_true(json_object_equal(pl_ipc_message_get_body(again),
	                                pl_ipc_message_get_body(message)));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autoptr(PlIpcMessage) message = NULL;
	g_autoptr(GError) error = NULL;
	gint64 id = 0;

	message = pl_ipc_message_decode((const gchar *)data, size, &id, &error);
	if (message == NULL) {
		pl_fuzz_note(G_STRFUNC, error);
		g_assert_nonnull(error);
		g_assert_true(error->domain == PL_IPC_ERROR);
		g_assert_true(id == PL_IPC_ID_NONE || (id >= 0 && id <= PL_IPC_ID_MAX));
		return 0;
	}
	g_assert_no_error(error);
	g_assert_nonnull(pl_ipc_message_get_body(message));
	g_assert_cmpuint(pl_ipc_message_get_n_fds(message), <=, PL_IPC_MAX_FDS_PER_MESSAGE);
	/* the id handed out for an error reply is the message's own */
	if (pl_ipc_message_get_kind(message) != PL_IPC_MESSAGE_KIND_EVENT)
		g_assert_cmpint(id, ==, pl_ipc_message_get_id(message));
	if (pl_ipc_message_get_kind(message) == PL_IPC_MESSAGE_KIND_ERROR) {
		g_autoptr(GError) reply = pl_ipc_message_to_gerror(message);
		g_assert_nonnull(reply);
	}
	pl_fuzz_check_round_trip(message);
	return 0;
}
