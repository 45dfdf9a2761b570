/* util.h - small signal-safe helpers used across the core. */
#ifndef FA_UTIL_H
#define FA_UTIL_H

#include "common.h"

FA_HIDDEN_BEGIN

pid_t fa_gettid(void);
size_t fa_strnlen(const char *s, size_t max);
void fa_strlcpy(char *dst, const char *src, size_t size);
void fa_sleep_ms(long ms);
long long fa_now_ms(void);
int fa_thread_alive(pid_t tid);
void fa_raise_default(int signum);
void fa_util_init(void);
long fa_stack_need(long base);
long fa_signal_stack_room(void);
void fa_str_add(char *out, size_t size, const char *s);
void fa_dec_add(char *out, size_t size, long long v);

FA_HIDDEN_END

#endif
