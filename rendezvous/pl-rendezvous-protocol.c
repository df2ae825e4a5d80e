#include "config.h"
/* being written: see rendezvous/meson.build */
