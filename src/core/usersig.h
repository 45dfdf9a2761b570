/* usersig.h - signals registered to dump the threads and go on
 * (faulthandler.register). */
#ifndef FA_USERSIG_H
#define FA_USERSIG_H

#include "common.h"
#include "dest.h"

FA_HIDDEN_BEGIN

int fa_user_register(int signum, const fa_dest *dest, int all_threads, int chain,
                     long max_threads);
int fa_user_unregister(int signum);
int fa_user_serve(long long until_ms);

FA_HIDDEN_END

#endif
