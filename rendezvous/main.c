#include "config.h"

#include <glib.h>

int
main(void)
{
	g_printerr("peerlink-rendezvous: being written\n");
	return 1;
}
