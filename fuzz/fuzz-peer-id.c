/*
 * Peer IDs as people type them (pl_peer_id_parse()): whatever parses prints
 * as the canonical string, which parses back to the same ID.
 */
#include "config.h"

#include <string.h>

#include "pl-fuzz.h"
#include "pl-peer-id.h"

static void
pl_fuzz_check_canonical(const PlPeerId *id)
{
	g_autofree gchar *text = pl_peer_id_to_string(id);
	g_autofree gchar *short_text = pl_peer_id_to_short_string(id);
	g_autoptr(GError) error = NULL;
	PlPeerId again;

	g_assert_cmpuint(strlen(text), ==, PL_PEER_ID_STRING_LEN);
	g_assert_true(g_str_has_prefix(text, short_text));
	g_assert_true(pl_peer_id_parse(text, &again, &error));
	g_assert_no_error(error);
	g_assert_true(pl_peer_id_equal(&again, id));
	g_assert_cmpmem(again.digest, sizeof(again.digest), id->digest, sizeof(id->digest));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autofree gchar *text = pl_fuzz_strndup(data, size);
	g_autoptr(GError) error = NULL;
	PlPeerId id;
	PlPeerId key_id;

	if (pl_peer_id_parse(text, &id, &error)) {
		g_assert_no_error(error);
		pl_fuzz_check_canonical(&id);
	} else {
		pl_fuzz_note(G_STRFUNC, error);
		g_assert_nonnull(error);
		g_assert_true(error->domain == PL_PEER_ID_ERROR);
		g_assert_true(g_utf8_validate(error->message, -1, NULL));
	}

	/* the other way in: any key has an ID that prints and parses back */
	pl_peer_id_from_public_key(data, size, &key_id);
	pl_fuzz_check_canonical(&key_id);
	return 0;
}
