/* clock.h — wall and monotonic time in the units the project uses (ms and ns). */
#ifndef LEPTON_COMMON_CLOCK_H
#define LEPTON_COMMON_CLOCK_H
#include <stdint.h>

int64_t lp_wall_ms(void); /* unix milliseconds */
int64_t lp_mono_ns(void); /* CLOCK_MONOTONIC nanoseconds */
int64_t lp_mono_ms(void);
void lp_sleep_ms(int64_t ms);

#endif
