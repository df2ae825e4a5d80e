/*
 * Signals (session/pl-signal.h) as pl_signal_open() reads them from the
 * rendezvous. The first byte selects what the rest is:
 *
 *  '0'  the signed payload text. The target signs it with an identity it
 *       generated at start and opens {"payload", "key", "sig"}, so the fuzzer
 *       gets past the signature to the payload parser. "$FROM" and "$TO" in
 *       the text stand for the sender's and the recipient's peer IDs, which
 *       are new on every run; "ts" is checked against PL_FUZZ_NOW_MS.
 *       A signal that opens must seal again and open to the same fields.
 *  '1'  the whole body JSON, as the rendezvous delivers it.
 */
#include "config.h"

#include <string.h>

#include "pl-fuzz.h"
#include "pl-rendezvous-protocol.h"
#include "pl-signal.h"

#define PL_FUZZ_NOW_MS G_GINT64_CONSTANT(1700000000000)

typedef enum {
	PL_FUZZ_SIGNAL_PAYLOAD,
	PL_FUZZ_SIGNAL_BODY,
	PL_FUZZ_SIGNAL_N_MODES,
} PlFuzzSignalMode;

static PlIdentity *pl_fuzz_sender;  /* signs every payload */
static gchar *pl_fuzz_recipient_id; /* "our own peer ID" for pl_signal_open() */

static void
pl_fuzz_setup(void)
{
	g_autoptr(GError) error = NULL;
	PlPeerId id;

	if (pl_fuzz_sender != NULL)
		return;
	pl_fuzz_sender = pl_identity_generate(&error);
	g_assert_no_error(error);
	pl_peer_id_from_public_key((const guint8 *)"fuzz-recipient", 14, &id);
	pl_fuzz_recipient_id = pl_peer_id_to_string(&id);
}

static void
pl_fuzz_assert_signals_equal(const PlSignal *a, const PlSignal *b)
{
	g_assert_cmpint(a->type, ==, b->type);
	g_assert_cmpstr(a->from, ==, b->from);
	g_assert_cmpstr(a->to, ==, b->to);
	g_assert_cmpstr(a->session_id, ==, b->session_id);
	g_assert_cmpuint(a->seq, ==, b->seq);
	g_assert_cmpint(a->timestamp_ms, ==, b->timestamp_ms);
	g_assert_cmpuint(a->generation, ==, b->generation);
	g_assert_cmpstr(a->service, ==, b->service);
	g_assert_cmpstr(a->ufrag, ==, b->ufrag);
	g_assert_cmpstr(a->pwd, ==, b->pwd);
	g_assert_cmpint(a->end_of_candidates, ==, b->end_of_candidates);
	g_assert_cmpstr(a->reason_code, ==, b->reason_code);
	g_assert_cmpstr(a->reason_message, ==, b->reason_message);
	g_assert_cmpuint(a->candidates->len, ==, b->candidates->len);
	for (guint i = 0; i < a->candidates->len; i++)
		g_assert_cmpstr(g_ptr_array_index(a->candidates, i), ==,
		                g_ptr_array_index(b->candidates, i));
}

/* what opens was fit to be sent: it seals again and opens to the same signal */
static void
pl_fuzz_check_signal(const PlSignal *signal)
{
	g_autoptr(JsonObject) body = NULL;
	g_autoptr(PlSignal) again = NULL;
	g_autoptr(GError) error = NULL;

	g_assert_cmpstr(signal->from, ==, pl_identity_get_peer_id_string(pl_fuzz_sender));
	g_assert_cmpstr(signal->to, ==, pl_fuzz_recipient_id);
	body = pl_signal_seal(signal, pl_fuzz_sender, &error);
	g_assert_no_error(error);
	again = pl_signal_open(body, pl_identity_get_peer_id_string(pl_fuzz_sender),
	                       pl_fuzz_recipient_id, PL_FUZZ_NOW_MS, &error);
	g_assert_no_error(error);
	pl_fuzz_assert_signals_equal(signal, again);
}

static JsonObject *
pl_fuzz_sign(const gchar *template)
{
	g_autoptr(GString) payload = g_string_new(template);
	g_autoptr(GBytes) data = NULL;
	g_autoptr(GBytes) sig = NULL;
	g_autoptr(GBytes) key = pl_identity_get_public_key(pl_fuzz_sender);
	g_autofree gchar *key_text = NULL;
	g_autofree gchar *sig_text = NULL;
	g_autoptr(GError) error = NULL;
	JsonObject *body = json_object_new();

	g_string_replace(payload, "$FROM", pl_identity_get_peer_id_string(pl_fuzz_sender), 0);
	g_string_replace(payload, "$TO", pl_fuzz_recipient_id, 0);
	data = g_bytes_new_static(payload->str, payload->len);
	sig = pl_identity_sign(pl_fuzz_sender, data, &error);
	g_assert_no_error(error);
	key_text = g_base64_encode(g_bytes_get_data(key, NULL), g_bytes_get_size(key));
	sig_text = g_base64_encode(g_bytes_get_data(sig, NULL), g_bytes_get_size(sig));
	json_object_set_string_member(body, "payload", payload->str);
	json_object_set_string_member(body, "key", key_text);
	json_object_set_string_member(body, "sig", sig_text);
	return body;
}

static void
pl_fuzz_open(JsonObject *body, gboolean signed_by_us)
{
	g_autoptr(PlSignal) signal = NULL;
	g_autoptr(GError) error = NULL;

	signal = pl_signal_open(body, pl_identity_get_peer_id_string(pl_fuzz_sender),
	                        pl_fuzz_recipient_id, PL_FUZZ_NOW_MS, &error);
	if (signal == NULL) {
		pl_fuzz_note(G_STRFUNC, error);
		g_assert_nonnull(error);
		g_assert_true(error->domain == PL_SIGNAL_ERROR);
		/* the target's own signature always verifies */
		if (signed_by_us)
			g_assert_cmpint(error->code, !=, PL_SIGNAL_ERROR_BAD_SIGNATURE);
		return;
	}
	g_assert_no_error(error);
	pl_fuzz_note(G_STRFUNC, NULL);
	/* sealing adds members an input may leave out ("cands", "eoc"): keep clear of the limit */
	if (strlen(json_object_get_string_member(body, "payload")) <
	    PL_SIGNAL_MAX_PAYLOAD_SIZE - 1024)
		pl_fuzz_check_signal(signal);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autoptr(JsonObject) body = NULL;
	g_autofree gchar *text = NULL;

	if (size < 1)
		return 0;
	pl_fuzz_setup();
	switch (data[0] % PL_FUZZ_SIGNAL_N_MODES) {
	case PL_FUZZ_SIGNAL_PAYLOAD:
		text = pl_fuzz_strndup(data + 1, size - 1);
		body = pl_fuzz_sign(text);
		pl_fuzz_open(body, TRUE);
		break;
	case PL_FUZZ_SIGNAL_BODY:
		body = pl_rendezvous_parse_object((const gchar *)data + 1, size - 1, NULL);
		if (body != NULL)
			pl_fuzz_open(body, FALSE);
		break;
	default:
		g_assert_not_reached();
	}
	return 0;
}
