/* signature.h - the crash signature (docs/signature.md). */
#ifndef FA_SIGNATURE_H
#define FA_SIGNATURE_H

#include "dump.h"

FA_HIDDEN_BEGIN

int fa_crash_signature(fa_dump *d, const fa_event *ev, char out[FA_SIGNATURE_LEN + 1]);

FA_HIDDEN_END

#endif
